package apoyo

import (
	"context"
	"io"
	"time"

	"github.com/shopspring/decimal"
)

// The services below are everything a person or a partner system can do
// with apoyo. Package app implements them; the CLI, the HTTP API, the demo
// and the console call them and nothing else. Every method takes the
// acting Identity: authorization (role, separation of duties) and the
// audit log are decorators around the implementation (app.Authorized,
// app.Audited), so every way in is checked and recorded the same way.
//
// Errors common to every method, not repeated below:
//   - ErrForbidden (EFORBIDDEN): the identity's role may not do this, or
//     separation of duties forbids it here.
//   - EUNAVAILABLE: PostgreSQL or Temporal cannot be reached; retry.
//   - EINTERNAL: a bug.

// ProgramService defines programmes.
type ProgramService interface {
	// CreateProgram builds a programme from spec (defaults filled, values
	// put in canonical form), stores it and opens its ledger accounts
	// with the funds' budgets. Errors: EINVALID program.invalid (Field
	// names the spec's key path); ECONFLICT program.exists.
	CreateProgram(ctx context.Context, who Identity, spec ProgramSpec) (Program, error)
	// Program returns a programme by id or by name. Errors: ENOTFOUND
	// program.not_found.
	Program(ctx context.Context, who Identity, idOrName string) (Program, error)
	// Programs lists every programme, oldest first.
	Programs(ctx context.Context, who Identity) ([]Program, error)
}

// BeneficiaryService keeps a programme's roster.
type BeneficiaryService interface {
	// ImportRoster reads a roster CSV (UTF-8 or Windows-1252) and enrols
	// every valid row, in batches; every bad row is reported with its row
	// and column, and stores nothing of itself. Re-importing a file is
	// safe (duplicates are counted, not enrolled twice). Errors: ENOTFOUND
	// program.not_found; EINVALID for a file that is not a roster at all
	// (no header, a missing column), naming it.
	ImportRoster(ctx context.Context, who Identity, programID string, r io.Reader, o ImportOptions) (ImportReport, error)
	// Beneficiary returns what may be known of a beneficiary without
	// their personal data. Errors: ENOTFOUND beneficiary.not_found.
	Beneficiary(ctx context.Context, who Identity, beneficiaryID string) (Beneficiary, error)
	// PersonalData unseals a beneficiary's personal data for a stated
	// purpose. The read is recorded in the audit log before the data is
	// returned; if it cannot be recorded, nothing is returned. Errors:
	// EINVALID auth.purpose_required; ENOTFOUND beneficiary.not_found.
	PersonalData(ctx context.Context, who Identity, beneficiaryID, purpose string) (PersonalData, error)
}

// CycleService launches payment cycles and follows them.
type CycleService interface {
	// LaunchCycle freezes the programme's roster for a new cycle,
	// reserves the whole cycle's amount fund by fund, and starts the
	// cycle's workflow, which starts one case per person. Launching the
	// same cycle again starts nothing new. Errors: ENOTFOUND
	// program.not_found; ECONFLICT cycle.budget_shortfall (naming the
	// shortfall), cycle.workflow_ended (a relaunch of a cycle whose
	// workflow failed or was terminated).
	LaunchCycle(ctx context.Context, who Identity, r LaunchRequest) (LaunchResult, error)
	// Cycles lists a programme's cycles (every cycle with programID "").
	Cycles(ctx context.Context, who Identity, programID string) ([]Cycle, error)
	// CycleStatus reads a cycle's progress, counts per step and outcome,
	// money per state and fund, and open tasks. Errors: ENOTFOUND
	// cycle.not_found.
	CycleStatus(ctx context.Context, who Identity, cycleID string) (CycleStatusView, error)
	// PauseCycle stops a cycle from starting new cases. Errors: ENOTFOUND
	// cycle.not_found; ECONFLICT cycle.bad_transition (a cancelled or
	// closed cycle), cycle.not_running (recorded, but the workflow is not
	// running to apply it).
	PauseCycle(ctx context.Context, who Identity, cycleID string) (CycleTransition, error)
	// ResumeCycle lets a paused cycle start cases again. Errors: as
	// PauseCycle's.
	ResumeCycle(ctx context.Context, who Identity, cycleID string) (CycleTransition, error)
	// CancelCycle stops a cycle: no more cases start, unpaid cases stop
	// cleanly, an order already sent is followed to its end, and what was
	// not paid goes back to the budget. Errors: EINVALID
	// cycle.reason_required; as PauseCycle's.
	CancelCycle(ctx context.Context, who Identity, cycleID, reason string) (CycleTransition, error)
	// CycleReport computes the cycle's disaggregated report with small
	// cells suppressed. Errors: ENOTFOUND report.cycle_not_found;
	// EINVALID report.invalid (a minimum cell below 2).
	CycleReport(ctx context.Context, who Identity, cycleID string, o ReportOptions) (CycleReport, error)
	// PendingRoster is the list of the cycle's cases waiting for the
	// approver's secretariat that the approver may decide (cases they
	// enrolled or handled are left out and counted), with its size,
	// total and hash: what a signature binds to. Errors: ENOTFOUND
	// cycle.not_found.
	PendingRoster(ctx context.Context, who Identity, cycleID string) (RosterList, error)
	// ApproveRoster approves, for the approver's secretariat, exactly the
	// cases of the pending list whose hash the approver signed, and
	// records the signature (approver, time, hash, size, total). Signing
	// the same list again resumes it and records nothing new. Errors:
	// EINVALID approval.bad_hash; ECONFLICT approval.list_changed (the
	// list is not the one signed: fetch it again).
	ApproveRoster(ctx context.Context, who Identity, cycleID, listHash string) (RosterApproval, error)
	// RosterApprovals lists the signatures recorded on a cycle's lists.
	RosterApprovals(ctx context.Context, who Identity, cycleID string) ([]RosterApproval, error)
}

// CaseService finds cases and moves them on.
type CaseService interface {
	// Cases lists case projections (without their full state), in id
	// order, a page at a time (CaseFilter.After, Limit).
	Cases(ctx context.Context, who Identity, f CaseFilter) ([]Case, error)
	// Case returns one case: its current state (asked of the workflow
	// while it runs) with the timeline, and its payment orders. Errors:
	// EINVALID case.bad_id; ENOTFOUND case.not_found.
	Case(ctx context.Context, who Identity, caseID string) (CaseDetail, error)
	// Tasks lists open caseworker tasks, oldest first.
	Tasks(ctx context.Context, who Identity, f TaskFilter) ([]Task, error)
	// Queue is the stuck-case queue: open work on cases (a document to
	// check, an overdue approval, a returned payment, a referral with no
	// outcome, a failed step), oldest first, a page at a time by keyset
	// (QueueFilter.After is the previous page's Next). It reads the
	// PostgreSQL projection, never Temporal. Errors: EINVALID
	// queue.invalid (Field names the filter: an unknown step, task kind,
	// secretariat or alcaldía, a limit out of range, a negative cursor).
	Queue(ctx context.Context, who Identity, f QueueFilter) (QueuePage, error)
	// Vote records the approver's secretariat's vote on one case, for
	// exceptions (a rejection needs a reason). A retried vote is the same
	// vote; a changed vote is refused. Errors: EINVALID
	// approval.reason_required; ENOTFOUND case.not_found; ECONFLICT
	// case.action_refused (the case is not waiting for this vote).
	Vote(ctx context.Context, who Identity, caseID string, v VoteRequest) (CaseState, error)
	// DecideIdentity records a caseworker's decision on a document under
	// review; a new document is stored sealed and checked again. Errors:
	// EINVALID (a bad decision or document, naming the field); ENOTFOUND
	// case.not_found; ECONFLICT case.action_refused.
	DecideIdentity(ctx context.Context, who Identity, caseID string, d IdentityDecision) (CaseState, error)
	// SetPaymentInstrument stores a new payment instrument, sealed, for a
	// case that waits for one, and tells the case to pay again. Errors:
	// EINVALID (naming the field); ECONFLICT case.action_refused (the case
	// does not wait for an instrument; nothing was changed),
	// beneficiary.shared_instrument.
	SetPaymentInstrument(ctx context.Context, who Identity, caseID string, in InstrumentRequest) (CaseState, error)
	// RecordReferralOutcome records a referral's outcome. Errors: EINVALID;
	// ENOTFOUND case.not_found; ECONFLICT case.action_refused.
	RecordReferralOutcome(ctx context.Context, who Identity, caseID string, r ReferralOutcomeRequest) (CaseState, error)
	// RetryStep runs a case's failed step again with the same keys.
	// Errors: EINVALID case.reason_required; ENOTFOUND case.not_found;
	// ECONFLICT case.not_failed.
	RetryStep(ctx context.Context, who Identity, caseID, reason string) (CaseState, error)
	// CancelCase stops a case that has not been paid; a payment already
	// sent is followed to its end. Errors: EINVALID case.reason_required;
	// ENOTFOUND case.not_found (or already ended).
	CancelCase(ctx context.Context, who Identity, caseID, reason string) (CaseState, error)
}

// LedgerReader reads the double-entry ledger. It changes nothing.
type LedgerReader interface {
	// TrialBalance lists every account's debits and credits.
	TrialBalance(ctx context.Context, who Identity) (TrialBalance, error)
	// Statement lists an account's postings with a running balance.
	// Errors: ENOTFOUND ledger.unknown_account.
	Statement(ctx context.Context, who Identity, account string, o StatementOptions) (Statement, error)
	// Balances lists balances per account and fund.
	Balances(ctx context.Context, who Identity, f BalanceFilter) ([]Balance, error)
	// VerifyLedger re-derives everything the ledger promises from the
	// journal (only what was appended since each chain's last good
	// verification unless o.Full); a report that is not OK names the first
	// bad transaction.
	VerifyLedger(ctx context.Context, who Identity, o LedgerVerifyOptions) (LedgerVerifyReport, error)
}

// ReconciliationService reconciles the bank's statements with the ledger.
type ReconciliationService interface {
	// Reconcile classifies every line of a statement, books what the bank
	// settled or returned, and hands returns after settlement back to
	// their cases. Running the same file again posts nothing. Errors:
	// EINVALID payment.bad_statement (naming row and column).
	Reconcile(ctx context.Context, who Identity, name string, statement io.Reader) (ReconcileReport, error)
	// Reconciliations lists past runs, newest first.
	Reconciliations(ctx context.Context, who Identity, limit int) ([]ReconcileRun, error)
	// Reconciliation returns one run's report. Errors: ENOTFOUND
	// reconcile.not_found.
	Reconciliation(ctx context.Context, who Identity, id int64) (ReconcileReport, error)
}

// AuditLog reads the audit log. Writing it is the audit decorator's job.
type AuditLog interface {
	// AuditEntries lists entries in chain order, a page at a time.
	AuditEntries(ctx context.Context, who Identity, f AuditFilter) ([]AuditEntry, error)
	// VerifyAudit re-derives the hash chain; a report that is not OK
	// names the first bad entry.
	VerifyAudit(ctx context.Context, who Identity) (AuditVerifyReport, error)
	// AuditHead returns the chain's head, to publish or countersign.
	AuditHead(ctx context.Context, who Identity) (AuditHead, error)
}

// AccountService manages users and API tokens (administrators only).
type AccountService interface {
	// CreateUser creates a user with one role. Errors: EINVALID
	// (user.invalid naming the field: an approver without a secretariat,
	// a secretariat on another role, a bad name); ECONFLICT user.exists.
	CreateUser(ctx context.Context, who Identity, u NewUser) (User, error)
	// Users lists every user.
	Users(ctx context.Context, who Identity) ([]User, error)
	// DisableUser disables a user and revokes their tokens. Errors:
	// ENOTFOUND user.not_found.
	DisableUser(ctx context.Context, who Identity, name string) (User, error)
	// CreateToken creates an API token for a user, valid for ttl (0: the
	// configured default). Its secret is in the result and nowhere else.
	// Errors: ENOTFOUND user.not_found; ECONFLICT user.disabled.
	CreateToken(ctx context.Context, who Identity, userName string, ttl time.Duration) (NewToken, error)
	// Tokens lists a user's tokens (never their secrets).
	Tokens(ctx context.Context, who Identity, userName string) ([]Token, error)
	// RevokeToken revokes a token. Revoking it again changes nothing.
	// Errors: ENOTFOUND token.not_found.
	RevokeToken(ctx context.Context, who Identity, tokenID string) (Token, error)
}

// Service is the whole application layer.
type Service interface {
	ProgramService
	BeneficiaryService
	CycleService
	CaseService
	LedgerReader
	ReconciliationService
	AuditLog
	AccountService
}

// PersonalData is a beneficiary's unsealed personal data. Hold it no
// longer than needed; never log it.
type PersonalData struct {
	BeneficiaryID  string         `json:"beneficiary_id"`
	GivenNames     string         `json:"given_names"`
	FirstSurname   string         `json:"first_surname"`
	SecondSurname  string         `json:"second_surname,omitempty"`
	CURP           string         `json:"curp,omitempty"`
	DocumentType   IDDocumentType `json:"document_type,omitempty"`
	DocumentNumber string         `json:"document_number,omitempty"`
	Phone          string         `json:"phone,omitempty"`
	Email          string         `json:"email,omitempty"`
	CLABE          string         `json:"clabe,omitempty"`
	CardNumber     string         `json:"card_number,omitempty"`
}

// LaunchRequest asks for a cycle of a programme.
type LaunchRequest struct {
	ProgramID string `json:"program_id"`
	// Name defaults to the period, or the cycle date's month.
	Name string `json:"name,omitempty"`
	// Period paid, YYYY-MM.
	Period string `json:"period,omitempty"`
	// CycleDate is the date ages are computed on (default today, UTC).
	CycleDate time.Time `json:"cycle_date,omitempty"`
	// StartWindow bounds case starts in flight (default 100).
	StartWindow int `json:"start_window,omitempty"`
	// MaxActive bounds unfinished cases (0: no bound).
	MaxActive int `json:"max_active,omitempty"`
	// ContinueAfter makes the cycle workflow continue as new after this
	// many starts (0: the workflow's default; tests set it low).
	ContinueAfter int `json:"continue_after,omitempty"`
	// Shape of the cycle's workflows. 0 or 3 (the default): cases started
	// a page at a time, learning of signed lists by one signal and of the
	// bank's answer by a callback, at a few Temporal actions each. 2: the
	// earlier shape (a child workflow per case, an update per secretariat,
	// a payment activity that waits for the bank), kept for comparison.
	Shape int `json:"shape,omitempty"`
}

// LaunchResult says what a launch did.
type LaunchResult struct {
	Cycle   Cycle `json:"cycle"`
	Created bool  `json:"created"`
	// Cases is the number of cases the cycle covers (its roster at launch).
	Cases      int              `json:"cases"`
	Reserved   decimal.Decimal  `json:"reserved"`
	Allocation []FundAllocation `json:"allocation"`
	WorkflowID string           `json:"workflow_id"`
	// WorkflowStatus is the cycle workflow's status after the launch:
	// "running", or "completed" for a cycle launched before that has
	// finished.
	WorkflowStatus string `json:"workflow_status"`
}

// CycleProgress is what a cycle's workflow reports of itself.
type CycleProgress struct {
	RosterDone   bool           `json:"roster_done"`
	Started      int            `json:"started"`
	Done         int            `json:"done"`
	Outcomes     map[string]int `json:"outcomes"`
	Paused       bool           `json:"paused"`
	Cancelled    bool           `json:"cancelled"`
	CancelReason string         `json:"cancel_reason,omitempty"`
	Closed       bool           `json:"closed"`
	Runs         int            `json:"runs"`
	// Adopted counts cases that already existed when the cycle went to
	// start them (a relaunch after a failed cycle workflow).
	Adopted int `json:"adopted,omitempty"`
}

// CycleStatusView is a cycle as a programme manager watches it.
type CycleStatusView struct {
	Cycle    Cycle         `json:"cycle"`
	Progress CycleProgress `json:"progress"`
	Cases    CycleCounts   `json:"cases"`
	// Amounts per money state (committed, in_transit, paid, returned), in
	// total and per fund.
	Amounts       map[string]decimal.Decimal            `json:"amounts"`
	AmountsByFund map[string]map[string]decimal.Decimal `json:"amounts_by_fund"`
	OpenTasks     map[string]int                        `json:"open_tasks"`
	// AsOf is when these figures were read. Reads are shared, so a view
	// may be up to DefaultStatusMaxAge old, and older on a cycle so large
	// that reading its figures takes a while (see StatusReadCostShare).
	AsOf time.Time `json:"as_of"`
}

// CaseDetail is one case with its timeline and payment orders.
type CaseDetail struct {
	State    CaseState `json:"state"`
	Payments []Payment `json:"payments"`
}

// TaskFilter narrows a list of tasks.
type TaskFilter struct {
	CycleID string   `json:"cycle_id,omitempty"`
	Kind    TaskKind `json:"kind,omitempty"`
	// Limit caps the list (default 1000).
	Limit int `json:"limit,omitempty"`
}

// QueueFilter narrows the stuck-case queue. Zero fields do not filter;
// the filters combine.
type QueueFilter struct {
	CycleID string `json:"cycle_id,omitempty"`
	// CaseID keeps one case's open work (a case page's tasks).
	CaseID string `json:"case_id,omitempty"`
	// Step is the step the case is stuck at (StepDone for work that
	// reports an ending, e.g. payment_failed).
	Step Step `json:"step,omitempty"`
	// Secretariat whose people the work waits on (see QueueItem).
	Secretariat Secretariat `json:"secretariat,omitempty"`
	// Alcaldia is one of the 16 alcaldías where the person lives, in any
	// spelling mxid.CanonicalAlcaldia accepts ("GAM", "cuauhtemoc").
	Alcaldia string   `json:"alcaldia,omitempty"`
	Kind     TaskKind `json:"kind,omitempty"`
	// OpenBefore keeps work open since before this instant (overdue
	// since); zero keeps all.
	OpenBefore time.Time `json:"open_before,omitempty"`
	// After is the keyset cursor: the previous page's QueuePage.Next.
	After int64 `json:"after,omitempty"`
	// Limit caps the page (default DefaultQueueLimit, at most
	// MaxQueueLimit).
	Limit int `json:"limit,omitempty"`
}

// Queue page sizes.
const (
	DefaultQueueLimit = 50
	MaxQueueLimit     = 500
)

// QueueItem is one piece of stuck work: an open task and where its case
// stands. It carries ids and categories only, never personal data.
type QueueItem struct {
	TaskID        int64    `json:"task_id"`
	Kind          TaskKind `json:"kind"`
	Detail        string   `json:"detail,omitempty"`
	CaseID        string   `json:"case_id"`
	ProgramID     string   `json:"program_id"`
	CycleID       string   `json:"cycle_id"`
	BeneficiaryID string   `json:"beneficiary_id"`
	// Step is the step the case is at (StepDone for a notice of how it
	// ended).
	Step   Step       `json:"step"`
	Status CaseStatus `json:"status"`
	// Secretariat is whose people the work waits on: the first secretariat
	// (in Secretariats' order) an overdue approval still waits for; the
	// secretariat of the first referral still without an outcome (SIBISO
	// for a partner organisation's: it coordinates their working group);
	// SIBISO for identity documents; STyFE (the lead) for payments and
	// failed steps. It follows the case while the work stays open.
	Secretariat Secretariat `json:"secretariat"`
	Alcaldia    string      `json:"alcaldia"`
	// Since is when the work was opened.
	Since time.Time `json:"since"`
}

// QueuePage is one page of the queue. Next is the cursor of the next page
// (0: this is the last).
type QueuePage struct {
	Items []QueueItem `json:"items"`
	Next  int64       `json:"next,omitempty"`
}

// VoteRequest is a secretariat's decision on one case.
type VoteRequest struct {
	Approve bool   `json:"approve"`
	Reason  string `json:"reason,omitempty"`
}

// IdentityDecision is a caseworker's decision on a document under review.
// With DecisionNewDocument, the new document (personal data, stored
// sealed) comes with it.
type IdentityDecision struct {
	Decision       IdentityDecisionKind `json:"decision"`
	Reason         string               `json:"reason,omitempty"`
	DocumentType   IDDocumentType       `json:"document_type,omitempty"`
	DocumentNumber string               `json:"document_number,omitempty"`
}

// InstrumentRequest is a new payment instrument (personal data, stored
// sealed): a CLABE for SPEI, a card number for a card, nothing for a cash
// pickup.
type InstrumentRequest struct {
	Method     Rail   `json:"method"`
	CLABE      string `json:"clabe,omitempty"`
	CardNumber string `json:"card_number,omitempty"`
	// SharedConfirmed: a person confirmed that this CLABE, on file for
	// another beneficiary too, is right (a family sharing an account).
	SharedConfirmed bool `json:"shared_confirmed,omitempty"`
}

// ReferralOutcomeRequest records what came of a referral.
type ReferralOutcomeRequest struct {
	ReferralID string          `json:"referral_id"`
	Outcome    ReferralOutcome `json:"outcome"`
	Note       string          `json:"note,omitempty"`
}

// RosterLine is one case of a pending list.
type RosterLine struct {
	CaseID string          `json:"case_id"`
	Amount decimal.Decimal `json:"amount"`
}

// RosterList is the list of a cycle's cases an approver is asked to sign
// for their secretariat: its size, total and hash are what the signature
// binds to.
type RosterList struct {
	CycleID     string          `json:"cycle_id"`
	Secretariat Secretariat     `json:"secretariat"`
	Size        int             `json:"size"`
	Total       decimal.Decimal `json:"total"`
	// Hash is the hex SHA-256 over the cycle, the secretariat and every
	// line (case id and amount, in case id order).
	Hash  string       `json:"hash"`
	Lines []RosterLine `json:"lines"`
	// Excluded counts cases waiting for the secretariat that this
	// approver may not decide (they enrolled or handled them): another
	// approver of the secretariat must.
	Excluded int `json:"excluded"`
}

// RosterApproval is one recorded signature on a list.
type RosterApproval struct {
	ID           int64           `json:"id"`
	CycleID      string          `json:"cycle_id"`
	Secretariat  Secretariat     `json:"secretariat"`
	ApproverID   string          `json:"approver_id"`
	ApproverName string          `json:"approver_name"`
	Hash         string          `json:"hash"`
	Size         int             `json:"size"`
	Total        decimal.Decimal `json:"total"`
	ApprovedAt   time.Time       `json:"approved_at"`
	// Voted and Skipped count the cases the signature's votes reached
	// and those that had moved on meanwhile (Errors says why, per case).
	// They describe this call, not the record.
	Voted   int      `json:"voted"`
	Skipped int      `json:"skipped"`
	Errors  []string `json:"errors,omitempty"`
	// Queued counts the cases whose approvals this signature completed
	// and that have no workflow yet: the cycle starts them, approved, a
	// page at a time (within a minute; at once when it hears of the
	// signature), not this call, so that a list of millions is signed in
	// one short request. A paused cycle starts them when it is resumed.
	Queued int `json:"queued,omitempty"`
}

// ReconcileRun is one past reconciliation run, without its findings.
type ReconcileRun struct {
	ID             int64                `json:"id"`
	Statement      string               `json:"statement"`
	SHA256         string               `json:"sha256"`
	Status         string               `json:"status"`
	OperationDates []string             `json:"operation_dates"`
	Lines          int                  `json:"lines"`
	Counts         map[FindingClass]int `json:"counts"`
	Posted         int                  `json:"posted"`
	Unmatched      int                  `json:"unmatched"`
	CreatedAt      time.Time            `json:"created_at"`
	FinishedAt     *time.Time           `json:"finished_at,omitempty"`
}
