// Package workflows holds apoyo's Temporal workflows and the contract they
// share with the activities: activity names, their inputs and results, and
// the names of the updates and queries people use to move a case on.
//
// Everything that crosses into Temporal here is an opaque id, an outcome or
// a reason: never a name, CURP, document number, account or phone. The
// activities read personal data from PostgreSQL (encrypted at rest) when
// they need it, and the payload codec encrypts every payload on top.
package workflows

import (
	"errors"
	"time"

	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/temporal"

	"github.com/apoyo-cdmx/apoyo"
)

// Workflow type names.
const (
	BeneficiaryWorkflowName = "BeneficiaryCase"
)

// Activity names, registered by the worker.
const (
	ActivityScreen   = "Screen"
	ActivityDisburse = "Disburse"
	ActivityRecord   = "RecordCase"
	ActivityRelease  = "ReleaseEntitlement"
)

// Update, signal and query names.
const (
	// UpdateApprove records one secretariat's vote (ApprovalVote).
	UpdateApprove = "approve"
	// UpdateIdentityDecision records a caseworker's identity decision (IdentityDecision).
	UpdateIdentityDecision = "identity-decision"
	// UpdatePaymentInstrument tells the case a new instrument is on file (InstrumentChange).
	UpdatePaymentInstrument = "payment-instrument"
	// UpdateReferralOutcome records a referral's outcome (ReferralOutcomeInput).
	UpdateReferralOutcome = "referral-outcome"
	// UpdateRetry re-runs the step whose activity failed (RetryRequest),
	// with the same input and so the same idempotency keys.
	UpdateRetry = "retry"
	// SignalCancel stops an unpaid case cleanly (CancelRequest).
	SignalCancel = "cancel"
	// SignalPaymentReturned tells a case that a payment it saw settle came
	// back afterwards (PaymentReturned): it pays once more, in the same
	// lineage, when a new instrument is on file.
	SignalPaymentReturned = "payment-returned"
	// QueryCase returns the CaseState.
	QueryCase = "case"
)

// CaseRules are the programme's rules a case runs by, copied at launch so a
// running case does not change when the programme is edited.
type CaseRules struct {
	Required          []apoyo.Secretariat `json:"required"`
	Quorum            int                 `json:"quorum"`
	ApprovalSLA       time.Duration       `json:"approval_sla"`
	ReviewDeadline    time.Duration       `json:"review_deadline"`
	FollowUp          time.Duration       `json:"follow_up"`
	InstrumentWait    time.Duration       `json:"instrument_wait"`
	MaxPaymentAttempt int                 `json:"max_payment_attempts"`
}

// BeneficiaryInput starts one beneficiary's case in one cycle.
type BeneficiaryInput struct {
	ProgramID     string          `json:"program_id"`
	CycleID       string          `json:"cycle_id"`
	BeneficiaryID string          `json:"beneficiary_id"`
	CycleDate     time.Time       `json:"cycle_date"`
	Amount        decimal.Decimal `json:"amount"`
	Rules         CaseRules       `json:"rules"`
	// Reserved is true when the cycle reserved this case's amount at
	// launch (so payment draws on the reservation, not the budget).
	Reserved bool `json:"reserved,omitempty"`
	// Fund is the ledger fund whose reservation covers the case.
	Fund string `json:"fund,omitempty"`
	// CycleWorkflowID, when set, is told when the case ends.
	CycleWorkflowID string `json:"cycle_workflow_id,omitempty"`
	// PaymentQueues, when set, is the task queue of each rail's payment
	// activity (rate-limited per provider); a rail not in it uses the
	// case's own queue (BeneficiaryCase3).
	PaymentQueues map[apoyo.Rail]string `json:"payment_queues,omitempty"`
	// Screened, when set, is the case's screening, done (and recorded)
	// by the cycle's page of starts (BeneficiaryCase3).
	Screened *ScreenResult `json:"screened,omitempty"`
	// Approved, when set, is the votes of the signed lists that made the
	// case's quorum before its workflow started (a case kept without a
	// workflow while it waited for them, BeneficiaryCase3): it goes
	// straight from screening to payment, with no approvals signal.
	Approved []apoyo.ApprovalVote `json:"approved,omitempty"`
	// Resume, when set, starts a new run of a case part-way: at its
	// payment step, after a payment came back once the earlier run had
	// ended, or to re-run a step of a run that failed before failures were
	// kept open for a retry.
	Resume *CaseResume `json:"resume,omitempty"`
}

// CaseResume says where a new run of a case starts.
type CaseResume struct {
	Step apoyo.Step `json:"step"` // only StepPayment for now
	// Attempt is the payment attempt the run starts with: the same one to
	// re-run it (its order id and ledger keys), the next one to pay again.
	Attempt int `json:"attempt"`
	// WaitForInstrument: wait for a new payment instrument before paying.
	WaitForInstrument bool   `json:"wait_for_instrument,omitempty"`
	Reason            string `json:"reason,omitempty"`
	// Version is the highest state version the earlier run recorded: the
	// new run counts on from it, or the projection (which keeps the newest
	// version) would ignore everything the new run writes.
	Version int64 `json:"version,omitempty"`
}

// ScreenInput asks for identity (and, when it passes, eligibility) checks.
type ScreenInput struct {
	ProgramID     string    `json:"program_id"`
	CycleID       string    `json:"cycle_id"`
	BeneficiaryID string    `json:"beneficiary_id"`
	CycleDate     time.Time `json:"cycle_date"`
	// SkipIdentity: identity was already decided by a caseworker.
	SkipIdentity bool `json:"skip_identity,omitempty"`
	// Required secretariats, for the projection written when the case
	// moves on to approval.
	Required []apoyo.Secretariat `json:"required,omitempty"`
	// Version the projection written by Screen carries.
	Version int64 `json:"version"`
}

// ScreenResult is what Screen found.
type ScreenResult struct {
	Identity       apoyo.IdentityOutcome `json:"identity"`
	IdentityReason string                `json:"identity_reason,omitempty"`
	// Eligibility is set when identity was verified.
	Eligible  bool                `json:"eligible"`
	Rules     []apoyo.RuleOutcome `json:"rules,omitempty"`
	Referrals []apoyo.Referral    `json:"referrals,omitempty"`
	// CycleCancelled: the cycle was cancelled before this case got going.
	CycleCancelled bool `json:"cycle_cancelled,omitempty"`
	// Rail is the person's payment rail (a category, not the instrument):
	// which provider's queue pays them.
	Rail apoyo.Rail `json:"rail,omitempty"`
}

// DisburseInput pays one attempt of a case.
type DisburseInput struct {
	ProgramID     string          `json:"program_id"`
	CycleID       string          `json:"cycle_id"`
	BeneficiaryID string          `json:"beneficiary_id"`
	Amount        decimal.Decimal `json:"amount"`
	// Attempt counts from 1; each attempt is its own payment order.
	Attempt  int  `json:"attempt"`
	Reserved bool `json:"reserved,omitempty"`
	// Fund is the reservation's fund when Reserved.
	Fund string `json:"fund,omitempty"`
	// Referrals to open once the payment is made.
	Referrals []apoyo.Referral `json:"referrals,omitempty"`
	// Version the projection written by Disburse carries.
	Version int64 `json:"version"`
}

// ReleaseInput gives an unpaid case's money back to the budget.
type ReleaseInput struct {
	ProgramID     string `json:"program_id"`
	CycleID       string `json:"cycle_id"`
	BeneficiaryID string `json:"beneficiary_id"`
	Reason        string `json:"reason"`
	Reserved      bool   `json:"reserved,omitempty"`
	Fund          string `json:"fund,omitempty"`
}

// RecordInput writes the case's projection for caseworkers and reports.
type RecordInput struct {
	ProgramID     string          `json:"program_id"`
	CycleID       string          `json:"cycle_id"`
	BeneficiaryID string          `json:"beneficiary_id"`
	State         apoyo.CaseState `json:"state"`
	// Task, when set, raises a caseworker task (e.g. "approval_overdue").
	Task apoyo.TaskKind `json:"task,omitempty"`
}

// IdentityDecision is a caseworker's decision on a document under review.
type IdentityDecision struct {
	// Decision: verified, rejected, or new_document (a new document is on
	// file: check it again).
	Decision   string `json:"decision"`
	Reason     string `json:"reason,omitempty"`
	Caseworker string `json:"caseworker,omitempty"`
}

// InstrumentChange tells a case waiting for a new payment instrument that
// one is on file (the instrument itself is in PostgreSQL, encrypted).
type InstrumentChange struct {
	Caseworker string `json:"caseworker,omitempty"`
	// Rail of the new instrument (its payment queue; BeneficiaryCase3).
	Rail apoyo.Rail `json:"rail,omitempty"`
}

// ReferralOutcomeInput records a referral's outcome.
type ReferralOutcomeInput struct {
	ReferralID string                `json:"referral_id"`
	Outcome    apoyo.ReferralOutcome `json:"outcome"`
	Caseworker string                `json:"caseworker,omitempty"`
	Note       string                `json:"note,omitempty"`
}

// UpdateID identifies the outcome as a Temporal update, as ApprovalVote's.
func (in ReferralOutcomeInput) UpdateID() string {
	return "referral/" + in.ReferralID + "/" + string(in.Outcome)
}

// RetryRequest asks a case to run its failed step again.
type RetryRequest struct {
	Caseworker string `json:"caseworker,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// PaymentReturned is a return, found after the settlement was booked, of a
// case's payment attempt.
type PaymentReturned struct {
	Attempt     int    `json:"attempt"`
	OrderID     string `json:"order_id"`
	ReturnCause int    `json:"return_cause,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

// CancelRequest stops a case that has not been paid.
type CancelRequest struct {
	Reason string `json:"reason"`
}

// VoteUpdateID identifies a vote as a Temporal update: a retried call is
// the same update (answered once), a changed vote is another one, which
// the case's validator refuses.
func VoteUpdateID(v apoyo.ApprovalVote) string {
	return "approve/" + string(v.Secretariat) + "/" + voteWord(v.Approve)
}

// ReasonCatchingUp is the reason of an update refused because the case is
// a workflow task behind its projection: an activity (screening, the
// payment) wrote the projection that lists the case as waiting for this
// person just before the run applies the activity's result. The update
// may be sent again a moment later.
const ReasonCatchingUp = "case.catching_up"

// refusing makes an update validator's refusal an application error whose
// type is the apoyo.Error's reason and whose details hold its code, so
// that callers can tell refusals apart. Validators produce no commands
// and refusals are not in a history: this changes nothing a replay sees.
func refusing[T any](validate func(T) error) func(T) error {
	return func(in T) error {
		err := validate(in)
		var ae *apoyo.Error
		if err == nil || !errors.As(err, &ae) {
			return err
		}
		return temporal.NewNonRetryableApplicationError(ae.Error(), ae.Reason, nil, string(ae.Code))
	}
}

// Refusal turns the error of a refused update back into the apoyo.Error
// its validator returned (code, reason, message), or nil when err is not
// such a refusal.
func Refusal(err error) *apoyo.Error {
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || ae.Type() == "" {
		return nil
	}
	code := apoyo.ECONFLICT
	var c string
	if ae.HasDetails() && ae.Details(&c) == nil && c != "" {
		code = apoyo.ErrorCode(c)
	}
	return &apoyo.Error{Code: code, Reason: ae.Type(), Message: ae.Message()}
}
