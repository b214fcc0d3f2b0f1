package workflows_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/apoyo-cdmx/apoyo"
	wf "github.com/apoyo-cdmx/apoyo/workflows"
)

// The third shape, BeneficiaryCase3, in the same harness: it starts
// screened (the cycle's page of starts screened it), hears of signed
// lists by one signal, and its SendPayment completes with the bank's
// final answer, however long that takes (the fake's delay, on the mock
// clock).

func newHarness3(t *testing.T) *harness {
	h := newHarness(t)
	h.shape3 = true
	return h
}

// screened is input() started with a screening.
func screened(res wf.ScreenResult) wf.BeneficiaryInput {
	in := input()
	in.Screened = &res
	return in
}

// lists signals that every secretariat's signed list covers the case.
func (h *harness) lists(at time.Duration) {
	var votes []apoyo.ApprovalVote
	for _, s := range apoyo.Secretariats {
		votes = append(votes, apoyo.ApprovalVote{Secretariat: s, Approve: true, Approver: "usr-" + string(s), List: "hash-" + string(s)})
	}
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(wf.SignalApprovals, wf.ApprovalsComplete{Votes: votes}) }, at)
}

// sendTakes makes every SendPayment take d on the mock clock.
func (h *harness) sendTakes(d time.Duration) {
	h.env.OnActivity(wf.ActivitySendPayment, mock.Anything, mock.Anything).After(d).Return(h.sendPayment)
}

// The happy path by signed lists: no screening activity (the start
// carried it), one signal for three approvals, one SendPayment that a cash
// pickup completes three days later, and the case's one record is its end
// after referrals (it raised no task: the cycle's sweep raises overdue ones).
func TestCase3HappyPathBySignedLists(t *testing.T) {
	t.Parallel()
	h := newHarness3(t)
	h.disburse = func(int, wf.DisburseInput) (apoyo.PaymentResult, error) {
		return apoyo.PaymentResult{OrderID: "ord-1", Rail: "cash_pickup", State: "collected", Fund: "city"}, nil
	}
	h.sendTakes(72 * time.Hour)
	h.lists(time.Hour)
	atBank := h.query(30 * time.Hour)
	h.referral(80*time.Hour, "ref-1", "attended")
	h.referral(81*time.Hour, "ref-2", "declined")
	st := h.mustRun(screened(verified()))

	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	require.Equal(t, concat([]string{"identity/verified/system"}, eligibilityPassed(), approvedByAll,
		[]string{"payment/collected/bank", "referrals/referred/system", "referrals/attended/caseworker",
			"referrals/declined/caseworker", "done/completed/system"}), events(st))
	require.Empty(t, h.screens, "screened at the start: no screening activity")
	require.Equal(t, "hash-SIBISO", st.Votes[apoyo.SIBISO].List, "the vote names the list that carried it")
	require.Equal(t, start.Add(73*time.Hour), eventAt(t, st, apoyo.StepPayment, "collected").At)
	require.Equal(t, []string{apoyo.WaitingOnBank}, atBank.WaitingOn, "while the bank decides, the case says so")
	require.Equal(t, apoyo.CaseStatus("waiting"), atBank.Status)
	require.Equal(t, []int{1}, h.disburseAttempts(), "one SendPayment, no Disburse")
	require.Equal(t, int64(slices.Index(events(st), "referrals/referred/system")+1), h.disburses[0].In.Version)
	requireRecordedEnd(t, h, st)
	require.Equal(t, []string{""}, h.recordTasks())
}

// Approvals late past the SLA raise nothing from the case (no timer per
// case: the cycle's sweep marks them overdue from PostgreSQL), and a case
// without referrals writes nothing itself (the payment's finisher did).
func TestCase3ApprovalPastSLANoTimer(t *testing.T) {
	t.Parallel()
	h := newHarness3(t)
	r := verified()
	r.Referrals = nil
	h.lists(10 * 24 * time.Hour)
	st := h.mustRun(screened(r))
	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	require.False(t, st.Overdue)
	require.NotContains(t, events(st), "approval/overdue/system")
	require.Empty(t, h.records)
}

// Per-case votes (updates) still decide a case of the third shape, and a
// lists signal after a rejection changes nothing.
func TestCase3PerCaseVotesAndLateLists(t *testing.T) {
	t.Parallel()
	h := newHarness3(t)
	h.vote(time.Hour, apoyo.STyFE, true, "")
	rej := h.vote(2*time.Hour, apoyo.SEDESA, false, "no consta residencia")
	h.lists(3 * time.Hour)
	st := h.mustRun(screened(verified()))
	accepted(t, rej)
	require.Equal(t, apoyo.OutcomeApprovalRejected, st.Outcome)
	require.Empty(t, h.disburses)
}

// Signed lists and a per-case vote make one approval: the lists' signal
// carries the votes the case lacks, and the one it has stays.
func TestCase3ListsAfterAPerCaseVote(t *testing.T) {
	t.Parallel()
	h := newHarness3(t)
	h.vote(time.Hour, apoyo.STyFE, true, "")
	h.lists(2 * time.Hour)
	h.referral(3*time.Hour, "ref-1", "attended")
	h.referral(3*time.Hour, "ref-2", "attended")
	st := h.mustRun(screened(verified()))
	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	require.Empty(t, st.Votes[apoyo.STyFE].List, "the per-case vote stays")
	require.Equal(t, "hash-SEDESA", st.Votes[apoyo.SEDESA].List)
}

// A returned payment waits for a new instrument and pays again.
func TestCase3ReturnedThenRepaid(t *testing.T) {
	t.Parallel()
	h := newHarness3(t)
	h.disburse = func(n int, in wf.DisburseInput) (apoyo.PaymentResult, error) {
		if n == 1 {
			return returned(), nil
		}
		return settled(), nil
	}
	h.lists(time.Hour)
	ok := h.instrument(10 * time.Hour)
	h.referral(20*time.Hour, "ref-1", "attended")
	h.referral(21*time.Hour, "ref-2", "attended")
	st := h.mustRun(screened(verified()))
	accepted(t, ok)
	require.Equal(t, []int{1, 2}, h.disburseAttempts())
	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	require.Equal(t, []apoyo.PaymentResult{returned(), settled()}, st.Payments)
	require.Equal(t, []string{"needs_new_instrument", ""}, h.recordTasks())
}

// A case started without a screening (a resumed run, or a start by an
// older page) screens in a local activity; a new document is checked
// again the same way.
func TestCase3ScreensLocallyWithoutAStartScreening(t *testing.T) {
	t.Parallel()
	h := newHarness3(t)
	h.screen = func(n int, in wf.ScreenInput) (wf.ScreenResult, error) {
		if n == 1 {
			return needsReview(), nil
		}
		return verified(), nil
	}
	h.identity(time.Hour, "new_document", "")
	h.lists(2 * time.Hour)
	h.referral(3*time.Hour, "ref-1", "attended")
	h.referral(3*time.Hour, "ref-2", "attended")
	st := h.mustRun(input())
	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	require.Len(t, h.screens, 2)
}

// Each rail's payment goes to its own task queue when the cycle gives one
// (rate-limited per provider); a new instrument on another rail moves the
// next attempt to that rail's queue, or the case's own.
func TestCase3PaysOnTheRailsQueue(t *testing.T) {
	t.Parallel()
	h := newHarness3(t)
	var mu sync.Mutex
	var queues []string
	h.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		if info.ActivityType.Name == wf.ActivitySendPayment {
			mu.Lock()
			queues = append(queues, info.TaskQueue)
			mu.Unlock()
		}
	})
	h.disburse = func(n int, in wf.DisburseInput) (apoyo.PaymentResult, error) {
		if n == 1 {
			return apoyo.PaymentResult{OrderID: "ord-1", Rail: "cash_pickup", State: "expired", Fund: "city"}, nil
		}
		return settled(), nil
	}
	h.lists(time.Hour)
	h.update(2*time.Hour, wf.UpdatePaymentInstrument, wf.InstrumentChange{Caseworker: "cw-1", Rail: apoyo.RailSPEI})
	h.referral(3*time.Hour, "ref-1", "attended")
	h.referral(3*time.Hour, "ref-2", "attended")
	r := verified()
	r.Rail = apoyo.RailCashPickup
	in := screened(r)
	in.PaymentQueues = map[apoyo.Rail]string{apoyo.RailCashPickup: "apoyo-pay-cash_pickup"}
	st := h.mustRun(in)
	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	require.Equal(t, []string{"apoyo-pay-cash_pickup", "default-test-taskqueue"}, queues)
}

// allLists is every secretariat's signed-list vote.
func allLists() []apoyo.ApprovalVote {
	var votes []apoyo.ApprovalVote
	for _, s := range apoyo.Secretariats {
		votes = append(votes, apoyo.ApprovalVote{Secretariat: s, Approve: true, Approver: "usr-" + string(s), List: "hash-" + string(s)})
	}
	return votes
}

// A case kept without a workflow until its lists made the quorum starts
// approved: the votes in its input count as the approvals signal would,
// and its first workflow task sends the payment (no signal, no wait).
func TestCase3StartedApproved(t *testing.T) {
	t.Parallel()
	h := newHarness3(t)
	h.sendTakes(time.Minute)
	in := screened(verified())
	in.Approved = allLists()
	h.referral(2*time.Hour, "ref-1", "attended")
	h.referral(2*time.Hour, "ref-2", "declined")
	st := h.mustRun(in)

	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	require.Equal(t, concat([]string{"identity/verified/system"}, eligibilityPassed(), approvedByAll), events(st)[:len(approvedByAll)+1+len(eligibilityPassed())])
	require.Equal(t, "hash-SEDESA", st.Votes[apoyo.SEDESA].List)
	require.Equal(t, start, eventAt(t, st, apoyo.StepApproval, "approved").At, "approved at its start")
	require.Equal(t, []int{1}, h.disburseAttempts())
}

// What a read of a kept case shows (KeptState) is the state its workflow
// reports once started without approvals and waiting for them.
func TestKeptStateIsTheWorkflowsStateAtApproval(t *testing.T) {
	t.Parallel()
	h := newHarness3(t)
	h.sendTakes(time.Minute)
	in := screened(verified())
	atApproval := h.query(time.Minute)
	h.lists(time.Hour)
	h.referral(2*time.Hour, "ref-1", "attended")
	h.referral(2*time.Hour, "ref-2", "declined")
	h.mustRun(in)

	kept, err := wf.KeptState(in, start)
	require.NoError(t, err)
	b, err := json.Marshal(kept) // as the query's answer travels
	require.NoError(t, err)
	var shown apoyo.CaseState
	require.NoError(t, json.Unmarshal(b, &shown))
	require.Equal(t, *atApproval, shown)

	in.Screened = &wf.ScreenResult{Identity: apoyo.IdentityNeedsReview}
	_, err = wf.KeptState(in, start)
	require.Error(t, err, "only a case screened straight to approval is kept")
}
