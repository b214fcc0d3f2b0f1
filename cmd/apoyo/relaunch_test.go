package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/internal/golden"
	"github.com/apoyo-cdmx/apoyo/internal/pgtest"
	"github.com/apoyo-cdmx/apoyo/platform/temporalserver"
	"github.com/apoyo-cdmx/apoyo/workflows"
)

// Defect 9: relaunching a cycle whose workflow was terminated (or failed,
// timed out, was cancelled) says so, naming the status, instead of
// reporting "already launched" as if it were running. No worker runs:
// the launched workflow simply stays running until it is terminated.
func TestRelaunchOfTerminatedCycleSaysSo(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Temporal server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := pgtest.New(t)
	ts, err := temporalserver.Start(ctx, temporalserver.Options{Namespace: "apoyo"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ts.Stop() })
	t.Setenv("APOYO_DATA_DIR", t.TempDir())
	t.Setenv("APOYO_PII_KEYS", golden.KeyID+":"+golden.Key)
	t.Setenv("APOYO_PII_ACTIVE_KEY", golden.KeyID)
	t.Setenv("APOYO_PII_INDEX_KEY", golden.IndexKey)
	t.Setenv("APOYO_DATABASE_URL", db.URL)
	t.Setenv("APOYO_TEMPORAL_ADDRESS", ts.Address())
	t.Setenv("APOYO_LOG_LEVEL", "warn")
	as := newStaff(t, db.Pool)

	code, out, errOut := runAs(ctx, t, as.manager, "program", "create", "--name", "Relanzamiento", "--budget", "100000", "-o", "json")
	require.Equal(t, 0, code, errOut)
	var prog apoyo.Program
	require.NoError(t, json.Unmarshal([]byte(out), &prog))

	launch := func() (int, apoyo.LaunchResult, string) {
		code, out, errOut := runAs(ctx, t, as.manager, "cycle", "launch", "--program", prog.ID, "--period", "2026-11", "-o", "json")
		var res apoyo.LaunchResult
		if code == 0 {
			require.NoError(t, json.Unmarshal([]byte(out), &res), out)
		}
		return code, res, errOut
	}
	code, first, errOut := launch()
	require.Equal(t, 0, code, errOut)
	require.True(t, first.Created)
	require.Equal(t, "running", first.WorkflowStatus)
	code, again, errOut := launch()
	require.Equal(t, 0, code, errOut)
	require.False(t, again.Created)
	require.Equal(t, "running", again.WorkflowStatus, "a running cycle is reported as running")
	require.Equal(t, first.Cycle.RosterHash, again.Cycle.RosterHash)

	tc, err := client.Dial(client.Options{HostPort: ts.Address(), Namespace: "apoyo"})
	require.NoError(t, err)
	defer tc.Close()
	require.NoError(t, tc.TerminateWorkflow(ctx, workflows.CycleWorkflowID(first.Cycle.ID), "", "operator test"))

	code, _, errOut = launch()
	require.NotEqual(t, 0, code, "relaunching a terminated cycle is not a success")
	require.Contains(t, errOut, "terminated", errOut)
	require.Contains(t, errOut, first.Cycle.ID)
}
