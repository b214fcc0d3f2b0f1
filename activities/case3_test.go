package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/activities"
	"github.com/apoyo-cdmx/apoyo/bank/sandbox"
	"github.com/apoyo-cdmx/apoyo/cases"
	"github.com/apoyo-cdmx/apoyo/program"
	"github.com/apoyo-cdmx/apoyo/workflows"
)

// completions is a Temporal client that records what the activities of
// the third shape ask of it: activity completions by task token (with
// what the ledger held at that moment) and workflow starts.
type completions struct {
	client.Client
	f *fixture

	mu     sync.Mutex
	done   []completion
	starts []workflows.BeneficiaryInput
	closed map[string]bool // task tokens no longer open
	// approvals are the cases told their approvals are in; failedByID the
	// attempts failed by activity id ("<case> <activity id>").
	approvals  map[string]workflows.ApprovalsComplete
	failedByID []string
	paidByID   []string        // attempts completed with a result by activity id
	queued     map[string]bool // cases whose SendPayment no worker took yet
	// beforeStart, when set, runs before each workflow start is recorded.
	beforeStart func(id string)
}

// DescribeWorkflowExecution: every case has its first SendPayment taken
// by a worker an hour ago, except those in queued, still waiting for one.
func (c *completions) DescribeWorkflowExecution(_ context.Context, id, _ string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	state := enumspb.PENDING_ACTIVITY_STATE_STARTED
	if c.queued[id] {
		state = enumspb.PENDING_ACTIVITY_STATE_SCHEDULED
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{
		Execution: &commonpb.WorkflowExecution{WorkflowId: id, RunId: "run-1"}},
		PendingActivities: []*workflowpb.PendingActivityInfo{{ActivityId: workflows.SendActivityID(1), State: state,
			LastStartedTime: timestamppb.New(time.Now().Add(-time.Hour))}}}, nil
}

func (c *completions) CompleteActivityByID(_ context.Context, _, workflowID, runID, activityID string, res any, err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := res.(apoyo.PaymentResult); ok && err == nil && runID == "run-1" {
		c.paidByID = append(c.paidByID, workflowID+" "+activityID)
		return nil
	}
	var app *temporal.ApplicationError
	if runID != "run-1" || !errors.As(err, &app) || app.NonRetryable() {
		panic("expected a retryable failure of the current run's attempt")
	}
	c.failedByID = append(c.failedByID, workflowID+" "+activityID)
	return nil
}

func (c *completions) SignalWorkflow(_ context.Context, id, _ string, name string, arg any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if name != workflows.SignalApprovals {
		panic("unexpected signal " + name)
	}
	if c.approvals == nil {
		c.approvals = map[string]workflows.ApprovalsComplete{}
	}
	c.approvals[id] = arg.(workflows.ApprovalsComplete)
	return nil
}

type completion struct {
	token  string
	result apoyo.PaymentResult
	err    error
	// settledFirst: the attempt's settlement was in the ledger when the
	// activity was completed.
	settledFirst bool
}

func (c *completions) CompleteActivity(ctx context.Context, token []byte, result any, err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed[string(token)] {
		return serviceerror.NewNotFound("activity task not found")
	}
	cm := completion{token: string(token), err: err}
	if r, ok := result.(apoyo.PaymentResult); ok {
		cm.result = r
		_, lerr := c.f.led.TransactionByKey(ctx, program.Attempt{Cycle: c.f.cycle.ID, Beneficiary: c.f.id("Ana"), N: 1}.SettleKey())
		cm.settledFirst = lerr == nil
	}
	c.done = append(c.done, cm)
	return nil
}

func (c *completions) ExecuteWorkflow(_ context.Context, o client.StartWorkflowOptions, name any, args ...any) (client.WorkflowRun, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if name != workflows.Case3WorkflowName {
		panic("unexpected workflow type")
	}
	in := args[0].(workflows.BeneficiaryInput)
	if c.beforeStart != nil {
		c.beforeStart(o.ID)
	}
	for _, s := range c.starts {
		if apoyo.CaseID(s.CycleID, s.BeneficiaryID) == o.ID {
			return nil, serviceerror.NewWorkflowExecutionAlreadyStarted("already started", "", "")
		}
	}
	c.starts = append(c.starts, in)
	return nil, nil
}

func newShape3(t *testing.T, people ...person) (*fixture, *completions) {
	f := newFixture(t, options{people: people})
	tc := &completions{f: f, closed: map[string]bool{}}
	f.act.Temporal = tc
	return f, tc
}

func (f *fixture) wait(name string, attempt int, token string) {
	require.NoError(f.t, f.cases.Wait(f.ctx, cases.PaymentWait{OrderID: f.orderID(name, attempt), CaseID: apoyo.CaseID(f.cycle.ID, f.id(name)),
		CycleID: f.cycle.ID, TaskToken: []byte(token), CaseVersion: 2 + int64(attempt)}))
}

// SendPayment leaves the attempt open while the bank decides;
// FinishPayment books the answer, records the case, and only then
// completes the attempt, once however often it runs.
func TestSendPaymentWaitsAndFinishPaymentCompletes(t *testing.T) {
	f, tc := newShape3(t, person{name: "Ana", clabe: goodCLABE})
	f.screen("Ana")
	f.wait("Ana", 1, "tok-1")
	_, err := f.act.SendPayment(f.ctx, f.disburseIn("Ana", 1))
	require.ErrorIs(t, err, activity.ErrResultPending, "the order is at the bank: the attempt stays open")
	order := f.orderID("Ana", 1)

	final, err := f.act.FinishPayment(f.ctx, order)
	require.NoError(t, err)
	if !final { // the bank settles after 20 ms
		require.Eventually(t, func() bool {
			final, err = f.act.FinishPayment(f.ctx, order)
			return err == nil && final
		}, 5*time.Second, 20*time.Millisecond)
	}
	require.Len(t, tc.done, 1)
	require.Equal(t, "tok-1", tc.done[0].token)
	require.NoError(t, tc.done[0].err)
	require.Equal(t, apoyo.PaymentState("settled"), tc.done[0].result.State)
	require.True(t, tc.done[0].settledFirst, "booked before the case hears of it")
	proj, err := f.cases.Case(f.ctx, apoyo.CaseID(f.cycle.ID, f.id("Ana")))
	require.NoError(t, err)
	require.Equal(t, apoyo.OutcomeCompleted, proj.Outcome)

	// A second callback, or the sweep, after the answer was delivered.
	final, err = f.act.FinishPayment(f.ctx, order)
	require.NoError(t, err)
	require.True(t, final)
	require.Len(t, tc.done, 1, "completed once")
	require.Equal(t, settledOnce, f.moves(order))
	f.verifyLedger()
}

// The bank's final answer reaches an order whose wait holds a closed
// attempt's token (that attempt failed; Temporal runs another, which has
// not written its own). The open attempt is told the answer by its
// activity id once a worker has held it quietly; while it is still queued
// nobody is told and the order stays undelivered, for the attempt to find
// the answer itself or a later sweep to tell it.
func TestFinishPaymentTellsTheOpenAttemptWhenItsTokenIsClosed(t *testing.T) {
	f, tc := newShape3(t, person{name: "Ana", clabe: goodCLABE})
	f.screen("Ana")
	f.wait("Ana", 1, "tok-1")
	_, err := f.act.SendPayment(f.ctx, f.disburseIn("Ana", 1))
	require.ErrorIs(t, err, activity.ErrResultPending)
	order := f.orderID("Ana", 1)
	caseID := apoyo.CaseID(f.cycle.ID, f.id("Ana"))
	tc.closed["tok-1"] = true
	tc.queued = map[string]bool{caseID: true}

	require.Eventually(t, func() bool {
		final, err := f.act.FinishPayment(f.ctx, order)
		return err == nil && final
	}, 5*time.Second, 20*time.Millisecond)
	require.Empty(t, tc.paidByID, "a queued attempt finds the answer itself")
	w, err := f.cases.PaymentWaitByOrder(f.ctx, order)
	require.NoError(t, err)
	require.False(t, w.Delivered)

	tc.queued = nil // a worker took it an hour ago, and died
	final, err := f.act.FinishPayment(f.ctx, order)
	require.NoError(t, err)
	require.True(t, final)
	require.Equal(t, []string{caseID + " " + workflows.SendActivityID(1)}, tc.paidByID)
	w, err = f.cases.PaymentWaitByOrder(f.ctx, order)
	require.NoError(t, err)
	require.True(t, w.Delivered)
	require.Equal(t, settledOnce, f.moves(order))
}

// An attempt whose worker died before the order left waits on an order
// the bank never received: the sweep fails it (retryable) so Temporal
// runs it again at once, instead of after the attempt's long timeout.
func TestFinishPaymentFailsAnAttemptThatNeverSent(t *testing.T) {
	f, tc := newShape3(t, person{name: "Ana", clabe: goodCLABE})
	f.screen("Ana")
	f.wait("Ana", 1, "tok-dead")
	final, err := f.act.FinishPayment(f.ctx, f.orderID("Ana", 1))
	require.NoError(t, err)
	require.False(t, final)
	require.Len(t, tc.done, 1)
	var app *temporal.ApplicationError
	require.True(t, errors.As(tc.done[0].err, &app))
	require.Equal(t, "payment.not_sent", app.Type())
	require.False(t, app.NonRetryable(), "Temporal runs the attempt again")
	require.Empty(t, f.bankOrders())

	// The wait's token is no longer open: its attempt failed (or its
	// worker died) and Temporal runs another, which has not written its
	// own token. That attempt is failed by its activity id once a worker
	// has held it quietly long enough (an hour here)...
	tc.closed["tok-dead"] = true
	_, err = f.act.FinishPayment(f.ctx, f.orderID("Ana", 1))
	require.NoError(t, err)
	caseID := apoyo.CaseID(f.cycle.ID, f.id("Ana"))
	require.Equal(t, []string{caseID + " " + workflows.SendActivityID(1)}, tc.failedByID)
	// ...and left alone while no worker has taken it.
	tc.failedByID = nil
	tc.queued = map[string]bool{caseID: true}
	_, err = f.act.FinishPayment(f.ctx, f.orderID("Ana", 1))
	require.NoError(t, err)
	require.Empty(t, tc.failedByID)
}

// The callback receiver asks the bank, whatever the body says.
func TestCallbackHandler(t *testing.T) {
	f, tc := newShape3(t, person{name: "Ana", clabe: goodCLABE})
	f.screen("Ana")
	f.wait("Ana", 1, "tok-1")
	_, err := f.act.SendPayment(f.ctx, f.disburseIn("Ana", 1))
	require.ErrorIs(t, err, activity.ErrResultPending)
	h := f.act.CallbackHandler()
	post := func(body string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/bank/callbacks", strings.NewReader(body)))
		return rec.Code
	}
	require.Equal(t, http.StatusBadRequest, post("{"))
	require.Equal(t, http.StatusNotFound, post(`{"order_id":"pay_unknown"}`))
	// A forged "settled" for an order still pending changes nothing.
	require.Eventually(t, func() bool {
		require.Equal(t, http.StatusNoContent, post(`{"order_id":"`+f.orderID("Ana", 1)+`","state":"returned"}`))
		return len(tc.done) == 1
	}, 5*time.Second, 20*time.Millisecond)
	require.Equal(t, apoyo.PaymentState("settled"), tc.done[0].result.State, "the bank's word, not the callback's")
}

// A page of starts screens each case into its start's input, records the
// projection after the start, and starts nobody twice. A case that goes
// straight to approval gets no workflow: its start is kept.
func TestStartCasePage(t *testing.T) {
	f, tc := newShape3(t, person{name: "Ana", clabe: goodCLABE}, person{name: "Beto", clabe: sandbox.CLABE("77"), birth: time.Now().AddDate(-16, 0, 0)})
	f.act.TaskQueue = "apoyo"
	in := workflows.StartCasePageInput{Template: workflows.BeneficiaryInput{ProgramID: f.prog.ID, CycleID: f.cycle.ID, CycleDate: cycleDate,
		Amount: f.amount}, IDs: []string{f.id("Ana"), f.id("Beto")}, Funds: []string{f.fund("city"), ""}}
	require.NoError(t, f.act.StartCasePage(f.ctx, in))
	require.NoError(t, f.act.StartCasePage(f.ctx, in), "a retried page")
	require.Len(t, tc.starts, 1, "only the case that does not wait for approval is started")
	anaID := apoyo.CaseID(f.cycle.ID, f.id("Ana"))
	kept, err := f.cases.KeptStarts(f.ctx, []string{anaID, apoyo.CaseID(f.cycle.ID, f.id("Beto"))})
	require.NoError(t, err)
	require.Len(t, kept, 1)
	require.Equal(t, "apoyo", kept[anaID].TaskQueue)
	require.True(t, kept[anaID].Started.IsZero())
	var ana workflows.BeneficiaryInput
	require.NoError(t, json.Unmarshal(kept[anaID].Input, &ana))
	require.NotNil(t, ana.Screened)
	require.True(t, ana.Screened.Eligible)
	require.True(t, ana.Reserved)
	require.Equal(t, f.fund("city"), ana.Fund)
	require.Empty(t, ana.Approved)
	proj, err := f.cases.Case(f.ctx, anaID)
	require.NoError(t, err)
	require.Equal(t, apoyo.StepApproval, proj.Step)
	require.Equal(t, []string{"STYFE", "SIBISO", "SEDESA"}, proj.WaitingOn)
	beto := tc.starts[0]
	require.Equal(t, f.id("Beto"), beto.BeneficiaryID)
	require.False(t, beto.Screened.Eligible)
	require.False(t, beto.Reserved)
	proj, err = f.cases.Case(f.ctx, apoyo.CaseID(f.cycle.ID, f.id("Beto")))
	require.NoError(t, err)
	require.Equal(t, apoyo.OutcomeIneligible, proj.Outcome)
}

// A kept case whose signed lists make its quorum, with no workflow yet
// (the process died between the last signature and the start), is started
// by the sweep, approved: the lists' votes in its input, no signal.
func TestSweepStartsKeptCaseApproved(t *testing.T) {
	f, tc := newShape3(t, person{name: "Ana", clabe: goodCLABE})
	f.act.TaskQueue, f.act.RedeliverAfter = "apoyo", time.Millisecond
	require.NoError(t, f.act.StartCasePage(f.ctx, workflows.StartCasePageInput{Template: workflows.BeneficiaryInput{ProgramID: f.prog.ID,
		CycleID: f.cycle.ID, CycleDate: cycleDate, Amount: f.amount}, IDs: []string{f.id("Ana")}}))
	require.Empty(t, tc.starts)
	ana := apoyo.CaseID(f.cycle.ID, f.id("Ana"))
	for _, sec := range apoyo.Secretariats {
		f.signed(sec, []string{ana})
		require.NoError(t, f.cases.DropWaiting(f.ctx, []string{ana}, sec))
	}
	time.Sleep(5 * time.Millisecond) // quiet for RedeliverAfter
	res, err := f.act.SweepCycle(f.ctx, workflows.SweepCycleInput{ProgramID: f.prog.ID, CycleID: f.cycle.ID})
	require.NoError(t, err)
	require.Equal(t, 1, res.Redelivered)
	require.Len(t, tc.starts, 1)
	require.Len(t, tc.starts[0].Approved, 3, "started with its three lists' votes")
	require.Empty(t, tc.approvals, "no signal")
	kept, err := f.cases.KeptStarts(f.ctx, []string{ana})
	require.NoError(t, err)
	require.False(t, kept[ana].Started.IsZero(), "marked started")
	require.False(t, kept[ana].Told.IsZero(), "marked told")

	// Still at approval in the projection a while later (its first
	// workflow task is queued at Temporal): not told again, not started
	// again; its first attempt is still looked for, in case it was lost.
	lookedFor := len(tc.failedByID)
	time.Sleep(5 * time.Millisecond)
	res, err = f.act.SweepCycle(f.ctx, workflows.SweepCycleInput{ProgramID: f.prog.ID, CycleID: f.cycle.ID})
	require.NoError(t, err)
	require.Zero(t, res.Redelivered)
	require.Len(t, tc.starts, 1)
	require.Empty(t, tc.approvals, "no signal")
	require.Len(t, tc.failedByID, lookedFor+1, "its lost first attempt is looked for")
}

// Kept cases that a signed list left to the cycle (cases.Store.RequestTells)
// are started by its sweep at once, approved, a page at a time, each page
// marked before the next; a pass that finds none left clears the request.
// A paused cycle starts none until it is resumed.
func TestSweepStartsTheCasesASignedListLeftIt(t *testing.T) {
	names := []string{"Ana", "Beto", "Carla", "Dora", "Eva"}
	var people []person
	for _, n := range names {
		people = append(people, person{name: n, method: apoyo.RailSPEI}) // each its own CLABE: a shared one goes to review
	}
	f, tc := newShape3(t, people...)
	f.act.TaskQueue, f.act.RedeliverAfter = "apoyo", time.Hour // no telling again in this test
	restore := activities.SetTellPage(2)
	defer restore()
	var ids []string
	for _, n := range names {
		ids = append(ids, f.id(n))
	}
	require.NoError(t, f.act.StartCasePage(f.ctx, workflows.StartCasePageInput{Template: workflows.BeneficiaryInput{ProgramID: f.prog.ID,
		CycleID: f.cycle.ID, CycleDate: cycleDate, Amount: f.amount}, IDs: ids}))
	require.Empty(t, tc.starts, "kept, every one")
	var cases3 []string
	for _, id := range ids {
		cases3 = append(cases3, apoyo.CaseID(f.cycle.ID, id))
	}
	for _, sec := range apoyo.Secretariats {
		f.signed(sec, cases3)
		require.NoError(t, f.cases.DropWaiting(f.ctx, cases3, sec))
	}
	sweep := func() workflows.SweepCycleResult {
		res, err := f.act.SweepCycle(f.ctx, workflows.SweepCycleInput{ProgramID: f.prog.ID, CycleID: f.cycle.ID})
		require.NoError(t, err)
		return res
	}
	require.Zero(t, sweep().Redelivered, "no list left them to the cycle: the sweep does not look")
	require.Empty(t, tc.starts)

	require.NoError(t, f.cases.RequestTells(f.ctx, f.cycle.ID))
	_, err := f.cases.TransitionCycle(f.ctx, f.cycle.ID, apoyo.CyclePause, "")
	require.NoError(t, err)
	require.Zero(t, sweep().Redelivered, "paused: none started")
	require.Empty(t, tc.starts)
	_, err = f.cases.TransitionCycle(f.ctx, f.cycle.ID, apoyo.CycleResume, "")
	require.NoError(t, err)

	var unmarked []int // at each start, how many of the cases started before it were not marked told
	tc.beforeStart = func(string) {
		kept, err := f.cases.KeptStarts(f.ctx, cases3)
		require.NoError(t, err)
		n := 0
		for _, s := range tc.starts {
			if kept[apoyo.CaseID(s.CycleID, s.BeneficiaryID)].Told.IsZero() {
				n++
			}
		}
		unmarked = append(unmarked, n)
	}
	require.Equal(t, 5, sweep().Redelivered, "counted, so that the cycle sweeps again soon")
	require.Len(t, tc.starts, 5)
	for _, in := range tc.starts {
		require.Len(t, in.Approved, 3, "started with its three lists' votes")
	}
	require.Empty(t, tc.approvals, "no signal")
	require.Len(t, unmarked, 5)
	require.Equal(t, []int{0, 0, 0}, []int{unmarked[0], unmarked[2], unmarked[4]}, "pages of 2: each page's starts marked before the next page's")
	kept, err := f.cases.KeptStarts(f.ctx, cases3)
	require.NoError(t, err)
	for _, id := range cases3 {
		require.False(t, kept[id].Started.IsZero(), id)
		require.False(t, kept[id].Told.IsZero(), id)
	}
	_, requested, err := f.cases.TellsRequested(f.ctx, f.cycle.ID)
	require.NoError(t, err)
	require.False(t, requested, "a pass that found none left clears the request")
	require.Zero(t, sweep().Redelivered)
	require.Len(t, tc.starts, 5, "none started twice")
}

// A request made while a pass runs is not cleared by that pass, which may
// have gone past the cases it names.
func TestTellsRequestClearedOnlyIfUnchanged(t *testing.T) {
	f, _ := newShape3(t)
	require.NoError(t, f.cases.RequestTells(f.ctx, f.cycle.ID))
	first, ok, err := f.cases.TellsRequested(f.ctx, f.cycle.ID)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, f.cases.RequestTells(f.ctx, f.cycle.ID))
	require.NoError(t, f.cases.ClearTellsRequest(f.ctx, f.cycle.ID, first))
	second, ok, err := f.cases.TellsRequested(f.ctx, f.cycle.ID)
	require.NoError(t, err)
	require.True(t, ok, "requested again after the pass began")
	require.True(t, second.After(first))
	require.NoError(t, f.cases.ClearTellsRequest(f.ctx, f.cycle.ID, second))
	_, ok, err = f.cases.TellsRequested(f.ctx, f.cycle.ID)
	require.NoError(t, err)
	require.False(t, ok)
}

// The sweep counts ended cases, asks the bank about answers that did not
// come (and completes them), and raises overdue tasks past the SLA.
func TestSweepCycle(t *testing.T) {
	f, tc := newShape3(t, person{name: "Ana", clabe: goodCLABE}, person{name: "Beto", clabe: sandbox.CLABE("78")})
	f.act.AskAfter = time.Millisecond
	f.screen("Ana")
	f.screen("Beto")
	f.wait("Ana", 1, "tok-1")
	_, err := f.act.SendPayment(f.ctx, f.disburseIn("Ana", 1))
	require.ErrorIs(t, err, activity.ErrResultPending)
	time.Sleep(100 * time.Millisecond) // the bank settles; no callback was asked for
	rules := workflows.CaseRules{ApprovalSLA: time.Millisecond, FollowUp: time.Hour}
	var res workflows.SweepCycleResult
	require.Eventually(t, func() bool {
		res, err = f.act.SweepCycle(f.ctx, workflows.SweepCycleInput{ProgramID: f.prog.ID, CycleID: f.cycle.ID, Rules: rules})
		require.NoError(t, err)
		return res.Done == 1
	}, 5*time.Second, 50*time.Millisecond)
	require.Len(t, tc.done, 1, "the sweep completed Ana's attempt")
	require.Equal(t, 2, res.Cases)
	require.Equal(t, 1, res.Outcomes[string(apoyo.OutcomeCompleted)])
	tasks, err := f.cases.Tasks(f.ctx, apoyo.TaskFilter{CycleID: f.cycle.ID})
	require.NoError(t, err)
	require.Len(t, tasks, 1)
	require.Equal(t, apoyo.TaskApprovalOverdue, tasks[0].Kind, "Beto waits on the secretariats past the SLA")
	again, err := f.act.SweepCycle(f.ctx, workflows.SweepCycleInput{ProgramID: f.prog.ID, CycleID: f.cycle.ID, Rules: rules})
	require.NoError(t, err)
	require.Zero(t, again.Overdue, "marked once")
}

// A case whose signed lists make its quorum but which still waits at
// approval a while after the last signature (the signal was lost: Temporal
// was down when the list was signed) is told again by the sweep; one whose
// lists do not make the quorum is not.
func TestSweepTellsApprovalsAgain(t *testing.T) {
	f, tc := newShape3(t, person{name: "Ana", clabe: goodCLABE}, person{name: "Beto", clabe: sandbox.CLABE("79")})
	f.act.RedeliverAfter = time.Millisecond
	f.screen("Ana")
	f.screen("Beto")
	ana, beto := apoyo.CaseID(f.cycle.ID, f.id("Ana")), apoyo.CaseID(f.cycle.ID, f.id("Beto"))
	for _, n := range []string{"Ana", "Beto"} {
		require.NoError(t, f.cases.Save(f.ctx, apoyo.Case{ProgramID: f.prog.ID, CycleID: f.cycle.ID, BeneficiaryID: f.id(n),
			Version: 2, Step: apoyo.StepApproval, Status: apoyo.CaseWaiting, WaitingOn: []string{"STYFE", "SIBISO", "SEDESA"}}))
	}
	for _, sec := range apoyo.Secretariats {
		list, err := f.cases.PendingRoster(f.ctx, f.cycle.ID, sec, "usr-"+strings.ToLower(string(sec)))
		require.NoError(t, err)
		var ids []string
		for _, l := range list.Lines {
			ids = append(ids, l.CaseID)
		}
		f.signed(sec, ids)
		require.NoError(t, f.cases.DropWaiting(f.ctx, ids, sec))
		if sec == apoyo.STyFE {
			// Beto's case leaves the lists after the first: only STyFE's covers it.
			require.NoError(t, f.cases.Save(f.ctx, apoyo.Case{ProgramID: f.prog.ID, CycleID: f.cycle.ID, BeneficiaryID: f.id("Beto"),
				Version: 3, Step: apoyo.StepIdentity, Status: apoyo.CaseWaiting, WaitingOn: []string{"caseworker"}}))
		}
	}
	require.NoError(t, f.cases.Save(f.ctx, apoyo.Case{ProgramID: f.prog.ID, CycleID: f.cycle.ID, BeneficiaryID: f.id("Beto"),
		Version: 4, Step: apoyo.StepApproval, Status: apoyo.CaseWaiting, WaitingOn: []string{"SIBISO", "SEDESA"}}))
	time.Sleep(5 * time.Millisecond)
	res, err := f.act.SweepCycle(f.ctx, workflows.SweepCycleInput{ProgramID: f.prog.ID, CycleID: f.cycle.ID})
	require.NoError(t, err)
	require.Equal(t, 1, res.Redelivered)
	require.Len(t, tc.approvals[ana].Votes, 3, "Ana's three lists")
	require.NotContains(t, tc.approvals, beto, "one list of three is no quorum")
	require.Equal(t, []string{ana + " send-1"}, tc.failedByID, "a first attempt that wrote nothing is run again")

	// Once per quiet period, not at every sweep.
	f.act.RedeliverAfter = time.Hour
	res, err = f.act.SweepCycle(f.ctx, workflows.SweepCycleInput{ProgramID: f.prog.ID, CycleID: f.cycle.ID})
	require.NoError(t, err)
	require.Zero(t, res.Redelivered)

	// A re-payment whose attempt wrote nothing: its case's payment step
	// runs (an instrument was put on file), with nothing at the bank. While
	// its attempt is only queued (no worker took it), it is left alone.
	f.act.RedeliverAfter = time.Millisecond
	tc.queued = map[string]bool{beto: true}
	require.NoError(t, f.cases.Save(f.ctx, apoyo.Case{ProgramID: f.prog.ID, CycleID: f.cycle.ID, BeneficiaryID: f.id("Beto"),
		Version: 9, Step: apoyo.StepPayment, Status: apoyo.CaseRunning}))
	time.Sleep(5 * time.Millisecond)
	_, err = f.act.SweepCycle(f.ctx, workflows.SweepCycleInput{ProgramID: f.prog.ID, CycleID: f.cycle.ID})
	require.NoError(t, err)
	require.NotContains(t, tc.failedByID, beto+" send-1", "a queued attempt is not lost")
	tc.queued = nil
	time.Sleep(5 * time.Millisecond)
	_, err = f.act.SweepCycle(f.ctx, workflows.SweepCycleInput{ProgramID: f.prog.ID, CycleID: f.cycle.ID})
	require.NoError(t, err)
	require.Contains(t, tc.failedByID, beto+" send-1")
}

// signed records a secretariat's signed list covering ids, as
// cases.Store.SignRoster would.
func (f *fixture) signed(sec apoyo.Secretariat, ids []string) {
	var id int64
	require.NoError(f.t, f.db.Pool.QueryRow(f.ctx, `INSERT INTO roster_approvals (cycle_id, secretariat, approver_id, approver_name, list_hash, size, total)
		VALUES ($1, $2, $3, 'Approver', sha256($4::bytea), $5, 5600) RETURNING id`, f.cycle.ID, string(sec), "usr-"+string(sec), []byte(string(sec)), len(ids)).Scan(&id))
	for _, c := range ids {
		_, err := f.db.Pool.Exec(f.ctx, `INSERT INTO roster_approval_cases (approval_id, case_id, amount) VALUES ($1, $2, 5600)`, id, c)
		require.NoError(f.t, err)
	}
}
