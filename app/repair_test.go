package app_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/app"
	"github.com/apoyo-cdmx/apoyo/internal/pgtest"
	"github.com/apoyo-cdmx/apoyo/internal/testfactory"
)

// movedOnCase stands in for Temporal for a case whose workflow has moved
// on from what its projection says: its state is st, and it refuses every
// update for good.
type movedOnCase struct {
	client.Client
	st apoyo.CaseState
}

func (c *movedOnCase) DescribeWorkflowExecution(context.Context, string, string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{
		Status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING}}, nil
}

func (c *movedOnCase) QueryWorkflow(context.Context, string, string, string, ...any) (converter.EncodedValue, error) {
	return stateValue{c.st}, nil
}

func (c *movedOnCase) UpdateWorkflow(context.Context, client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	return nil, temporal.NewNonRetryableApplicationError("case is at step payment, not awaiting approval", "case.not_awaiting_approval", nil, string(apoyo.ECONFLICT))
}

type stateValue struct{ st apoyo.CaseState }

func (v stateValue) HasValue() bool { return true }
func (v stateValue) Get(p any) error {
	*p.(*apoyo.CaseState) = v.st
	return nil
}

// A person who acts on a lagging projection is refused by the case, and
// the projection is brought up to the case's own state. The write after an
// accepted change can fail (PostgreSQL restarting under the chaos run);
// its projection then said "waiting on a caseworker" for a case whose
// re-payment ran, the sweep did not look for its lost attempt, and the
// case waited for its timeout while every new instrument was refused.
func TestRefusedActRepairsALaggingProjection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := testfactory.New(t, pgtest.New(t))
	prog := w.Program(t, nil)
	ben := w.People(t, prog.ID, &testfactory.PeopleOpts{N: 1})[0]
	cyc := w.Cycle(t, prog.ID, nil)
	caseID := apoyo.CaseID(cyc.ID, ben)
	lagging := apoyo.Case{ProgramID: prog.ID, CycleID: cyc.ID, BeneficiaryID: ben, Version: 8,
		Step: apoyo.StepPayment, Status: apoyo.CaseWaiting, WaitingOn: []string{apoyo.WaitingOnCaseworker}}
	running := apoyo.CaseState{CaseID: caseID, Version: 10, Step: apoyo.StepPayment, Status: apoyo.CaseRunning, WaitingOn: []string{}}
	tc := &movedOnCase{st: running}
	svc := &app.Service{Temporal: tc, Pool: w.Pool, CaseStore: w.Cases, ProgramStore: w.Programs, Ledger: w.Ledger}
	caseworker := apoyo.Identity{UserID: "usr_cw", Name: "cw", Role: apoyo.RoleCaseworker, Via: "token"}
	approver := apoyo.Identity{UserID: "usr_s", Name: "s", Role: apoyo.RoleApprover, Secretariat: apoyo.SIBISO, Via: "token"}

	for name, act := range map[string]func() error{
		"a new instrument": func() error {
			_, err := svc.SetPaymentInstrument(ctx, caseworker, caseID, apoyo.InstrumentRequest{Method: apoyo.RailSPEI, CLABE: "072180000000000003"})
			return err
		},
		"a vote": func() error {
			_, err := svc.Vote(ctx, approver, caseID, apoyo.VoteRequest{Approve: true})
			return err
		},
	} {
		require.NoError(t, w.Cases.Save(ctx, lagging), name)
		// Back to the lagging projection (a repair of the act before
		// made it newer, and Save keeps a newer one).
		_, err := w.Pool.Exec(ctx, `UPDATE cases SET version = 8, status = 'waiting', waiting_on = '{caseworker}' WHERE id = $1`, caseID)
		require.NoError(t, err)
		require.ErrorIs(t, act(), app.ErrUpdateRejected, name)
		p, err := w.Cases.Case(ctx, caseID)
		require.NoError(t, err)
		require.Equal(t, apoyo.CaseRunning, p.Status, "%s: the projection shows the case's own state", name)
		require.EqualValues(t, 10, p.Version, name)
		require.Empty(t, p.WaitingOn, name)
	}
}
