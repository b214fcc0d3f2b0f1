package app_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/app"
	"github.com/apoyo-cdmx/apoyo/cases"
	"github.com/apoyo-cdmx/apoyo/internal/pgtest"
	"github.com/apoyo-cdmx/apoyo/internal/testfactory"
	"github.com/apoyo-cdmx/apoyo/workflows"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// pm is the programme manager the core is called as (the core neither
// authorizes nor records; Authorized and Audited are tested apart).
var pm = apoyo.Identity{UserID: "usr_pm", Name: "pm", Role: apoyo.RoleProgramManager, Via: "token"}

// signalRecorder stands in for Temporal's client where only the signals a
// control sends matter (what the workflow does with them is tested in
// workflows with the SDK's test suite); the database is real.
type signalRecorder struct {
	client.Client
	mu      sync.Mutex
	signals []workflows.CycleControl
	gone    bool
}

func (r *signalRecorder) SignalWorkflow(_ context.Context, workflowID, runID, name string, arg any) error {
	if name != workflows.SignalControl {
		panic("unexpected signal " + name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gone {
		return serviceerror.NewNotFound("workflow not found")
	}
	r.signals = append(r.signals, arg.(workflows.CycleControl))
	return nil
}

func (r *signalRecorder) sent() []workflows.CycleControl {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]workflows.CycleControl(nil), r.signals...)
}

func newControlService(t *testing.T) (*app.Service, *signalRecorder, apoyo.Cycle) {
	t.Helper()
	w := testfactory.New(t, pgtest.New(t))
	cyc := w.Cycle(t, w.Program(t, nil).ID, nil)
	rec := &signalRecorder{}
	return &app.Service{Temporal: rec, Pool: w.Pool, CaseStore: w.Cases, Ledger: w.Ledger}, rec, cyc
}

// Defect 6 at the service: the database decides first; the workflow gets
// one ordered control channel with the database's sequence number; a
// cancelled cycle cannot be paused or resumed, and nothing is sent.
func TestCycleControlsDatabaseFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, rec, cyc := newControlService(t)

	tr, err := svc.PauseCycle(ctx, pm, cyc.ID)
	require.NoError(t, err)
	require.Equal(t, apoyo.CyclePaused, tr.Cycle.Status)
	tr, err = svc.PauseCycle(ctx, pm, cyc.ID) // a retried command: same seq again
	require.NoError(t, err)
	require.False(t, tr.Applied)
	_, err = svc.ResumeCycle(ctx, pm, cyc.ID)
	require.NoError(t, err)
	_, err = svc.CancelCycle(ctx, pm, cyc.ID, "presupuesto retirado")
	require.NoError(t, err)
	require.Equal(t, []workflows.CycleControl{
		{Action: workflows.ControlPause, Seq: 1},
		{Action: workflows.ControlPause, Seq: 1},
		{Action: workflows.ControlResume, Seq: 2},
		{Action: workflows.ControlCancel, Seq: 3, Reason: "presupuesto retirado"},
	}, rec.sent())

	for _, do := range []func(context.Context, apoyo.Identity, string) (apoyo.CycleTransition, error){svc.PauseCycle, svc.ResumeCycle} {
		_, err := do(ctx, pm, cyc.ID)
		require.ErrorIs(t, err, cases.ErrBadTransition)
		require.Equal(t, apoyo.ECONFLICT, apoyo.ErrorCodeOf(err))
		require.EqualError(t, err, "cycle "+cyc.ID+" is cancelled; it cannot be paused or resumed")
	}
	require.Len(t, rec.sent(), 4, "a refused control reaches no workflow")
	got, err := svc.CaseStore.Cycle(ctx, cyc.ID)
	require.NoError(t, err)
	require.Equal(t, apoyo.CycleCancelled, got.Status)
	require.Equal(t, int64(3), got.ControlSeq)
}

// A control whose workflow is gone says so instead of reporting success.
func TestCycleControlWorkflowGone(t *testing.T) {
	t.Parallel()
	svc, rec, cyc := newControlService(t)
	rec.gone = true
	_, err := svc.PauseCycle(context.Background(), pm, cyc.ID)
	require.Equal(t, "cycle.not_running", apoyo.ErrorReasonOf(err), "%v", err)
}

// closingCycle stands in for Temporal's client at the moment a cycle ends:
// the cycle's CloseCycle activity has just recorded it closed in the
// database and its workflow completes with its progress closed, while a
// status read is in flight (the database is real).
type closingCycle struct {
	client.Client
	store   *cases.Store
	cycleID string
}

func (c *closingCycle) DescribeWorkflowExecution(ctx context.Context, _, _ string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	if _, err := c.store.CloseCycle(ctx, c.cycleID, false, ""); err != nil {
		return nil, err
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{
		Status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED}}, nil
}

func (c *closingCycle) GetWorkflow(context.Context, string, string) client.WorkflowRun {
	return closedRun{}
}

type closedRun struct{ client.WorkflowRun }

func (closedRun) Get(_ context.Context, v any) error {
	*v.(*apoyo.CycleProgress) = apoyo.CycleProgress{Closed: true}
	return nil
}

// A status read that sees the workflow closed sees the cycle closed: the
// cycle's row is read again once the workflow says closed (the close is
// recorded before the workflow ends), or a page following the cycle would
// stop at "running" with the progress closed (the console's browser test
// once did).
func TestCycleStatusClosedIsClosedInTheDatabase(t *testing.T) {
	t.Parallel()
	w := testfactory.New(t, pgtest.New(t))
	cyc := w.Cycle(t, w.Program(t, nil).ID, nil)
	svc := &app.Service{Temporal: &closingCycle{store: w.Cases, cycleID: cyc.ID}, Pool: w.Pool, CaseStore: w.Cases, Ledger: w.Ledger}
	st, err := svc.CycleStatus(context.Background(), pm, cyc.ID)
	require.NoError(t, err)
	require.True(t, st.Progress.Closed)
	require.Equal(t, apoyo.CycleClosed, st.Cycle.Status, "the workflow's progress is closed, so the database's cycle is too")
}

// watchedCycle stands in for Temporal's client for a running cycle whose
// progress many people read: it counts the describes and the queries
// (each query is an action Temporal Cloud bills), and answers a closed
// progress once closed is set.
type watchedCycle struct {
	client.Client
	mu                sync.Mutex
	describes, querys int
	closed            bool
}

func (c *watchedCycle) DescribeWorkflowExecution(context.Context, string, string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.describes++
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{
		Status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING}}, nil
}

func (c *watchedCycle) QueryWorkflow(context.Context, string, string, string, ...any) (converter.EncodedValue, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.querys++
	return progressValue{apoyo.CycleProgress{Started: 10, Done: c.querys, Outcomes: map[string]int{"completed": c.querys}, Closed: c.closed}}, nil
}

func (c *watchedCycle) SignalWorkflow(context.Context, string, string, string, any) error { return nil }

func (c *watchedCycle) asked() (describes, queries int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.describes, c.querys
}

type progressValue struct{ p apoyo.CycleProgress }

func (v progressValue) HasValue() bool { return true }
func (v progressValue) Get(p any) error {
	*p.(*apoyo.CycleProgress) = v.p
	return nil
}

// A cycle's status costs Temporal one describe and one billed query per
// StatusMaxAge however often it is read; a control sent through the
// service is seen at the next read; with a negative age every read asks;
// a closed cycle's progress is asked once.
func TestCycleStatusReadAtMostOncePerMaxAge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := testfactory.New(t, pgtest.New(t))
	cyc := w.Cycle(t, w.Program(t, nil).ID, nil)
	tc := &watchedCycle{}
	svc := &app.Service{Temporal: tc, Pool: w.Pool, CaseStore: w.Cases, Ledger: w.Ledger, StatusMaxAge: time.Hour}

	for range 5 {
		st, err := svc.CycleStatus(ctx, pm, cyc.ID)
		require.NoError(t, err)
		require.Equal(t, 1, st.Progress.Done)
		st.Progress.Outcomes["completed"] = 99 // a reader's change stays its own
	}
	d, q := tc.asked()
	require.Equal(t, [2]int{1, 1}, [2]int{d, q}, "five reads within the age: one describe, one query")
	st, err := svc.CycleStatus(ctx, pm, cyc.ID)
	require.NoError(t, err)
	require.Equal(t, map[string]int{"completed": 1}, st.Progress.Outcomes)

	_, err = svc.PauseCycle(ctx, pm, cyc.ID)
	require.NoError(t, err)
	st, err = svc.CycleStatus(ctx, pm, cyc.ID)
	require.NoError(t, err)
	require.Equal(t, 2, st.Progress.Done, "a control drops the last read")

	always := &app.Service{Temporal: tc, Pool: w.Pool, CaseStore: w.Cases, Ledger: w.Ledger, StatusMaxAge: -1}
	for range 2 {
		_, err := always.CycleStatus(ctx, pm, cyc.ID)
		require.NoError(t, err)
	}
	d, q = tc.asked()
	require.Equal(t, [2]int{4, 4}, [2]int{d, q}, "a negative age reads anew every time")

	tc.mu.Lock()
	tc.closed = true
	tc.mu.Unlock()
	for range 3 {
		st, err := always.CycleStatus(ctx, pm, cyc.ID)
		require.NoError(t, err)
		require.True(t, st.Progress.Closed)
	}
	d, q = tc.asked()
	require.Equal(t, [2]int{5, 5}, [2]int{d, q}, "a closed cycle's progress is read once")
}

// slowCycle is a watchedCycle whose queries take a while, as the figures
// of a cycle of millions do.
type slowCycle struct {
	watchedCycle
	takes time.Duration
}

func (c *slowCycle) QueryWorkflow(ctx context.Context, id, run, q string, args ...any) (converter.EncodedValue, error) {
	time.Sleep(c.takes)
	return c.watchedCycle.QueryWorkflow(ctx, id, run, q, args...)
}

// A status that took long to read is shown for StatusReadCostShare times
// as long, past its max age, so that reading it keeps at most that share
// of the database busy; the view says when it was read.
func TestSlowStatusReadShownLonger(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := testfactory.New(t, pgtest.New(t))
	cyc := w.Cycle(t, w.Program(t, nil).ID, nil)
	tc := &slowCycle{takes: 100 * time.Millisecond}
	svc := &app.Service{Temporal: tc, Pool: w.Pool, CaseStore: w.Cases, Ledger: w.Ledger, StatusMaxAge: time.Millisecond}

	before := time.Now()
	first, err := svc.CycleStatus(ctx, pm, cyc.ID)
	require.NoError(t, err)
	require.False(t, first.AsOf.Before(before.Truncate(time.Microsecond)), "as of %v, asked at %v", first.AsOf, before)
	require.False(t, first.AsOf.After(time.Now()))
	time.Sleep(5 * time.Millisecond) // past the max age, well inside 10 × 100 ms
	again, err := svc.CycleStatus(ctx, pm, cyc.ID)
	require.NoError(t, err)
	require.Equal(t, first.AsOf, again.AsOf)
	_, q := tc.asked()
	require.Equal(t, 1, q, "a read of 100 ms is shown for a second, not the 1 ms max age")
}

// heldCycle is a watchedCycle whose queries wait for release, so that
// reads of its status overlap.
type heldCycle struct {
	watchedCycle
	entered chan struct{}
	release chan struct{}
}

func (c *heldCycle) QueryWorkflow(ctx context.Context, id, run, q string, args ...any) (converter.EncodedValue, error) {
	c.entered <- struct{}{}
	<-c.release
	return c.watchedCycle.QueryWorkflow(ctx, id, run, q, args...)
}

// Readers of one cycle's status at the same time share one read; one
// reader leaving (its request cancelled) neither fails the read for the
// others nor waits for it.
func TestCycleStatusSharedByConcurrentReaders(t *testing.T) {
	t.Parallel()
	w := testfactory.New(t, pgtest.New(t))
	cyc := w.Cycle(t, w.Program(t, nil).ID, nil)
	tc := &heldCycle{entered: make(chan struct{}, 1), release: make(chan struct{})}
	svc := &app.Service{Temporal: tc, Pool: w.Pool, CaseStore: w.Cases, Ledger: w.Ledger, StatusMaxAge: time.Hour}

	leaving, leave := context.WithCancel(context.Background())
	left := make(chan error, 1)
	go func() {
		_, err := svc.CycleStatus(leaving, pm, cyc.ID)
		left <- err
	}()
	<-tc.entered // the first reader's read is at the workflow
	type result struct {
		st  apoyo.CycleStatusView
		err error
	}
	stayed := make(chan result, 3)
	for range 3 {
		go func() {
			st, err := svc.CycleStatus(context.Background(), pm, cyc.ID)
			stayed <- result{st, err}
		}()
	}
	leave()
	require.ErrorIs(t, <-left, context.Canceled, "the reader that left returns at once")
	close(tc.release)
	for range 3 {
		r := <-stayed
		require.NoError(t, r.err)
		require.Equal(t, 1, r.st.Progress.Done)
	}
	d, q := tc.asked()
	require.Equal(t, [2]int{1, 1}, [2]int{d, q}, "four readers, one read")
}

// A status read under way when a control is sent is not what readers see
// after it: a reader after the control does not join it, and it is not
// kept (kept, it could be shown for long on a large cycle).
func TestStatusReadBeforeAControlIsNotShownAfterIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := testfactory.New(t, pgtest.New(t))
	cyc := w.Cycle(t, w.Program(t, nil).ID, nil)
	tc := &heldCycle{entered: make(chan struct{}, 2), release: make(chan struct{})}
	svc := &app.Service{Temporal: tc, Pool: w.Pool, CaseStore: w.Cases, Ledger: w.Ledger, StatusMaxAge: time.Hour}

	before := make(chan error, 1)
	go func() {
		_, err := svc.CycleStatus(ctx, pm, cyc.ID)
		before <- err
	}()
	<-tc.entered // the read before the control is at the workflow
	_, err := svc.PauseCycle(ctx, pm, cyc.ID)
	require.NoError(t, err)
	paused := time.Now()

	after := make(chan apoyo.CycleStatusView, 1)
	go func() {
		st, err := svc.CycleStatus(ctx, pm, cyc.ID)
		assert.NoError(t, err)
		after <- st
	}()
	select {
	case <-tc.entered: // a read of its own
	case <-time.After(2 * time.Second): // joined the earlier read: the checks below fail
	}
	close(tc.release)
	require.NoError(t, <-before)
	st := <-after
	require.False(t, st.AsOf.Before(paused), "the reader after the control got a read from before it")

	again, err := svc.CycleStatus(ctx, pm, cyc.ID)
	require.NoError(t, err)
	require.Equal(t, st.AsOf, again.AsOf, "the read kept is the one after the control")
	_, q := tc.asked()
	require.Equal(t, 2, q)
}
