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

// startWatcher stands in for Temporal's client at the starts of kept
// cases: it records each start, and before each one reads which of the
// cases started before it are marked told in the database.
type startWatcher struct {
	client.Client
	store *cases.Store
	mu    sync.Mutex
	ids   []string
	// unmarked[i] is how many of the first i starts were not yet marked
	// told when start i was made.
	unmarked []int
}

func (c *startWatcher) ExecuteWorkflow(ctx context.Context, o client.StartWorkflowOptions, _ any, _ ...any) (client.WorkflowRun, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	kept, err := c.store.KeptStarts(ctx, c.ids)
	if err != nil {
		return nil, err
	}
	n := 0
	for _, id := range c.ids {
		if kept[id].Told.IsZero() {
			n++
		}
	}
	c.unmarked = append(c.unmarked, n)
	c.ids = append(c.ids, o.ID)
	return nil, nil
}

// A list's kept cases are started a chunk at a time, each chunk marked
// started and told as it ends: a case told early in a long list is not
// left unmarked until the whole list is told, when the cycle's sweep would
// tell it again (a refused start, then a billed signal).
func TestApprovalsMarkedToldAChunkAtATime(t *testing.T) {
	app.SetTellChunk(t, 2)
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
	tc := &startWatcher{store: w.Cases}
	svc := &app.Service{Temporal: tc, Pool: w.Pool, CaseStore: w.Cases, ProgramStore: w.Programs, Ledger: w.Ledger}

	told, failed, err := svc.CompleteApprovals(ctx, cyc.ID, ids, voted)
	require.NoError(t, err)
	require.Empty(t, failed)
	require.Equal(t, 5, told)
	require.Equal(t, []int{0, 1, 0, 1, 0}, tc.unmarked, "chunks of 2: each chunk's starts marked before the next chunk's")
	kept, err := w.Cases.KeptStarts(ctx, ids)
	require.NoError(t, err)
	for _, id := range ids {
		require.False(t, kept[id].Started.IsZero(), id)
		require.False(t, kept[id].Told.IsZero(), id)
	}
}
