package bench_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/bench"
	"github.com/apoyo-cdmx/apoyo/cases"
	"github.com/apoyo-cdmx/apoyo/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestLoadQueue: the queue benchmark's load at a small size is what the
// workflows would have left: about one case in ten with open work, of
// every kind, secretariat and alcaldía; each open task agreeing with its
// case as RaiseTask and ResolveStaleTasks keep it (they change nothing
// here); closed history; task ids in the order the tasks were opened.
func TestLoadQueue(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := pgtest.New(t)
	const n = 6000
	load, err := bench.LoadQueue(ctx, db.Pool, n)
	require.NoError(t, err)
	require.Equal(t, n, load.Cases)
	require.Equal(t, 1000, load.People)
	var cs int
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM cases").Scan(&cs))
	require.Equal(t, n, cs)
	require.InDelta(t, 0.10, float64(load.OpenTasks)/n, 0.03, "open tasks: %d of %d cases", load.OpenTasks, n)
	require.Greater(t, load.ClosedTasks, load.OpenTasks)

	distinct := func(sql string) []string {
		t.Helper()
		rows, err := db.Pool.Query(ctx, sql)
		require.NoError(t, err)
		vs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return vs
	}
	open := "FROM case_tasks WHERE resolved_at IS NULL"
	require.ElementsMatch(t, apoyo.TaskKinds, toKinds(distinct("SELECT DISTINCT kind "+open)))
	require.ElementsMatch(t, []string{"STYFE", "SIBISO", "SEDESA"}, distinct("SELECT DISTINCT secretariat "+open))
	require.Len(t, distinct("SELECT DISTINCT alcaldia FROM beneficiaries"), 16)
	require.GreaterOrEqual(t, len(distinct("SELECT DISTINCT alcaldia "+open)), 14, "Milpa Alta's 5 people may have no open work")
	require.Len(t, distinct("SELECT DISTINCT cycle_id "+open), 6, "notices stay open in closed cycles")
	require.Subset(t, distinct("SELECT DISTINCT step "+open), []string{"identity", "approval", "payment", "referrals", "done"})

	// Each open task says what RaiseTask would: its case's cycle and
	// step, the person's alcaldía, the secretariat by the rule; and it is
	// work of the step its case is at.
	var wrong int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM case_tasks t JOIN cases c ON c.id = t.case_id
		JOIN beneficiaries b ON b.id = c.beneficiary_id
		WHERE t.resolved_at IS NULL AND (t.cycle_id <> c.cycle_id OR t.step <> c.step OR t.alcaldia <> b.alcaldia
			OR t.secretariat <> case_task_secretariat(t.kind, c.waiting_on, c.state)
			OR (t.kind = 'step_failed') <> (c.status = 'failed')
			OR (t.kind IN ('payment_failed', 'identity_review_expired') AND c.step <> 'done'))`).Scan(&wrong))
	require.Zero(t, wrong)
	store := cases.NewStore(db.Pool)
	before := distinct("SELECT id::text || kind || step || secretariat " + open + " ORDER BY id")
	for _, id := range distinct("SELECT DISTINCT case_id " + open) {
		c, err := store.Case(ctx, id)
		require.NoError(t, err)
		require.NoError(t, store.ResolveStaleTasks(ctx, id, c.Step))
	}
	require.Equal(t, before, distinct("SELECT id::text || kind || step || secretariat "+open+" ORDER BY id"),
		"the load is a state the workflows would leave: nothing stale, nothing to bring up to date")

	// Ids follow the time tasks were opened, so the oldest come first.
	var disorder int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT created_at < lag(created_at) OVER (ORDER BY id) AS back
		FROM case_tasks) x WHERE back`).Scan(&disorder))
	require.Zero(t, disorder)

	p, err := store.Queue(ctx, apoyo.QueueFilter{Limit: apoyo.MaxQueueLimit})
	require.NoError(t, err)
	require.Len(t, p.Items, min(load.OpenTasks, apoyo.MaxQueueLimit))
}

func toKinds(ss []string) []apoyo.TaskKind {
	out := make([]apoyo.TaskKind, len(ss))
	for i, s := range ss {
		out[i] = apoyo.TaskKind(s)
	}
	return out
}

// The queue benchmark also times a cycle's status counts over its
// current cycle, all of whose cases it must count, and says how long a
// read that slow is shown.
func TestQueueTimesTheStatusCounts(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := pgtest.New(t)
	rep, err := bench.Queue(ctx, bench.QueueOptions{ServerURL: db.URL, Cases: 599, Reps: 2})
	require.NoError(t, err)
	sc := rep.StatusCounts
	require.NotNil(t, sc)
	require.Equal(t, "cyc_benchqueue6", sc.CycleID)
	require.Equal(t, 99, sc.Cases, "599 cases over six cycles of 100 people: the last has what is left")
	require.Positive(t, sc.P50MS)
	require.GreaterOrEqual(t, sc.P95MS, sc.P50MS)
	require.Equal(t, float64(apoyo.StatusShownFor(apoyo.DefaultStatusMaxAge, time.Duration(sc.P50MS*float64(time.Millisecond))))/float64(time.Millisecond), sc.ShownMS)
}
