package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/app"
	"github.com/apoyo-cdmx/apoyo/audit"
)

// auditedControl is the cycle-control service of cycle_test.go, wrapped as
// everyone gets it: authorized and audited, its stores writing their audit
// entries in their own transactions.
func auditedControl(t *testing.T) (apoyo.Service, *audit.Log, *signalRecorder, apoyo.Cycle) {
	t.Helper()
	core, rec, cyc := newControlService(t)
	log := audit.New(core.Pool)
	core.Audit = log
	core.CaseStore.OnCommit = audit.WriteInTx
	return app.New(core), log, rec, cyc
}

func entries(t *testing.T, log *audit.Log, f apoyo.AuditFilter) []apoyo.AuditEntry {
	t.Helper()
	es, err := log.List(context.Background(), f)
	require.NoError(t, err)
	return es
}

// A state change records one entry naming who, what, which ids, how it
// ended and the request; a refused one records a denial and changes
// nothing; the chain verifies.
func TestAuditedRecordsChangesAndDenials(t *testing.T) {
	t.Parallel()
	svc, log, rec, cyc := auditedControl(t)
	ctx := apoyo.WithRequestID(context.Background(), "req_test_0001")

	_, err := svc.PauseCycle(ctx, pm, cyc.ID)
	require.NoError(t, err)
	es := entries(t, log, apoyo.AuditFilter{Target: cyc.ID})
	require.Len(t, es, 1)
	e := es[0]
	require.Equal(t, pm.UserID, e.ActorID)
	require.Equal(t, pm.Name, e.ActorName)
	require.Equal(t, apoyo.RoleProgramManager, e.Role)
	require.Equal(t, apoyo.ActCyclePause, e.Action)
	require.Equal(t, []string{cyc.ID}, e.Targets)
	require.Equal(t, apoyo.AuditOK, e.Outcome)
	require.Equal(t, "req_test_0001", e.RequestID)
	require.Equal(t, map[string]string{"status": "paused", "seq": "1", "applied": "true"}, e.Detail,
		"the entry written in the transition's transaction says what the transition did")

	caseworker := apoyo.Identity{UserID: "usr_cw", Name: "cw", Role: apoyo.RoleCaseworker, Via: "token"}
	_, err = svc.CancelCycle(ctx, caseworker, cyc.ID, "no")
	require.ErrorIs(t, err, apoyo.ErrForbidden)
	denied := entries(t, log, apoyo.AuditFilter{Outcome: apoyo.AuditDenied})
	require.Len(t, denied, 1)
	require.Equal(t, apoyo.ActCycleCancel, denied[0].Action)
	require.Equal(t, "usr_cw", denied[0].ActorID)
	require.Len(t, rec.sent(), 1, "the refused cancel reached no workflow")

	// No identity at all: refused, recorded.
	_, err = svc.ResumeCycle(ctx, apoyo.Identity{}, cyc.ID)
	require.ErrorIs(t, err, apoyo.ErrUnauthenticated)

	rep, err := log.Verify(context.Background())
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Problem)
	require.EqualValues(t, 3, rep.Entries)
}

// Where the change is apoyo's own transaction, the entry is in it: an
// entry that cannot be written rolls the change back, and a failure after
// the change committed is recorded as a second entry.
func TestAuditEntryInTheChangesTransaction(t *testing.T) {
	t.Parallel()
	svc, log, rec, cyc := auditedControl(t)
	ctx := context.Background()

	// An identity whose name the log refuses (over its limit): the pause
	// must not happen without its entry.
	long := pm
	long.Name = strings.Repeat("n", audit.MaxTextLen+1)
	_, err := svc.PauseCycle(ctx, long, cyc.ID)
	require.Error(t, err)
	got, err := (&cycleReader{t}).cycle(svc, cyc.ID)
	require.NoError(t, err)
	require.Equal(t, apoyo.CycleRunning, got.Status, "the entry could not be written, so the pause rolled back")
	require.Empty(t, rec.sent())
	require.Empty(t, entries(t, log, apoyo.AuditFilter{Action: apoyo.ActCyclePause, Outcome: apoyo.AuditOK}))

	// The workflow is gone: the database took the pause (and its entry),
	// then the signal failed; both are in the log.
	rec.gone = true
	_, err = svc.PauseCycle(ctx, pm, cyc.ID)
	require.Equal(t, "cycle.not_running", apoyo.ErrorReasonOf(err))
	es := entries(t, log, apoyo.AuditFilter{Action: apoyo.ActCyclePause})
	require.Len(t, es, 2, "%+v", es)
	require.Equal(t, apoyo.AuditOK, es[0].Outcome, "the transition committed with its entry")
	require.Equal(t, apoyo.AuditFailed, es[1].Outcome)
	require.Equal(t, "cycle.not_running", es[1].ErrorReason)
	require.NotEmpty(t, es[1].Detail["after_change"])
}

// cycleReader reads a cycle as an auditor would.
type cycleReader struct{ t *testing.T }

func (r *cycleReader) cycle(svc apoyo.Service, id string) (apoyo.Cycle, error) {
	st, err := svc.Cycles(context.Background(), apoyo.Identity{UserID: "usr_aud", Name: "aud", Role: apoyo.RoleAuditor, Via: "token"}, "")
	if err != nil {
		return apoyo.Cycle{}, err
	}
	for _, c := range st {
		if c.ID == id {
			return c, nil
		}
	}
	r.t.Fatalf("cycle %s not listed", id)
	return apoyo.Cycle{}, nil
}
