package cases_test

import (
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/cases"
)

// cycleEnv is a database with one programme, for tests of cycles alone.
type cycleEnv struct {
	*env
	db *pgxpool.Pool
}

func newCycleEnv(t *testing.T) *cycleEnv {
	t.Helper()
	e := setup(t, 0)
	return &cycleEnv{env: e, db: e.pool}
}

// Defect 6: a cycle's status is a state machine the database enforces;
// nothing reopens a cancelled or closed cycle, whichever path writes it.
func TestCycleStatusMachineRefuses(t *testing.T) {
	t.Parallel()
	e := newCycleEnv(t)
	// how brings a fresh cycle to a status by allowed steps.
	how := map[string][]string{
		"running":          nil,
		"paused":           {"paused"},
		"cancelled":        {"cancelled"},
		"closed":           {"closed"},
		"cancelled+closed": {"cancelled", "closed"},
	}
	refused := []struct{ from, to string }{
		{"cancelled", "paused"}, {"cancelled", "running"},
		{"closed", "running"}, {"closed", "paused"}, {"closed", "cancelled"},
		{"cancelled+closed", "running"}, {"cancelled+closed", "paused"}, {"cancelled+closed", "cancelled"},
	}
	for i, tc := range refused {
		c := e.cycle(t, fmt.Sprintf("c%d", i))
		for _, st := range how[tc.from] {
			require.NoError(t, e.store.SetCycleStatus(e.ctx, c.ID, apoyo.CycleStatus(st)), "%s: step to %s", tc.from, st)
		}
		before, err := e.store.Cycle(e.ctx, c.ID)
		require.NoError(t, err)

		err = e.store.SetCycleStatus(e.ctx, c.ID, apoyo.CycleStatus(tc.to))
		if tc.to == "cancelled" && tc.from == "cancelled+closed" {
			// Already cancelled: repeating it is no change and no error.
			require.NoError(t, err)
		} else {
			require.Error(t, err, "%s → %s must be refused", tc.from, tc.to)
			require.Equal(t, "cycle.bad_transition", apoyo.ErrorReasonOf(err), "%s → %s: %v", tc.from, tc.to, err)
		}
		// The database itself refuses it, whatever code writes.
		_, err = e.db.Exec(e.ctx, "UPDATE cycles SET status = $2 WHERE id = $1", c.ID, tc.to)
		if string(before.Status) != tc.to {
			require.Error(t, err, "database: %s → %s must be refused", tc.from, tc.to)
		}
		after, err := e.store.Cycle(e.ctx, c.ID)
		require.NoError(t, err)
		require.Equal(t, before.Status, after.Status, "%s → %s", tc.from, tc.to)
	}
}

func TestTransitionCycle(t *testing.T) {
	t.Parallel()
	e := newCycleEnv(t)
	c := e.cycle(t, "2026-11")
	require.Equal(t, apoyo.CycleRunning, c.Status)
	require.Zero(t, c.ControlSeq)
	require.False(t, c.Cancelled())

	step := func(action apoyo.CycleAction, wantStatus apoyo.CycleStatus, wantSeq int64, wantApplied bool) apoyo.CycleTransition {
		t.Helper()
		tr, err := e.store.TransitionCycle(e.ctx, c.ID, action, "presupuesto retirado")
		require.NoError(t, err, string(action))
		require.Equal(t, wantStatus, tr.Cycle.Status, string(action))
		require.Equal(t, wantSeq, tr.Seq, string(action))
		require.Equal(t, wantSeq, tr.Cycle.ControlSeq, string(action))
		require.Equal(t, wantApplied, tr.Applied, string(action))
		return tr
	}
	// Resuming a running cycle, pausing a paused one: no change, no new
	// seq, no error (a retried command resends the current seq).
	step(apoyo.CycleResume, apoyo.CycleRunning, 0, false)
	step(apoyo.CyclePause, apoyo.CyclePaused, 1, true)
	step(apoyo.CyclePause, apoyo.CyclePaused, 1, false)
	step(apoyo.CycleResume, apoyo.CycleRunning, 2, true)
	step(apoyo.CyclePause, apoyo.CyclePaused, 3, true)
	tr := step(apoyo.CycleCancel, apoyo.CycleCancelled, 4, true)
	require.True(t, tr.Cycle.Cancelled())
	require.NotNil(t, tr.Cycle.CancelledAt)
	require.Equal(t, "presupuesto retirado", tr.Cycle.CancelReason)
	step(apoyo.CycleCancel, apoyo.CycleCancelled, 4, false)

	for _, action := range []apoyo.CycleAction{apoyo.CyclePause, apoyo.CycleResume} {
		_, err := e.store.TransitionCycle(e.ctx, c.ID, action, "")
		require.ErrorIs(t, err, cases.ErrBadTransition, action)
		require.Equal(t, apoyo.ECONFLICT, apoyo.ErrorCodeOf(err))
		require.EqualError(t, err, "cycle "+c.ID+" is cancelled; it cannot be paused or resumed")
	}

	// The close ran: closed, and still known as cancelled.
	closed, err := e.store.CloseCycle(e.ctx, c.ID, true, "ignored: already cancelled")
	require.NoError(t, err)
	require.Equal(t, apoyo.CycleClosed, closed.Status)
	require.True(t, closed.Cancelled())
	require.NotNil(t, closed.ClosedAt)
	require.Equal(t, "presupuesto retirado", closed.CancelReason)
	again, err := e.store.CloseCycle(e.ctx, c.ID, true, "")
	require.NoError(t, err)
	require.Equal(t, closed.ClosedAt, again.ClosedAt, "closing twice changes nothing")
	step(apoyo.CycleCancel, apoyo.CycleClosed, 4, false)
	for _, action := range []apoyo.CycleAction{apoyo.CyclePause, apoyo.CycleResume} {
		_, err := e.store.TransitionCycle(e.ctx, c.ID, action, "")
		require.ErrorIs(t, err, cases.ErrBadTransition, action)
		require.EqualError(t, err, "cycle "+c.ID+" is closed; it cannot be paused, resumed or cancelled")
	}

	// A cycle that finished normally closes uncancelled and stays so.
	n := e.cycle(t, "2026-12")
	done, err := e.store.CloseCycle(e.ctx, n.ID, false, "")
	require.NoError(t, err)
	require.Equal(t, apoyo.CycleClosed, done.Status)
	require.False(t, done.Cancelled())
	_, err = e.store.TransitionCycle(e.ctx, n.ID, apoyo.CycleCancel, "too late")
	require.ErrorIs(t, err, cases.ErrBadTransition)
	// The old run's status name "done" is a normal close.
	require.NoError(t, e.store.SetCycleStatus(e.ctx, n.ID, "done"))

	// An old run cancelled only by signal: its close records the cancel.
	o := e.cycle(t, "2027-01")
	oc, err := e.store.CloseCycle(e.ctx, o.ID, true, "cycle cancelled")
	require.NoError(t, err)
	require.True(t, oc.Cancelled())
	require.Equal(t, "cycle cancelled", oc.CancelReason)

	_, err = e.store.TransitionCycle(e.ctx, "cyc_nonexistent", apoyo.CyclePause, "")
	require.ErrorIs(t, err, cases.ErrCycleNotFound)
	_, err = e.store.TransitionCycle(e.ctx, c.ID, "reopen", "")
	require.Equal(t, apoyo.EINVALID, apoyo.ErrorCodeOf(err))

	// The database keeps the record whatever code writes: no going back on
	// the seq, no clearing a cancel.
	_, err = e.db.Exec(e.ctx, "UPDATE cycles SET control_seq = 1 WHERE id = $1", c.ID)
	require.Error(t, err)
	_, err = e.db.Exec(e.ctx, "UPDATE cycles SET cancelled_at = NULL WHERE id = $1", c.ID)
	require.Error(t, err)
	_, err = e.db.Exec(e.ctx, "INSERT INTO cycles (id, program_id, name, cycle_date, status) VALUES ('cyc_inserteddone', $1, 'x', now(), 'done')", e.prog)
	require.Error(t, err)
}

// Pause and resume decided at the same moment by different people: the
// database applies them one after the other, and each applied one gets
// its own, increasing seq; the cycle ends in the state of the last one.
func TestTransitionCycleConcurrentSeqs(t *testing.T) {
	t.Parallel()
	e := newCycleEnv(t)
	c := e.cycle(t, "2026-11")
	type applied struct {
		seq    int64
		status string
	}
	var mu sync.Mutex
	var got []applied
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				action := []apoyo.CycleAction{apoyo.CyclePause, apoyo.CycleResume}[(g+i)%2]
				tr, err := e.store.TransitionCycle(e.ctx, c.ID, action, "")
				if err != nil {
					t.Error(err)
					return
				}
				if !tr.Applied {
					continue
				}
				mu.Lock()
				got = append(got, applied{tr.Seq, string(tr.Cycle.Status)})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.NotEmpty(t, got)
	sort.Slice(got, func(i, j int) bool { return got[i].seq < got[j].seq })
	for i, a := range got {
		require.Equal(t, int64(i+1), a.seq, "applied transitions get distinct seqs 1..n without gaps")
		if i > 0 {
			require.NotEqual(t, got[i-1].status, a.status, "each applied transition changes the status")
		}
	}
	final, err := e.store.Cycle(e.ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, got[len(got)-1].seq, final.ControlSeq)
	require.Equal(t, got[len(got)-1].status, string(final.Status))
}
