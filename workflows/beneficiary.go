package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/apoyo-cdmx/apoyo"
)

// Defaults for rules a launch leaves at zero.
const (
	DefaultInstrumentWait     = 30 * 24 * time.Hour
	DefaultMaxPaymentAttempts = 3
)

// Retry policies. Transient failures (database or bank unreachable) retry
// with backoff; invalid input, missing records and conflicts are
// non-retryable by construction (the activities map them in one place).
var (
	shortActivity = workflow.ActivityOptions{
		StartToCloseTimeout:    time.Minute,
		ScheduleToCloseTimeout: 24 * time.Hour,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    5 * time.Minute,
		},
	}
	// Disburse waits for the bank's final answer, heartbeating meanwhile;
	// a retry after a worker crash resumes from the order's status.
	paymentActivity = workflow.ActivityOptions{
		StartToCloseTimeout:    2 * time.Hour,
		HeartbeatTimeout:       time.Minute,
		ScheduleToCloseTimeout: 7 * 24 * time.Hour,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    5 * time.Minute,
		},
	}
)

// caseRun is one case's in-memory state machine. Update handlers change it
// deterministically; the main loop waits on it.
type caseRun struct {
	ctx   workflow.Context
	in    BeneficiaryInput
	st    CaseState
	rules CaseRules

	identityDecision *IdentityDecision
	instrumentReady  bool
	cancel           *CancelRequest
}

// BeneficiaryCase carries one beneficiary through one cycle: identity
// check, eligibility, tri-secretariat approval, payment and follow-up
// referrals. It returns the final CaseState.
//
// Actions it costs on the happy path: the start, one Screen activity, one
// update per secretariat, the approval SLA timer, one Disburse activity, the
// follow-up timer, and one update per referral outcome. Projections for
// caseworkers are written by those activities and by the callers of the
// updates (with the version the update returns), not by extra activities.
func BeneficiaryCase(ctx workflow.Context, in BeneficiaryInput) (CaseState, error) {
	c := &caseRun{ctx: ctx, in: in, rules: withDefaults(in.Rules)}
	c.st = CaseState{CaseID: CaseID(in.CycleID, in.BeneficiaryID), Step: StepIdentity, Status: "running", Timeline: []Event{}}
	if err := c.register(); err != nil {
		return c.st, err
	}
	err := c.run()
	if in.CycleWorkflowID != "" {
		// Tell whichever run of the cycle is current (no run id). The
		// cycle may already be gone (e.g. terminated): that must not fail
		// the case.
		outcome := c.st.Outcome
		if err != nil {
			outcome = "failed"
		}
		_ = workflow.SignalExternalWorkflow(ctx, in.CycleWorkflowID, "", SignalCaseDone,
			CaseDone{BeneficiaryID: in.BeneficiaryID, Outcome: outcome}).Get(ctx, nil)
	}
	return c.st, err
}

func withDefaults(r CaseRules) CaseRules {
	if len(r.Required) == 0 {
		r.Required = slices.Clone(apoyo.Secretariats)
	}
	if r.Quorum <= 0 || r.Quorum > len(r.Required) {
		r.Quorum = len(r.Required)
	}
	if r.ApprovalSLA <= 0 {
		r.ApprovalSLA = 5 * 24 * time.Hour
	}
	if r.ReviewDeadline <= 0 {
		r.ReviewDeadline = 7 * 24 * time.Hour
	}
	if r.FollowUp <= 0 {
		r.FollowUp = 30 * 24 * time.Hour
	}
	if r.InstrumentWait <= 0 {
		r.InstrumentWait = DefaultInstrumentWait
	}
	if r.MaxPaymentAttempt <= 0 {
		r.MaxPaymentAttempt = DefaultMaxPaymentAttempts
	}
	return r
}

func (c *caseRun) register() error {
	if err := workflow.SetQueryHandler(c.ctx, QueryCase, func() (CaseState, error) { return c.st, nil }); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(c.ctx, UpdateApprove, c.approve,
		workflow.UpdateHandlerOptions{Validator: c.validateVote}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(c.ctx, UpdateIdentityDecision, c.decideIdentity,
		workflow.UpdateHandlerOptions{Validator: c.validateIdentityDecision}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(c.ctx, UpdatePaymentInstrument, c.newInstrument,
		workflow.UpdateHandlerOptions{Validator: c.validateInstrument}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(c.ctx, UpdateReferralOutcome, c.referralOutcome,
		workflow.UpdateHandlerOptions{Validator: c.validateReferralOutcome}); err != nil {
		return err
	}
	ch := workflow.GetSignalChannel(c.ctx, SignalCancel)
	workflow.Go(c.ctx, func(ctx workflow.Context) {
		for {
			var req CancelRequest
			ch.Receive(ctx, &req)
			if c.cancel == nil {
				c.cancel = &req
			}
		}
	})
	return nil
}

// event appends to the timeline and bumps the version, so projections
// written from older states never overwrite newer ones.
func (c *caseRun) event(step Step, outcome, reason, actor string) {
	c.st.Timeline = append(c.st.Timeline, Event{At: workflow.Now(c.ctx).UTC(), Step: step, Outcome: outcome, Reason: reason, Actor: actor})
	c.st.Version++
}

func (c *caseRun) finish(outcome Outcome, reason string) {
	c.st.Step, c.st.Status, c.st.Outcome, c.st.Reason = StepDone, "done", outcome, reason
	c.st.WaitingOn, c.st.Overdue = nil, false
	c.event(StepDone, string(outcome), reason, "system")
}

func (c *caseRun) activity(opts workflow.ActivityOptions, name string, in, out any) error {
	return workflow.ExecuteActivity(workflow.WithActivityOptions(c.ctx, opts), name, in).Get(c.ctx, out)
}

// record writes the projection (and raises a caseworker task) for
// transitions no activity or update caller records: timers, cancellation.
func (c *caseRun) record(task string) error {
	return c.activity(shortActivity, ActivityRecord, RecordInput{ProgramID: c.in.ProgramID, CycleID: c.in.CycleID,
		BeneficiaryID: c.in.BeneficiaryID, State: c.st, Task: task}, nil)
}

func (c *caseRun) run() error {
	if done, err := c.screen(); done || err != nil {
		return err
	}
	if done, err := c.approval(); done || err != nil {
		return err
	}
	if done, err := c.pay(); done || err != nil {
		return err
	}
	return c.followUp()
}

// screen runs identity and eligibility; done is true when the case ended.
func (c *caseRun) screen() (done bool, err error) {
	skipIdentity := false
	for {
		var res ScreenResult
		in := ScreenInput{ProgramID: c.in.ProgramID, CycleID: c.in.CycleID, BeneficiaryID: c.in.BeneficiaryID,
			CycleDate: c.in.CycleDate, SkipIdentity: skipIdentity, Required: c.rules.Required, Version: c.st.Version + 1}
		if err := c.activity(shortActivity, ActivityScreen, in, &res); err != nil {
			return true, err
		}
		if res.CycleCancelled {
			c.finish(OutcomeCancelled, "cycle cancelled")
			return true, nil // Screen recorded it
		}
		if !skipIdentity {
			c.event(StepIdentity, string(res.Identity), res.IdentityReason, "system")
		}
		switch res.Identity {
		case IdentityRejected:
			c.finish(OutcomeIdentityRejected, res.IdentityReason)
			return true, nil // Screen recorded it
		case IdentityNeedsReview:
			c.st.Step, c.st.Status, c.st.WaitingOn = StepIdentity, "waiting", []string{"caseworker"}
			ok, err := workflow.AwaitWithTimeout(c.ctx, c.rules.ReviewDeadline, func() bool { return c.identityDecision != nil || c.cancel != nil })
			if err != nil {
				return true, err
			}
			if c.cancel != nil {
				return true, c.cancelCase()
			}
			if !ok {
				c.finish(OutcomeIdentityExpired, fmt.Sprintf("no caseworker decision within %s", c.rules.ReviewDeadline))
				return true, c.record("identity_review_expired")
			}
			d := *c.identityDecision
			c.identityDecision = nil
			switch d.Decision {
			case "rejected":
				return true, nil // the handler finished the case; its caller recorded it
			case "verified":
				skipIdentity = true
			}
			continue // new_document: check again
		}
		// Identity verified: eligibility came with it.
		for _, r := range res.Rules {
			outcome := "passed"
			if !r.Passed {
				outcome = "failed"
			}
			c.event(StepEligibility, outcome, ruleReason(r), "system")
		}
		if !res.Eligible {
			var failed []string
			for _, r := range res.Rules {
				if !r.Passed {
					failed = append(failed, ruleReason(r))
				}
			}
			c.finish(OutcomeIneligible, strings.Join(failed, "; "))
			return true, nil // Screen recorded it
		}
		c.st.Referrals = res.Referrals
		return false, nil
	}
}

func ruleReason(r RuleOutcome) string {
	if r.Reason == "" {
		return r.Rule
	}
	return r.Rule + ": " + r.Reason
}

// approval waits for the quorum of secretariats, or one rejection.
func (c *caseRun) approval() (done bool, err error) {
	c.st.Step, c.st.Status = StepApproval, "waiting"
	c.st.Votes = map[apoyo.Secretariat]ApprovalVote{}
	c.st.WaitingOn = secretariatNames(c.rules.Required)
	c.event(StepApproval, "requested", fmt.Sprintf("quorum %d of %s", c.rules.Quorum, strings.Join(c.st.WaitingOn, ", ")), "system")
	decided := func() bool { return c.st.Step != StepApproval || c.cancel != nil }
	ok, err := workflow.AwaitWithTimeout(c.ctx, c.rules.ApprovalSLA, decided)
	if err != nil {
		return true, err
	}
	if !ok {
		// SLA passed: mark overdue and escalate, then keep waiting.
		c.st.Overdue = true
		c.event(StepApproval, "overdue", "SLA of "+c.rules.ApprovalSLA.String()+" passed; waiting on "+strings.Join(c.st.WaitingOn, ", "), "system")
		if err := c.record("approval_overdue"); err != nil {
			return true, err
		}
		if err := workflow.Await(c.ctx, decided); err != nil {
			return true, err
		}
	}
	if c.st.Step == StepApproval && c.cancel != nil {
		return true, c.cancelCase()
	}
	return c.st.Step == StepDone, nil // a rejection finished the case in the handler
}

func secretariatNames(ss []apoyo.Secretariat) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

func (c *caseRun) validateVote(v ApprovalVote) error {
	if !v.Secretariat.Valid() {
		return apoyo.Errorf(apoyo.EINVALID, "case.bad_secretariat", "unknown secretariat %q", v.Secretariat)
	}
	if !slices.Contains(c.rules.Required, v.Secretariat) {
		return apoyo.Errorf(apoyo.EINVALID, "case.not_required", "%s does not vote on this programme's cases", v.Secretariat)
	}
	if prev, ok := c.st.Votes[v.Secretariat]; ok {
		if prev.Approve == v.Approve {
			return nil // the same vote again (a retry) is accepted and changes nothing
		}
		return apoyo.Errorf(apoyo.ECONFLICT, "case.vote_changed", "%s already voted %s; a vote cannot be changed", v.Secretariat, voteWord(prev.Approve))
	}
	if c.st.Step != StepApproval {
		return apoyo.Errorf(apoyo.ECONFLICT, "case.not_awaiting_approval", "case is at step %s, not awaiting approval", c.st.Step)
	}
	if !v.Approve && strings.TrimSpace(v.Reason) == "" {
		return apoyo.Errorf(apoyo.EINVALID, "case.reason_required", "a rejection needs a reason")
	}
	return nil
}

func voteWord(approve bool) string {
	if approve {
		return "approve"
	}
	return "reject"
}

func (c *caseRun) approve(ctx workflow.Context, v ApprovalVote) (CaseState, error) {
	if _, ok := c.st.Votes[v.Secretariat]; ok {
		return c.st, nil // the same vote again
	}
	c.st.Votes[v.Secretariat] = v
	c.st.WaitingOn = slices.DeleteFunc(c.st.WaitingOn, func(s string) bool { return s == string(v.Secretariat) })
	outcome := "approved"
	if !v.Approve {
		outcome = "rejected"
	}
	c.event(StepApproval, outcome, v.Reason, string(v.Secretariat))
	if !v.Approve {
		c.finish(OutcomeApprovalRejected, fmt.Sprintf("rejected by %s: %s", v.Secretariat, v.Reason))
		return c.st, nil
	}
	approvals := 0
	for _, vote := range c.st.Votes {
		if vote.Approve {
			approvals++
		}
	}
	if approvals >= c.rules.Quorum {
		c.st.Step, c.st.Status, c.st.WaitingOn, c.st.Overdue = StepPayment, "running", nil, false
		c.event(StepApproval, "approved", fmt.Sprintf("%d of %d approvals", approvals, len(c.rules.Required)), "system")
	}
	return c.st, nil
}

func (c *caseRun) validateIdentityDecision(d IdentityDecision) error {
	if c.st.Step != StepIdentity || c.st.Status != "waiting" || c.identityDecision != nil {
		return apoyo.Errorf(apoyo.ECONFLICT, "case.not_awaiting_identity", "case is not waiting for an identity decision (step %s)", c.st.Step)
	}
	switch d.Decision {
	case "verified", "new_document":
	case "rejected":
		if strings.TrimSpace(d.Reason) == "" {
			return apoyo.Errorf(apoyo.EINVALID, "case.reason_required", "a rejection needs a reason")
		}
	default:
		return apoyo.Errorf(apoyo.EINVALID, "case.bad_decision", "decision %q: use verified, rejected or new_document", d.Decision)
	}
	return nil
}

func (c *caseRun) decideIdentity(ctx workflow.Context, d IdentityDecision) (CaseState, error) {
	c.identityDecision = &d
	c.st.WaitingOn = nil
	switch d.Decision {
	case "rejected":
		c.event(StepIdentity, "rejected", d.Reason, "caseworker")
		c.finish(OutcomeIdentityRejected, d.Reason)
	case "verified":
		c.st.Status = "running"
		c.event(StepIdentity, "verified", d.Reason, "caseworker")
	default:
		c.st.Status = "running"
		c.event(StepIdentity, "new_document", d.Reason, "caseworker")
	}
	return c.st, nil
}

// pay commits the entitlement and pays it, once; a returned payment waits
// for a caseworker to put a new instrument on file, then pays again.
func (c *caseRun) pay() (done bool, err error) {
	c.st.Step, c.st.Status = StepPayment, "running"
	for attempt := 1; ; attempt++ {
		if c.cancel != nil {
			// Cancelled before this attempt's order left: nothing is in
			// flight, so the case stops cleanly.
			return true, c.cancelCase()
		}
		var res PaymentResult
		err := c.activity(paymentActivity, ActivityDisburse, DisburseInput{ProgramID: c.in.ProgramID, CycleID: c.in.CycleID,
			BeneficiaryID: c.in.BeneficiaryID, Amount: c.in.Amount, Attempt: attempt, Reserved: c.in.Reserved, Fund: c.in.Fund,
			Referrals: c.st.Referrals, Version: c.st.Version + 2}, &res)
		if err != nil {
			return true, err
		}
		if res.State == "cancelled" {
			// The cycle was cancelled before this attempt's order left.
			return true, c.release(OutcomeCancelled, "cycle cancelled", "")
		}
		c.st.Payments = append(c.st.Payments, res)
		if res.Paid() {
			c.event(StepPayment, res.State, fmt.Sprintf("%s %s via %s", c.in.Amount.StringFixed(2), "MXN", res.Rail), "bank")
			return false, nil
		}
		reason := res.Reason
		if res.ReturnCause != 0 {
			reason = fmt.Sprintf("cause %d: %s", res.ReturnCause, res.Reason)
		}
		c.event(StepPayment, res.State, reason, "bank")
		if attempt >= c.rules.MaxPaymentAttempt {
			return true, c.release(OutcomePaymentFailed, fmt.Sprintf("%d payment attempts failed", attempt), "payment_failed")
		}
		c.st.Status, c.st.WaitingOn = "waiting", []string{"caseworker"}
		c.instrumentReady = false
		c.event(StepPayment, "needs_new_instrument", reason, "system")
		if err := c.record("needs_new_instrument"); err != nil {
			return true, err
		}
		ok, err := workflow.AwaitWithTimeout(c.ctx, c.rules.InstrumentWait, func() bool { return c.instrumentReady || c.cancel != nil })
		if err != nil {
			return true, err
		}
		if c.cancel != nil && !c.instrumentReady {
			return true, c.release(OutcomeCancelled, c.cancel.Reason, "")
		}
		if !ok {
			return true, c.release(OutcomePaymentFailed, "no new payment instrument within "+c.rules.InstrumentWait.String(), "payment_failed")
		}
		c.st.Status, c.st.WaitingOn = "running", nil
	}
}

func (c *caseRun) validateInstrument(InstrumentChange) error {
	if c.st.Step != StepPayment || c.st.Status != "waiting" {
		return apoyo.Errorf(apoyo.ECONFLICT, "case.not_awaiting_instrument", "case is not waiting for a new payment instrument (step %s)", c.st.Step)
	}
	return nil
}

func (c *caseRun) newInstrument(ctx workflow.Context, ch InstrumentChange) (CaseState, error) {
	c.instrumentReady = true
	c.st.Status, c.st.WaitingOn = "running", nil
	c.event(StepPayment, "new_instrument", "", "caseworker")
	return c.st, nil
}

// release gives the unpaid entitlement back to the budget and ends the case.
func (c *caseRun) release(outcome Outcome, reason, task string) error {
	if err := c.activity(shortActivity, ActivityRelease, ReleaseInput{ProgramID: c.in.ProgramID, CycleID: c.in.CycleID,
		BeneficiaryID: c.in.BeneficiaryID, Reason: reason, Reserved: c.in.Reserved, Fund: c.in.Fund}, nil); err != nil {
		return err
	}
	c.finish(outcome, reason)
	return c.record(task)
}

func (c *caseRun) cancelCase() error {
	return c.release(OutcomeCancelled, c.cancel.Reason, "")
}

// followUp waits until every referral has an outcome; past the follow-up
// deadline the open ones are marked overdue and a caseworker task raised.
func (c *caseRun) followUp() error {
	if len(c.st.Referrals) == 0 {
		c.finish(OutcomeCompleted, "paid; no referrals")
		return nil // Disburse recorded the final state
	}
	c.st.Step, c.st.Status, c.st.WaitingOn = StepReferrals, "waiting", []string{"caseworker"}
	names := make([]string, len(c.st.Referrals))
	for i, r := range c.st.Referrals {
		names[i] = r.Service
	}
	c.event(StepReferrals, "referred", strings.Join(names, ", "), "system")
	ok, err := workflow.AwaitWithTimeout(c.ctx, c.rules.FollowUp, c.referralsClosed)
	if err != nil {
		return err
	}
	if !ok {
		var open []string
		for i := range c.st.Referrals {
			if c.st.Referrals[i].Outcome == "" {
				c.st.Referrals[i].Overdue = true
				open = append(open, c.st.Referrals[i].Service)
			}
		}
		c.st.Overdue = true
		c.event(StepReferrals, "overdue", "no outcome yet: "+strings.Join(open, ", "), "system")
		if err := c.record("referral_overdue"); err != nil {
			return err
		}
		if err := workflow.Await(c.ctx, c.referralsClosed); err != nil {
			return err
		}
	}
	return nil // the last outcome's handler finished the case; its caller recorded it
}

func (c *caseRun) referralsClosed() bool {
	for _, r := range c.st.Referrals {
		if r.Outcome == "" {
			return false
		}
	}
	return true
}

var referralOutcomes = []string{"attended", "not_attended", "declined"}

func (c *caseRun) validateReferralOutcome(in ReferralOutcomeInput) error {
	if !slices.Contains(referralOutcomes, in.Outcome) {
		return apoyo.Errorf(apoyo.EINVALID, "case.bad_referral_outcome", "outcome %q: use attended, not_attended or declined", in.Outcome)
	}
	if c.st.Step != StepReferrals {
		return apoyo.Errorf(apoyo.ECONFLICT, "case.not_in_referrals", "case is at step %s, not in follow-up", c.st.Step)
	}
	for _, r := range c.st.Referrals {
		if r.ID == in.ReferralID {
			if r.Outcome != "" && r.Outcome != in.Outcome {
				return apoyo.Errorf(apoyo.ECONFLICT, "case.referral_closed", "referral %s already closed as %s", r.ID, r.Outcome)
			}
			return nil
		}
	}
	return apoyo.Errorf(apoyo.ENOTFOUND, "case.unknown_referral", "case has no referral %q", in.ReferralID)
}

func (c *caseRun) referralOutcome(ctx workflow.Context, in ReferralOutcomeInput) (CaseState, error) {
	for i := range c.st.Referrals {
		r := &c.st.Referrals[i]
		if r.ID != in.ReferralID || r.Outcome != "" {
			continue
		}
		r.Outcome, r.Overdue = in.Outcome, false
		c.event(StepReferrals, in.Outcome, r.Service, "caseworker")
	}
	if c.referralsClosed() && c.st.Step == StepReferrals {
		c.finish(OutcomeCompleted, "paid; all referrals closed")
	}
	return c.st, nil
}
