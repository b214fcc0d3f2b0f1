package apoyo

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// A cycle's published, disaggregated evidence (package report computes
// it): totals, breakdowns and money per fund, every count of a group of
// people protected by small-cell suppression.

// ReportOptions tune a report.
type ReportOptions struct {
	// MinCell is K (0 means report.DefaultMinCell). It must be at least 2: with
	// 1 nothing would be hidden.
	MinCell int
	// Now stamps the report (GeneratedAt); zero means time.Now.
	Now time.Time
}

// CycleReport is a cycle's published evidence. Totals and fund amounts
// are exact; every count that describes a group of people with something
// in common (a category of a dimension, a failed eligibility rule, a
// rejecting secretariat) goes through small-cell suppression.
type CycleReport struct {
	Cycle       ReportCycle `json:"cycle"`
	GeneratedAt time.Time   `json:"generated_at"`
	Currency    string      `json:"currency"`
	// MinCell is the K the report was protected with.
	MinCell int          `json:"min_cell"`
	Totals  ReportTotals `json:"totals"`
	// IneligibleByRule counts ineligible cases per failed rule ("age",
	// "consent", …; "other" for anything that is not a rule name). A case
	// that failed two rules counts under both.
	IneligibleByRule []Breakdown `json:"ineligible_by_rule"`
	// ApprovalRejectedBySecretariat counts approval rejections per
	// rejecting secretariat (STYFE, SIBISO, SEDESA; "other" if the reason
	// does not say).
	ApprovalRejectedBySecretariat []Breakdown `json:"approval_rejected_by_secretariat"`
	// Funds are the cycle's money per programme fund, in the programme's
	// fund order.
	Funds []FundLine `json:"funds"`
	// Dimensions: sex, age_band, nationality_region, population_group,
	// alcaldia, each on its own (no cross-tabulation).
	Dimensions []Dimension `json:"dimensions"`
}

// ReportCycle says which cycle a report is about.
type ReportCycle struct {
	ID        string `json:"id"`
	ProgramID string `json:"program_id"`
	Name      string `json:"name"`
	Period    string `json:"period,omitempty"`
	// CycleDate is the date ages are computed on (YYYY-MM-DD).
	CycleDate string `json:"cycle_date"`
	Status    string `json:"status"`
}

// ReportTotals are the cycle's headline numbers. They are never suppressed: each
// is a count over the whole cycle.
type ReportTotals struct {
	// Roster is the number of beneficiaries enrolled in the programme.
	Roster int64 `json:"roster"`
	// Enrolled is the number of cases in the cycle (one per beneficiary).
	Enrolled int64 `json:"enrolled"`
	// InProgress: cases not done yet.
	InProgress            int64 `json:"in_progress"`
	IdentityRejected      int64 `json:"identity_rejected"`
	IdentityReviewExpired int64 `json:"identity_review_expired"`
	Ineligible            int64 `json:"ineligible"`
	ApprovalRejected      int64 `json:"approval_rejected"`
	// Approved: cases that reached payment or went past it.
	Approved int64 `json:"approved"`
	// Paid: people with a settled or collected payment.
	Paid int64 `json:"paid"`
	// ReturnedPayments and ReturnedPeople: payment orders that came back
	// (returned, rejected, expired or cancelled) and the people they were for.
	ReturnedPayments int64 `json:"returned_payments"`
	ReturnedPeople   int64 `json:"returned_people"`
	// Repaid: people paid on a second or later attempt.
	Repaid        int64 `json:"repaid"`
	PaymentFailed int64 `json:"payment_failed"`
	Cancelled     int64 `json:"cancelled"`
	Completed     int64 `json:"completed"`
	// ByOutcome counts cases per apoyo.Outcome; "in_progress" for
	// cases without one.
	ByOutcome      map[string]int64 `json:"by_outcome"`
	AmountPaid     decimal.Decimal  `json:"amount_paid"`
	AmountReturned decimal.Decimal  `json:"amount_returned"`
}

// Breakdown is one suppressed count of a cycle-wide breakdown.
type Breakdown struct {
	Category string      `json:"category"`
	Count    ReportCount `json:"count"`
}

// FundLine is one programme fund's money in the cycle: from the payment
// orders, and from the cycle's ledger accounts.
type FundLine struct {
	// Fund is the programme's fund code ("city"); LedgerFund the ledger's
	// ("<programme>.city").
	Fund             string          `json:"fund"`
	LedgerFund       string          `json:"ledger_fund"`
	PaidPayments     int64           `json:"paid_payments"`
	AmountPaid       decimal.Decimal `json:"amount_paid"`
	ReturnedPayments int64           `json:"returned_payments"`
	AmountReturned   decimal.Decimal `json:"amount_returned"`
	// Ledger holds the balances of the cycle's accounts in this fund now.
	// Ledger.Returned is what came back and still waits for a new attempt
	// or a release, so it can be less than AmountReturned.
	Ledger CycleBalances `json:"ledger"`
}

// CycleBalances are the balances of a cycle's four accounts in one fund
// (program.CycleStates).
type CycleBalances struct {
	Committed decimal.Decimal `json:"committed"`
	InTransit decimal.Decimal `json:"in_transit"`
	Paid      decimal.Decimal `json:"paid"`
	Returned  decimal.Decimal `json:"returned"`
}

// Dimension is one disaggregation: every category of it, zeros included,
// in a fixed order so reports of different cycles line up.
type Dimension struct {
	Name       string     `json:"dimension"`
	Categories []Category `json:"categories"`
}

// Category is one row of a dimension.
type Category struct {
	Name       string       `json:"category"`
	Enrolled   ReportCount  `json:"enrolled"`
	Approved   ReportCount  `json:"approved"`
	Paid       ReportCount  `json:"paid"`
	AmountPaid ReportAmount `json:"amount_paid"`
}

// ReportCount is one published count. When Suppressed, Value is zero and Label
// says what may be said of it: "<K" when it is below the threshold (zero
// included), "x" when it is a larger cell hidden so that a small one
// cannot be worked out by subtraction. The true value of a hidden cell
// never leaves this package.
//
// JSON: {"value": 12} or {"value": null, "suppressed": true, "label": "<5"}.
type ReportCount struct {
	Value      int64
	Suppressed bool
	Label      string
}

// String is the count as a table or CSV shows it.
func (c ReportCount) String() string {
	if c.Suppressed {
		return c.Label
	}
	return fmt.Sprint(c.Value)
}

type cellJSON struct {
	Value      json.RawMessage `json:"value"`
	Suppressed bool            `json:"suppressed,omitempty"`
	Label      string          `json:"label,omitempty"`
}

var jsonNull = json.RawMessage("null")

// MarshalJSON implements json.Marshaler.
func (c ReportCount) MarshalJSON() ([]byte, error) {
	if c.Suppressed {
		return json.Marshal(cellJSON{Value: jsonNull, Suppressed: true, Label: c.Label})
	}
	return json.Marshal(cellJSON{Value: json.RawMessage(fmt.Sprint(c.Value))})
}

// UnmarshalJSON implements json.Unmarshaler.
func (c *ReportCount) UnmarshalJSON(b []byte) error {
	var j cellJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*c = ReportCount{Suppressed: j.Suppressed, Label: j.Label}
	if j.Suppressed || len(j.Value) == 0 || string(j.Value) == "null" {
		return nil
	}
	return json.Unmarshal(j.Value, &c.Value)
}

// ReportAmount is one published sum of money, hidden with the count it goes
// with (a category's amount paid is its people paid times the benefit, so
// it would give the count away). JSON as Count, the value a decimal string
// as decimal.Decimal writes it ("11200", "5600.5").
type ReportAmount struct {
	Value      decimal.Decimal
	Suppressed bool
	Label      string
}

// String is the amount as a table or CSV shows it (two decimals).
func (a ReportAmount) String() string {
	if a.Suppressed {
		return a.Label
	}
	return a.Value.StringFixed(2)
}

// MarshalJSON implements json.Marshaler.
func (a ReportAmount) MarshalJSON() ([]byte, error) {
	if a.Suppressed {
		return json.Marshal(cellJSON{Value: jsonNull, Suppressed: true, Label: a.Label})
	}
	v, err := json.Marshal(a.Value)
	if err != nil {
		return nil, err
	}
	return json.Marshal(cellJSON{Value: v})
}

// UnmarshalJSON implements json.Unmarshaler.
func (a *ReportAmount) UnmarshalJSON(b []byte) error {
	var j cellJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*a = ReportAmount{Suppressed: j.Suppressed, Label: j.Label}
	if j.Suppressed || len(j.Value) == 0 || string(j.Value) == "null" {
		return nil
	}
	return json.Unmarshal(j.Value, &a.Value)
}
