package workflows_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/apoyo-cdmx/apoyo"
	wf "github.com/apoyo-cdmx/apoyo/workflows"
)

// PaymentCycle3 in the SDK's test environment: StartCasePage records the
// cases it would start (each "runs" caseTime on the mock clock), and
// SweepCycle counts as ended the cases whose time has passed, as
// PostgreSQL would.
type cycle3Harness struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment

	roster   []string
	caseTime time.Duration

	mu      sync.Mutex
	pages   []wf.StartCasePageInput
	started map[string]time.Time
	sweeps  int
	cancels int
	closes  []string
}

func newCycle3Harness(t *testing.T, roster []string) *cycle3Harness {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	h := &cycle3Harness{t: t, env: s.NewTestWorkflowEnvironment(), roster: roster, caseTime: time.Hour, started: map[string]time.Time{}}
	h.env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: time.Minute})
	h.env.SetStartTime(cycleStart)
	h.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: wf.CycleWorkflowID(cycleID)})
	h.env.RegisterWorkflowWithOptions(wf.PaymentCycle3, workflow.RegisterOptions{Name: wf.Cycle3WorkflowName})
	h.env.RegisterActivityWithOptions(func(_ context.Context, in wf.RosterPageInput) ([]string, error) {
		var page []string
		for _, id := range h.roster {
			if id > in.After && len(page) < in.Limit {
				page = append(page, id)
			}
		}
		return page, nil
	}, activity.RegisterOptions{Name: wf.ActivityRosterPage})
	h.env.RegisterActivityWithOptions(h.startPage, activity.RegisterOptions{Name: wf.ActivityStartCasePage})
	h.env.RegisterActivityWithOptions(func(_ context.Context, in wf.SweepCycleInput) (wf.SweepCycleResult, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.sweeps++
		res := wf.SweepCycleResult{Outcomes: map[string]int{}}
		for _, at := range h.started {
			res.Cases++
			if !h.env.Now().Before(at.Add(h.caseTime)) {
				res.Done++
				res.Outcomes[string(apoyo.OutcomeCompleted)]++
			}
		}
		return res, nil
	}, activity.RegisterOptions{Name: wf.ActivitySweepCycle})
	h.env.RegisterActivityWithOptions(func(_ context.Context, in wf.CancelCasesInput) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.cancels++
		return nil
	}, activity.RegisterOptions{Name: wf.ActivityCancelCases})
	h.env.RegisterActivityWithOptions(func(_ context.Context, in wf.CloseCycleInput) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.closes = append(h.closes, in.Status)
		return nil
	}, activity.RegisterOptions{Name: wf.ActivityCloseCycle})
	return h
}

func (h *cycle3Harness) startPage(_ context.Context, in wf.StartCasePageInput) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pages = append(h.pages, in)
	for _, id := range in.IDs {
		if _, ok := h.started[id]; !ok { // a retried page starts nothing twice
			h.started[id] = h.env.Now()
		}
	}
	return nil
}

// pageTakes makes every StartCasePage take d on the mock clock.
func (h *cycle3Harness) pageTakes(d time.Duration) {
	h.env.OnActivity(wf.ActivityStartCasePage, mock.Anything, mock.Anything).After(d).Return(h.startPage)
}

func (h *cycle3Harness) control(at time.Duration, action string, seq int64) {
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(wf.SignalControl, wf.CycleControl{Action: action, Seq: seq, Reason: "test"})
	}, at)
}

func (h *cycle3Harness) run() wf.CycleProgress {
	h.t.Helper()
	h.env.ExecuteWorkflow(wf.Cycle3WorkflowName, cycleInput())
	require.True(h.t, h.env.IsWorkflowCompleted())
	require.NoError(h.t, h.env.GetWorkflowError())
	var p wf.CycleProgress
	require.NoError(h.t, h.env.GetWorkflowResult(&p))
	return p
}

// Pages of cases start by activity, funds assigned in the programme's
// order; the cycle closes once PostgreSQL counts every case ended, having
// swept on a timer that backs off while nothing moves.
func TestCycle3StartsByPageAndClosesFromCounts(t *testing.T) {
	t.Parallel()
	h := newCycle3Harness(t, rosterOf(7))
	p := h.run()
	require.Len(t, h.pages, 3)
	require.Equal(t, [][]string{{"b01", "b02", "b03"}, {"b04", "b05", "b06"}, {"b07"}},
		[][]string{h.pages[0].IDs, h.pages[1].IDs, h.pages[2].IDs})
	require.Equal(t, [][]string{{"fundA", "fundA", "fundA"}, {"fundA", "fundB", "fundB"}, {"fundB"}},
		[][]string{h.pages[0].Funds, h.pages[1].Funds, h.pages[2].Funds})
	require.Equal(t, "cyc-1", h.pages[0].Template.CycleID)
	require.Empty(t, h.pages[0].Template.CycleWorkflowID, "cases tell the cycle nothing: it counts them")
	require.Equal(t, 7, p.Started)
	require.Equal(t, 7, p.Done)
	require.Equal(t, 7, p.Outcomes[string(apoyo.OutcomeCompleted)])
	require.True(t, p.Closed)
	require.Equal(t, []string{"done"}, h.closes)
	// An hour of waiting, swept every 1 s doubling to 1 min: a handful of
	// sweeps, not one per second (each sweep is a timer and an activity).
	require.Less(t, h.sweeps, 80, "sweeps in an hour of waiting")
	require.Greater(t, h.sweeps, 5)
}

// Pause stops starting pages and resume goes on; cancel stops the roster,
// tells unfinished cases once, and closes as cancelled when the cases
// already started have ended.
func TestCycle3PauseResumeCancel(t *testing.T) {
	t.Parallel()
	h := newCycle3Harness(t, rosterOf(30))
	h.pageTakes(10 * time.Minute)
	h.control(25*time.Minute, wf.ControlPause, 1)
	h.control(2*time.Hour, wf.ControlResume, 2)
	h.control(2*time.Hour+time.Second, wf.ControlCancel, 3)
	p := h.run()
	require.True(t, p.Cancelled)
	require.Equal(t, 1, h.cancels)
	require.Equal(t, []string{"cancelled"}, h.closes)
	require.Less(t, p.Started, 30, "the roster stopped at the cancel")
	require.Equal(t, p.Started, p.Done)
	for id, at := range h.started {
		paused := at.After(cycleStart.Add(40*time.Minute)) && at.Before(cycleStart.Add(2*time.Hour))
		require.False(t, paused, "%s started at %s, while paused", id, at.Sub(cycleStart))
	}
}

// The sweeper of a closed cycle sweeps, backing off, until every case has
// ended and no payment waits for the bank, then ends.
func TestCycleSweeperEndsWhenNothingWaits(t *testing.T) {
	t.Parallel()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(cycleStart)
	env.RegisterWorkflowWithOptions(wf.CycleSweeper, workflow.RegisterOptions{Name: wf.CycleSweeperWorkflowName})
	sweeps := 0
	env.RegisterActivityWithOptions(func(_ context.Context, in wf.SweepCycleInput) (wf.SweepCycleResult, error) {
		sweeps++
		res := wf.SweepCycleResult{Cases: 2, Done: 1, Waiting: 1}
		if env.Now().After(cycleStart.Add(30 * time.Minute)) { // the reopened case's answer came
			res.Done, res.Waiting = 2, 0
		}
		return res, nil
	}, activity.RegisterOptions{Name: wf.ActivitySweepCycle})
	env.ExecuteWorkflow(wf.CycleSweeperWorkflowName, wf.SweepCycleInput{CycleID: cycleID})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	require.Greater(t, sweeps, 30, "once a minute at most while waiting")
	require.Less(t, sweeps, 50)
}
