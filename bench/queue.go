package bench

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/cases"
	"github.com/apoyo-cdmx/apoyo/mxid"
	"github.com/apoyo-cdmx/apoyo/platform/migrations"
	"github.com/apoyo-cdmx/apoyo/platform/pgdb"
)

// QueueGoal is the stuck-case queue's goal: every filter's first and
// deep pages answer within it at the 95th percentile.
const QueueGoal = 100 * time.Millisecond

// QueueOptions shape the queue benchmark.
type QueueOptions struct {
	// ServerURL connects to any database on the server as a user that may
	// create databases; the benchmark makes and drops its own.
	ServerURL string
	// Cases is how many cases to load. Default 1,000,000.
	Cases int
	// Reps is how many times each page is read. Default 200.
	Reps int
	// PageSize is each page's limit. Default apoyo.DefaultQueueLimit.
	PageSize int
	// Logf reports progress.
	Logf func(format string, args ...any)
}

// QueueLoad is what LoadQueue put in the database.
type QueueLoad struct {
	Cases       int     `json:"cases"`
	People      int     `json:"people"`
	Cycles      int     `json:"cycles"`
	OpenTasks   int     `json:"open_tasks"`
	ClosedTasks int     `json:"closed_tasks"`
	Seconds     float64 `json:"load_seconds"`
}

// QueueRow is one filter's page, timed.
type QueueRow struct {
	// Filter is none, cycle, step, secretariat, alcaldia, open_before or
	// kind; Value is the value it was given (for each, its most and its
	// least common one among the open tasks).
	Filter string `json:"filter"`
	Value  string `json:"value"`
	// Matches is how many open tasks the filter keeps.
	Matches int `json:"matches"`
	// Page is "first", or "deep": the page after the first 90% of the
	// matches, by its cursor.
	Page      string  `json:"page"`
	Skipped   int     `json:"skipped"`
	Items     int     `json:"items"`
	P50MS     float64 `json:"p50_ms"`
	P95MS     float64 `json:"p95_ms"`
	P99MS     float64 `json:"p99_ms"`
	UnderGoal bool    `json:"p95_under_goal"`
}

// QueueReport is the whole benchmark's result.
type QueueReport struct {
	Load     QueueLoad  `json:"load"`
	PageSize int        `json:"page_size"`
	Reps     int        `json:"reps"`
	GoalMS   float64    `json:"goal_p95_ms"`
	Rows     []QueueRow `json:"rows"`
	// GoalMet: every row's p95 is under the goal.
	GoalMet bool `json:"goal_met"`
	// StatusCounts times a cycle's status counts on the same load; nil
	// in reports from before it was measured.
	StatusCounts *StatusCountsRow `json:"status_counts,omitempty"`
}

// StatusCountsRow times cases.Store.CycleCounts, the aggregates over a
// cycle's cases that every status read runs, on the load's current cycle.
type StatusCountsRow struct {
	CycleID string  `json:"cycle_id"`
	Cases   int     `json:"cases"`
	Reps    int     `json:"reps"`
	P50MS   float64 `json:"p50_ms"`
	P95MS   float64 `json:"p95_ms"`
	// ShownMS is how long a status read taking P50MS is shown
	// (apoyo.StatusShownFor with apoyo.DefaultStatusMaxAge).
	ShownMS float64 `json:"shown_ms"`
}

// statusCountReps is how many times the status counts are timed: each
// reads a whole cycle.
const statusCountReps = 20

// Queue runs the benchmark: in a database of its own it loads o.Cases
// cases (LoadQueue), then for each filter reads the queue's first page and
// a deep page o.Reps times each through cases.Store.Queue, the statement
// the application runs, and reports their 50th, 95th and 99th percentiles.
func Queue(ctx context.Context, o QueueOptions) (QueueReport, error) {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Cases <= 0 {
		o.Cases = 1_000_000
	}
	if o.Reps <= 0 {
		o.Reps = 200
	}
	if o.PageSize <= 0 {
		o.PageSize = apoyo.DefaultQueueLimit
	}
	db := "apoyo_bench_queue_" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	if err := pgdb.Exec(ctx, o.ServerURL, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
		return QueueReport{}, err
	}
	defer pgdb.Exec(context.Background(), o.ServerURL, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)") //nolint:errcheck
	url := pgdb.WithDatabase(o.ServerURL, db)
	if _, _, err := migrations.MigrateURL(ctx, url); err != nil {
		return QueueReport{}, err
	}
	pool, err := pgdb.Open(ctx, url, 4)
	if err != nil {
		return QueueReport{}, err
	}
	defer pool.Close()

	o.Logf("queue: loading %d cases", o.Cases)
	load, err := LoadQueue(ctx, pool, o.Cases)
	if err != nil {
		return QueueReport{}, err
	}
	o.Logf("queue: loaded %d cases, %d open and %d closed tasks in %.1f s", load.Cases, load.OpenTasks, load.ClosedTasks, load.Seconds)

	rep := QueueReport{Load: load, PageSize: o.PageSize, Reps: o.Reps, GoalMS: ms(QueueGoal), GoalMet: true}
	store := cases.NewStore(pool)
	filters, err := queueFilters(ctx, pool)
	if err != nil {
		return rep, err
	}
	for _, qf := range filters {
		ids, err := queueIDs(ctx, store, qf.f)
		if err != nil {
			return rep, err
		}
		f := qf.f
		f.Limit = o.PageSize
		pages := []struct {
			name    string
			skipped int
		}{{"first", 0}, {"deep", len(ids) * 9 / 10}}
		for _, p := range pages {
			if p.name == "deep" && p.skipped == 0 {
				continue // fewer than ten matches: the first page is all of them
			}
			f.After = 0
			if p.skipped > 0 {
				f.After = ids[p.skipped-1]
			}
			times, items, err := timeQueue(ctx, store, f, o.Reps)
			if err != nil {
				return rep, err
			}
			row := QueueRow{Filter: qf.name, Value: qf.value, Matches: len(ids), Page: p.name, Skipped: p.skipped, Items: items,
				P50MS: ms(percentile(times, 50)), P95MS: ms(percentile(times, 95)), P99MS: ms(percentile(times, 99))}
			row.UnderGoal = percentile(times, 95) < QueueGoal
			rep.GoalMet = rep.GoalMet && row.UnderGoal
			o.Logf("queue: %s=%s %s page: p95 %.2f ms", row.Filter, row.Value, row.Page, row.P95MS)
			rep.Rows = append(rep.Rows, row)
		}
	}
	sc, err := timeStatusCounts(ctx, store, load)
	if err != nil {
		return rep, err
	}
	o.Logf("queue: status counts over %d cases: p50 %.1f ms", sc.Cases, sc.P50MS)
	rep.StatusCounts = &sc
	return rep, nil
}

// timeStatusCounts times the status counts of the load's current cycle,
// the last: it holds what the others leave of the load's cases.
func timeStatusCounts(ctx context.Context, store *cases.Store, load QueueLoad) (StatusCountsRow, error) {
	row := StatusCountsRow{CycleID: fmt.Sprintf("cyc_benchqueue%d", queueCycles), Reps: statusCountReps}
	times := make([]time.Duration, 0, statusCountReps)
	for range statusCountReps {
		start := time.Now()
		c, err := store.CycleCounts(ctx, row.CycleID)
		if err != nil {
			return row, err
		}
		times = append(times, time.Since(start))
		row.Cases = c.Total
	}
	if want := load.Cases - (load.Cycles-1)*load.People; row.Cases != want {
		return row, fmt.Errorf("bench queue: the status counts found %d cases in %s, want %d", row.Cases, row.CycleID, want)
	}
	p50 := percentile(times, 50)
	row.P50MS, row.P95MS = ms(p50), ms(percentile(times, 95))
	row.ShownMS = ms(apoyo.StatusShownFor(apoyo.DefaultStatusMaxAge, p50))
	return row, nil
}

type queueFilter struct {
	name, value string
	f           apoyo.QueueFilter
}

// queueFilters are the filters measured: none; for each column, its most
// and its least common value among the open tasks (the deepest pages, and
// the value a plan for common ones would serve worst); open for over a
// week, and over two months.
func queueFilters(ctx context.Context, pool *pgxpool.Pool) ([]queueFilter, error) {
	out := []queueFilter{{name: "none", value: "-"}}
	for _, col := range []string{"cycle_id", "step", "secretariat", "alcaldia", "kind"} {
		rows, err := pool.Query(ctx, "SELECT "+col+" FROM case_tasks WHERE resolved_at IS NULL GROUP BY 1 ORDER BY count(*) DESC, 1")
		if err != nil {
			return nil, err
		}
		vals, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, err
		}
		if len(vals) == 0 {
			continue
		}
		if len(vals) > 1 {
			vals = []string{vals[0], vals[len(vals)-1]}
		}
		for _, v := range vals {
			qf := queueFilter{name: col, value: v}
			switch col {
			case "cycle_id":
				qf.name, qf.f.CycleID = "cycle", v
			case "step":
				qf.f.Step = apoyo.Step(v)
			case "secretariat":
				qf.f.Secretariat = apoyo.Secretariat(v)
			case "alcaldia":
				qf.f.Alcaldia = v
			case "kind":
				qf.f.Kind = apoyo.TaskKind(v)
			}
			out = append(out, qf)
		}
	}
	now := time.Now()
	for _, d := range []int{7, 60} {
		out = append(out, queueFilter{name: "open_before", value: fmt.Sprintf("now-%dd", d),
			f: apoyo.QueueFilter{OpenBefore: now.Add(-time.Duration(d) * 24 * time.Hour)}})
	}
	return out, nil
}

// queueIDs pages through the whole queue with f, by Next, and returns its
// task ids in order: the matches, and the deep page's cursor.
func queueIDs(ctx context.Context, store *cases.Store, f apoyo.QueueFilter) ([]int64, error) {
	f.Limit = apoyo.MaxQueueLimit
	var ids []int64
	for {
		p, err := store.Queue(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, it := range p.Items {
			ids = append(ids, it.TaskID)
		}
		if p.Next == 0 {
			return ids, nil
		}
		f.After = p.Next
	}
}

// timeQueue reads the page of f reps times and returns each read's time.
func timeQueue(ctx context.Context, store *cases.Store, f apoyo.QueueFilter, reps int) ([]time.Duration, int, error) {
	times := make([]time.Duration, 0, reps)
	items := 0
	for i := 0; i < reps; i++ {
		start := time.Now()
		p, err := store.Queue(ctx, f)
		times = append(times, time.Since(start))
		if err != nil {
			return nil, 0, err
		}
		items = len(p.Items)
	}
	return times, items, nil
}

// percentile is the nearest-rank percentile p of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(i, 0)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// The load's shape: six monthly cycles of the same people, the four
// oldest closed, the last two under way.
const (
	queueCycles    = 6
	queueProgramID = "prg_benchqueue000001"
)

// alcaldiaShare is per mille of the people living in each alcaldía: most
// in the central and eastern boroughs where shelters and work are, few in
// the rural south.
var alcaldiaShare = map[string]int{
	"Cuauhtémoc": 180, "Iztapalapa": 140, "Gustavo A. Madero": 110, "Benito Juárez": 80, "Miguel Hidalgo": 80,
	"Venustiano Carranza": 70, "Coyoacán": 60, "Álvaro Obregón": 60, "Azcapotzalco": 50, "Tlalpan": 50, "Iztacalco": 40,
	"Xochimilco": 30, "Tláhuac": 20, "La Magdalena Contreras": 15, "Cuajimalpa de Morelos": 10, "Milpa Alta": 5,
}

// LoadQueue loads n cases into an empty, migrated database with
// set-based statements: one programme, six monthly cycles of the same
// ceil(n/6) people, and each case where a case of its cycle's age would
// be. The four closed cycles are done: mostly paid, some ineligible or
// rejected, 2% unpaid and 1% with an identity review that expired, whose
// notices are still open for most. Of the last month's cycle 85% is done
// and the rest stuck at every step; of the current one two in five are done,
// a fifth waits for the secretariats' approval, a tenth for a document
// check. Open tasks (about one case in ten) are raised where the workflow
// raises them and carry what RaiseTask gives them (case_task_secretariat
// included); closed ones are the history of cases that moved on. Tasks
// are numbered in the order they were opened, over each cycle's month.
// Every value is a hash of the row's key, so a load is the same every
// time. Sealed columns hold one zero byte: nothing here reads them.
func LoadQueue(ctx context.Context, pool *pgxpool.Pool, n int) (QueueLoad, error) {
	start := time.Now()
	people := (n + queueCycles - 1) / queueCycles
	load := QueueLoad{Cases: n, People: people, Cycles: queueCycles}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return load, err
	}
	defer conn.Release()
	slots := make([]string, 0, 1000)
	for _, a := range mxid.Alcaldias {
		for i := 0; i < alcaldiaShare[a]; i++ {
			slots = append(slots, a)
		}
	}
	cycleIDs := make([]string, queueCycles)
	for k := range cycleIDs {
		cycleIDs[k] = fmt.Sprintf("cyc_benchqueue%d", k+1)
	}
	exec := func(sql string, args ...any) error {
		_, err := conn.Exec(ctx, sql, args...)
		return err
	}
	steps := []struct {
		what string
		sql  string
		args []any
	}{
		// u(key, salt) is a uniform value in [0, 1) drawn from the key.
		{"helpers", `CREATE FUNCTION pg_temp.u(key text, salt bigint) RETURNS float8 LANGUAGE sql IMMUTABLE
			AS 'SELECT (hashtextextended(key, salt) & 281474976710655)::float8 / 281474976710656'`, nil},
		{"programme", `INSERT INTO programs (id, name, currency, benefit_amount, config)
			VALUES ($1, 'Banco de pruebas de la cola', 'MXN', 5600, '{}')`, []any{queueProgramID}},
		// Cycle k started (6 - k) months ago, less 10 days: the current
		// one 20 days ago.
		{"cycles", `INSERT INTO cycles (id, program_id, name, period, cycle_date, created_at, roster_size, amount)
			SELECT ($2::text[])[k], $1, 'bench-' || k, to_char(s, 'YYYY-MM'), s::date, s, $3, 5600
			FROM generate_series(1, $4) k, LATERAL (SELECT now() - (($4 - k) * 30 + 20) * interval '1 day' AS s) x`,
			[]any{queueProgramID, cycleIDs, people, queueCycles}},
		{"closed cycles", `UPDATE cycles SET status = 'closed' WHERE id = ANY($1)`, []any{cycleIDs[:queueCycles-2]}},
		{"people", `INSERT INTO beneficiaries (id, program_id, birth_date, sex, nationality, population_group, alcaldia,
				payment_method, consent, given_names, first_surname, key_id)
			SELECT 'ben_' || lpad(i::text, 16, '0'), $1, date '1965-01-01' + floor(pg_temp.u(i::text, 1) * 14000)::int,
				CASE WHEN pg_temp.u(i::text, 2) < 0.52 THEN 'M' WHEN pg_temp.u(i::text, 2) < 0.995 THEN 'H' ELSE 'X' END,
				(ARRAY['VEN', 'HND', 'HTI', 'GTM', 'SLV', 'COL', 'CUB', 'NIC'])[1 + floor(pg_temp.u(i::text, 3) * 8)::int],
				(ARRAY['migrant', 'refugee', 'asylum_seeker', 'idp', 'returnee'])[1 + floor(pg_temp.u(i::text, 4) * 5)::int],
				($3::text[])[1 + floor(pg_temp.u(i::text, 5) * 1000)::int],
				CASE WHEN pg_temp.u(i::text, 6) < 0.42 THEN 'spei' WHEN pg_temp.u(i::text, 6) < 0.82 THEN 'cash_pickup' ELSE 'card' END,
				true, '\x00', '\x00', 'bench'
			FROM generate_series(1, $2) i`, []any{queueProgramID, people, slots}},
		// Case j is person j % people in cycle j / people: inserted in id
		// order, so the primary key's btree is filled by appends.
		{"cases", `INSERT INTO cases (id, program_id, cycle_id, beneficiary_id, step, status, waiting_on, overdue, outcome, state, version,
				created_at, updated_at)
			SELECT 'case/' || cyc || '/' || ben, $1, cyc, ben, p.step, p.status, p.waiting_on, p.overdue, p.outcome,
				CASE WHEN p.step = 'referrals' THEN jsonb_build_object('referrals', jsonb_build_array(
					jsonb_build_object('id', 'r1', 'secretariat', (ARRAY['STYFE', 'SIBISO', 'SEDESA', 'NGO'])[1 + floor(v * 4)::int],
						'outcome', CASE WHEN w < 0.4 THEN 'attended' ELSE '' END),
					jsonb_build_object('id', 'r2', 'secretariat', (ARRAY['SEDESA', 'STYFE', 'NGO', 'SIBISO'])[1 + floor(w * 4)::int])))
				END, 12, s, s
			FROM (SELECT j, k, ($2::text[])[k] AS cyc, 'ben_' || lpad((j % $3 + 1)::text, 16, '0') AS ben,
					pg_temp.u(j::text, 11) AS u, pg_temp.u(j::text, 12) AS v, pg_temp.u(j::text, 13) AS w
				FROM generate_series(0, $4 - 1) j, LATERAL (SELECT j / $3 + 1 AS k) kk) g
			JOIN cycles y ON y.id = g.cyc, LATERAL (SELECT y.created_at AS s) ss,
			LATERAL (SELECT CASE
				WHEN k <= $5 - 2 THEN CASE WHEN u < 0.02 THEN 'payment_failed' WHEN u < 0.03 THEN 'expired' WHEN u < 0.07 THEN 'ineligible'
					WHEN u < 0.085 THEN 'identity_rejected' WHEN u < 0.095 THEN 'approval_rejected' ELSE 'completed' END
				WHEN k = $5 - 1 THEN CASE WHEN u < 0.02 THEN 'payment_failed' WHEN u < 0.03 THEN 'expired' WHEN u < 0.06 THEN 'ineligible'
					WHEN u < 0.07 THEN 'identity_rejected' WHEN u < 0.08 THEN 'approval_rejected' WHEN u < 0.11 THEN 'identity'
					WHEN u < 0.14 THEN 'approval' WHEN u < 0.17 THEN 'instrument' WHEN u < 0.22 THEN 'referrals' WHEN u < 0.235 THEN 'failed'
					ELSE 'completed' END
				ELSE CASE WHEN u < 0.005 THEN 'payment_failed' WHEN u < 0.01 THEN 'expired' WHEN u < 0.05 THEN 'ineligible'
					WHEN u < 0.06 THEN 'identity_rejected' WHEN u < 0.065 THEN 'approval_rejected' WHEN u < 0.17 THEN 'identity'
					WHEN u < 0.37 THEN 'approval' WHEN u < 0.40 THEN 'eligibility' WHEN u < 0.45 THEN 'payment' WHEN u < 0.50 THEN 'instrument'
					WHEN u < 0.63 THEN 'referrals' WHEN u < 0.655 THEN 'failed' ELSE 'completed' END
				END AS profile) pr,
			LATERAL (SELECT
				CASE pr.profile WHEN 'identity' THEN 'identity' WHEN 'eligibility' THEN 'eligibility' WHEN 'approval' THEN 'approval'
					WHEN 'payment' THEN 'payment' WHEN 'instrument' THEN 'payment' WHEN 'referrals' THEN 'referrals'
					WHEN 'failed' THEN CASE WHEN v < 0.2 THEN 'identity' WHEN v < 0.4 THEN 'approval' ELSE 'payment' END
					ELSE 'done' END AS step,
				CASE WHEN pr.profile IN ('identity', 'approval', 'instrument', 'referrals') THEN 'waiting'
					WHEN pr.profile IN ('eligibility', 'payment') THEN 'running' WHEN pr.profile = 'failed' THEN 'failed' ELSE 'done' END AS status,
				CASE WHEN pr.profile = 'approval' THEN CASE WHEN v < 0.35 THEN '{STYFE,SIBISO,SEDESA}'::text[]
						WHEN v < 0.65 THEN '{SIBISO,SEDESA}' WHEN v < 0.85 THEN '{SEDESA}' ELSE '{STYFE,SEDESA}' END
					WHEN pr.profile IN ('identity', 'instrument', 'referrals', 'failed') THEN '{caseworker}'
					ELSE '{}' END AS waiting_on,
				(pr.profile = 'approval' AND w < CASE WHEN k = $5 THEN 0.5 ELSE 1 END)
					OR (pr.profile = 'referrals' AND w < CASE WHEN k = $5 THEN 0.4 ELSE 0.8 END) AS overdue,
				CASE pr.profile WHEN 'completed' THEN 'completed' WHEN 'payment_failed' THEN 'payment_failed'
					WHEN 'expired' THEN 'identity_review_expired' WHEN 'ineligible' THEN 'ineligible'
					WHEN 'identity_rejected' THEN 'identity_rejected' WHEN 'approval_rejected' THEN 'approval_rejected' ELSE '' END AS outcome) p
			ORDER BY j`, []any{queueProgramID, cycleIDs, people, n, queueCycles}},
		// Open tasks where the workflow raises them; closed ones for the
		// steps cases went through. Opened at a point of the cycle's first
		// 30 days (or of the days it has had), numbered in that order.
		{"tasks", `INSERT INTO case_tasks (case_id, kind, detail, created_at, resolved_at, cycle_id, step, secretariat, alcaldia)
			SELECT case_id, kind, '', created_at, CASE WHEN NOT is_open THEN least(created_at + pg_temp.u(case_id || kind, 22) * interval '5 days', now()) END,
				cycle_id, step, secretariat, alcaldia
			FROM (SELECT c.id AS case_id, t.kind, t.is_open, c.cycle_id, b.alcaldia,
					y.created_at + least(interval '30 days', now() - y.created_at) * pg_temp.u(c.id || t.kind, 21) AS created_at,
					CASE WHEN t.is_open THEN c.step ELSE CASE t.kind WHEN 'identity_review' THEN 'identity' WHEN 'approval_overdue' THEN 'approval'
						WHEN 'needs_new_instrument' THEN 'payment' WHEN 'referral_overdue' THEN 'referrals' ELSE 'done' END END AS step,
					case_task_secretariat(t.kind, c.waiting_on, c.state) AS secretariat
				FROM cases c JOIN beneficiaries b ON b.id = c.beneficiary_id JOIN cycles y ON y.id = c.cycle_id,
				LATERAL (
					SELECT 'identity_review' AS kind, true AS is_open WHERE c.step = 'identity' AND c.status = 'waiting'
					UNION ALL SELECT 'approval_overdue', true WHERE c.step = 'approval' AND c.overdue
					UNION ALL SELECT CASE WHEN pg_temp.u(c.id, 31) < 0.2 THEN 'returned_after_settlement' ELSE 'needs_new_instrument' END, true
						WHERE c.step = 'payment' AND c.status = 'waiting'
					UNION ALL SELECT 'referral_overdue', true WHERE c.step = 'referrals' AND c.overdue
					UNION ALL SELECT 'step_failed', true WHERE c.status = 'failed'
					UNION ALL SELECT CASE c.outcome WHEN 'payment_failed' THEN 'payment_failed' ELSE 'identity_review_expired' END,
							c.cycle_id = ANY($2) OR pg_temp.u(c.id, 32) < 0.6
						WHERE c.outcome IN ('payment_failed', 'identity_review_expired')
					UNION ALL SELECT 'identity_review', false WHERE c.step <> 'identity'
						AND c.outcome NOT IN ('identity_rejected', 'identity_review_expired') AND pg_temp.u(c.id, 33) < 0.12
					UNION ALL SELECT 'approval_overdue', false WHERE (c.step IN ('payment', 'referrals') OR c.outcome IN ('completed', 'payment_failed'))
						AND pg_temp.u(c.id, 34) < 0.08
					UNION ALL SELECT 'needs_new_instrument', false WHERE (c.step = 'referrals' OR c.outcome = 'completed') AND pg_temp.u(c.id, 35) < 0.04
					UNION ALL SELECT 'referral_overdue', false WHERE c.outcome = 'completed' AND pg_temp.u(c.id, 36) < 0.06
				) t
				WHERE c.program_id = $1) x
			ORDER BY created_at`, []any{queueProgramID, cycleIDs[queueCycles-2:]}},
	}
	for _, s := range steps {
		if err := exec(s.sql, s.args...); err != nil {
			return load, fmt.Errorf("queue load: %s: %w", s.what, err)
		}
	}
	// Statistics, hint bits and the visibility map, as autovacuum leaves a
	// table that has been live for a while.
	for _, t := range []string{"beneficiaries", "cases", "case_tasks"} {
		if err := exec("VACUUM (ANALYZE) " + t); err != nil {
			return load, fmt.Errorf("queue load: vacuum %s: %w", t, err)
		}
	}
	err = conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE resolved_at IS NULL), count(*) FILTER (WHERE resolved_at IS NOT NULL) FROM case_tasks`).
		Scan(&load.OpenTasks, &load.ClosedTasks)
	load.Seconds = time.Since(start).Seconds()
	return load, err
}
