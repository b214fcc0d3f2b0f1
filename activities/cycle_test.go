package activities_test

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/grpc"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/activities"
	"github.com/apoyo-cdmx/apoyo/bank/sandbox"
	"github.com/apoyo-cdmx/apoyo/cases"
	"github.com/apoyo-cdmx/apoyo/payment"
	"github.com/apoyo-cdmx/apoyo/program"
	"github.com/apoyo-cdmx/apoyo/workflows"
)

func TestCycleCancelledBeforeOrderLeaves(t *testing.T) {
	f := newFixture(t, options{people: []person{{name: "Ugo", clabe: goodCLABE}}})
	require.NoError(t, f.cases.SetCycleStatus(f.ctx, f.cycle.ID, "cancelled"))

	sr, err := f.act.Screen(f.ctx, f.screenIn("Ugo"))
	require.NoError(t, err)
	require.True(t, sr.CycleCancelled)
	require.False(t, sr.Eligible)
	proj, err := f.cases.Case(f.ctx, apoyo.CaseID(f.cycle.ID, f.id("Ugo")))
	require.NoError(t, err)
	require.Equal(t, apoyo.StepDone, proj.Step)
	require.Equal(t, apoyo.OutcomeCancelled, proj.Outcome)

	res, err := f.act.Disburse(f.ctx, f.disburseIn("Ugo", 1))
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentState("cancelled"), res.State)
	require.Equal(t, f.orderID("Ugo", 1), res.OrderID)
	require.False(t, res.Paid())
	require.Empty(t, f.bankOrders(), "nothing reached the bank")
	require.Zero(t, f.spy.submitCount())
	require.Empty(t, f.ledgerKeys("Ugo"), "no money moved")
	require.Empty(t, f.payments("Ugo"))
	f.requireBalance(program.AvailableAccount(f.prog.ID), f.prog.TotalBudget())
	f.verifyLedger()
}

// An order that already left when the cycle is cancelled is followed to
// its end: nothing is ever half-paid.
func TestCycleCancelledAfterOrderLeft(t *testing.T) {
	f := newFixture(t, options{settleDelay: 200 * time.Millisecond, people: []person{{name: "Vera", clabe: goodCLABE}}})
	f.screen("Vera")
	ctx, cancel := context.WithCancel(f.ctx)
	f.spy.set(func(s *spyProvider) { s.afterSubmit = cancel })
	_, err := f.act.Disburse(ctx, f.disburseIn("Vera", 1))
	require.ErrorIs(t, err, context.Canceled)
	f.spy.set(func(s *spyProvider) { s.afterSubmit = nil })

	require.NoError(t, f.cases.SetCycleStatus(f.ctx, f.cycle.ID, "cancelled"))
	res, err := f.act.Disburse(f.ctx, f.disburseIn("Vera", 1))
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentState("settled"), res.State)
	require.Equal(t, settledOnce, f.moves(res.OrderID))
	require.Equal(t, 1, f.spy.submitCount())
	f.requireBalance(f.account(program.CyclePaid), f.amount)
	f.verifyLedger()
}

// A worker posts the transit entry, then fails before the bank has the
// order; the cycle is cancelled before the retry. The retry answers
// "cancelled" and the workflow releases the case: every peso of the
// entitlement must be back in the available budget, none left in transit.
func TestCycleCancelledAfterTransitBeforeOrder(t *testing.T) {
	f := newFixture(t, options{people: []person{{name: "Wen", clabe: goodCLABE}}})
	f.screen("Wen")
	f.spy.set(func(s *spyProvider) { s.submitErr = payment.ErrUnavailable.With("connection refused") })
	_, err := f.act.Disburse(f.ctx, f.disburseIn("Wen", 1))
	require.Error(t, err)
	require.Empty(t, f.bankOrders())
	f.requireBalance(f.account(program.CycleInTransit), f.amount)
	f.spy.set(func(s *spyProvider) { s.submitErr = nil })

	require.NoError(t, f.cases.SetCycleStatus(f.ctx, f.cycle.ID, "cancelled"))
	res, err := f.act.Disburse(f.ctx, f.disburseIn("Wen", 1))
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentState("cancelled"), res.State)
	require.Empty(t, f.bankOrders())
	require.NoError(t, f.act.Release(f.ctx, workflows.ReleaseInput{ProgramID: f.prog.ID, CycleID: f.cycle.ID, BeneficiaryID: f.id("Wen"),
		Reason: "cycle cancelled"}))
	f.verifyLedger()

	if f.balance(f.account(program.CycleInTransit)).IsPositive() {
		t.Fatal("regression: Disburse's cancelled branch (activities/disburse.go) returns 'cancelled' without " +
			"booking the attempt's transit entry back, and Release only undoes commit/return, so the entitlement stays in in_transit " +
			"and the payment row stays pending")
	}
	f.requireBalance(f.account(program.CycleInTransit), decimal.Zero)
	f.requireBalance(program.AvailableAccount(f.prog.ID), f.prog.TotalBudget())
}

// fakeTemporal records the cancel signals CancelCases sends.
type fakeTemporal struct {
	client.Client
	mu      sync.Mutex
	signals []string
	gone    map[string]bool
}

func (c *fakeTemporal) SignalWorkflow(_ context.Context, workflowID, _ string, name string, arg any) error {
	if name != workflows.SignalCancel {
		panic("unexpected signal " + name)
	}
	if _, ok := arg.(workflows.CancelRequest); !ok {
		panic("unexpected signal argument")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.signals = append(c.signals, workflowID)
	if c.gone[workflowID] {
		return serviceerror.NewNotFound("workflow not found")
	}
	return nil
}

func TestCancelCases(t *testing.T) {
	f := newFixture(t, options{people: []person{
		{name: "Xime", clabe: sandbox.CLABE("41")},
		{name: "Yago", clabe: sandbox.CLABE("42")},
		{name: "Zoe", clabe: sandbox.CLABE("43")},
	}})
	for _, n := range []string{"Xime", "Yago", "Zoe"} {
		f.screen(n)
	}
	// Zoe is paid: her case is done and gets no signal.
	_, err := f.act.Disburse(f.ctx, f.disburseIn("Zoe", 1))
	require.NoError(t, err)
	tc := &fakeTemporal{gone: map[string]bool{apoyo.CaseID(f.cycle.ID, f.id("Yago")): true}}
	f.act.Temporal = tc

	require.NoError(t, f.act.CancelCases(f.ctx, workflows.CancelCasesInput{CycleID: f.cycle.ID, Reason: "budget withdrawn"}))
	cyc, err := f.cases.Cycle(f.ctx, f.cycle.ID)
	require.NoError(t, err)
	require.Equal(t, apoyo.CycleStatus("cancelled"), cyc.Status)
	want := []string{apoyo.CaseID(f.cycle.ID, f.id("Xime")), apoyo.CaseID(f.cycle.ID, f.id("Yago"))}
	sort.Strings(want)
	got := append([]string(nil), tc.signals...)
	sort.Strings(got)
	require.Equal(t, want, got, "every unfinished case is signalled once; a workflow already gone is no error")
}

// batchTemporal is a cluster with visibility and batches: it counts
// visible cases and records the batch operations started.
type batchTemporal struct {
	fakeTemporal
	visible int64
	batches []*workflowservice.StartBatchOperationRequest
}

// batchService is batchTemporal's workflow service.
type batchService struct {
	workflowservice.WorkflowServiceClient
	c *batchTemporal
}

func (c *batchTemporal) CountWorkflow(context.Context, *workflowservice.CountWorkflowExecutionsRequest) (*workflowservice.CountWorkflowExecutionsResponse, error) {
	return &workflowservice.CountWorkflowExecutionsResponse{Count: c.visible}, nil
}

func (c *batchTemporal) WorkflowService() workflowservice.WorkflowServiceClient {
	return batchService{c: c}
}

func (s batchService) StartBatchOperation(_ context.Context, r *workflowservice.StartBatchOperationRequest, _ ...grpc.CallOption) (*workflowservice.StartBatchOperationResponse, error) {
	s.c.batches = append(s.c.batches, r)
	return &workflowservice.StartBatchOperationResponse{}, nil
}

func (batchService) DescribeBatchOperation(context.Context, *workflowservice.DescribeBatchOperationRequest, ...grpc.CallOption) (*workflowservice.DescribeBatchOperationResponse, error) {
	return &workflowservice.DescribeBatchOperationResponse{State: enumspb.BATCH_OPERATION_STATE_COMPLETED}, nil
}

// A cancelled cycle's cases are told by one batch operation over the
// cycle's running cases once visibility shows all of them; while it does
// not, no batch is started (it would miss the cases not yet indexed) and
// each unfinished case is signalled from the database instead.
func TestCancelCasesByBatch(t *testing.T) {
	defer activities.ShortenCancelWaits(300*time.Millisecond, time.Second)()
	f := newFixture(t, options{people: []person{
		{name: "Xime", clabe: sandbox.CLABE("41")},
		{name: "Yago", clabe: sandbox.CLABE("42")},
	}})
	for _, n := range []string{"Xime", "Yago"} {
		f.screen(n)
	}
	tc := &batchTemporal{visible: 2}
	f.act.Temporal, f.act.Namespace = tc, "apoyo"
	require.NoError(t, f.act.CancelCases(f.ctx, workflows.CancelCasesInput{CycleID: f.cycle.ID, Reason: "budget withdrawn"}))
	require.Empty(t, tc.signals, "no case is signalled one by one")
	require.Len(t, tc.batches, 1)
	b := tc.batches[0]
	require.Equal(t, activities.CancelBatchJobID(f.cycle.ID), b.GetJobId())
	require.Equal(t, "apoyo", b.GetNamespace())
	require.Contains(t, b.GetVisibilityQuery(), "ApoyoCycle = '"+f.cycle.ID+"'")
	require.Contains(t, b.GetVisibilityQuery(), "ExecutionStatus = 'Running'")
	require.Equal(t, workflows.SignalCancel, b.GetSignalOperation().GetSignal())
	var req workflows.CancelRequest
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(b.GetSignalOperation().GetInput(), &req))
	require.Equal(t, "budget withdrawn", req.Reason)

	// Visibility shows one case of two: the batch would miss the other.
	tc = &batchTemporal{visible: 1}
	f.act.Temporal = tc
	require.NoError(t, f.act.CancelCases(f.ctx, workflows.CancelCasesInput{CycleID: f.cycle.ID, Reason: "budget withdrawn"}))
	require.Empty(t, tc.batches)
	require.Len(t, tc.signals, 2, "each unfinished case is signalled")
}

func TestRosterPage(t *testing.T) {
	f := newFixture(t, options{people: []person{
		{name: "P1", method: apoyo.RailCashPickup},
		{name: "P2", method: apoyo.RailCashPickup},
		{name: "P3", method: apoyo.RailCashPickup},
	}})
	var all []string
	after := ""
	for {
		ids, err := f.act.RosterPage(f.ctx, workflows.RosterPageInput{ProgramID: f.prog.ID, After: after, Limit: 2})
		require.NoError(t, err)
		if len(ids) == 0 {
			break
		}
		require.LessOrEqual(t, len(ids), 2)
		all = append(all, ids...)
		after = ids[len(ids)-1]
	}
	require.Len(t, all, 3)
	require.True(t, sort.StringsAreSorted(all))
	want := []string{f.id("P1"), f.id("P2"), f.id("P3")}
	sort.Strings(want)
	require.Equal(t, want, all)
}

// The database refuses a second paid order for one person in one cycle,
// whatever the code above it does.
func TestSecondPaidPaymentRefused(t *testing.T) {
	f := newFixture(t, options{people: []person{{name: "Alma", clabe: goodCLABE}}})
	f.screen("Alma")
	res, err := f.act.Disburse(f.ctx, f.disburseIn("Alma", 1))
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentState("settled"), res.State)

	c, b := f.cycle.ID, f.id("Alma")
	second := f.orderID("Alma", 2)
	require.NoError(t, f.cases.RecordPayment(f.ctx, apoyo.Payment{OrderID: second, CaseID: apoyo.CaseID(c, b), ProgramID: f.prog.ID,
		CycleID: c, BeneficiaryID: b, Attempt: 2, Rail: "spei", Amount: f.amount, Fund: f.fund("city"), TrackingKey: "TK2", State: "pending"}))
	for _, state := range []string{"settled", "collected"} {
		err = f.cases.UpdatePayment(f.ctx, second, state, 0, "SBX2", "2026-11-02")
		require.ErrorIs(t, err, cases.ErrAlreadyPaid, state)
	}
	require.Equal(t, apoyo.PaymentState("pending"), f.payments("Alma")[second].State)
	// The first paid order itself may be updated again (a retry).
	require.NoError(t, f.cases.UpdatePayment(f.ctx, res.OrderID, "settled", 0, "SBX1", "2026-11-02"))
	// A non-paid state is fine.
	require.NoError(t, f.cases.UpdatePayment(f.ctx, second, "returned", 1, "SBX2", "2026-11-02"))
	require.ErrorIs(t, f.cases.UpdatePayment(f.ctx, "pay_nope", "settled", 0, "", ""), cases.ErrPaymentNotFound)
}

// The bank does not answer the status question of a cancelled cycle's
// case: Disburse must not take that as leave to send the order.
func TestCycleCancelledStatusUnavailable(t *testing.T) {
	f := newFixture(t, options{people: []person{{name: "Yara", clabe: goodCLABE}}})
	f.screen("Yara")
	require.NoError(t, f.cases.SetCycleStatus(f.ctx, f.cycle.ID, "cancelled"))
	f.spy.set(func(s *spyProvider) { s.statusFailures = 1 })
	res, err := f.act.Disburse(f.ctx, f.disburseIn("Yara", 1))
	if err == nil && len(f.bankOrders()) > 0 {
		t.Fatalf("regression: with the cycle cancelled and the bank's status answer lost, Disburse sent the order anyway (%s)", res.State)
	}
	if err == nil {
		require.Equal(t, "cancelled", res.State)
	} else {
		require.False(t, nonRetryable(err), "%v", err)
		res, err = f.act.Disburse(f.ctx, f.disburseIn("Yara", 1))
		require.NoError(t, err)
		require.Equal(t, apoyo.PaymentState("cancelled"), res.State)
	}
	require.Empty(t, f.bankOrders())
	require.Zero(t, f.spy.submitCount())
	f.verifyLedger()
}
