package app_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/app"
	"github.com/apoyo-cdmx/apoyo/cases"
	"github.com/apoyo-cdmx/apoyo/internal/pgtest"
	"github.com/apoyo-cdmx/apoyo/internal/testfactory"
	"github.com/apoyo-cdmx/apoyo/workflows"
)

// cycleWaker stands in for Temporal's client at a signature: it records
// the workflows started and the signals sent.
type cycleWaker struct {
	client.Client
	mu      sync.Mutex
	starts  []string
	signals []string // "<workflow id> <signal> <action>"
}

func (c *cycleWaker) ExecuteWorkflow(_ context.Context, o client.StartWorkflowOptions, _ any, _ ...any) (client.WorkflowRun, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.starts = append(c.starts, o.ID)
	return nil, nil
}

func (c *cycleWaker) SignalWorkflow(_ context.Context, id, _, name string, arg any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	action := ""
	if ctl, ok := arg.(workflows.CycleControl); ok {
		action = ctl.Action
	}
	c.signals = append(c.signals, id+" "+name+" "+action)
	return nil
}

// A signature that completes the approvals of kept cases (no workflow yet)
// starts none of them inside its request: it records them for the cycle
// and wakes the cycle, whose sweep starts them a page at a time. A list of
// millions was once started inside the request, and took as long.
func TestSignatureLeavesKeptCasesToTheCycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := testfactory.New(t, pgtest.New(t))
	prog := w.Program(t, nil)
	people := w.People(t, prog.ID, &testfactory.PeopleOpts{N: 5})
	cyc := w.Cycle(t, prog.ID, nil)
	voted := map[string][]apoyo.Secretariat{}
	var ids []string
	for _, b := range people {
		id := apoyo.CaseID(cyc.ID, b)
		require.NoError(t, w.Cases.Save(ctx, apoyo.Case{ProgramID: prog.ID, CycleID: cyc.ID, BeneficiaryID: b,
			Version: 1, Step: apoyo.StepApproval, Status: apoyo.CaseWaiting, WaitingOn: []string{}}))
		in, err := json.Marshal(workflows.BeneficiaryInput{ProgramID: prog.ID, CycleID: cyc.ID, BeneficiaryID: b})
		require.NoError(t, err)
		_, err = w.Cases.KeepStart(ctx, cases.CaseStart{CaseID: id, CycleID: cyc.ID, TaskQueue: "apoyo", Input: in})
		require.NoError(t, err)
		voted[id] = apoyo.Secretariats
		ids = append(ids, id)
	}
	tc := &cycleWaker{}
	svc := &app.Service{Temporal: tc, Pool: w.Pool, CaseStore: w.Cases, ProgramStore: w.Programs, Ledger: w.Ledger}

	told, handed, failed, err := svc.CompleteApprovals(ctx, cyc.ID, ids, voted)
	require.NoError(t, err)
	require.Empty(t, failed)
	require.Zero(t, told)
	require.Equal(t, 5, handed)
	require.Empty(t, tc.starts, "no start inside the request")
	require.Equal(t, []string{workflows.CycleWorkflowID(cyc.ID) + " " + workflows.SignalControl + " " + workflows.ControlSweep}, tc.signals,
		"one signal wakes the cycle")
	_, requested, err := w.Cases.TellsRequested(ctx, cyc.ID)
	require.NoError(t, err)
	require.True(t, requested, "recorded for the cycle's sweep, whether or not the signal arrives")
	kept, err := w.Cases.KeptStarts(ctx, ids)
	require.NoError(t, err)
	for _, id := range ids {
		require.True(t, kept[id].Started.IsZero(), id)
		require.True(t, kept[id].Told.IsZero(), id)
	}
}
