package workflows_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/apoyo-cdmx/apoyo"
	wf "github.com/apoyo-cdmx/apoyo/workflows"
)

// The tests run PaymentCycle in the SDK's test environment with a fake
// BeneficiaryCase registered under the case workflow's name: it records its
// start, runs for a set time on the mock clock, then reports case-done to
// its cycle by workflow id with workflow.SignalExternalWorkflow, as the real
// case does. The test environment delivers external signals between a
// parent and its children, so the cycle hears from its cases as it would
// on a server. RosterPage, CancelCases and CloseCycle are fakes registered
// under the activity names. Signals and queries go in from delayed
// callbacks at mock-clock offsets from the start of the cycle.

const (
	cycleProgram = "prg-1"
	cycleID      = "cyc-1"
)

var cycleStart = time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)

// rosterOf is n sorted beneficiary ids: b01, b02, ...
func rosterOf(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("b%02d", i+1)
	}
	return out
}

func cycleInput() wf.CycleInput {
	return wf.CycleInput{
		ProgramID: cycleProgram, CycleID: cycleID, CycleDate: cycleStart,
		Amount: decimal.RequireFromString("5600"),
		Rules:  wf.CaseRules{Quorum: 3, ApprovalSLA: 48 * time.Hour},
		Allocation: []apoyo.FundAllocation{
			{Fund: "fundA", Cases: 4},
			{Fund: "fundB", Cases: 3},
		},
		StartWindow: 2,
		PageSize:    3,
	}
}

// caseStart is one start of the fake case workflow.
type caseStart struct {
	WorkflowID string
	In         wf.BeneficiaryInput
	At         time.Time
}

// cycleHarness runs one PaymentCycle run in its own test environment and
// records what the fakes saw. RosterPage takes pageDelay on the mock clock
// (env.OnActivity(...).After) when set; otherwise everything but the cases'
// own run time is instant.
type cycleHarness struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment

	// Set before execute.
	roster []string
	// pageDelay is how long each RosterPage takes on the mock clock.
	pageDelay time.Duration
	// caseTime is how long a case runs before it reports; outcome is what
	// it reports.
	caseTime func(id string) time.Duration
	outcome  func(id string) apoyo.Outcome

	mu       sync.Mutex
	pages    []wf.RosterPageInput
	cancels  []wf.CancelCasesInput
	closes   []wf.CloseCycleInput
	starts   []caseStart
	reported []string // ids whose case-done reached a running cycle
	// log is every event in the order it happened: "page <after>",
	// "start <id>", "done <id>", "signal <name>", "cancel-cases",
	// "close <status>".
	log        []string
	active     int // cases started and not yet reported
	peakActive int
	asyncErr   []error
	queries    int // registered
	queried    int // answered
}

func newCycleHarness(t *testing.T, roster []string) *cycleHarness {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	h := &cycleHarness{t: t, env: s.NewTestWorkflowEnvironment(), roster: roster}
	// The SDK's 1 s deadlock detector fires on a loaded 2-core machine
	// (CI runs many test binaries at once); a real deadlock still fails.
	h.env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: time.Minute})
	h.caseTime = func(string) time.Duration { return 0 }
	h.outcome = func(string) apoyo.Outcome { return apoyo.OutcomeCompleted }
	h.env.SetStartTime(cycleStart)
	// Cases are abandoned children: the run ends with the cycle, not with
	// the cases it leaves running (a continue-as-new).
	h.env.SetDetachedChildWait(false)
	// The cycle's workflow id is the one its cases signal.
	h.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: wf.CycleWorkflowID(cycleID)})
	h.env.RegisterWorkflowWithOptions(wf.PaymentCycle, workflow.RegisterOptions{Name: wf.CycleWorkflowName})
	h.env.RegisterWorkflowWithOptions(h.fakeCase, workflow.RegisterOptions{Name: wf.BeneficiaryWorkflowName})
	h.env.RegisterActivityWithOptions(h.rosterPage, activity.RegisterOptions{Name: wf.ActivityRosterPage})
	h.env.RegisterActivityWithOptions(func(_ context.Context, in wf.CancelCasesInput) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.cancels = append(h.cancels, in)
		h.log = append(h.log, "cancel-cases")
		return nil
	}, activity.RegisterOptions{Name: wf.ActivityCancelCases})
	h.env.RegisterActivityWithOptions(func(_ context.Context, in wf.CloseCycleInput) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.closes = append(h.closes, in)
		h.log = append(h.log, "close "+in.Status)
		return nil
	}, activity.RegisterOptions{Name: wf.ActivityCloseCycle})
	return h
}

// rosterPage serves the roster ids after in.After, at most in.Limit.
func (h *cycleHarness) rosterPage(_ context.Context, in wf.RosterPageInput) ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pages = append(h.pages, in)
	h.log = append(h.log, "page "+in.After)
	page := []string{}
	for _, id := range h.roster {
		if id > in.After && len(page) < in.Limit {
			page = append(page, id)
		}
	}
	return page, nil
}

// fakeCase stands in for BeneficiaryCase: it records its start, runs for
// caseTime, and reports to its cycle the way the real case does.
func (h *cycleHarness) fakeCase(ctx workflow.Context, in wf.BeneficiaryInput) (apoyo.CaseState, error) {
	h.mu.Lock()
	h.starts = append(h.starts, caseStart{WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID, In: in, At: workflow.Now(ctx)})
	h.log = append(h.log, "start "+in.BeneficiaryID)
	h.active++
	h.peakActive = max(h.peakActive, h.active)
	d, outcome := h.caseTime(in.BeneficiaryID), h.outcome(in.BeneficiaryID)
	h.mu.Unlock()

	if d > 0 {
		if err := workflow.Sleep(ctx, d); err != nil {
			return apoyo.CaseState{}, err
		}
	}
	h.mu.Lock()
	h.active--
	h.log = append(h.log, "done "+in.BeneficiaryID)
	h.mu.Unlock()
	err := workflow.SignalExternalWorkflow(ctx, in.CycleWorkflowID, "", wf.SignalCaseDone,
		wf.CaseDone{BeneficiaryID: in.BeneficiaryID, Outcome: outcome}).Get(ctx, nil)
	if err == nil {
		h.mu.Lock()
		h.reported = append(h.reported, in.BeneficiaryID)
		h.mu.Unlock()
	}
	return apoyo.CaseState{CaseID: apoyo.CaseID(in.CycleID, in.BeneficiaryID), Step: apoyo.StepDone, Status: "done", Outcome: outcome}, nil
}

// signal sends a signal to the cycle at offset at from its start.
func (h *cycleHarness) signal(at time.Duration, name string, arg any) {
	h.env.RegisterDelayedCallback(func() {
		h.mu.Lock()
		h.log = append(h.log, "signal "+name)
		h.mu.Unlock()
		h.env.SignalWorkflow(name, arg)
	}, at)
}

// query asks the cycle for its progress at offset at; the answer is
// filled in when the query runs (execute checks that every query ran).
func (h *cycleHarness) query(at time.Duration) *wf.CycleProgress {
	out := &wf.CycleProgress{}
	h.queries++
	h.env.RegisterDelayedCallback(func() {
		v, err := h.env.QueryWorkflow(wf.QueryCycle)
		if err == nil {
			err = v.Get(out)
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if err != nil {
			h.asyncErr = append(h.asyncErr, fmt.Errorf("query at %s: %w", at, err))
			return
		}
		h.queried++
	}, at)
	return out
}

// execute runs the cycle to its end (or its continue-as-new).
func (h *cycleHarness) execute(in wf.CycleInput) {
	h.t.Helper()
	if h.pageDelay > 0 {
		h.env.OnActivity(wf.ActivityRosterPage, mock.Anything, mock.Anything).Return(h.rosterPage).After(h.pageDelay)
	}
	h.env.ExecuteWorkflow(wf.CycleWorkflowName, in)
	require.True(h.t, h.env.IsWorkflowCompleted(), "cycle did not complete")
	require.Empty(h.t, h.asyncErr)
	require.Equal(h.t, h.queries, h.queried, "a query did not run: the cycle ended before it")
}

// run executes a cycle that must end with a result.
func (h *cycleHarness) run(in wf.CycleInput) wf.CycleProgress {
	h.t.Helper()
	h.execute(in)
	require.NoError(h.t, h.env.GetWorkflowError())
	var p wf.CycleProgress
	require.NoError(h.t, h.env.GetWorkflowResult(&p))
	return p
}

// startedIDs is the ids of the cases started, sorted.
func (h *cycleHarness) startedIDs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return sortedIDs(h.starts)
}

// sortedIDs is the beneficiary ids of starts, sorted (cases run in the
// order the test environment schedules them, not the order of the starts).
func sortedIDs(starts []caseStart) []string {
	out := make([]string, len(starts))
	for i, s := range starts {
		out[i] = s.In.BeneficiaryID
	}
	slices.Sort(out)
	return out
}

// between is the log entries after the first entry equal to from and
// before the first later entry equal to to.
func between(log []string, from, to string) []string {
	i := slices.Index(log, from)
	if i < 0 {
		return nil
	}
	rest := log[i+1:]
	if j := slices.Index(rest, to); j >= 0 {
		return rest[:j]
	}
	return rest
}

func withPrefix(log []string, prefix string) []string {
	var out []string
	for _, e := range log {
		if strings.HasPrefix(e, prefix) {
			out = append(out, e)
		}
	}
	return out
}

// 1. Every beneficiary gets exactly one case, with the fund the allocation
// gives it; the cycle closes once every case has reported.
func TestCycleStartsOneCasePerBeneficiary(t *testing.T) {
	t.Parallel()
	roster := rosterOf(7)
	h := newCycleHarness(t, roster)
	hours := map[string]int{"b01": 3, "b02": 1, "b03": 0, "b04": 2, "b05": 5, "b06": 0, "b07": 1}
	h.caseTime = func(id string) time.Duration { return time.Duration(hours[id]) * time.Hour }
	h.outcome = func(id string) apoyo.Outcome {
		if id == "b02" {
			return apoyo.OutcomeIneligible
		}
		return apoyo.OutcomeCompleted
	}
	in := cycleInput()
	p := h.run(in)

	require.Equal(t, roster, h.startedIDs(), "one case per id")
	funds := map[string]string{"b01": "fundA", "b02": "fundA", "b03": "fundA", "b04": "fundA", "b05": "fundB", "b06": "fundB", "b07": "fundB"}
	for _, s := range h.starts {
		id := s.In.BeneficiaryID
		require.Equal(t, apoyo.CaseID(cycleID, id), s.WorkflowID)
		require.Equal(t, wf.BeneficiaryInput{
			ProgramID: cycleProgram, CycleID: cycleID, BeneficiaryID: id, CycleDate: cycleStart,
			Amount: in.Amount, Rules: in.Rules, Reserved: true, Fund: funds[id],
			CycleWorkflowID: wf.CycleWorkflowID(cycleID),
		}, s.In, "case %s", id)
		require.Equal(t, cycleStart, s.At, "nothing holds starts back")
	}
	require.Equal(t, []wf.RosterPageInput{
		{ProgramID: cycleProgram, CycleID: cycleID, After: "", Limit: 3},
		{ProgramID: cycleProgram, CycleID: cycleID, After: "b03", Limit: 3},
		{ProgramID: cycleProgram, CycleID: cycleID, After: "b06", Limit: 3},
		{ProgramID: cycleProgram, CycleID: cycleID, After: "b07", Limit: 3},
	}, h.pages)
	require.ElementsMatch(t, roster, h.reported, "every case reached the cycle by signal")
	require.Equal(t, []wf.CloseCycleInput{{ProgramID: cycleProgram, CycleID: cycleID, Status: "done"}}, h.closes)
	require.Equal(t, "close done", h.log[len(h.log)-1], "closed after the last case reported")
	require.Equal(t, "done b05", h.log[len(h.log)-2])
	require.Empty(t, h.cancels)
	require.Equal(t, wf.CycleProgress{
		Cursor: "b07", RosterDone: true, Started: 7, Done: 7,
		Outcomes: map[string]int{"completed": 6, "ineligible": 1},
		Assigned: []int{4, 3}, Closed: true, Runs: 1,
	}, p)
	require.Equal(t, cycleStart.Add(5*time.Hour), h.env.Now().UTC(), "the cycle waited for the longest case")
}

// People beyond the reservation get a case paid from the budget: no fund,
// not reserved.
func TestCycleCasesBeyondAllocation(t *testing.T) {
	t.Parallel()
	roster := rosterOf(8)
	h := newCycleHarness(t, roster)
	p := h.run(cycleInput())

	require.Equal(t, roster, h.startedIDs())
	for _, s := range h.starts {
		switch id := s.In.BeneficiaryID; {
		case id <= "b04":
			require.Equal(t, "fundA", s.In.Fund)
			require.True(t, s.In.Reserved)
		case id <= "b07":
			require.Equal(t, "fundB", s.In.Fund)
			require.True(t, s.In.Reserved)
		default:
			require.Equal(t, "b08", s.In.BeneficiaryID)
			require.Empty(t, s.In.Fund)
			require.False(t, s.In.Reserved)
		}
	}
	require.Equal(t, []int{4, 3}, p.Assigned)
	require.Equal(t, 8, p.Started)
	require.Equal(t, 8, p.Done)
	require.Len(t, h.closes, 1)
}

// 2. After ContinueAfter starts the cycle continues as new, carrying its
// progress; the next run reads on from the cursor and no one gets a second
// case. Each run is its own test environment, fed the input the previous
// run continued with. Cases that outlive their run report to whichever run
// is current (by workflow id): the test delivers those reports itself, half
// an hour into each later run.
func TestCycleContinueAsNew(t *testing.T) {
	t.Parallel()
	t.Run("cases report within their run", func(t *testing.T) {
		t.Parallel()
		testContinueAsNew(t, 0, 0)
	})
	t.Run("cases outlive their run", func(t *testing.T) {
		t.Parallel()
		testContinueAsNew(t, time.Minute, time.Hour)
	})
}

func testContinueAsNew(t *testing.T, pageDelay, caseTime time.Duration) {
	roster := rosterOf(7)
	in := cycleInput()
	in.ContinueAfter = 3
	outlive := caseTime > 0

	wants := []struct {
		started  []string
		cursor   string
		assigned []int
	}{
		{[]string{"b01", "b02", "b03"}, "b03", []int{3, 0}},
		{[]string{"b04", "b05", "b06"}, "b06", []int{4, 2}},
	}
	var all []caseStart
	var pending []string // started in an earlier run, not reported yet
	for run := 1; ; run++ {
		require.LessOrEqual(t, run, 3, "too many runs")
		h := newCycleHarness(t, roster)
		h.pageDelay = pageDelay
		h.caseTime = func(string) time.Duration { return caseTime }
		var delivered []string
		for _, id := range pending {
			h.env.RegisterDelayedCallback(func() {
				if h.env.IsWorkflowCompleted() {
					return
				}
				delivered = append(delivered, id)
				h.env.SignalWorkflow(wf.SignalCaseDone, wf.CaseDone{BeneficiaryID: id, Outcome: apoyo.OutcomeCompleted})
			}, 30*time.Minute)
		}
		h.execute(in)
		all = append(all, h.starts...)
		pending = slices.DeleteFunc(pending, func(id string) bool { return slices.Contains(delivered, id) })
		err := h.env.GetWorkflowError()
		if run == 3 {
			require.NoError(t, err)
			var p wf.CycleProgress
			require.NoError(t, h.env.GetWorkflowResult(&p))
			require.Equal(t, []string{"b07"}, h.startedIDs())
			require.Equal(t, []wf.RosterPageInput{
				{ProgramID: cycleProgram, CycleID: cycleID, After: "b06", Limit: 3},
				{ProgramID: cycleProgram, CycleID: cycleID, After: "b07", Limit: 3},
			}, h.pages)
			require.Equal(t, wf.CycleProgress{
				Cursor: "b07", RosterDone: true, Started: 7, Done: 7,
				Outcomes: map[string]int{"completed": 7}, Assigned: []int{4, 3}, Closed: true, Runs: 3,
			}, p)
			require.Equal(t, []wf.CloseCycleInput{{ProgramID: cycleProgram, CycleID: cycleID, Status: "done"}}, h.closes)
			if outlive {
				require.ElementsMatch(t, rosterOf(6), delivered, "the earlier runs' cases reported to the last run")
				require.Equal(t, []string{"b07"}, h.reported)
			}
			require.Empty(t, pending)
			break
		}

		var can *workflow.ContinueAsNewError
		require.ErrorAs(t, err, &can, "run %d", run)
		require.Equal(t, wf.CycleWorkflowName, can.WorkflowType.Name)
		var next wf.CycleInput
		require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))

		w := wants[run-1]
		require.Equal(t, w.started, h.startedIDs(), "run %d", run)
		require.Len(t, h.pages, 1, "run %d reads one page", run)
		require.Empty(t, h.closes, "a run that continues as new does not close the cycle")
		require.Equal(t, w.cursor, next.Progress.Cursor)
		require.Equal(t, 3*run, next.Progress.Started)
		require.Equal(t, w.assigned, next.Progress.Assigned)
		require.Equal(t, run, next.Progress.Runs)
		require.False(t, next.Progress.RosterDone)
		require.False(t, next.Progress.Closed)
		if outlive {
			require.Zero(t, next.Progress.Done, "run %d continued before its cases ended", run)
			require.Empty(t, h.reported)
		} else {
			require.Equal(t, next.Progress.Started, next.Progress.Done, "run %d heard from all its cases", run)
			require.Equal(t, map[string]int{"completed": 3 * run}, next.Progress.Outcomes)
		}
		// The rest of the input carries over unchanged.
		carried := next
		carried.Progress = in.Progress
		require.Equal(t, in, carried)

		for _, s := range h.starts {
			if !slices.Contains(h.reported, s.In.BeneficiaryID) {
				pending = append(pending, s.In.BeneficiaryID)
			}
		}
		in = next
	}

	for _, s := range all {
		want := "fundA"
		if s.In.BeneficiaryID > "b04" {
			want = "fundB"
		}
		require.Equal(t, want, s.In.Fund, "case %s", s.In.BeneficiaryID)
	}
	require.Equal(t, roster, sortedIDs(all), "every id started exactly once across the runs")
}

// 2. A cycle waiting for its cases' reports continues as new when the
// server suggests it (their case-done signals would otherwise pile up in
// the last run's history); the next run reads no page and closes when the
// remaining case reports.
func TestCycleContinueAsNewWhileWaitingForCases(t *testing.T) {
	t.Parallel()
	minutes := map[string]int{"b01": 20, "b02": 40, "b03": 60}
	h := newCycleHarness(t, rosterOf(3))
	h.caseTime = func(id string) time.Duration { return time.Duration(minutes[id]) * time.Minute }
	h.env.RegisterDelayedCallback(func() { h.env.SetContinueAsNewSuggested(true) }, 30*time.Minute)
	h.execute(cycleInput())

	var can *workflow.ContinueAsNewError
	require.ErrorAs(t, h.env.GetWorkflowError(), &can)
	var next wf.CycleInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	require.Equal(t, cycleStart.Add(40*time.Minute), h.env.Now().UTC(), "continued at the first report after the suggestion")
	require.Equal(t, wf.CycleProgress{
		Cursor: "b03", RosterDone: true, Started: 3, Done: 2, Outcomes: map[string]int{"completed": 2},
		Assigned: []int{3, 0}, Runs: 1,
	}, next.Progress)
	require.Empty(t, h.closes)

	h2 := newCycleHarness(t, rosterOf(3))
	h2.env.RegisterDelayedCallback(func() {
		h2.env.SignalWorkflow(wf.SignalCaseDone, wf.CaseDone{BeneficiaryID: "b03", Outcome: apoyo.OutcomeCompleted})
	}, 20*time.Minute)
	p := h2.run(next)
	require.Empty(t, h2.pages, "the roster was already read")
	require.Empty(t, h2.starts)
	require.Equal(t, []wf.CloseCycleInput{{ProgramID: cycleProgram, CycleID: cycleID, Status: "done"}}, h2.closes)
	require.Equal(t, 3, p.Done)
	require.Equal(t, 2, p.Runs)
	require.True(t, p.Closed)
}

// 3. A pause that arrives while the first page is being read: nobody
// starts until the resume.
func TestCyclePauseBeforeFirstPage(t *testing.T) {
	t.Parallel()
	roster := rosterOf(7)
	h := newCycleHarness(t, roster)
	h.pageDelay = time.Minute
	h.caseTime = func(string) time.Duration { return time.Hour }
	h.signal(30*time.Second, wf.SignalPause, nil)
	paused := h.query(2 * time.Hour)
	h.signal(3*time.Hour, wf.SignalResume, nil)
	p := h.run(cycleInput())

	require.True(t, paused.Paused)
	require.Zero(t, paused.Started)
	require.Empty(t, withPrefix(between(h.log, "signal pause", "signal resume"), "start "), "no case starts while paused")
	require.Equal(t, []string{"page "}, between(h.log, "signal pause", "signal resume"), "the page in flight is read, then nothing")
	for _, s := range h.starts {
		require.GreaterOrEqual(t, s.At, cycleStart.Add(3*time.Hour), "case %s", s.In.BeneficiaryID)
	}
	require.Equal(t, roster, h.startedIDs())
	require.False(t, p.Paused)
	require.Equal(t, 7, p.Started)
	require.Equal(t, 7, p.Done)
	require.Equal(t, []wf.CloseCycleInput{{ProgramID: cycleProgram, CycleID: cycleID, Status: "done"}}, h.closes)
}

// 3. A pause after the first page: the first page's cases run, no more
// start while paused, and the resume carries on from the cursor.
func TestCyclePauseAfterFirstPage(t *testing.T) {
	t.Parallel()
	roster := rosterOf(7)
	h := newCycleHarness(t, roster)
	h.pageDelay = time.Minute
	h.caseTime = func(string) time.Duration { return time.Hour }
	// The first page is in at 1m and its cases start; the second page is
	// in flight when the pause comes.
	h.signal(90*time.Second, wf.SignalPause, nil)
	h.signal(2*time.Hour, wf.SignalPause, nil) // a second pause changes nothing
	paused := h.query(150 * time.Minute)
	h.signal(3*time.Hour, wf.SignalResume, nil)
	p := h.run(cycleInput())

	require.True(t, paused.Paused)
	require.Equal(t, 3, paused.Started)
	require.Equal(t, 3, paused.Done)
	require.Equal(t, "b03", paused.Cursor)

	during := between(h.log, "signal pause", "signal resume")
	require.Empty(t, withPrefix(during, "start "), "no case starts while paused: %v", during)
	require.Equal(t, []string{"page b03"}, withPrefix(during, "page "), "only the page in flight is read while paused")
	require.Equal(t, roster, h.startedIDs(), "each id once, the unstarted page read again after the resume")
	for _, s := range h.starts {
		if s.In.BeneficiaryID <= "b03" {
			require.Equal(t, cycleStart.Add(time.Minute), s.At)
		} else {
			require.GreaterOrEqual(t, s.At, cycleStart.Add(3*time.Hour), "case %s", s.In.BeneficiaryID)
		}
	}
	require.False(t, p.Paused)
	require.Equal(t, 7, p.Started)
	require.Equal(t, 7, p.Done)
	require.True(t, p.Closed)
	require.Equal(t, []wf.CloseCycleInput{{ProgramID: cycleProgram, CycleID: cycleID, Status: "done"}}, h.closes)
}

// 4. Cancel mid-way: CancelCases once with the reason, no more pages or
// starts, the cycle waits for the cases it started, then closes as
// cancelled.
func TestCycleCancel(t *testing.T) {
	t.Parallel()
	roster := rosterOf(7)
	h := newCycleHarness(t, roster)
	h.pageDelay = time.Minute
	h.caseTime = func(string) time.Duration { return time.Hour }
	h.outcome = func(string) apoyo.Outcome { return apoyo.OutcomeCancelled }
	// The first page's cases start at 1m; the second page is in flight.
	h.signal(90*time.Second, wf.SignalCancelCycle, wf.CancelRequest{Reason: "budget withdrawn"})
	h.signal(2*time.Hour, wf.SignalCancelCycle, wf.CancelRequest{Reason: "again"})
	waiting := h.query(30 * time.Minute)
	p := h.run(cycleInput())

	require.Equal(t, []wf.CancelCasesInput{{CycleID: cycleID, Reason: "budget withdrawn"}}, h.cancels)
	require.Len(t, h.pages, 2, "the page in flight is the last one read")
	require.Equal(t, []string{"b01", "b02", "b03"}, h.startedIDs(), "no case starts after the cancel")
	require.Empty(t, withPrefix(between(h.log, "signal "+wf.SignalCancelCycle, ""), "start "))

	require.True(t, waiting.Cancelled)
	require.True(t, waiting.CancelSent)
	require.Equal(t, 3, waiting.Started)
	require.Zero(t, waiting.Done)
	require.False(t, waiting.Closed)

	require.Equal(t, []wf.CloseCycleInput{{ProgramID: cycleProgram, CycleID: cycleID, Status: "cancelled"}}, h.closes)
	i := slices.Index(h.log, "close cancelled")
	for _, id := range []string{"b01", "b02", "b03"} {
		require.Less(t, slices.Index(h.log, "done "+id), i, "closed after %s reported", id)
	}
	require.Equal(t, cycleStart.Add(time.Hour+time.Minute), h.env.Now().UTC())
	require.Equal(t, wf.CycleProgress{
		Cursor: "b03", Started: 3, Done: 3, Outcomes: map[string]int{"cancelled": 3},
		Assigned: []int{3, 0}, Cancelled: true, CancelReason: "budget withdrawn", CancelSent: true,
		Closed: true, Runs: 1,
	}, p)
}

// 4. A cancel while the cycle waits for a MaxActive slot is acted on at
// once: the cases stop through CancelCases, and no case starts when a slot
// frees.
func TestCycleCancelWhileWaitingForSlot(t *testing.T) {
	t.Parallel()
	h := newCycleHarness(t, rosterOf(7))
	h.caseTime = func(string) time.Duration { return 10 * 24 * time.Hour }
	in := cycleInput()
	in.MaxActive = 2
	h.signal(time.Hour, wf.SignalCancelCycle, wf.CancelRequest{Reason: "programme suspended"})
	mid := h.query(2 * time.Hour)
	p := h.run(in)

	require.True(t, mid.CancelSent, "CancelCases went out without waiting for a slot")
	require.Equal(t, 2, mid.Started)
	require.Equal(t, []string{"b01", "b02"}, h.startedIDs())
	require.Equal(t, []wf.CancelCasesInput{{CycleID: cycleID, Reason: "programme suspended"}}, h.cancels)
	require.Equal(t, []wf.CloseCycleInput{{ProgramID: cycleProgram, CycleID: cycleID, Status: "cancelled"}}, h.closes)
	require.Equal(t, 2, p.Started)
	require.Equal(t, 2, p.Done)
	require.True(t, p.Closed)
}

// 5. MaxActive 2: a case starts only when another has ended.
func TestCycleMaxActive(t *testing.T) {
	t.Parallel()
	roster := rosterOf(7)
	h := newCycleHarness(t, roster)
	hours := map[string]int{"b01": 3, "b02": 1, "b03": 2, "b04": 1, "b05": 3, "b06": 2, "b07": 1}
	h.caseTime = func(id string) time.Duration { return time.Duration(hours[id]) * time.Hour }
	in := cycleInput()
	in.MaxActive = 2
	q := h.query(150 * time.Minute)
	p := h.run(in)

	require.Equal(t, 2, h.peakActive, "never more than 2 unfinished cases")
	require.Equal(t, roster, h.startedIDs())
	// Each start after the first two follows a case's end.
	for i, e := range h.log {
		if strings.HasPrefix(e, "start ") {
			active := 0
			for _, f := range h.log[:i+1] {
				switch {
				case strings.HasPrefix(f, "start "):
					active++
				case strings.HasPrefix(f, "done "):
					active--
				}
			}
			require.LessOrEqual(t, active, 2, "at %s: %v", e, h.log[:i+1])
		}
	}
	require.LessOrEqual(t, q.Started-q.Done, 2)
	// b01 3h | b02 1h, b03 1h-3h, b04 3h-4h, b05 3h-6h, b06 4h-6h, b07 6h-7h.
	wantAt := map[string]time.Duration{"b01": 0, "b02": 0, "b03": time.Hour, "b04": 3 * time.Hour,
		"b05": 3 * time.Hour, "b06": 4 * time.Hour, "b07": 6 * time.Hour}
	for _, s := range h.starts {
		require.Equal(t, cycleStart.Add(wantAt[s.In.BeneficiaryID]), s.At, "case %s", s.In.BeneficiaryID)
	}
	require.Equal(t, 7, p.Started)
	require.Equal(t, 7, p.Done)
	require.True(t, p.Closed)
	require.Equal(t, cycleStart.Add(7*time.Hour), h.env.Now().UTC())
}

// 6. The cycle query reports progress mid-run.
func TestCycleQueryMidRun(t *testing.T) {
	t.Parallel()
	h := newCycleHarness(t, rosterOf(7))
	h.pageDelay = time.Minute
	h.caseTime = func(string) time.Duration { return time.Hour }
	first := h.query(30 * time.Second)
	afterPage := h.query(90 * time.Second)
	late := h.query(time.Hour + 90*time.Second)
	p := h.run(cycleInput())

	require.Equal(t, wf.CycleProgress{Outcomes: map[string]int{}, Assigned: []int{0, 0}, Runs: 1}, *first)
	require.Equal(t, wf.CycleProgress{Cursor: "b03", Started: 3, Outcomes: map[string]int{}, Assigned: []int{3, 0}, Runs: 1}, *afterPage)
	// Pages come in at 1m, 2m, 3m (b07), 4m (empty); cases end an hour
	// after they start.
	require.Equal(t, wf.CycleProgress{
		Cursor: "b07", RosterDone: true, Started: 7, Done: 3, Outcomes: map[string]int{"completed": 3},
		Assigned: []int{4, 3}, Runs: 1,
	}, *late)
	require.True(t, p.Closed)
}

// 7. An empty roster closes the cycle at once.
func TestCycleEmptyRoster(t *testing.T) {
	t.Parallel()
	h := newCycleHarness(t, nil)
	in := cycleInput()
	in.PageSize = 0 // the default page size
	p := h.run(in)

	require.Equal(t, []wf.RosterPageInput{{ProgramID: cycleProgram, CycleID: cycleID, After: "", Limit: 500}}, h.pages)
	require.Empty(t, h.starts)
	require.Empty(t, h.cancels)
	require.Equal(t, []wf.CloseCycleInput{{ProgramID: cycleProgram, CycleID: cycleID, Status: "done"}}, h.closes)
	require.Equal(t, cycleStart, h.env.Now().UTC())
	require.Equal(t, wf.CycleProgress{RosterDone: true, Outcomes: map[string]int{}, Assigned: []int{0, 0}, Closed: true, Runs: 1}, p)
}

// Defect: a cancelled cycle lost its cases' reports and never closed. The
// cases reported while CancelCases ran; the cycle then continued as new
// (the server suggested it) with the reports unread in the channel, so
// Done stayed below Started and CloseCycle never ran. Now every delivered
// signal is applied first: the cycle sees all reports and closes.
func TestCycleCancelKeepsReportsThatArriveDuringCancelCases(t *testing.T) {
	t.Parallel()
	h := newCycleHarness(t, rosterOf(3))
	h.caseTime = func(string) time.Duration { return 10 * time.Minute }
	h.outcome = func(string) apoyo.Outcome { return apoyo.OutcomeCancelled }
	h.env.OnActivity(wf.ActivityCancelCases, mock.Anything, mock.Anything).Return(func(_ context.Context, in wf.CancelCasesInput) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.cancels = append(h.cancels, in)
		h.log = append(h.log, "cancel-cases")
		return nil
	}).After(30 * time.Minute)
	h.signal(time.Minute, wf.SignalCancelCycle, wf.CancelRequest{Reason: "budget withdrawn"})
	h.env.RegisterDelayedCallback(func() { h.env.SetContinueAsNewSuggested(true) }, 5*time.Minute)
	h.execute(cycleInput())

	require.NoError(t, h.env.GetWorkflowError(), "closed in this run, not continued as new with the reports unread")
	var p wf.CycleProgress
	require.NoError(t, h.env.GetWorkflowResult(&p))
	require.Equal(t, 3, p.Started)
	require.Equal(t, 3, p.Done)
	require.Equal(t, []wf.CloseCycleInput{{ProgramID: cycleProgram, CycleID: cycleID, Status: "cancelled"}}, h.closes)
}

func control(action string, seq int64) wf.CycleControl {
	return wf.CycleControl{Action: action, Seq: seq}
}

// Defect: a pause and a resume arriving together were applied pause-first,
// whatever their order. Controls now travel in one channel and apply in
// the order the database decided them (their Seq), so a resume then a
// pause leaves the cycle paused, and a stale control that arrives late
// changes nothing.
func TestCycleControlsApplyInDecisionOrder(t *testing.T) {
	t.Parallel()
	roster := rosterOf(7)
	h := newCycleHarness(t, roster)
	h.pageDelay = time.Minute
	h.caseTime = func(string) time.Duration { return time.Hour }
	h.signal(30*time.Second, wf.SignalControl, control(wf.ControlPause, 1))
	// Decided resume (2) then pause (3); they arrive together.
	h.signal(2*time.Hour, wf.SignalControl, control(wf.ControlResume, 2))
	h.signal(2*time.Hour, wf.SignalControl, control(wf.ControlPause, 3))
	stillPaused := h.query(150 * time.Minute)
	// A resume decided before the last pause arrives late: ignored.
	h.signal(160*time.Minute, wf.SignalControl, control(wf.ControlResume, 2))
	stillPausedLate := h.query(170 * time.Minute)
	h.signal(4*time.Hour, wf.SignalControl, control(wf.ControlResume, 4))
	p := h.run(cycleInput())

	require.True(t, stillPaused.Paused)
	require.Equal(t, int64(3), stillPaused.ControlSeq)
	require.Zero(t, stillPaused.Started)
	require.True(t, stillPausedLate.Paused)
	for _, s := range h.starts {
		require.GreaterOrEqual(t, s.At, cycleStart.Add(4*time.Hour), "case %s", s.In.BeneficiaryID)
	}
	require.Equal(t, roster, h.startedIDs())
	require.Equal(t, int64(4), p.ControlSeq)
	require.True(t, p.Closed)
}

// Nothing leaves a cancelled cycle: a pause after the cancel is ignored and
// the cycle closes as cancelled.
func TestCycleControlPauseAfterCancelIgnored(t *testing.T) {
	t.Parallel()
	h := newCycleHarness(t, rosterOf(3))
	h.caseTime = func(string) time.Duration { return time.Hour }
	h.signal(time.Minute, wf.SignalControl, wf.CycleControl{Action: wf.ControlCancel, Seq: 1, Reason: "programme suspended"})
	h.signal(2*time.Minute, wf.SignalControl, control(wf.ControlPause, 2))
	p := h.run(cycleInput())

	require.True(t, p.Cancelled)
	require.False(t, p.Paused)
	require.Equal(t, "programme suspended", p.CancelReason)
	require.Equal(t, []wf.CloseCycleInput{{ProgramID: cycleProgram, CycleID: cycleID, Status: "cancelled"}}, h.closes)
}
