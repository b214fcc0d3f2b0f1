package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/apoyo-cdmx/apoyo"
	wf "github.com/apoyo-cdmx/apoyo/workflows"
)

// The tests run BeneficiaryCase in the SDK's test environment: a mock clock
// that jumps to the next timer whenever the workflow is blocked, and fake
// activities registered under the worker's activity names. Updates, signals
// and queries are sent from delayed callbacks, at mock-clock offsets from
// the start of the case.

var start = time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)

var ruleNames = []string{"age", "alcaldia", "population_group", "consent", "already_paid"}

func referrals() []apoyo.Referral {
	return []apoyo.Referral{
		{ID: "ref-1", Service: "bolsa_de_trabajo", Need: "employment", Secretariat: "STYFE"},
		{ID: "ref-2", Service: "centro_de_salud", Need: "health", Secretariat: "SEDESA"},
	}
}

func passedRules() []apoyo.RuleOutcome {
	out := make([]apoyo.RuleOutcome, len(ruleNames))
	for i, r := range ruleNames {
		out[i] = apoyo.RuleOutcome{Rule: r, Passed: true}
	}
	return out
}

// verified is what Screen finds for an eligible person with two referrals.
func verified() wf.ScreenResult {
	return wf.ScreenResult{Identity: apoyo.IdentityVerified, Eligible: true, Rules: passedRules(), Referrals: referrals()}
}

func needsReview() wf.ScreenResult {
	return wf.ScreenResult{Identity: apoyo.IdentityNeedsReview, IdentityReason: "document photo unreadable"}
}

func settled() apoyo.PaymentResult {
	return apoyo.PaymentResult{OrderID: "ord-1", Rail: "spei", State: "settled", Fund: "city"}
}

func returned() apoyo.PaymentResult {
	return apoyo.PaymentResult{OrderID: "ord-r", Rail: "spei", State: "returned", ReturnCause: 1, Reason: "cuenta inexistente"}
}

func input() wf.BeneficiaryInput {
	return wf.BeneficiaryInput{
		ProgramID: "prg-1", CycleID: "cyc-1", BeneficiaryID: "ben-1", CycleDate: start,
		Amount: decimal.RequireFromString("5600"),
		Rules: wf.CaseRules{
			Required: slices.Clone(apoyo.Secretariats), Quorum: 3,
			ApprovalSLA: 48 * time.Hour, ReviewDeadline: 72 * time.Hour, FollowUp: 30 * 24 * time.Hour,
			InstrumentWait: 10 * 24 * time.Hour, MaxPaymentAttempt: 3,
		},
	}
}

// disburseCall is one execution of Disburse, retries included.
type disburseCall struct {
	In wf.DisburseInput
	// Try is Temporal's attempt number of this activity execution.
	Try int32
}

type harness struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment

	mu sync.Mutex
	// screen and disburse answer the n-th call (from 1); set them before run.
	screen    func(n int, in wf.ScreenInput) (wf.ScreenResult, error)
	disburse  func(n int, in wf.DisburseInput) (apoyo.PaymentResult, error)
	screens   []wf.ScreenInput
	disburses []disburseCall
	records   []wf.RecordInput
	releases  []wf.ReleaseInput

	nextID   int
	asyncErr []error // failures inside callbacks, checked after the run

	// shape3 runs BeneficiaryCase3, whose SendPayment (recorded with the
	// disburses, answered by disburse) completes with the final answer.
	shape3 bool
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	h := &harness{t: t, env: s.NewTestWorkflowEnvironment()}
	// The SDK's 1 s deadlock detector fires on a loaded 2-core machine
	// (CI runs many test binaries at once); a real deadlock still fails.
	h.env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: time.Minute})
	h.screen = func(int, wf.ScreenInput) (wf.ScreenResult, error) { return verified(), nil }
	h.disburse = func(int, wf.DisburseInput) (apoyo.PaymentResult, error) { return settled(), nil }
	h.env.SetStartTime(start)
	h.env.RegisterWorkflowWithOptions(wf.BeneficiaryCase, workflow.RegisterOptions{Name: wf.BeneficiaryWorkflowName})
	h.env.RegisterActivityWithOptions(func(ctx context.Context, in wf.ScreenInput) (wf.ScreenResult, error) {
		h.mu.Lock()
		h.screens = append(h.screens, in)
		n, f := len(h.screens), h.screen
		h.mu.Unlock()
		return f(n, in)
	}, activity.RegisterOptions{Name: wf.ActivityScreen})
	h.env.RegisterActivityWithOptions(func(ctx context.Context, in wf.DisburseInput) (apoyo.PaymentResult, error) {
		h.mu.Lock()
		h.disburses = append(h.disburses, disburseCall{In: in, Try: activity.GetInfo(ctx).Attempt})
		n, f := len(h.disburses), h.disburse
		h.mu.Unlock()
		return f(n, in)
	}, activity.RegisterOptions{Name: wf.ActivityDisburse})
	h.env.RegisterWorkflowWithOptions(wf.BeneficiaryCase3, workflow.RegisterOptions{Name: wf.Case3WorkflowName})
	h.env.RegisterActivityWithOptions(h.sendPayment, activity.RegisterOptions{Name: wf.ActivitySendPayment})
	h.env.RegisterActivityWithOptions(func(ctx context.Context, in wf.RecordInput) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.records = append(h.records, in)
		return nil
	}, activity.RegisterOptions{Name: wf.ActivityRecord})
	h.env.RegisterActivityWithOptions(func(ctx context.Context, in wf.ReleaseInput) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.releases = append(h.releases, in)
		return nil
	}, activity.RegisterOptions{Name: wf.ActivityRelease})
	return h
}

// sendPayment is SendPayment's fake: disburse answers it.
func (h *harness) sendPayment(ctx context.Context, in wf.DisburseInput) (apoyo.PaymentResult, error) {
	h.mu.Lock()
	h.disburses = append(h.disburses, disburseCall{In: in, Try: activity.GetInfo(ctx).Attempt})
	n, f := len(h.disburses), h.disburse
	h.mu.Unlock()
	return f(n, in)
}

// run executes the case to its end and returns its final state, or the
// workflow's error.
func (h *harness) run(in wf.BeneficiaryInput) (apoyo.CaseState, error) {
	h.t.Helper()
	name := wf.BeneficiaryWorkflowName
	if h.shape3 {
		name = wf.Case3WorkflowName
	}
	h.env.ExecuteWorkflow(name, in)
	require.True(h.t, h.env.IsWorkflowCompleted(), "workflow did not complete")
	require.Empty(h.t, h.asyncErr)
	var st apoyo.CaseState
	if err := h.env.GetWorkflowError(); err != nil {
		return st, err
	}
	require.NoError(h.t, h.env.GetWorkflowResult(&st))
	return st, nil
}

// mustRun is run for cases that end without a workflow error.
func (h *harness) mustRun(in wf.BeneficiaryInput) apoyo.CaseState {
	h.t.Helper()
	st, err := h.run(in)
	require.NoError(h.t, err)
	require.Equal(h.t, int64(len(st.Timeline)), st.Version, "version grows with every event")
	return st
}

// updateResult is what became of one update.
type updateResult struct {
	Sent      bool
	Accepted  bool
	Rejected  error
	Completed bool
	State     apoyo.CaseState
	Err       error
}

// update sends an update at offset at from the start of the case.
func (h *harness) update(at time.Duration, name string, arg any) *updateResult {
	r := &updateResult{}
	h.nextID++
	id := fmt.Sprintf("%s-%d", name, h.nextID)
	h.env.RegisterDelayedCallback(func() {
		r.Sent = true
		h.env.UpdateWorkflow(name, id, &testsuite.TestUpdateCallback{
			OnAccept: func() { r.Accepted = true },
			OnReject: func(err error) { r.Rejected = err },
			OnComplete: func(v any, err error) {
				r.Completed, r.Err = true, err
				if s, ok := v.(apoyo.CaseState); ok {
					r.State = s
				}
			},
		}, arg)
	}, at)
	return r
}

func (h *harness) vote(at time.Duration, s apoyo.Secretariat, approve bool, reason string) *updateResult {
	return h.update(at, wf.UpdateApprove, apoyo.ApprovalVote{Secretariat: s, Approve: approve, Reason: reason, Approver: "usr-" + string(s)})
}

// approveAll has the three secretariats approve at from, from+1h, from+2h.
func (h *harness) approveAll(from time.Duration) []*updateResult {
	var out []*updateResult
	for i, s := range apoyo.Secretariats {
		out = append(out, h.vote(from+time.Duration(i)*time.Hour, s, true, ""))
	}
	return out
}

func (h *harness) referral(at time.Duration, id, outcome string) *updateResult {
	return h.update(at, wf.UpdateReferralOutcome, wf.ReferralOutcomeInput{ReferralID: id, Outcome: apoyo.ReferralOutcome(outcome), Caseworker: "cw-1"})
}

func (h *harness) identity(at time.Duration, decision, reason string) *updateResult {
	return h.update(at, wf.UpdateIdentityDecision, wf.IdentityDecision{Decision: decision, Reason: reason, Caseworker: "cw-1"})
}

func (h *harness) instrument(at time.Duration) *updateResult {
	return h.update(at, wf.UpdatePaymentInstrument, wf.InstrumentChange{Caseworker: "cw-1"})
}

func (h *harness) cancel(at time.Duration, reason string) {
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(wf.SignalCancel, wf.CancelRequest{Reason: reason}) }, at)
}

// query returns the state the case reports at offset at.
func (h *harness) query(at time.Duration) *apoyo.CaseState {
	st := &apoyo.CaseState{}
	h.env.RegisterDelayedCallback(func() {
		v, err := h.env.QueryWorkflow(wf.QueryCase)
		if err == nil {
			err = v.Get(st)
		}
		if err != nil {
			h.asyncErr = append(h.asyncErr, fmt.Errorf("query at %s: %w", at, err))
		}
	}, at)
	return st
}

func (h *harness) recordTasks() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := []string{}
	for _, r := range h.records {
		out = append(out, string(r.Task))
	}
	return out
}

func (h *harness) disburseAttempts() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := []int{}
	for _, d := range h.disburses {
		out = append(out, d.In.Attempt)
	}
	return out
}

// requireRecordedEnd asserts that the case recorded its own end with its
// own RecordCase activity (not leaving it to the caller of an update):
// the last record carries the final state and raises no task.
func requireRecordedEnd(t *testing.T, h *harness, st apoyo.CaseState) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	require.NotEmpty(t, h.records, "the case did not record its end")
	last := h.records[len(h.records)-1]
	require.Empty(t, last.Task)
	require.Equal(t, st, last.State, "the last record is the final state")
}

// accepted asserts an update was accepted and completed without error.
func accepted(t *testing.T, r *updateResult) {
	t.Helper()
	require.True(t, r.Sent, "update not sent (case already over?)")
	require.NoError(t, r.Rejected)
	require.True(t, r.Accepted)
	require.True(t, r.Completed)
	require.NoError(t, r.Err)
}

// refused asserts an update was rejected by its validator with reason.
func refused(t *testing.T, r *updateResult, code apoyo.ErrorCode, reason string) {
	t.Helper()
	require.True(t, r.Sent, "update not sent (case already over?)")
	require.Error(t, r.Rejected)
	require.False(t, r.Accepted)
	require.False(t, r.Completed)
	refusal := wf.Refusal(r.Rejected)
	require.NotNil(t, refusal, "a refusal carries its reason and code: %v", r.Rejected)
	require.Equal(t, reason, refusal.Reason, r.Rejected.Error())
	require.Equal(t, code, refusal.Code)
}

// events renders the timeline as step/outcome/actor.
func events(st apoyo.CaseState) []string {
	out := make([]string, len(st.Timeline))
	for i, e := range st.Timeline {
		out[i] = string(e.Step) + "/" + e.Outcome + "/" + e.Actor
	}
	return out
}

func eventAt(t *testing.T, st apoyo.CaseState, step apoyo.Step, outcome string) apoyo.Event {
	t.Helper()
	for _, e := range st.Timeline {
		if e.Step == step && e.Outcome == outcome {
			return e
		}
	}
	t.Fatalf("no %s/%s event in %v", step, outcome, events(st))
	return apoyo.Event{}
}

func eligibilityPassed() []string {
	return []string{
		"eligibility/passed/system", "eligibility/passed/system", "eligibility/passed/system",
		"eligibility/passed/system", "eligibility/passed/system",
	}
}

func concat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var approvedByAll = []string{
	"approval/requested/system", "approval/approved/STYFE", "approval/approved/SIBISO",
	"approval/approved/SEDESA", "approval/approved/system",
}

// 1. Happy path.
func TestHappyPath(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	votes := h.approveAll(time.Hour)
	r1 := h.referral(4*time.Hour, "ref-1", "attended")
	r2 := h.referral(5*time.Hour, "ref-2", "declined")
	st := h.mustRun(input())

	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	require.Equal(t, apoyo.StepDone, st.Step)
	require.Equal(t, apoyo.CaseStatus("done"), st.Status)
	require.Equal(t, "paid; all referrals closed", st.Reason)
	require.Equal(t, apoyo.CaseID("cyc-1", "ben-1"), st.CaseID)
	require.False(t, st.Overdue)
	require.Empty(t, st.WaitingOn)
	require.Equal(t, concat(
		[]string{"identity/verified/system"}, eligibilityPassed(), approvedByAll,
		[]string{"payment/settled/bank", "referrals/referred/system", "referrals/attended/caseworker",
			"referrals/declined/caseworker", "done/completed/system"},
	), events(st))
	require.Equal(t, start.Add(3*time.Hour), eventAt(t, st, apoyo.StepPayment, "settled").At)
	require.Equal(t, "5600.00 MXN via spei", eventAt(t, st, apoyo.StepPayment, "settled").Reason)
	require.Equal(t, "3 of 3 approvals", st.Timeline[10].Reason)
	require.Equal(t, start.Add(5*time.Hour), st.Timeline[len(st.Timeline)-1].At)
	require.Len(t, st.Votes, 3)
	require.Equal(t, []apoyo.PaymentResult{settled()}, st.Payments)
	require.Equal(t, []apoyo.Referral{
		{ID: "ref-1", Service: "bolsa_de_trabajo", Need: "employment", Secretariat: "STYFE", Outcome: "attended"},
		{ID: "ref-2", Service: "centro_de_salud", Need: "health", Secretariat: "SEDESA", Outcome: "declined"},
	}, st.Referrals)

	for _, v := range votes {
		accepted(t, v)
	}
	accepted(t, r1)
	accepted(t, r2)
	// Each update returns the state with its version, for the caller's projection.
	require.Less(t, votes[0].State.Version, votes[1].State.Version)
	require.Equal(t, apoyo.StepPayment, votes[2].State.Step)
	require.Equal(t, st.Version, r2.State.Version)
	require.Equal(t, apoyo.OutcomeCompleted, r2.State.Outcome)

	require.Len(t, h.screens, 1)
	require.Equal(t, wf.ScreenInput{ProgramID: "prg-1", CycleID: "cyc-1", BeneficiaryID: "ben-1", CycleDate: start,
		Required: apoyo.Secretariats, Version: 1}, h.screens[0])
	require.Len(t, h.disburses, 1)
	d := h.disburses[0]
	require.Equal(t, 1, d.In.Attempt)
	require.Equal(t, int32(1), d.Try)
	require.True(t, d.In.Amount.Equal(decimal.RequireFromString("5600")))
	require.Equal(t, referrals(), d.In.Referrals)
	// Disburse's projection carries the version of the state once referrals are open.
	require.Equal(t, int64(slices.Index(events(st), "referrals/referred/system")+1), d.In.Version)
	requireRecordedEnd(t, h, st) // the one RecordCase of a case with referrals: its end
	require.Empty(t, h.releases)
}

// A case with no referrals is complete once paid.
func TestNoReferralsCompletesOnPayment(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.screen = func(int, wf.ScreenInput) (wf.ScreenResult, error) {
		r := verified()
		r.Referrals = nil
		return r, nil
	}
	h.approveAll(time.Hour)
	st := h.mustRun(input())
	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	require.Equal(t, "paid; no referrals", st.Reason)
	require.Equal(t, concat([]string{"identity/verified/system"}, eligibilityPassed(), approvedByAll,
		[]string{"payment/settled/bank", "done/completed/system"}), events(st))
	require.Equal(t, []int{1}, h.disburseAttempts())
	require.Equal(t, st.Version, h.disburses[0].In.Version)
	require.Empty(t, h.recordTasks())
}

// 2. Identity under review, verified by a caseworker: Screen runs again for
// eligibility only.
func TestIdentityReviewVerified(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.screen = func(n int, in wf.ScreenInput) (wf.ScreenResult, error) {
		if n == 1 {
			return needsReview(), nil
		}
		r := verified()
		r.Identity = "" // identity was skipped
		return r, nil
	}
	waiting := h.query(time.Hour)
	d := h.identity(5*time.Hour, "verified", "original seen at the office")
	h.approveAll(6 * time.Hour)
	h.referral(10*time.Hour, "ref-1", "attended")
	h.referral(10*time.Hour, "ref-2", "not_attended")
	st := h.mustRun(input())

	require.Equal(t, apoyo.StepIdentity, waiting.Step)
	require.Equal(t, apoyo.CaseStatus("waiting"), waiting.Status)
	require.Equal(t, []string{"caseworker"}, waiting.WaitingOn)

	accepted(t, d)
	require.Equal(t, apoyo.CaseStatus("running"), d.State.Status)
	require.Len(t, h.screens, 2)
	require.False(t, h.screens[0].SkipIdentity)
	require.True(t, h.screens[1].SkipIdentity)
	require.Greater(t, h.screens[1].Version, h.screens[0].Version)

	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	require.Equal(t, concat(
		[]string{"identity/needs_review/system", "identity/verified/caseworker"}, eligibilityPassed(), approvedByAll,
		[]string{"payment/settled/bank", "referrals/referred/system", "referrals/attended/caseworker",
			"referrals/not_attended/caseworker", "done/completed/system"},
	), events(st))
	require.Equal(t, "document photo unreadable", st.Timeline[0].Reason)
	require.Equal(t, start.Add(5*time.Hour), st.Timeline[1].At)
	require.Equal(t, []int{1}, h.disburseAttempts())
	requireRecordedEnd(t, h, st)
}

// 3. Identity under review, a new document is on file: Screen checks
// identity again.
func TestIdentityReviewNewDocument(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.screen = func(n int, in wf.ScreenInput) (wf.ScreenResult, error) {
		if n == 1 {
			return needsReview(), nil
		}
		r := verified()
		r.Referrals = nil
		return r, nil
	}
	d := h.identity(5*time.Hour, "new_document", "")
	h.approveAll(6 * time.Hour)
	st := h.mustRun(input())

	accepted(t, d)
	require.Len(t, h.screens, 2)
	require.False(t, h.screens[0].SkipIdentity)
	require.False(t, h.screens[1].SkipIdentity)
	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	require.Equal(t, concat(
		[]string{"identity/needs_review/system", "identity/new_document/caseworker", "identity/verified/system"},
		eligibilityPassed(), approvedByAll, []string{"payment/settled/bank", "done/completed/system"},
	), events(st))
	require.Equal(t, start.Add(5*time.Hour), eventAt(t, st, apoyo.StepIdentity, "verified").At)
	require.Equal(t, []int{1}, h.disburseAttempts())
}

// 4. Screen rejects the identity.
func TestIdentityRejectedByScreen(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.screen = func(int, wf.ScreenInput) (wf.ScreenResult, error) {
		return wf.ScreenResult{Identity: apoyo.IdentityRejected, IdentityReason: "CURP does not match RENAPO"}, nil
	}
	early := h.vote(0, apoyo.STyFE, true, "")
	st := h.mustRun(input())

	require.Equal(t, apoyo.OutcomeIdentityRejected, st.Outcome)
	require.Equal(t, apoyo.StepDone, st.Step)
	require.Equal(t, "CURP does not match RENAPO", st.Reason)
	require.Equal(t, []string{"identity/rejected/system", "done/identity_rejected/system"}, events(st))
	require.Nil(t, st.Votes)
	require.False(t, early.Accepted)
	require.Len(t, h.screens, 1)
	require.Empty(t, h.disburses)
	require.Empty(t, h.recordTasks(), "Screen records it")
	require.Empty(t, h.releases)
}

// 5. A caseworker rejects the identity; a rejection needs a reason, and only
// known decisions are taken.
func TestIdentityRejectedByCaseworker(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.screen = func(int, wf.ScreenInput) (wf.ScreenResult, error) { return needsReview(), nil }
	noReason := h.identity(time.Hour, "rejected", "  ")
	badWord := h.identity(2*time.Hour, "approved", "")
	ok := h.identity(3*time.Hour, "rejected", "document is forged")
	st := h.mustRun(input())

	refused(t, noReason, apoyo.EINVALID, "case.reason_required")
	refused(t, badWord, apoyo.EINVALID, "case.bad_decision")
	accepted(t, ok)
	require.Equal(t, apoyo.OutcomeIdentityRejected, ok.State.Outcome)

	require.Equal(t, apoyo.OutcomeIdentityRejected, st.Outcome)
	require.Equal(t, "document is forged", st.Reason)
	require.Equal(t, []string{"identity/needs_review/system", "identity/rejected/caseworker", "done/identity_rejected/system"}, events(st))
	require.Equal(t, start.Add(3*time.Hour), st.Timeline[2].At)
	require.Len(t, h.screens, 1)
	require.Empty(t, h.disburses)
	requireRecordedEnd(t, h, st)
	require.Empty(t, h.releases)
}

// An identity decision is only taken while the case waits for one.
func TestIdentityDecisionRefusedWhenNotUnderReview(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	d := h.identity(30*time.Minute, "verified", "")
	h.approveAll(time.Hour)
	h.referral(4*time.Hour, "ref-1", "attended")
	h.referral(4*time.Hour, "ref-2", "attended")
	st := h.mustRun(input())
	refused(t, d, apoyo.ECONFLICT, "case.not_awaiting_identity")
	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	require.Len(t, h.screens, 1)
}

// 6. Nobody decides within the review deadline.
func TestIdentityReviewExpires(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.screen = func(int, wf.ScreenInput) (wf.ScreenResult, error) { return needsReview(), nil }
	late := h.identity(73*time.Hour, "verified", "")
	st := h.mustRun(input())

	require.False(t, late.Sent, "the case ended at the deadline")
	require.Equal(t, apoyo.OutcomeIdentityExpired, st.Outcome)
	require.Equal(t, "no caseworker decision within 72h0m0s", st.Reason)
	require.Equal(t, []string{"identity/needs_review/system", "done/identity_review_expired/system"}, events(st))
	require.Equal(t, start.Add(72*time.Hour), st.Timeline[1].At)
	require.Equal(t, []string{"identity_review_expired"}, h.recordTasks())
	rec := h.records[0]
	require.Equal(t, "ben-1", rec.BeneficiaryID)
	require.Equal(t, apoyo.OutcomeIdentityExpired, rec.State.Outcome)
	require.Equal(t, st.Version, rec.State.Version)
	require.Len(t, h.screens, 1)
	require.Empty(t, h.disburses)
	require.Empty(t, h.releases)
}

// 7. Each eligibility rule, failing on its own, ends the case.
func TestIneligible(t *testing.T) {
	t.Parallel()
	reasons := map[string]string{
		"age":              "under 18 on the cycle date",
		"alcaldia":         "address outside Mexico City",
		"population_group": "not in a covered population group",
		"consent":          "no signed consent",
		"already_paid":     "paid in this cycle by another programme",
	}
	for _, rule := range ruleNames {
		t.Run(rule, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.screen = func(int, wf.ScreenInput) (wf.ScreenResult, error) {
				r := verified()
				r.Eligible, r.Referrals = false, nil
				for i := range r.Rules {
					if r.Rules[i].Rule == rule {
						r.Rules[i].Passed, r.Rules[i].Reason = false, reasons[rule]
					}
				}
				return r, nil
			}
			st := h.mustRun(input())

			require.Equal(t, apoyo.OutcomeIneligible, st.Outcome)
			require.Equal(t, rule+": "+reasons[rule], st.Reason)
			var want []string
			want = append(want, "identity/verified/system")
			for _, r := range ruleNames {
				if r == rule {
					want = append(want, "eligibility/failed/system")
				} else {
					want = append(want, "eligibility/passed/system")
				}
			}
			want = append(want, "done/ineligible/system")
			require.Equal(t, want, events(st))
			for i, r := range ruleNames {
				require.Contains(t, st.Timeline[1+i].Reason, r)
			}
			require.Empty(t, h.disburses)
			require.Empty(t, h.recordTasks(), "Screen records it")
			require.Empty(t, h.releases)
		})
	}
}

// Several failed rules are all named.
func TestIneligibleNamesEveryFailedRule(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.screen = func(int, wf.ScreenInput) (wf.ScreenResult, error) {
		r := verified()
		r.Eligible = false
		r.Rules[0].Passed = false
		r.Rules[3].Passed, r.Rules[3].Reason = false, "withdrawn"
		return r, nil
	}
	st := h.mustRun(input())
	require.Equal(t, apoyo.OutcomeIneligible, st.Outcome)
	require.Equal(t, "age; consent: withdrawn", st.Reason)
	require.Empty(t, st.Referrals)
}

// 8. One secretariat rejects: the case ends; a rejection needs a reason.
func TestApprovalRejected(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	v1 := h.vote(time.Hour, apoyo.STyFE, true, "")
	noReason := h.vote(90*time.Minute, apoyo.SIBISO, false, " ")
	v2 := h.vote(2*time.Hour, apoyo.SIBISO, false, "already registered in another programme")
	st := h.mustRun(input())

	accepted(t, v1)
	refused(t, noReason, apoyo.EINVALID, "case.reason_required")
	accepted(t, v2)
	require.Equal(t, apoyo.OutcomeApprovalRejected, v2.State.Outcome)

	require.Equal(t, apoyo.OutcomeApprovalRejected, st.Outcome)
	require.Equal(t, "rejected by SIBISO: already registered in another programme", st.Reason)
	require.Equal(t, concat([]string{"identity/verified/system"}, eligibilityPassed(), []string{
		"approval/requested/system", "approval/approved/STYFE", "approval/rejected/SIBISO", "done/approval_rejected/system",
	}), events(st))
	require.Equal(t, "already registered in another programme", eventAt(t, st, apoyo.StepApproval, "rejected").Reason)
	require.Len(t, st.Votes, 2)
	require.False(t, st.Votes[apoyo.SIBISO].Approve)
	require.Empty(t, h.disburses)
	requireRecordedEnd(t, h, st)
}

// 9. No quorum within the SLA: overdue, escalated once, and still paid when
// the votes come in.
func TestApprovalOverdue(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.vote(time.Hour, apoyo.SEDESA, true, "")
	before := h.query(47 * time.Hour)
	overdue := h.query(49 * time.Hour)
	v1 := h.vote(50*time.Hour, apoyo.STyFE, true, "")
	v2 := h.vote(51*time.Hour, apoyo.SIBISO, true, "")
	h.referral(52*time.Hour, "ref-1", "attended")
	h.referral(52*time.Hour, "ref-2", "attended")
	st := h.mustRun(input())

	require.False(t, before.Overdue)
	require.True(t, overdue.Overdue)
	require.Equal(t, apoyo.StepApproval, overdue.Step)
	require.Equal(t, []string{"STYFE", "SIBISO"}, overdue.WaitingOn)
	accepted(t, v1)
	require.True(t, v1.State.Overdue)
	accepted(t, v2)
	require.False(t, v2.State.Overdue, "quorum clears overdue")

	require.Equal(t, []string{"approval_overdue", ""}, h.recordTasks())
	rec := h.records[0]
	require.True(t, rec.State.Overdue)
	require.Equal(t, apoyo.StepApproval, rec.State.Step)
	require.Equal(t, []string{"STYFE", "SIBISO"}, rec.State.WaitingOn)

	e := eventAt(t, st, apoyo.StepApproval, "overdue")
	require.Equal(t, start.Add(48*time.Hour), e.At)
	require.Contains(t, e.Reason, "48h0m0s")
	require.Contains(t, e.Reason, "STYFE, SIBISO")
	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	require.False(t, st.Overdue)
	require.Equal(t, start.Add(51*time.Hour), eventAt(t, st, apoyo.StepPayment, "settled").At)
	require.Equal(t, []int{1}, h.disburseAttempts())
	require.Empty(t, h.releases)
}

// 10a. A vote cannot be changed; the same vote again is accepted and changes
// nothing.
func TestApprovalVoteCannotChange(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	first := h.vote(time.Hour, apoyo.STyFE, true, "")
	changed := h.vote(2*time.Hour, apoyo.STyFE, false, "changed my mind")
	again := h.vote(3*time.Hour, apoyo.STyFE, true, "")
	h.vote(4*time.Hour, apoyo.SIBISO, true, "")
	h.vote(5*time.Hour, apoyo.SEDESA, true, "")
	h.referral(6*time.Hour, "ref-1", "attended")
	h.referral(6*time.Hour, "ref-2", "attended")
	st := h.mustRun(input())

	accepted(t, first)
	refused(t, changed, apoyo.ECONFLICT, "case.vote_changed")
	accepted(t, again)
	require.Equal(t, first.State.Version, again.State.Version, "a repeated vote changes nothing")
	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	require.Equal(t, 1, countOf(events(st), "approval/approved/STYFE"))
	require.Equal(t, start.Add(time.Hour), eventAt(t, st, apoyo.StepApproval, "approved").At)
	require.Equal(t, []int{1}, h.disburseAttempts())
}

func countOf(ss []string, s string) int {
	n := 0
	for _, x := range ss {
		if x == s {
			n++
		}
	}
	return n
}

// 10b. Only the programme's required secretariats vote.
func TestApprovalVoteFromSecretariatNotRequired(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	in := input()
	in.Rules.Required = []apoyo.Secretariat{apoyo.STyFE, apoyo.SIBISO}
	in.Rules.Quorum = 0 // defaults to every required secretariat
	sedesa := h.vote(time.Hour, apoyo.SEDESA, true, "")
	unknown := h.vote(time.Hour, "IMSS", true, "")
	h.vote(2*time.Hour, apoyo.STyFE, true, "")
	h.vote(3*time.Hour, apoyo.SIBISO, true, "")
	h.referral(4*time.Hour, "ref-1", "attended")
	h.referral(4*time.Hour, "ref-2", "attended")
	st := h.mustRun(in)

	refused(t, sedesa, apoyo.EINVALID, "case.not_required")
	refused(t, unknown, apoyo.EINVALID, "case.bad_secretariat")
	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	require.Equal(t, "quorum 2 of STYFE, SIBISO", eventAt(t, st, apoyo.StepApproval, "requested").Reason)
	require.Equal(t, "2 of 2 approvals", st.Timeline[slices.Index(events(st), "approval/approved/system")].Reason)
	require.Equal(t, start.Add(3*time.Hour), eventAt(t, st, apoyo.StepPayment, "settled").At)
	require.Equal(t, in.Rules.Required, h.screens[0].Required)
}

// 10c. Votes before the case reaches approval are refused.
func TestApprovalVoteBeforeApprovalStep(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.screen = func(n int, in wf.ScreenInput) (wf.ScreenResult, error) {
		if n == 1 {
			return needsReview(), nil
		}
		return verified(), nil
	}
	early := h.vote(time.Hour, apoyo.STyFE, true, "")
	h.identity(2*time.Hour, "verified", "")
	h.approveAll(3 * time.Hour)
	h.referral(6*time.Hour, "ref-1", "attended")
	h.referral(6*time.Hour, "ref-2", "attended")
	st := h.mustRun(input())

	refused(t, early, apoyo.ECONFLICT, "case.not_awaiting_approval") // waiting on a caseworker: not a moment away
	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	require.Equal(t, start.Add(3*time.Hour), eventAt(t, st, apoyo.StepApproval, "approved").At)
}

// 11. Quorum 2 of 3: two approvals carry the case; the third vote comes too
// late.
func TestApprovalQuorumTwoOfThree(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	in := input()
	in.Rules.Quorum = 2
	h.vote(time.Hour, apoyo.STyFE, true, "")
	second := h.vote(2*time.Hour, apoyo.SEDESA, true, "")
	third := h.vote(3*time.Hour, apoyo.SIBISO, false, "too late")
	h.referral(4*time.Hour, "ref-1", "attended")
	h.referral(5*time.Hour, "ref-2", "attended")
	st := h.mustRun(in)

	accepted(t, second)
	require.Equal(t, apoyo.StepPayment, second.State.Step)
	require.Empty(t, second.State.WaitingOn)
	refused(t, third, apoyo.ECONFLICT, "case.not_awaiting_approval")
	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	require.Len(t, st.Votes, 2)
	require.Equal(t, "2 of 3 approvals", st.Timeline[slices.Index(events(st), "approval/approved/system")].Reason)
	require.Equal(t, start.Add(2*time.Hour), eventAt(t, st, apoyo.StepPayment, "settled").At)
	require.Equal(t, []int{1}, h.disburseAttempts())
}

// 12. A returned payment waits for a new instrument, then pays again once.
func TestPaymentReturnedThenRepaid(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.disburse = func(n int, in wf.DisburseInput) (apoyo.PaymentResult, error) {
		if n == 1 {
			return returned(), nil
		}
		return settled(), nil
	}
	tooEarly := h.instrument(30 * time.Minute)
	h.approveAll(time.Hour)
	waiting := h.query(5 * time.Hour)
	ok := h.instrument(10 * time.Hour)
	h.referral(20*time.Hour, "ref-1", "attended")
	h.referral(21*time.Hour, "ref-2", "attended")
	st := h.mustRun(input())

	refused(t, tooEarly, apoyo.ECONFLICT, "case.not_awaiting_instrument")
	accepted(t, ok)
	require.Equal(t, apoyo.StepPayment, waiting.Step)
	require.Equal(t, apoyo.CaseStatus("waiting"), waiting.Status)
	require.Equal(t, []string{"caseworker"}, waiting.WaitingOn)

	require.Equal(t, []int{1, 2}, h.disburseAttempts())
	require.Equal(t, []string{"needs_new_instrument", ""}, h.recordTasks())
	require.Equal(t, apoyo.CaseStatus("waiting"), h.records[0].State.Status)
	require.Empty(t, h.releases)

	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	require.Equal(t, []apoyo.PaymentResult{returned(), settled()}, st.Payments)
	require.Equal(t, concat([]string{"identity/verified/system"}, eligibilityPassed(), approvedByAll, []string{
		"payment/returned/bank", "payment/needs_new_instrument/system", "payment/new_instrument/caseworker",
		"payment/settled/bank", "referrals/referred/system", "referrals/attended/caseworker",
		"referrals/attended/caseworker", "done/completed/system",
	}), events(st))
	require.Equal(t, "cause 1: cuenta inexistente", eventAt(t, st, apoyo.StepPayment, "returned").Reason)
	require.Equal(t, start.Add(10*time.Hour), eventAt(t, st, apoyo.StepPayment, "settled").At)
}

// 13. Every attempt returned: the entitlement is released.
func TestPaymentReturnedEveryAttempt(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.disburse = func(int, wf.DisburseInput) (apoyo.PaymentResult, error) { return returned(), nil }
	in := input()
	in.Reserved = true
	h.approveAll(time.Hour)
	i1 := h.instrument(10 * time.Hour)
	i2 := h.instrument(20 * time.Hour)
	st := h.mustRun(in)

	accepted(t, i1)
	accepted(t, i2)
	require.Equal(t, []int{1, 2, 3}, h.disburseAttempts())
	for _, d := range h.disburses {
		require.True(t, d.In.Reserved)
	}
	require.Len(t, h.releases, 1)
	require.Equal(t, wf.ReleaseInput{ProgramID: "prg-1", CycleID: "cyc-1", BeneficiaryID: "ben-1",
		Reason: "3 payment attempts failed", Reserved: true}, h.releases[0])
	require.Equal(t, []string{"needs_new_instrument", "needs_new_instrument", "payment_failed"}, h.recordTasks())
	require.Equal(t, apoyo.OutcomePaymentFailed, h.records[2].State.Outcome)

	require.Equal(t, apoyo.OutcomePaymentFailed, st.Outcome)
	require.Equal(t, "3 payment attempts failed", st.Reason)
	require.Len(t, st.Payments, 3)
	require.Equal(t, 3, countOf(events(st), "payment/returned/bank"))
	require.Equal(t, 2, countOf(events(st), "payment/needs_new_instrument/system"))
	require.Equal(t, "done/payment_failed/system", events(st)[len(st.Timeline)-1])
	require.Equal(t, start.Add(20*time.Hour), st.Timeline[len(st.Timeline)-1].At)
}

// 14. No new instrument within the wait: the entitlement is released.
func TestPaymentNoNewInstrument(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.disburse = func(int, wf.DisburseInput) (apoyo.PaymentResult, error) { return returned(), nil }
	h.approveAll(time.Hour)
	st := h.mustRun(input())

	require.Equal(t, []int{1}, h.disburseAttempts())
	require.Len(t, h.releases, 1)
	require.Equal(t, "no new payment instrument within 240h0m0s", h.releases[0].Reason)
	require.Equal(t, []string{"needs_new_instrument", "payment_failed"}, h.recordTasks())
	require.Equal(t, apoyo.OutcomePaymentFailed, st.Outcome)
	require.Equal(t, "no new payment instrument within 240h0m0s", st.Reason)
	require.Equal(t, start.Add(3*time.Hour+240*time.Hour), st.Timeline[len(st.Timeline)-1].At)
}

// 15. Cancelled while waiting for approvals.
func TestCancelWhileAwaitingApproval(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.vote(30*time.Minute, apoyo.STyFE, true, "")
	h.cancel(time.Hour, "person left the city")
	late := h.vote(2*time.Hour, apoyo.SIBISO, true, "")
	st := h.mustRun(input())

	require.False(t, late.Sent)
	require.Equal(t, apoyo.OutcomeCancelled, st.Outcome)
	require.Equal(t, "person left the city", st.Reason)
	require.Equal(t, start.Add(time.Hour), st.Timeline[len(st.Timeline)-1].At)
	require.Equal(t, "done/cancelled/system", events(st)[len(st.Timeline)-1])
	require.Empty(t, h.disburses)
	require.Len(t, h.releases, 1)
	require.Equal(t, "person left the city", h.releases[0].Reason)
	require.Equal(t, []string{""}, h.recordTasks())
	require.Equal(t, apoyo.OutcomeCancelled, h.records[0].State.Outcome)
}

// Cancelled while a caseworker reviews the identity.
func TestCancelDuringIdentityReview(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.screen = func(int, wf.ScreenInput) (wf.ScreenResult, error) { return needsReview(), nil }
	h.cancel(time.Hour, "duplicate enrolment")
	st := h.mustRun(input())

	require.Equal(t, apoyo.OutcomeCancelled, st.Outcome)
	require.Equal(t, []string{"identity/needs_review/system", "done/cancelled/system"}, events(st))
	require.Len(t, h.releases, 1)
	require.Equal(t, []string{""}, h.recordTasks())
	require.Empty(t, h.disburses)
}

// Cancelled while waiting for a new instrument after a return.
func TestCancelWhileAwaitingInstrument(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.disburse = func(int, wf.DisburseInput) (apoyo.PaymentResult, error) { return returned(), nil }
	h.approveAll(time.Hour)
	h.cancel(5*time.Hour, "person asked to stop")
	st := h.mustRun(input())

	require.Equal(t, apoyo.OutcomeCancelled, st.Outcome)
	require.Equal(t, "person asked to stop", st.Reason)
	require.Equal(t, []int{1}, h.disburseAttempts())
	require.Len(t, h.releases, 1)
	require.Equal(t, []string{"needs_new_instrument", ""}, h.recordTasks())
}

// A cancel after the payment changes nothing: the case is paid.
func TestCancelAfterPaymentIgnored(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.approveAll(time.Hour)
	h.cancel(4*time.Hour, "too late")
	h.referral(5*time.Hour, "ref-1", "attended")
	h.referral(5*time.Hour, "ref-2", "attended")
	st := h.mustRun(input())

	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	require.Empty(t, h.releases)
	requireRecordedEnd(t, h, st)
}

// 16. Referrals past follow-up are marked overdue; their outcomes still
// close the case. Outcome updates are checked.
func TestReferralOverdue(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	h := newHarness(t)
	h.approveAll(time.Hour)
	tooEarly := h.referral(30*time.Minute, "ref-1", "attended")
	r1 := h.referral(day, "ref-1", "attended")
	unknown := h.referral(2*day, "ref-9", "attended")
	badWord := h.referral(2*day, "ref-2", "maybe")
	changed := h.referral(2*day, "ref-1", "declined")
	same := h.referral(2*day, "ref-1", "attended")
	overdue := h.query(31 * day)
	r2 := h.referral(32*day, "ref-2", "not_attended")
	st := h.mustRun(input())

	refused(t, tooEarly, apoyo.ECONFLICT, "case.not_in_referrals")
	accepted(t, r1)
	refused(t, unknown, apoyo.ENOTFOUND, "case.unknown_referral")
	refused(t, badWord, apoyo.EINVALID, "case.bad_referral_outcome")
	refused(t, changed, apoyo.ECONFLICT, "case.referral_closed")
	accepted(t, same)
	require.Equal(t, r1.State.Version, same.State.Version, "the same outcome again changes nothing")
	accepted(t, r2)

	require.True(t, overdue.Overdue)
	require.Equal(t, apoyo.StepReferrals, overdue.Step)
	require.False(t, overdue.Referrals[0].Overdue, "closed referrals are not overdue")
	require.True(t, overdue.Referrals[1].Overdue)

	require.Equal(t, []string{"referral_overdue", ""}, h.recordTasks())
	rec := h.records[0].State
	require.True(t, rec.Overdue)
	require.False(t, rec.Referrals[0].Overdue)
	require.True(t, rec.Referrals[1].Overdue)

	e := eventAt(t, st, apoyo.StepReferrals, "overdue")
	require.Equal(t, "no outcome yet: centro_de_salud", e.Reason)
	require.Equal(t, start.Add(3*time.Hour+30*day), e.At)
	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	require.False(t, st.Overdue)
	require.Equal(t, apoyo.ReferralOutcome("attended"), st.Referrals[0].Outcome)
	require.Equal(t, apoyo.ReferralOutcome("not_attended"), st.Referrals[1].Outcome)
	require.False(t, st.Referrals[1].Overdue)
	require.Equal(t, start.Add(32*day), st.Timeline[len(st.Timeline)-1].At)
	require.Equal(t, 1, countOf(events(st), "referrals/attended/caseworker"))
	require.Equal(t, []int{1}, h.disburseAttempts())
}

// 17. Retries of Disburse are the same attempt: the workflow never orders a
// second payment because the first try failed transiently.
func TestDisburseRetriesKeepTheAttempt(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.disburse = func(n int, in wf.DisburseInput) (apoyo.PaymentResult, error) {
		if n <= 2 {
			return apoyo.PaymentResult{}, errors.New("bank unreachable")
		}
		return settled(), nil
	}
	h.approveAll(time.Hour)
	h.referral(4*time.Hour, "ref-1", "attended")
	h.referral(4*time.Hour, "ref-2", "attended")
	st := h.mustRun(input())

	require.Len(t, h.disburses, 3)
	for i, d := range h.disburses {
		require.Equal(t, 1, d.In.Attempt, "try %d", i+1)
		require.Equal(t, int32(i+1), d.Try)
		require.Equal(t, h.disburses[0].In, d.In, "every try carries the same input")
	}
	require.Equal(t, []apoyo.PaymentResult{settled()}, st.Payments)
	require.Equal(t, 1, countOf(events(st), "payment/settled/bank"))
	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	requireRecordedEnd(t, h, st)
}

// 18. A non-retryable Disburse failure (a conflict at the bank, a budget
// exhausted, a deadline passed) does not end the case: it is recorded with
// a step_failed task, the case waits, and a caseworker's retry runs the
// same attempt with the same input (the same order id and ledger keys).
func TestDisburseFailureWaitsForRetry(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.disburse = func(n int, in wf.DisburseInput) (apoyo.PaymentResult, error) {
		if n == 1 {
			return apoyo.PaymentResult{}, temporal.NewNonRetryableApplicationError("budget of prg-1 cannot cover cyc-1/ben-1", "budget.exhausted", nil)
		}
		return settled(), nil
	}
	h.approveAll(time.Hour)
	early := h.update(30*time.Minute, wf.UpdateRetry, wf.RetryRequest{Caseworker: "cw-1"})
	stuck := h.query(5 * time.Hour)
	retry := h.update(48*time.Hour, wf.UpdateRetry, wf.RetryRequest{Caseworker: "cw-1", Reason: "budget topped up"})
	h.referral(50*time.Hour, "ref-1", "attended")
	h.referral(50*time.Hour, "ref-2", "attended")
	st := h.mustRun(input())

	refused(t, early, apoyo.ECONFLICT, "case.not_failed")
	accepted(t, retry)
	require.Equal(t, apoyo.StepPayment, stuck.Step)
	require.Equal(t, apoyo.CaseFailed, stuck.Status)
	require.Equal(t, []string{"caseworker"}, stuck.WaitingOn)
	require.Equal(t, &apoyo.StepFailure{Step: apoyo.StepPayment, Activity: wf.ActivityDisburse, Reason: "budget.exhausted",
		Message: "budget of prg-1 cannot cover cyc-1/ben-1"}, stuck.Failure)

	require.Len(t, h.disburses, 2)
	require.Equal(t, h.disburses[0].In, h.disburses[1].In, "the retry is the same attempt, same keys")
	require.Equal(t, []string{string(string(string(apoyo.TaskStepFailed))), "", ""}, h.recordTasks(), "failure with its task, the retry (closing it), the end")
	require.Equal(t, apoyo.CaseFailed, h.records[0].State.Status)
	require.Equal(t, apoyo.CaseRunning, h.records[1].State.Status)
	require.Nil(t, h.records[1].State.Failure)
	requireRecordedEnd(t, h, st)
	require.Empty(t, h.releases)
	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	require.Nil(t, st.Failure)
	require.Equal(t, 1, countOf(events(st), "payment/failed/system"))
	require.Equal(t, 1, countOf(events(st), "payment/retry/caseworker"))
	require.Equal(t, []apoyo.PaymentResult{settled()}, st.Payments)
}

// A failed screen waits too; a cancel then stops the case cleanly, with
// its end recorded (nothing was committed, so the release finds nothing).
func TestScreenFailureThenCancel(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.screen = func(int, wf.ScreenInput) (wf.ScreenResult, error) {
		return wf.ScreenResult{}, temporal.NewNonRetryableApplicationError("beneficiary ben-1 not found", "beneficiary.not_found", nil)
	}
	h.cancel(time.Hour, "cycle cancelled")
	st := h.mustRun(input())

	require.Len(t, h.screens, 1)
	require.Empty(t, h.disburses)
	require.Len(t, h.releases, 1)
	require.Equal(t, []string{string(string(apoyo.TaskStepFailed)), ""}, h.recordTasks())
	require.Equal(t, apoyo.StepIdentity, h.records[0].State.Failure.Step)
	requireRecordedEnd(t, h, st)
	require.Equal(t, apoyo.OutcomeCancelled, st.Outcome)
	require.Equal(t, apoyo.StepDone, st.Step)
}

// A cancel while a payment step has failed runs the step once more rather
// than stopping blind: Disburse knows whether an order left and stops
// cleanly when none did. A second failure then waits for a person again.
func TestCancelWhileDisburseFailedRerunsOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.disburse = func(n int, in wf.DisburseInput) (apoyo.PaymentResult, error) {
		if n < 3 {
			return apoyo.PaymentResult{}, temporal.NewNonRetryableApplicationError("bank answered 409", "payment.idempotency_conflict", nil)
		}
		return apoyo.PaymentResult{OrderID: "ord-1", State: "cancelled", CycleCancelled: true, Reason: "cycle cancelled"}, nil
	}
	h.approveAll(time.Hour)
	h.cancel(5*time.Hour, "cycle cancelled")
	stuck := h.query(24 * time.Hour)
	retry := h.update(48*time.Hour, wf.UpdateRetry, wf.RetryRequest{Caseworker: "cw-1"})
	st := h.mustRun(input())

	accepted(t, retry)
	require.Equal(t, apoyo.CaseFailed, stuck.Status, "the cancel re-ran the step once; it failed again and waits")
	require.Equal(t, []int{1, 1, 1}, h.disburseAttempts())
	require.Len(t, h.releases, 1)
	require.Equal(t, apoyo.OutcomeCancelled, st.Outcome)
	requireRecordedEnd(t, h, st)
}

// Defect: a bank's cancellation (SPEI CN) was taken for a cancelled cycle:
// the money was released and the case ended "cycle cancelled". A CN is an
// unpaid attempt: a new instrument, then the next attempt.
func TestBankCancellationIsNotACycleCancel(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.disburse = func(n int, in wf.DisburseInput) (apoyo.PaymentResult, error) {
		if n == 1 {
			return apoyo.PaymentResult{OrderID: "ord-1", Rail: "spei", State: "cancelled", Reason: "cancelled by the bank (CN)"}, nil
		}
		return settled(), nil
	}
	h.approveAll(time.Hour)
	waiting := h.query(5 * time.Hour)
	h.instrument(10 * time.Hour)
	h.referral(20*time.Hour, "ref-1", "attended")
	h.referral(20*time.Hour, "ref-2", "attended")
	st := h.mustRun(input())

	require.Equal(t, apoyo.StepPayment, waiting.Step)
	require.Equal(t, apoyo.CaseStatus("waiting"), waiting.Status)
	require.Empty(t, h.releases, "nothing released: the case pays again")
	require.Equal(t, []int{1, 2}, h.disburseAttempts())
	require.Equal(t, string(apoyo.TaskNeedsNewInstrument), h.recordTasks()[0])
	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	require.Equal(t, 1, countOf(events(st), "payment/cancelled/bank"))
}

func (h *harness) returnedLate(at time.Duration, r wf.PaymentReturned) {
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(wf.SignalPaymentReturned, r) }, at)
}

// Defect: a return after settlement stranded the money. A case still in
// follow-up when the return is found pays once more, with the next attempt,
// after a new instrument is on file; a repeated signal changes nothing.
func TestReturnAfterSettlementDuringFollowUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.disburse = func(n int, in wf.DisburseInput) (apoyo.PaymentResult, error) {
		return apoyo.PaymentResult{OrderID: fmt.Sprintf("ord-%d", in.Attempt), Rail: "spei", State: "settled", Fund: "city"}, nil
	}
	h.approveAll(time.Hour)
	ret := wf.PaymentReturned{Attempt: 1, OrderID: "ord-1", ReturnCause: 13, Reason: "beneficiario no reconoce el pago"}
	h.returnedLate(24*time.Hour, ret)
	h.returnedLate(25*time.Hour, ret) // reconciliation run twice
	waiting := h.query(30 * time.Hour)
	h.instrument(40 * time.Hour)
	h.referral(50*time.Hour, "ref-1", "attended")
	h.referral(50*time.Hour, "ref-2", "attended")
	st := h.mustRun(input())

	require.Equal(t, apoyo.StepPayment, waiting.Step)
	require.Equal(t, apoyo.CaseStatus("waiting"), waiting.Status)
	require.Equal(t, []int{1, 2}, h.disburseAttempts(), "exactly one re-payment")
	require.Empty(t, h.releases)
	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	require.Len(t, st.Payments, 2)
	require.Equal(t, apoyo.PaymentState("returned"), st.Payments[0].State)
	require.Equal(t, 13, st.Payments[0].ReturnCause)
	require.Equal(t, 1, countOf(events(st), "payment/returned_after_settlement/bank"))
	requireRecordedEnd(t, h, st)
}

// A case that had already ended starts a new run at its payment step (the
// same workflow id, the next attempt) and pays once more.
func TestResumeAfterReturnPaysOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	in := input()
	in.Resume = &wf.CaseResume{Step: apoyo.StepPayment, Attempt: 2, WaitForInstrument: true, Reason: "cause 13: beneficiario no reconoce el pago",
		Version: 40}
	early := h.query(time.Hour)
	h.instrument(2 * time.Hour)
	st, err := h.run(in)
	require.NoError(t, err)
	// The earlier run recorded up to version 40: every write of this run
	// is newer, or the projection would keep showing the ended case.
	for _, r := range h.records {
		require.Greater(t, r.State.Version, int64(40))
	}
	require.Greater(t, h.disburses[0].In.Version, int64(40))
	require.Equal(t, int64(40+len(st.Timeline)), st.Version)

	require.Equal(t, apoyo.StepPayment, early.Step)
	require.Equal(t, apoyo.CaseStatus("waiting"), early.Status)
	require.Empty(t, h.screens, "identity, eligibility and approval were done by the first run")
	require.Equal(t, []int{2}, h.disburseAttempts())
	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	require.Equal(t, "paid again after a return", st.Reason)
	requireRecordedEnd(t, h, st)
}

// No instrument after a return after settlement: the money goes back to
// the budget and the case ends payment_failed with a task.
func TestResumeAfterReturnNoInstrumentReleases(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	in := input()
	in.Resume = &wf.CaseResume{Step: apoyo.StepPayment, Attempt: 2, WaitForInstrument: true}
	st := h.mustRun(in)

	require.Empty(t, h.disburses)
	require.Len(t, h.releases, 1)
	require.Equal(t, apoyo.OutcomePaymentFailed, st.Outcome)
	require.Equal(t, "payment_failed", h.recordTasks()[len(h.recordTasks())-1])
}

// 20. The case query reports the state mid-run.
func TestQueryMidRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.vote(time.Hour, apoyo.STyFE, true, "")
	mid := h.query(90 * time.Minute)
	h.vote(2*time.Hour, apoyo.SIBISO, true, "")
	h.vote(3*time.Hour, apoyo.SEDESA, true, "")
	inReferrals := h.query(4 * time.Hour)
	h.referral(5*time.Hour, "ref-1", "attended")
	h.referral(5*time.Hour, "ref-2", "attended")
	st := h.mustRun(input())

	require.Equal(t, apoyo.CaseID("cyc-1", "ben-1"), mid.CaseID)
	require.Equal(t, apoyo.StepApproval, mid.Step)
	require.Equal(t, apoyo.CaseStatus("waiting"), mid.Status)
	require.Equal(t, []string{"SIBISO", "SEDESA"}, mid.WaitingOn)
	require.Len(t, mid.Votes, 1)
	require.True(t, mid.Votes[apoyo.STyFE].Approve)
	require.Equal(t, "usr-STYFE", mid.Votes[apoyo.STyFE].Approver)
	require.Empty(t, mid.Outcome)
	require.Equal(t, int64(len(mid.Timeline)), mid.Version)
	require.Equal(t, "approval/approved/STYFE", events(*mid)[len(mid.Timeline)-1])

	require.Equal(t, apoyo.StepReferrals, inReferrals.Step)
	require.Equal(t, apoyo.CaseStatus("waiting"), inReferrals.Status)
	require.Len(t, inReferrals.Payments, 1)
	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
}

// 19. Replay of a recorded history with worker.NewWorkflowReplayer is not
// done here: the SDK's test environment keeps no event history to replay.
// Determinism is covered by the integration tests against a real server.

// A resumed run numbers its payments from its first attempt: the return
// of the earlier run's order, signalled again by a second reconciliation,
// is not taken for a return of the payment this run made.
func TestResumedRunIgnoresTheEarlierRunsReturn(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.disburse = func(int, wf.DisburseInput) (apoyo.PaymentResult, error) {
		return apoyo.PaymentResult{OrderID: "ord-2", Rail: "spei", State: "settled", Fund: "city"}, nil
	}
	in := input()
	in.Resume = &wf.CaseResume{Step: apoyo.StepPayment, Attempt: 2, WaitForInstrument: true}
	h.returnedLate(time.Minute, wf.PaymentReturned{Attempt: 1, OrderID: "ord-1", ReturnCause: 13})
	h.instrument(2 * time.Hour)
	h.returnedLate(3*time.Hour, wf.PaymentReturned{Attempt: 1, OrderID: "ord-1", ReturnCause: 13})
	st := h.mustRun(in)

	require.Equal(t, []int{2}, h.disburseAttempts())
	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	require.Equal(t, "paid again after a return", st.Reason)
}
