package apoyo

// The outcome of reconciling a bank statement with the ledger (package
// reconcile does it): each line's class, and what needs a person.

// FindingClass is what reconciliation concluded about a statement line (or a
// payment missing from the statement).
type FindingClass string

// The classes; see the package documentation.
const (
	FindingMatched                 FindingClass = "matched"
	FindingAmountMismatch          FindingClass = "amount_mismatch"
	FindingMissingFromStatement    FindingClass = "missing_from_statement"
	FindingUnknownInStatement      FindingClass = "unknown_in_statement"
	FindingDuplicate               FindingClass = "duplicate"
	FindingReturnedAfterSettlement FindingClass = "returned_after_settlement"
	FindingStateMismatch           FindingClass = "state_mismatch"
)

// FindingClasses lists every class, in report order.
var FindingClasses = []FindingClass{FindingMatched, FindingAmountMismatch, FindingMissingFromStatement, FindingUnknownInStatement, FindingDuplicate, FindingReturnedAfterSettlement, FindingStateMismatch}

// Unmatched reports whether a finding of this class needs a person: a
// disagreement between the bank and apoyo. A return after settlement is
// not one: reconciliation books it and raises the caseworker task itself.
func (c FindingClass) Unmatched() bool {
	switch c {
	case FindingAmountMismatch, FindingMissingFromStatement, FindingUnknownInStatement, FindingDuplicate, FindingStateMismatch:
		return true
	}
	return false
}

// ReconcileFinding is one statement line's class, or one payment missing from the
// statement. It carries business ids and amounts only: never a name or an
// account number.
type ReconcileFinding struct {
	Class FindingClass `json:"-"`
	// Line is the CSV row (header = 1); 0 for a payment missing from the
	// statement.
	Line              int    `json:"line,omitempty"`
	OperationDate     string `json:"operation_date,omitempty"`
	TrackingKey       string `json:"tracking_key"`
	OrderID           string `json:"order_id,omitempty"`
	State             string `json:"state,omitempty"`
	ReturnTrackingKey string `json:"return_tracking_key,omitempty"`
	ReturnCause       int    `json:"return_cause,omitempty"`
	// Amount is the statement's, ExpectedAmount apoyo's (two decimals).
	Amount         string `json:"amount,omitempty"`
	ExpectedAmount string `json:"expected_amount,omitempty"`
	Message        string `json:"message"`
	// TransactionIDs are the ledger transactions the line made sure of
	// (posted by this run or found).
	TransactionIDs []int64 `json:"transaction_ids,omitempty"`
}

// ReconcileReport is the outcome of one reconciliation run.
type ReconcileReport struct {
	Statement string `json:"statement"`
	SHA256    string `json:"sha256"`
	ImportID  int64  `json:"import_id"`
	// SeenBefore is set when the same file (same sha256) was reconciled
	// before, by the runs in PreviousImports.
	SeenBefore      bool     `json:"seen_before"`
	PreviousImports []int64  `json:"previous_imports,omitempty"`
	OperationDates  []string `json:"operation_dates"`
	Lines           int      `json:"lines"`
	// Counts has every class, zero or not.
	Counts map[FindingClass]int `json:"counts"`
	// Posted is the number of new ledger transactions; 0 when everything
	// was already booked (a second run of the same file).
	Posted int `json:"posted"`
	// Unmatched is the number of findings whose class is Unmatched.
	Unmatched int `json:"unmatched"`
	// Problems lists the findings of every class but matched.
	Problems map[FindingClass][]ReconcileFinding `json:"problems"`
}

// OK reports whether nothing is unmatched.
func (r ReconcileReport) OK() bool { return r.Unmatched == 0 }
