package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/apoyo-cdmx/apoyo"
)

// Retry policies. Transient failures (database or bank unreachable) retry
// with backoff; invalid input, missing records and conflicts are
// non-retryable by construction (the activities map them in one place).
var (
	// backoff retries from 1 s, doubling up to 5 minutes, without end
	// (the step's schedule-to-close, when set, bounds it).
	backoff = &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    5 * time.Minute,
	}
	shortActivity = workflow.ActivityOptions{
		StartToCloseTimeout:    time.Minute,
		ScheduleToCloseTimeout: 24 * time.Hour,
		RetryPolicy:            backoff,
	}
	// recordActivity writes what a case must not lose (a failure and its
	// task, a terminal state): it retries until the database takes it.
	recordActivity = workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
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

// Versions of the case workflow, read once at the start of a run
// (workflow.GetVersion), so that runs recorded before a change replay as
// they ran.
const (
	caseVersionChange = "case-v2"
	// caseV1 is the first shape (no version marker).
	caseV1 = workflow.DefaultVersion
	// caseV2 keeps a failed step open for a caseworker's retry instead of
	// failing the workflow, tells a bank's cancellation (SPEI CN) from a
	// cycle's, records every terminal state with its own activity, and pays
	// again after a return that came once the payment had settled.
	caseV2 workflow.Version = 1
)

// caseRun is one case's in-memory state machine. Update handlers change it
// deterministically; the main loop waits on it.
type caseRun struct {
	ctx   workflow.Context
	in    BeneficiaryInput
	st    apoyo.CaseState
	rules CaseRules

	version workflow.Version

	identityDecision *IdentityDecision
	instrumentReady  bool
	cancel           *CancelRequest
	// retry is set by UpdateRetry while a step has failed; cancelRetried
	// remembers that a cancel already re-ran a step that cannot stop
	// half-way, so a cancel does not loop.
	retry         *RetryRequest
	cancelRetried bool
	// returns are late returns not yet acted on (SignalPaymentReturned);
	// returnsDone the order ids already acted on.
	returns     []PaymentReturned
	returnsDone map[string]bool
	// approvals are SignalApprovals not yet applied, and rail the
	// person's payment rail (caseV3: its payment queue).
	approvals []ApprovalsComplete
	rail      apoyo.Rail
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
func BeneficiaryCase(ctx workflow.Context, in BeneficiaryInput) (apoyo.CaseState, error) {
	c := &caseRun{ctx: ctx, in: in, rules: withDefaults(in.Rules)}
	c.version = workflow.GetVersion(ctx, caseVersionChange, caseV1, caseV2)
	c.st = apoyo.CaseState{CaseID: apoyo.CaseID(in.CycleID, in.BeneficiaryID), Step: apoyo.StepIdentity, Status: "running", Timeline: []apoyo.Event{}}
	if err := c.register(); err != nil {
		return c.st, err
	}
	var err error
	if c.version >= caseV2 {
		err = c.runV2()
	} else {
		err = c.run()
	}
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

// WithDefaults fills the rules a programme leaves at zero. A launch sends
// the filled rules in the case's input, so a later change of a default
// never changes a running case (replay) nor cases already launched.
func (r CaseRules) WithDefaults() CaseRules { return withDefaults(r) }

func withDefaults(r CaseRules) CaseRules {
	if len(r.Required) == 0 {
		r.Required = slices.Clone(apoyo.Secretariats)
	}
	if r.Quorum <= 0 || r.Quorum > len(r.Required) {
		r.Quorum = len(r.Required)
	}
	if r.ApprovalSLA <= 0 {
		r.ApprovalSLA = apoyo.DefaultApprovalSLA
	}
	if r.ReviewDeadline <= 0 {
		r.ReviewDeadline = apoyo.DefaultReviewDeadline
	}
	if r.FollowUp <= 0 {
		r.FollowUp = apoyo.DefaultFollowUp
	}
	if r.InstrumentWait <= 0 {
		r.InstrumentWait = apoyo.DefaultInstrumentWait
	}
	if r.MaxPaymentAttempt <= 0 {
		r.MaxPaymentAttempt = apoyo.DefaultMaxPaymentAttempts
	}
	return r
}

func (c *caseRun) register() error {
	if err := workflow.SetQueryHandler(c.ctx, QueryCase, func() (apoyo.CaseState, error) { return c.st, nil }); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(c.ctx, UpdateApprove, c.approve,
		workflow.UpdateHandlerOptions{Validator: refusing(c.validateVote)}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(c.ctx, UpdateIdentityDecision, c.decideIdentity,
		workflow.UpdateHandlerOptions{Validator: refusing(c.validateIdentityDecision)}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(c.ctx, UpdatePaymentInstrument, c.newInstrument,
		workflow.UpdateHandlerOptions{Validator: refusing(c.validateInstrument)}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(c.ctx, UpdateReferralOutcome, c.referralOutcome,
		workflow.UpdateHandlerOptions{Validator: refusing(c.validateReferralOutcome)}); err != nil {
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
	if c.version < caseV2 {
		return nil
	}
	if err := workflow.SetUpdateHandlerWithOptions(c.ctx, UpdateRetry, c.retryStep,
		workflow.UpdateHandlerOptions{Validator: refusing(c.validateRetry)}); err != nil {
		return err
	}
	returned := workflow.GetSignalChannel(c.ctx, SignalPaymentReturned)
	workflow.Go(c.ctx, func(ctx workflow.Context) {
		for {
			var r PaymentReturned
			returned.Receive(ctx, &r)
			c.returns = append(c.returns, r)
		}
	})
	return nil
}

// event appends to the timeline and bumps the version, so projections
// written from older states never overwrite newer ones.
func (c *caseRun) event(step apoyo.Step, outcome, reason, actor string) {
	c.st.Timeline = append(c.st.Timeline, apoyo.Event{At: workflow.Now(c.ctx).UTC(), Step: step, Outcome: outcome, Reason: reason, Actor: actor})
	c.st.Version++
}

func (c *caseRun) finish(outcome apoyo.Outcome, reason string) {
	c.st.Step, c.st.Status, c.st.Outcome, c.st.Reason = apoyo.StepDone, "done", outcome, reason
	c.st.WaitingOn, c.st.Overdue = nil, false
	c.event(apoyo.StepDone, string(outcome), reason, "system")
}

func (c *caseRun) activity(opts workflow.ActivityOptions, name string, in, out any) error {
	return workflow.ExecuteActivity(workflow.WithActivityOptions(c.ctx, opts), name, in).Get(c.ctx, out)
}

// record writes the projection (and raises a caseworker task) for
// transitions no activity records: timers, cancellation, and (from caseV2)
// the ends decided by a person's update.
func (c *caseRun) record(task apoyo.TaskKind) error {
	in := RecordInput{ProgramID: c.in.ProgramID, CycleID: c.in.CycleID, BeneficiaryID: c.in.BeneficiaryID, State: c.st, Task: task}
	if c.version >= caseV2 {
		return c.activity(recordActivity, ActivityRecord, in, nil)
	}
	return c.activity(shortActivity, ActivityRecord, in, nil)
}

// recordEnd records a terminal state decided inside an update handler
// (a caseworker's rejection, an approver's, the last referral outcome).
// Before caseV2 the update's caller wrote it.
func (c *caseRun) recordEnd() error {
	if c.version < caseV2 {
		return nil
	}
	return c.record("")
}

// act runs one activity of the case's current step. From caseV2 on, a
// failure that the retry policy could not cure (a conflict, a missing
// record, a budget exhausted, a deadline passed) does not end the case:
// the failure is recorded with a step_failed task, and the case waits for
// a caseworker's retry, which runs the same activity with the same input,
// and so under the same idempotency keys. A cancel while a stoppable step
// waits returns cancelled=true; for a step that may have sent money, a
// cancel re-runs it once instead (the activity knows how to stop cleanly).
func (c *caseRun) act(opts workflow.ActivityOptions, name string, in, out any, stoppable bool) (cancelled bool, err error) {
	return c.actWith(func() error { return c.activity(opts, name, in, out) }, name, stoppable)
}

// actLocal is act for a local activity.
func (c *caseRun) actLocal(opts workflow.LocalActivityOptions, name string, in, out any, stoppable bool) (cancelled bool, err error) {
	return c.actWith(func() error {
		return workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(c.ctx, opts), name, in).Get(c.ctx, out)
	}, name, stoppable)
}

func (c *caseRun) actWith(run func() error, name string, stoppable bool) (cancelled bool, err error) {
	for {
		err := run()
		var actErr *temporal.ActivityError
		if err == nil || c.version < caseV2 || !errors.As(err, &actErr) {
			return false, err
		}
		retried, err := c.failed(name, err, stoppable)
		if err != nil || !retried {
			return !retried, err
		}
	}
}

// failed records a step's failure and waits for a retry (true) or, for a
// stoppable step, a cancel (false).
func (c *caseRun) failed(activityName string, cause error, stoppable bool) (retried bool, err error) {
	reason, msg := failureOf(cause)
	status, waiting := c.st.Status, c.st.WaitingOn
	c.st.Status, c.st.WaitingOn = apoyo.CaseFailed, []string{apoyo.WaitingOnCaseworker}
	c.st.Failure = &apoyo.StepFailure{Step: c.st.Step, Activity: activityName, Reason: reason, Message: msg}
	c.event(c.st.Step, "failed", activityName+": "+reason+": "+msg, "system")
	if err := c.activity(recordActivity, ActivityRecord, RecordInput{ProgramID: c.in.ProgramID, CycleID: c.in.CycleID,
		BeneficiaryID: c.in.BeneficiaryID, State: c.st, Task: apoyo.TaskStepFailed}, nil); err != nil {
		return false, err
	}
	cancelWakes := func() bool { return c.cancel != nil && (stoppable || !c.cancelRetried) }
	if err := workflow.Await(c.ctx, func() bool { return c.retry != nil || cancelWakes() }); err != nil {
		return false, err
	}
	c.st.Failure = nil
	c.st.Status, c.st.WaitingOn = status, waiting
	if c.retry == nil {
		if stoppable {
			return false, nil
		}
		c.cancelRetried = true
		c.event(c.st.Step, "retry", "cancel requested: the step runs once more to stop cleanly", "system")
	} else {
		c.event(c.st.Step, "retry", c.retry.Reason, "caseworker")
		c.retry = nil
	}
	// The retry is recorded (the step_failed task closes) before the step
	// runs again, which may take long.
	return true, c.record("")
}

// failureOf is an activity failure's reason code and message (ids only:
// activities never put personal data in errors).
func failureOf(err error) (reason, msg string) {
	var app *temporal.ApplicationError
	var timeout *temporal.TimeoutError
	switch {
	case errors.As(err, &app):
		reason, msg = app.Type(), app.Message()
	case errors.As(err, &timeout):
		reason, msg = "timeout", timeout.Error()
	default:
		reason, msg = "activity_failed", err.Error()
	}
	if reason == "" {
		reason = "activity_failed"
	}
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return reason, msg
}

func (c *caseRun) validateRetry(RetryRequest) error {
	if c.st.Status != apoyo.CaseFailed || c.st.Failure == nil {
		return apoyo.Errorf(apoyo.ECONFLICT, "case.not_failed", "case is not waiting for a retry (step %s, status %s)", c.st.Step, c.st.Status)
	}
	return nil
}

func (c *caseRun) retryStep(ctx workflow.Context, r RetryRequest) (apoyo.CaseState, error) {
	if c.retry == nil {
		c.retry = &r
	}
	return c.st, nil
}

// runV2 is run for caseV2: the same steps, with failures kept open, the
// terminal state recorded here, and returns after settlement paid again.
func (c *caseRun) runV2() error {
	if r := c.in.Resume; r != nil && r.Step == apoyo.StepPayment {
		c.st.Step, c.st.Version = apoyo.StepPayment, r.Version
		c.event(apoyo.StepPayment, "reopened", r.Reason, "system")
		done, err := c.pay(max(r.Attempt, 1), r.WaitForInstrument, r.Reason)
		if done || err != nil {
			return err
		}
		return c.paidAgain()
	}
	if done, err := c.screen(); done || err != nil {
		return err
	}
	if done, err := c.approval(); done || err != nil {
		return err
	}
	if done, err := c.pay(1, false, ""); done || err != nil {
		return err
	}
	if err := c.followUpV2(); err != nil || c.st.Step == apoyo.StepDone && c.st.Outcome != apoyo.OutcomeCompleted {
		return err
	}
	// A return may have come in as the case ended: pay again before the
	// run closes, or the signal would be lost with it.
	return c.settleReturns()
}

// pendingReturn reports whether a late return waits to be acted on; stale
// or repeated signals (not about this run's last payment, or not a paid
// one) are dropped. The order id says which payment: a run resumed at a
// later attempt numbers its payments from there.
func (c *caseRun) pendingReturn() bool {
	for len(c.returns) > 0 {
		r := c.returns[0]
		n := len(c.st.Payments)
		if n > 0 && r.OrderID == c.st.Payments[n-1].OrderID && c.st.Payments[n-1].Paid() && !c.returnsDone[r.OrderID] {
			return true
		}
		c.returns = c.returns[1:]
	}
	return false
}

// repay acts on the first pending late return: the attempt is marked
// returned, and the case pays once more with the next attempt when a new
// instrument is on file. done is true when the case ended unpaid.
func (c *caseRun) repay() (done bool, err error) {
	r := c.returns[0]
	// The same return signalled again (reconciliation run twice) is the
	// same return: act on it once.
	c.returns = slices.DeleteFunc(c.returns[1:], func(o PaymentReturned) bool { return o.OrderID == r.OrderID })
	if c.returnsDone == nil {
		c.returnsDone = map[string]bool{}
	}
	c.returnsDone[r.OrderID] = true
	last := &c.st.Payments[len(c.st.Payments)-1]
	last.State, last.ReturnCause = "returned", r.ReturnCause
	reason := r.Reason
	if r.ReturnCause != 0 {
		reason = fmt.Sprintf("cause %d: %s", r.ReturnCause, r.Reason)
	}
	step, status, waiting, outcome := c.st.Step, c.st.Status, c.st.WaitingOn, c.st.Outcome
	c.st.Step, c.st.Outcome, c.st.Reason = apoyo.StepPayment, "", ""
	c.event(apoyo.StepPayment, "returned_after_settlement", reason, "bank")
	if done, err := c.pay(r.Attempt+1, true, reason); done || err != nil {
		return done, err
	}
	if outcome != "" {
		return false, c.paidAgain()
	}
	c.st.Step, c.st.Status, c.st.WaitingOn = step, status, waiting
	return false, nil
}

// paidAgain ends a case whose re-payment after a late return settled.
func (c *caseRun) paidAgain() error {
	c.finish(apoyo.OutcomeCompleted, "paid again after a return")
	if err := c.record(""); err != nil {
		return err
	}
	return c.settleReturns()
}

// settleReturns acts on late returns that came in as the case ended.
func (c *caseRun) settleReturns() error {
	for c.pendingReturn() {
		if done, err := c.repay(); done || err != nil {
			return err
		}
	}
	return nil
}

func (c *caseRun) run() error {
	if done, err := c.screen(); done || err != nil {
		return err
	}
	if done, err := c.approval(); done || err != nil {
		return err
	}
	if done, err := c.pay(1, false, ""); done || err != nil {
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
		var cancelled bool
		var err error
		if c.in.Screened != nil && !skipIdentity && c.version >= caseV3 {
			// Screened by the cycle's page of starts (its projection too).
			res, c.in.Screened = *c.in.Screened, nil
		} else if c.version >= caseV3 {
			cancelled, err = c.actLocal(localScreen, ActivityScreen, in, &res, true)
		} else {
			cancelled, err = c.act(shortActivity, ActivityScreen, in, &res, true)
		}
		if cancelled {
			return true, c.cancelCase()
		}
		if err != nil {
			return true, err
		}
		if res.CycleCancelled {
			c.finish(apoyo.OutcomeCancelled, "cycle cancelled")
			return true, nil // Screen recorded it
		}
		if !skipIdentity {
			c.event(apoyo.StepIdentity, string(res.Identity), res.IdentityReason, "system")
		}
		switch res.Identity {
		case apoyo.IdentityRejected:
			c.finish(apoyo.OutcomeIdentityRejected, res.IdentityReason)
			return true, nil // Screen recorded it
		case apoyo.IdentityNeedsReview:
			c.st.Step, c.st.Status, c.st.WaitingOn = apoyo.StepIdentity, apoyo.CaseWaiting, []string{apoyo.WaitingOnCaseworker}
			ok, err := workflow.AwaitWithTimeout(c.ctx, c.rules.ReviewDeadline, func() bool { return c.identityDecision != nil || c.cancel != nil })
			if err != nil {
				return true, err
			}
			if c.cancel != nil {
				return true, c.cancelCase()
			}
			if !ok {
				c.finish(apoyo.OutcomeIdentityExpired, fmt.Sprintf("no caseworker decision within %s", c.rules.ReviewDeadline))
				return true, c.record(apoyo.TaskIdentityReviewExpired)
			}
			d := *c.identityDecision
			c.identityDecision = nil
			switch d.Decision {
			case "rejected":
				return true, c.recordEnd() // the handler finished the case
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
			c.event(apoyo.StepEligibility, outcome, ruleReason(r), "system")
		}
		if !res.Eligible {
			var failed []string
			for _, r := range res.Rules {
				if !r.Passed {
					failed = append(failed, ruleReason(r))
				}
			}
			c.finish(apoyo.OutcomeIneligible, strings.Join(failed, "; "))
			return true, nil // Screen recorded it
		}
		c.st.Referrals = res.Referrals
		if res.Rail != "" {
			c.rail = res.Rail
		}
		return false, nil
	}
}

func ruleReason(r apoyo.RuleOutcome) string {
	if r.Reason == "" {
		return r.Rule
	}
	return r.Rule + ": " + r.Reason
}

// approval waits for the quorum of secretariats, or one rejection.
func (c *caseRun) approval() (done bool, err error) {
	c.st.Step, c.st.Status = apoyo.StepApproval, apoyo.CaseWaiting
	c.st.Votes = map[apoyo.Secretariat]apoyo.ApprovalVote{}
	c.st.WaitingOn = secretariatNames(c.rules.Required)
	c.event(apoyo.StepApproval, "requested", approvalRequested(c.rules), "system")
	decided := func() bool { return c.st.Step != apoyo.StepApproval || c.cancel != nil }
	if c.version >= caseV3 {
		// No timer per case: the cycle's sweep marks overdue approvals
		// and raises their tasks from PostgreSQL, per cycle.
		for !decided() {
			if err := workflow.Await(c.ctx, func() bool { return decided() || len(c.approvals) > 0 }); err != nil {
				return true, err
			}
			c.applyApprovals()
		}
		return c.approvalDecided()
	}
	ok, err := workflow.AwaitWithTimeout(c.ctx, c.rules.ApprovalSLA, decided)
	if err != nil {
		return true, err
	}
	if !ok {
		// SLA passed: mark overdue and escalate, then keep waiting.
		c.st.Overdue = true
		c.event(apoyo.StepApproval, "overdue", "SLA of "+c.rules.ApprovalSLA.String()+" passed; waiting on "+strings.Join(c.st.WaitingOn, ", "), "system")
		if err := c.record(apoyo.TaskApprovalOverdue); err != nil {
			return true, err
		}
		if err := workflow.Await(c.ctx, decided); err != nil {
			return true, err
		}
	}
	return c.approvalDecided()
}

// approvalDecided ends the approval step: cancelled, rejected, or on to
// payment (done is true when the case ended).
func (c *caseRun) approvalDecided() (done bool, err error) {
	if c.st.Step == apoyo.StepApproval && c.cancel != nil {
		return true, c.cancelCase()
	}
	if c.st.Step == apoyo.StepDone { // a rejection finished the case in the handler
		return true, c.recordEnd()
	}
	return false, nil
}

// approvalRequested is the reason of a case's approval "requested" event.
func approvalRequested(r CaseRules) string {
	return fmt.Sprintf("quorum %d of %s", r.Quorum, strings.Join(secretariatNames(r.Required), ", "))
}

func secretariatNames(ss []apoyo.Secretariat) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

func (c *caseRun) validateVote(v apoyo.ApprovalVote) error {
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
	if (c.st.Step == apoyo.StepIdentity || c.st.Step == apoyo.StepEligibility) && c.st.Status == apoyo.CaseRunning {
		// Screening's activity writes the projection that lists the case
		// as waiting for the secretariats a moment before this run applies
		// its result: a vote from that list is early by one workflow task.
		return apoyo.Errorf(apoyo.ECONFLICT, ReasonCatchingUp, "case is at step %s and running, not yet awaiting approval", c.st.Step)
	}
	if c.st.Step != apoyo.StepApproval {
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

func (c *caseRun) approve(ctx workflow.Context, v apoyo.ApprovalVote) (apoyo.CaseState, error) {
	if _, ok := c.st.Votes[v.Secretariat]; ok {
		return c.st, nil // the same vote again
	}
	c.st.Votes[v.Secretariat] = v
	c.st.WaitingOn = slices.DeleteFunc(c.st.WaitingOn, func(s string) bool { return s == string(v.Secretariat) })
	outcome := "approved"
	if !v.Approve {
		outcome = "rejected"
	}
	c.event(apoyo.StepApproval, outcome, v.Reason, string(v.Secretariat))
	if !v.Approve {
		c.finish(apoyo.OutcomeApprovalRejected, fmt.Sprintf("rejected by %s: %s", v.Secretariat, v.Reason))
		return c.st, nil
	}
	approvals := 0
	for _, vote := range c.st.Votes {
		if vote.Approve {
			approvals++
		}
	}
	if approvals >= c.rules.Quorum {
		c.st.Step, c.st.Status, c.st.WaitingOn, c.st.Overdue = apoyo.StepPayment, "running", nil, false
		c.event(apoyo.StepApproval, "approved", fmt.Sprintf("%d of %d approvals", approvals, len(c.rules.Required)), "system")
	}
	return c.st, nil
}

func (c *caseRun) validateIdentityDecision(d IdentityDecision) error {
	if c.st.Step == apoyo.StepIdentity && c.st.Status == apoyo.CaseRunning && c.identityDecision == nil && !c.identityDecided() {
		// Screening listed the document for review; the run has not
		// applied that result yet. (Once a caseworker has decided, a
		// running case is checking a new document: a decision now is a
		// stale one, refused for good below, never sent again to land on
		// the new document's review unseen.)
		return apoyo.Errorf(apoyo.ECONFLICT, ReasonCatchingUp, "case is at step %s and running, not yet waiting for an identity decision", c.st.Step)
	}
	if c.st.Step != apoyo.StepIdentity || c.st.Status != apoyo.CaseWaiting || c.identityDecision != nil {
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

// identityDecided reports whether a caseworker has decided on a document
// of this case already (the timeline says so).
func (c *caseRun) identityDecided() bool {
	for _, e := range c.st.Timeline {
		if e.Step == apoyo.StepIdentity && e.Actor == "caseworker" {
			return true
		}
	}
	return false
}

func (c *caseRun) decideIdentity(ctx workflow.Context, d IdentityDecision) (apoyo.CaseState, error) {
	c.identityDecision = &d
	c.st.WaitingOn = nil
	switch d.Decision {
	case "rejected":
		c.event(apoyo.StepIdentity, "rejected", d.Reason, "caseworker")
		c.finish(apoyo.OutcomeIdentityRejected, d.Reason)
	case "verified":
		c.st.Status = "running"
		c.event(apoyo.StepIdentity, "verified", d.Reason, "caseworker")
	default:
		c.st.Status = "running"
		c.event(apoyo.StepIdentity, "new_document", d.Reason, "caseworker")
	}
	return c.st, nil
}

// pay commits the entitlement and pays it, once; a returned payment waits
// for a caseworker to put a new instrument on file, then pays again. It
// starts with attempt first (1 for a new case); with waitFirst it asks for
// a new instrument before that attempt (a return after settlement).
func (c *caseRun) pay(first int, waitFirst bool, reason string) (done bool, err error) {
	c.st.Step, c.st.Status = apoyo.StepPayment, "running"
	limit := max(c.rules.MaxPaymentAttempt, first)
	if waitFirst {
		if done, err := c.awaitInstrument(reason, ""); done || err != nil {
			return done, err
		}
	}
	for attempt := first; ; attempt++ {
		if c.cancel != nil {
			// Cancelled before this attempt's order left: nothing is in
			// flight, so the case stops cleanly.
			return true, c.cancelCase()
		}
		var res apoyo.PaymentResult
		din := DisburseInput{ProgramID: c.in.ProgramID, CycleID: c.in.CycleID,
			BeneficiaryID: c.in.BeneficiaryID, Amount: c.in.Amount, Attempt: attempt, Reserved: c.in.Reserved, Fund: c.in.Fund,
			Referrals: c.st.Referrals, Version: c.st.Version + 2}
		if c.version >= caseV3 {
			if res, err = c.sendAndAwait(din); err != nil {
				return true, err
			}
		} else if _, err := c.act(paymentActivity, ActivityDisburse, din, &res, false); err != nil {
			return true, err
		}
		if res.CycleCancelled || (c.version < caseV2 && res.State == "cancelled") {
			// The cycle was cancelled before this attempt's order left.
			return true, c.release(apoyo.OutcomeCancelled, "cycle cancelled", "")
		}
		c.st.Payments = append(c.st.Payments, res)
		if res.Paid() {
			c.event(apoyo.StepPayment, string(res.State), fmt.Sprintf("%s %s via %s", c.in.Amount.StringFixed(2), "MXN", res.Rail), "bank")
			return false, nil
		}
		reason := res.Reason
		if res.ReturnCause != 0 {
			reason = fmt.Sprintf("cause %d: %s", res.ReturnCause, res.Reason)
		}
		c.event(apoyo.StepPayment, string(res.State), reason, "bank")
		if attempt >= limit {
			return true, c.release(apoyo.OutcomePaymentFailed, fmt.Sprintf("%d payment attempts failed", attempt), apoyo.TaskPaymentFailed)
		}
		if done, err := c.awaitInstrument(reason, apoyo.TaskNeedsNewInstrument); done || err != nil {
			return done, err
		}
	}
}

// awaitInstrument waits for a caseworker to put a new payment instrument on
// file (raising task, if set); done is true when the case ended instead
// (cancelled, or no instrument in time: the money goes back).
func (c *caseRun) awaitInstrument(reason string, task apoyo.TaskKind) (done bool, err error) {
	c.st.Status, c.st.WaitingOn = apoyo.CaseWaiting, []string{apoyo.WaitingOnCaseworker}
	c.instrumentReady = false
	c.event(apoyo.StepPayment, "needs_new_instrument", reason, "system")
	if err := c.record(task); err != nil {
		return true, err
	}
	ok, err := workflow.AwaitWithTimeout(c.ctx, c.rules.InstrumentWait, func() bool { return c.instrumentReady || c.cancel != nil })
	if err != nil {
		return true, err
	}
	if c.cancel != nil && !c.instrumentReady {
		return true, c.release(apoyo.OutcomeCancelled, c.cancel.Reason, "")
	}
	if !ok {
		return true, c.release(apoyo.OutcomePaymentFailed, "no new payment instrument within "+c.rules.InstrumentWait.String(), apoyo.TaskPaymentFailed)
	}
	c.st.Status, c.st.WaitingOn = "running", nil
	return false, nil
}

func (c *caseRun) validateInstrument(InstrumentChange) error {
	// Validators do not run on replay: refusing more updates changes no
	// recorded history.
	if !c.st.AwaitsInstrument() {
		return apoyo.Errorf(apoyo.ECONFLICT, "case.not_awaiting_instrument", "case is not waiting for a new payment instrument (step %s, status %s, waiting on %s)",
			c.st.Step, c.st.Status, strings.Join(c.st.WaitingOn, ", "))
	}
	return nil
}

func (c *caseRun) newInstrument(ctx workflow.Context, ch InstrumentChange) (apoyo.CaseState, error) {
	c.instrumentReady = true
	if ch.Rail != "" {
		c.rail = ch.Rail
	}
	c.st.Status, c.st.WaitingOn = "running", nil
	c.event(apoyo.StepPayment, "new_instrument", "", "caseworker")
	return c.st, nil
}

// release gives the unpaid entitlement back to the budget and ends the case.
func (c *caseRun) release(outcome apoyo.Outcome, reason string, task apoyo.TaskKind) error {
	if _, err := c.act(shortActivity, ActivityRelease, ReleaseInput{ProgramID: c.in.ProgramID, CycleID: c.in.CycleID,
		BeneficiaryID: c.in.BeneficiaryID, Reason: reason, Reserved: c.in.Reserved, Fund: c.in.Fund}, nil, false); err != nil {
		return err
	}
	c.finish(outcome, reason)
	return c.record(task)
}

func (c *caseRun) cancelCase() error {
	return c.release(apoyo.OutcomeCancelled, c.cancel.Reason, "")
}

// followUp waits until every referral has an outcome; past the follow-up
// deadline the open ones are marked overdue and a caseworker task raised.
func (c *caseRun) followUp() error {
	if len(c.st.Referrals) == 0 {
		c.finish(apoyo.OutcomeCompleted, "paid; no referrals")
		return nil // Disburse recorded the final state
	}
	c.referred()
	ok, err := workflow.AwaitWithTimeout(c.ctx, c.rules.FollowUp, c.referralsClosed)
	if err != nil {
		return err
	}
	if !ok {
		c.referralsOverdue()
		if err := c.record(apoyo.TaskReferralOverdue); err != nil {
			return err
		}
		if err := workflow.Await(c.ctx, c.referralsClosed); err != nil {
			return err
		}
	}
	return nil // the last outcome's handler finished the case; its caller recorded it
}

// followUpV2 is followUp for caseV2: the end is recorded here, and a
// return after settlement that comes in meanwhile is paid again at once.
func (c *caseRun) followUpV2() error {
	if len(c.st.Referrals) == 0 {
		c.finish(apoyo.OutcomeCompleted, "paid; no referrals")
		return nil // Disburse recorded the final state
	}
	c.referred()
	deadline := workflow.Now(c.ctx).Add(c.rules.FollowUp)
	overdue := false
	for {
		wake := func() bool { return c.referralsClosed() || c.pendingReturn() }
		ok := true
		var err error
		if overdue || c.version >= caseV3 {
			// caseV3: no timer per case; the cycle's sweep marks
			// referrals overdue from PostgreSQL.
			err = workflow.Await(c.ctx, wake)
		} else {
			ok, err = workflow.AwaitWithTimeout(c.ctx, deadline.Sub(workflow.Now(c.ctx)), wake)
		}
		if err != nil {
			return err
		}
		if c.pendingReturn() {
			if done, err := c.repay(); done || err != nil {
				return err
			}
			continue
		}
		if ok {
			return c.recordEnd() // the last outcome's handler finished the case
		}
		overdue = true
		c.referralsOverdue()
		if err := c.record(apoyo.TaskReferralOverdue); err != nil {
			return err
		}
	}
}

// referred opens the follow-up step.
func (c *caseRun) referred() {
	c.st.Step, c.st.Status, c.st.WaitingOn = apoyo.StepReferrals, apoyo.CaseWaiting, []string{apoyo.WaitingOnCaseworker}
	names := make([]string, len(c.st.Referrals))
	for i, r := range c.st.Referrals {
		names[i] = r.Service
	}
	c.event(apoyo.StepReferrals, "referred", strings.Join(names, ", "), "system")
}

// referralsOverdue marks the referrals still without an outcome overdue.
func (c *caseRun) referralsOverdue() {
	var open []string
	for i := range c.st.Referrals {
		if c.st.Referrals[i].Outcome == "" {
			c.st.Referrals[i].Overdue = true
			open = append(open, c.st.Referrals[i].Service)
		}
	}
	c.st.Overdue = true
	c.event(apoyo.StepReferrals, "overdue", "no outcome yet: "+strings.Join(open, ", "), "system")
}

func (c *caseRun) referralsClosed() bool {
	for _, r := range c.st.Referrals {
		if r.Outcome == "" {
			return false
		}
	}
	return true
}

func (c *caseRun) validateReferralOutcome(in ReferralOutcomeInput) error {
	if !in.Outcome.Valid() {
		return apoyo.Errorf(apoyo.EINVALID, "case.bad_referral_outcome", "outcome %q: use attended, not_attended or declined", in.Outcome)
	}
	if c.st.Step == apoyo.StepPayment && (c.st.Status == apoyo.CaseRunning || slices.Contains(c.st.WaitingOn, apoyo.WaitingOnBank)) {
		// The payment's final answer opens the referrals in the
		// projection just before the run hears of it (Disburse's result,
		// or FinishPayment's completion of the waiting send).
		return apoyo.Errorf(apoyo.ECONFLICT, ReasonCatchingUp, "case is at step %s, %s, not yet in follow-up", c.st.Step, c.st.Status)
	}
	if c.st.Step != apoyo.StepReferrals {
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

func (c *caseRun) referralOutcome(ctx workflow.Context, in ReferralOutcomeInput) (apoyo.CaseState, error) {
	for i := range c.st.Referrals {
		r := &c.st.Referrals[i]
		if r.ID != in.ReferralID || r.Outcome != "" {
			continue
		}
		r.Outcome, r.Overdue = in.Outcome, false
		c.event(apoyo.StepReferrals, string(in.Outcome), r.Service, "caseworker")
	}
	if c.referralsClosed() && c.st.Step == apoyo.StepReferrals {
		c.finish(apoyo.OutcomeCompleted, "paid; all referrals closed")
	}
	return c.st, nil
}
