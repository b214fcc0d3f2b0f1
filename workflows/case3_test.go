package workflows_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	wf "github.com/apoyo-cdmx/apoyo/workflows"
)

// The third shape, BeneficiaryCase3, in the same harness: its payment is a
// SendPayment that answers pending, and the bank's final answer comes as a
// signal (from the callback receiver, or the cycle's sweep).

func newHarness3(t *testing.T) *harness {
	h := newHarness(t)
	h.shape3 = true
	return h
}

// pending is SendPayment's answer for an order at the bank.
func pending(attempt int) apoyo.PaymentResult {
	return apoyo.PaymentResult{OrderID: fmt.Sprintf("ord-%d", attempt), Rail: "spei", State: "pending", Pending: true, Fund: "city"}
}

// final signals the final answer of attempt's order at offset at.
func (h *harness) final(at time.Duration, attempt int, res apoyo.PaymentResult) {
	res.OrderID = fmt.Sprintf("ord-%d", attempt)
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(wf.SignalPaymentFinal, res) }, at)
}

// lists signals that every secretariat's signed list covers the case.
func (h *harness) lists(at time.Duration) {
	var votes []apoyo.ApprovalVote
	for _, s := range apoyo.Secretariats {
		votes = append(votes, apoyo.ApprovalVote{Secretariat: s, Approve: true, Approver: "usr-" + string(s), List: "hash-" + string(s)})
	}
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(wf.SignalApprovals, wf.ApprovalsComplete{Votes: votes}) }, at)
}

// The happy path by signed lists: one signal for three approvals, a
// payment that waits three days at the bank (a cash pickup) on no timer,
// and no record written by the case but its end after referrals.
func TestCase3HappyPathBySignedLists(t *testing.T) {
	t.Parallel()
	h := newHarness3(t)
	h.lists(time.Hour)
	h.final(73*time.Hour, 1, apoyo.PaymentResult{Rail: "cash_pickup", State: "collected", Fund: "city"})
	atBank := h.query(30 * time.Hour)
	h.referral(80*time.Hour, "ref-1", "attended")
	h.referral(81*time.Hour, "ref-2", "declined")
	st := h.mustRun(input())

	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	require.Equal(t, concat([]string{"identity/verified/system"}, eligibilityPassed(), approvedByAll,
		[]string{"payment/collected/bank", "referrals/referred/system", "referrals/attended/caseworker",
			"referrals/declined/caseworker", "done/completed/system"}), events(st))
	require.Equal(t, "hash-SIBISO", st.Votes[apoyo.SIBISO].List, "the vote names the list that carried it")
	require.Equal(t, start.Add(73*time.Hour), eventAt(t, st, apoyo.StepPayment, "collected").At)
	require.Equal(t, []string{apoyo.WaitingOnBank}, atBank.WaitingOn, "while the bank decides, the case says so")
	require.Equal(t, apoyo.CaseStatus("waiting"), atBank.Status)
	require.Equal(t, []int{1}, h.disburseAttempts(), "one SendPayment, no Disburse")
	require.Equal(t, int64(slices.Index(events(st), "referrals/referred/system")+1), h.disburses[0].In.Version)
	// The case raised no task of its own (the cycle's sweep raises the
	// overdue ones): its one record is its end.
	requireRecordedEnd(t, h, st)
	require.Equal(t, []string{""}, h.recordTasks())
}

// Approvals late past the SLA raise nothing from the case (no timer per
// case: the cycle's sweep marks them overdue from PostgreSQL).
func TestCase3ApprovalPastSLANoTimer(t *testing.T) {
	t.Parallel()
	h := newHarness3(t)
	h.screen = func(int, wf.ScreenInput) (wf.ScreenResult, error) {
		r := verified()
		r.Referrals = nil
		return r, nil
	}
	h.lists(10 * 24 * time.Hour)
	h.final(10*24*time.Hour+time.Minute, 1, settled())
	st := h.mustRun(input())
	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	require.False(t, st.Overdue)
	require.NotContains(t, events(st), "approval/overdue/system")
	require.Empty(t, h.recordTasks(), "a case without referrals records nothing: the payment's finisher did")
}

// Per-case votes (updates) still approve a case of the third shape, and
// a lists signal after a rejection changes nothing.
func TestCase3PerCaseVotesAndLateLists(t *testing.T) {
	t.Parallel()
	h := newHarness3(t)
	h.vote(time.Hour, apoyo.STyFE, true, "")
	rej := h.vote(2*time.Hour, apoyo.SEDESA, false, "no consta residencia")
	h.lists(3 * time.Hour)
	st := h.mustRun(input())
	accepted(t, rej)
	require.Equal(t, apoyo.OutcomeApprovalRejected, st.Outcome)
	require.Empty(t, h.disburses)
}

// A returned payment waits for a new instrument and pays again; the
// final answers are told apart by order id (a stale one is ignored).
func TestCase3ReturnedThenRepaid(t *testing.T) {
	t.Parallel()
	h := newHarness3(t)
	h.lists(time.Hour)
	h.final(2*time.Hour, 1, returned())
	h.final(3*time.Hour, 1, settled()) // a second answer for order 1: the first stands
	ok := h.instrument(10 * time.Hour)
	h.final(11*time.Hour, 2, settled())
	h.referral(20*time.Hour, "ref-1", "attended")
	h.referral(21*time.Hour, "ref-2", "attended")
	st := h.mustRun(input())
	accepted(t, ok)
	require.Equal(t, []int{1, 2}, h.disburseAttempts())
	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	require.Len(t, st.Payments, 2)
	require.Equal(t, apoyo.PaymentState("returned"), st.Payments[0].State)
	require.Equal(t, "ord-2", st.Payments[1].OrderID)
	require.Equal(t, start.Add(11*time.Hour), eventAt(t, st, apoyo.StepPayment, "settled").At)
}

// An answer that comes before SendPayment's own result (the callback beat
// the activity's completion) is kept and used.
func TestCase3FinalBeforeSendResult(t *testing.T) {
	t.Parallel()
	h := newHarness3(t)
	h.screen = func(int, wf.ScreenInput) (wf.ScreenResult, error) {
		r := verified()
		r.Referrals = nil
		return r, nil
	}
	h.final(30*time.Minute, 1, settled())
	h.lists(time.Hour)
	st := h.mustRun(input())
	require.Equal(t, apoyo.OutcomeCompleted, st.Outcome)
	require.Equal(t, start.Add(time.Hour), eventAt(t, st, apoyo.StepPayment, "settled").At)
}
