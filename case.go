package apoyo

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// A case is one beneficiary in one cycle, carried from identity check to
// follow-up referrals by one durable workflow. Its id is made of opaque
// ids only, so it may appear in logs, URLs and Temporal.

// CaseID is the id of beneficiary b's case in cycle c: opaque ids only.
func CaseID(cycleID, beneficiaryID string) string {
	return fmt.Sprintf("case/%s/%s", cycleID, beneficiaryID)
}

// ErrBadCaseID: a case id that is not case/<cycle>/<beneficiary>.
var ErrBadCaseID = Errorf(EINVALID, "case.bad_id", "case id: expected case/<cycle>/<beneficiary>")

// ParseCaseID splits a CaseID back into its cycle and beneficiary ids.
// Errors: ErrBadCaseID.
func ParseCaseID(caseID string) (cycleID, beneficiaryID string, err error) {
	parts := strings.Split(caseID, "/")
	if len(parts) != 3 || parts[0] != "case" || parts[1] == "" || parts[2] == "" {
		return "", "", ErrBadCaseID.With("case id %q: expected case/<cycle>/<beneficiary>", caseID)
	}
	return parts[1], parts[2], nil
}

// Step is where a case stands.
type Step string

const (
	StepIdentity    Step = "identity"
	StepEligibility Step = "eligibility"
	StepApproval    Step = "approval"
	StepPayment     Step = "payment"
	StepReferrals   Step = "referrals"
	StepDone        Step = "done"
)

// Steps lists the steps in the order a case goes through them.
var Steps = []Step{StepIdentity, StepEligibility, StepApproval, StepPayment, StepReferrals, StepDone}

// Valid reports whether s is one of Steps.
func (s Step) Valid() bool { return oneOf(s, Steps) }

// CaseStatus says whether a case is moving on its own, waiting on a
// person, failed, or done.
type CaseStatus string

const (
	CaseRunning CaseStatus = "running"
	// CaseWaiting: the case waits on a person (CaseState.WaitingOn says
	// who: a secretariat code, or WaitingOnCaseworker).
	CaseWaiting CaseStatus = "waiting"
	// CaseFailed: a step's activity failed in a way retries could not
	// cure; the case waits for a caseworker's retry, with a step_failed
	// task open.
	CaseFailed CaseStatus = "failed"
	CaseDone   CaseStatus = "done"
)

// CaseStatuses lists every case status.
var CaseStatuses = []CaseStatus{CaseRunning, CaseWaiting, CaseFailed, CaseDone}

// Valid reports whether s is one of CaseStatuses.
func (s CaseStatus) Valid() bool { return oneOf(s, CaseStatuses) }

// WaitingOnCaseworker is the WaitingOn entry of a case waiting for a
// caseworker (the other entries are secretariat codes).
const WaitingOnCaseworker = "caseworker"

// WaitingOnBank is the WaitingOn entry of a case whose payment order is at
// the bank, waiting for its final answer (a SPEI settlement, a pickup).
const WaitingOnBank = "bank"

// Outcome is how a case ended ("" while it runs).
type Outcome string

const (
	OutcomeCompleted        Outcome = "completed" // paid, all referrals closed
	OutcomeIdentityRejected Outcome = "identity_rejected"
	OutcomeIdentityExpired  Outcome = "identity_review_expired"
	OutcomeIneligible       Outcome = "ineligible"
	OutcomeApprovalRejected Outcome = "approval_rejected"
	OutcomePaymentFailed    Outcome = "payment_failed"
	OutcomeCancelled        Outcome = "cancelled"
)

// Outcomes lists every outcome.
var Outcomes = []Outcome{OutcomeCompleted, OutcomeIdentityRejected, OutcomeIdentityExpired, OutcomeIneligible, OutcomeApprovalRejected,
	OutcomePaymentFailed, OutcomeCancelled}

// Valid reports whether o is one of Outcomes.
func (o Outcome) Valid() bool { return oneOf(o, Outcomes) }

// TaskKind is the kind of work a case asks of a person.
type TaskKind string

const (
	// TaskIdentityReview: a document needs a caseworker's look.
	TaskIdentityReview TaskKind = "identity_review"
	// TaskApprovalOverdue: the secretariats let the approval SLA pass.
	TaskApprovalOverdue TaskKind = "approval_overdue"
	// TaskNeedsNewInstrument: a payment came back or was cancelled by the
	// bank; the case waits for a new instrument.
	TaskNeedsNewInstrument TaskKind = "needs_new_instrument"
	// TaskReferralOverdue: a referral has no outcome past its follow-up.
	TaskReferralOverdue TaskKind = "referral_overdue"
	// TaskReturnedAfterSettlement: reconciliation found a return of a
	// payment that had settled.
	TaskReturnedAfterSettlement TaskKind = "returned_after_settlement"
	// TaskStepFailed: a step failed in a way retries could not cure; a
	// caseworker retries it.
	TaskStepFailed TaskKind = "step_failed"
	// TaskPaymentFailed reports a case that ended without paying after
	// every attempt; it is not step work and stays open until a person
	// closes it.
	TaskPaymentFailed TaskKind = "payment_failed"
	// TaskIdentityReviewExpired reports a case that ended because nobody
	// checked its document in time; it is not step work either.
	TaskIdentityReviewExpired TaskKind = "identity_review_expired"
)

// TaskKinds lists every task kind.
var TaskKinds = []TaskKind{TaskIdentityReview, TaskApprovalOverdue, TaskNeedsNewInstrument, TaskReferralOverdue, TaskReturnedAfterSettlement,
	TaskStepFailed, TaskPaymentFailed, TaskIdentityReviewExpired}

// Valid reports whether k is one of TaskKinds.
func (k TaskKind) Valid() bool { return oneOf(k, TaskKinds) }

// Step returns the step at which a task of kind k is work to do ("" for
// a kind that reports an ending): once the case has left that step, the
// task is stale and closes.
func (k TaskKind) Step() Step {
	switch k {
	case TaskIdentityReview:
		return StepIdentity
	case TaskApprovalOverdue:
		return StepApproval
	case TaskNeedsNewInstrument, TaskReturnedAfterSettlement:
		return StepPayment
	case TaskReferralOverdue:
		return StepReferrals
	}
	return ""
}

// IdentityOutcome of an identity check.
type IdentityOutcome string

const (
	IdentityVerified    IdentityOutcome = "verified"
	IdentityNeedsReview IdentityOutcome = "needs_review"
	IdentityRejected    IdentityOutcome = "rejected"
)

// IdentityDecisionKind is a caseworker's decision on a document under
// review.
type IdentityDecisionKind string

const (
	DecisionVerified    IdentityDecisionKind = "verified"
	DecisionRejected    IdentityDecisionKind = "rejected"
	DecisionNewDocument IdentityDecisionKind = "new_document"
)

// IdentityDecisionKinds lists the decisions.
var IdentityDecisionKinds = []IdentityDecisionKind{DecisionVerified, DecisionRejected, DecisionNewDocument}

// Valid reports whether d is one of IdentityDecisionKinds.
func (d IdentityDecisionKind) Valid() bool { return oneOf(d, IdentityDecisionKinds) }

// RuleOutcome is one eligibility rule's result.
type RuleOutcome struct {
	Rule   string `json:"rule"`
	Passed bool   `json:"passed"`
	Reason string `json:"reason,omitempty"`
}

// ReferralOutcome is what came of a referral.
type ReferralOutcome string

const (
	ReferralAttended    ReferralOutcome = "attended"
	ReferralNotAttended ReferralOutcome = "not_attended"
	ReferralDeclined    ReferralOutcome = "declined"
)

// ReferralOutcomes lists every referral outcome.
var ReferralOutcomes = []ReferralOutcome{ReferralAttended, ReferralNotAttended, ReferralDeclined}

// Valid reports whether o is one of ReferralOutcomes.
func (o ReferralOutcome) Valid() bool { return oneOf(o, ReferralOutcomes) }

// Referral is one follow-up referral of a case.
type Referral struct {
	ID          string          `json:"id"`
	Service     string          `json:"service"`
	Need        string          `json:"need"`
	Secretariat string          `json:"secretariat"`
	Outcome     ReferralOutcome `json:"outcome,omitempty"`
	Overdue     bool            `json:"overdue,omitempty"`
}

// ApprovalVote is one secretariat's decision on a case.
type ApprovalVote struct {
	Secretariat Secretariat `json:"secretariat"`
	Approve     bool        `json:"approve"`
	Reason      string      `json:"reason,omitempty"`
	// Approver is the approver's user id (for the audit trail).
	Approver string `json:"approver,omitempty"`
	// List is the hash of the signed roster list the vote came with (""
	// for a vote on one case).
	List string `json:"list,omitempty"`
}

// PaymentResult is the final outcome of one payment attempt.
type PaymentResult struct {
	OrderID     string       `json:"order_id"`
	Rail        Rail         `json:"rail"`
	State       PaymentState `json:"state"` // settled, collected, returned, expired, rejected, cancelled
	ReturnCause int          `json:"return_cause,omitempty"`
	Reason      string       `json:"reason,omitempty"`
	Fund        string       `json:"fund,omitempty"`
	// CycleCancelled: the cycle was cancelled before this attempt's order
	// could leave; nothing was sent. Not to be confused with State
	// "cancelled", which is the bank cancelling an order (SPEI CN).
	CycleCancelled bool `json:"cycle_cancelled,omitempty"`
	// Pending: the order is at the bank and its final answer is yet to
	// come (only SendPayment answers so; the final answer follows as a
	// signal). Results of the older Disburse are always final.
	Pending bool `json:"pending,omitempty"`
}

// Paid reports whether the money reached the person.
func (r PaymentResult) Paid() bool { return r.State.Paid() }

// StepFailure is why a case's step could not go on.
type StepFailure struct {
	Step     Step   `json:"step"`
	Activity string `json:"activity"`
	// Reason is the error's reason code (e.g. budget.exhausted); Message
	// its text, ids only.
	Reason  string `json:"reason"`
	Message string `json:"message,omitempty"`
}

// Event is one entry of a case's timeline.
type Event struct {
	At      time.Time `json:"at"`
	Step    Step      `json:"step"`
	Outcome string    `json:"outcome"`
	Reason  string    `json:"reason,omitempty"`
	Actor   string    `json:"actor,omitempty"`
}

// CaseState is what a case knows about itself: the workflow's state, and
// its result once it has ended.
type CaseState struct {
	CaseID string `json:"case_id"`
	// Version grows with every change, so a projection written from an
	// older state never overwrites a newer one.
	Version   int64                        `json:"version"`
	Step      Step                         `json:"step"`
	Status    CaseStatus                   `json:"status"`
	WaitingOn []string                     `json:"waiting_on,omitempty"`
	Overdue   bool                         `json:"overdue,omitempty"`
	Outcome   Outcome                      `json:"outcome,omitempty"`
	Reason    string                       `json:"reason,omitempty"`
	Votes     map[Secretariat]ApprovalVote `json:"votes,omitempty"`
	Payments  []PaymentResult              `json:"payments,omitempty"`
	Referrals []Referral                   `json:"referrals,omitempty"`
	Timeline  []Event                      `json:"timeline"`
	// Failure is set while the case waits for a retry (CaseFailed).
	Failure *StepFailure `json:"failure,omitempty"`
}

// AwaitsInstrument reports whether the case waits for a caseworker's new
// payment instrument (its payment failed), as opposed to waiting on the
// bank's answer to an order already sent: an instrument changed then
// would not reach that order, and would look as if it had.
func (s CaseState) AwaitsInstrument() bool {
	return s.Step == StepPayment && s.Status == CaseWaiting && !slices.Contains(s.WaitingOn, WaitingOnBank)
}

// InFollowUp reports whether the case has been paid and waits on its
// referrals' outcomes; before then (the order still at the bank) a
// referral's outcome is refused.
func (s CaseState) InFollowUp() bool {
	return s.Step == StepReferrals && s.Status == CaseWaiting
}

// Case is one case as the people who look for work see it: the
// projection the activities keep current in PostgreSQL, so that lists and
// counts never ask Temporal about every workflow.
type Case struct {
	CaseID        string     `json:"case_id"`
	ProgramID     string     `json:"program_id"`
	CycleID       string     `json:"cycle_id"`
	BeneficiaryID string     `json:"beneficiary_id"`
	Step          Step       `json:"step"`
	Status        CaseStatus `json:"status"`
	WaitingOn     []string   `json:"waiting_on"`
	Overdue       bool       `json:"overdue"`
	Outcome       Outcome    `json:"outcome,omitempty"`
	Reason        string     `json:"reason,omitempty"`
	Version       int64      `json:"version"`
	// State is the last state the case reported (nil in lists).
	State     *CaseState `json:"state,omitempty"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// CaseOf builds the projection of a case's state.
func CaseOf(programID, cycleID, beneficiaryID string, st CaseState) Case {
	s := st
	return Case{CaseID: CaseID(cycleID, beneficiaryID), ProgramID: programID, CycleID: cycleID, BeneficiaryID: beneficiaryID,
		Step: st.Step, Status: st.Status, WaitingOn: st.WaitingOn, Overdue: st.Overdue, Outcome: st.Outcome, Reason: st.Reason,
		Version: st.Version, State: &s}
}

// CaseFilter narrows a list of cases. Zero fields do not filter.
type CaseFilter struct {
	CycleID string `json:"cycle_id,omitempty"`
	Step    Step   `json:"step,omitempty"`
	// WaitingOn is a secretariat code or WaitingOnCaseworker.
	WaitingOn string `json:"waiting_on,omitempty"`
	Overdue   bool   `json:"overdue,omitempty"`
	// After pages: only cases whose id sorts after it.
	After string `json:"after,omitempty"`
	// Limit caps the page (default 1000).
	Limit int `json:"limit,omitempty"`
}

// Task is work a case asks of a person.
type Task struct {
	ID        int64     `json:"id"`
	CaseID    string    `json:"case_id"`
	Kind      TaskKind  `json:"kind"`
	Detail    string    `json:"detail,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Payment is one payment order as apoyo recorded it.
type Payment struct {
	OrderID       string          `json:"order_id"`
	CaseID        string          `json:"case_id"`
	ProgramID     string          `json:"program_id"`
	CycleID       string          `json:"cycle_id"`
	BeneficiaryID string          `json:"beneficiary_id"`
	Attempt       int             `json:"attempt"`
	Rail          Rail            `json:"rail"`
	Amount        decimal.Decimal `json:"amount"`
	Fund          string          `json:"fund"`
	TrackingKey   string          `json:"tracking_key"`
	State         PaymentState    `json:"state"`
	ReturnCause   int             `json:"return_cause,omitempty"`
	ProviderRef   string          `json:"provider_ref,omitempty"`
	OperationDate string          `json:"operation_date,omitempty"`
}
