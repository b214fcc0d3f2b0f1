// Package bench measures apoyo against baselines on the same server in the
// same run, so results are ratios that mean something on any machine:
// the ledger's transfers per second against pgbench's simple-update
// transactions per second. The stuck-case queue is measured against its
// goal instead (a page in under 100 ms at p95, over a million cases),
// which is a promise to the people who wait for it.
package bench

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/procfs"
	"github.com/shopspring/decimal"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/ledger"
	"github.com/apoyo-cdmx/apoyo/platform/migrations"
	"github.com/apoyo-cdmx/apoyo/platform/pgdb"
)

// LedgerOptions shape the ledger benchmark.
type LedgerOptions struct {
	// ServerURL connects to any database on the server as a user that may
	// create databases; the benchmark makes and drops its own.
	ServerURL string
	// Pgbench is the path of the pgbench program.
	Pgbench string
	// Writers lists the concurrent writer counts to measure.
	Writers []int
	// Duration of each measurement.
	Duration time.Duration
	// BatchSize of the ledger writer.
	BatchSize int
	// InFlight lists how many transfers each writer submits per call
	// (PostBatch); 1 means one Post at a time, as a single caller does;
	// more is how a cycle's payment step submits its page of payments.
	InFlight []int
	// Programmes lists how many programmes write at once: each has its own
	// hot budget account and Writers writers of its own.
	// Default 1 and 2: the second shows whether programmes wait for each
	// other.
	Programmes []int
	// Logf reports progress.
	Logf func(format string, args ...any)
}

// LedgerRow is one measurement's result.
type LedgerRow struct {
	// Programmes writing at once, each with Writers writers.
	Programmes    int     `json:"programmes"`
	Writers       int     `json:"writers"`
	InFlight      int     `json:"in_flight_per_writer"`
	Transfers     int64   `json:"transfers"`
	TransfersPerS float64 `json:"transfers_per_second"`
	// PgbenchTPS is pgbench -N's with Writers clients; Ratio is
	// TransfersPerS over it.
	PgbenchTPS float64 `json:"pgbench_simple_update_tps"`
	Ratio      float64 `json:"ratio"`
	// VsOneProgramme is TransfersPerS over the one-programme row's with the
	// same writers and in-flight count (0 when there is none).
	VsOneProgramme float64 `json:"vs_one_programme,omitempty"`
	// CPUBusy is the share of the machine's CPU time in use during the
	// measurement (every process: the database, this load generator and
	// anything else), 0–1; 0 when unknown. 1/CPUBusy of a one-programme
	// row bounds what more programmes can add on this machine.
	CPUBusy float64 `json:"cpu_busy,omitempty"`
}

// LedgerReport is the whole benchmark's result.
type LedgerReport struct {
	Rows     []LedgerRow `json:"rows"`
	Verified bool        `json:"ledger_verified"`
	Note     string      `json:"note"`
}

// Ledger runs the benchmark: for each writer count, N goroutines per
// programme each post transfers (5,600.00 MXN from their programme's one
// hot budget account with a never-below-zero rule) as fast as they can;
// then pgbench -N runs with N clients against the same server.
func Ledger(ctx context.Context, o LedgerOptions) (LedgerReport, error) {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	suffix := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	ldb, pdb := "apoyo_bench_ledger_"+suffix, "apoyo_bench_pgbench_"+suffix
	for _, db := range []string{ldb, pdb} {
		if err := pgdb.Exec(ctx, o.ServerURL, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
			return LedgerReport{}, err
		}
		defer pgdb.Exec(context.Background(), o.ServerURL, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)") //nolint:errcheck
	}
	lurl := pgdb.WithDatabase(o.ServerURL, ldb)
	if _, _, err := migrations.MigrateURL(ctx, lurl); err != nil {
		return LedgerReport{}, err
	}
	maxW := 1
	for _, w := range o.Writers {
		maxW = max(maxW, w)
	}
	// Enough connections for the writers and the verify: a writer waiting
	// for a connection would be measured as the ledger's slowness.
	pool, err := pgdb.Open(ctx, lurl, 48)
	if err != nil {
		return LedgerReport{}, err
	}
	defer pool.Close()
	programmes := o.Programmes
	if len(programmes) == 0 {
		programmes = []int{1, 2}
	}
	maxP := 1
	for _, p := range programmes {
		maxP = max(maxP, p)
	}
	setup := ledger.New(pool, ledger.Options{})
	zero := decimal.Zero
	if err := setup.CreateFund(ctx, ledger.Fund{Code: "city", Name: "City budget"}); err != nil {
		return LedgerReport{}, err
	}
	// Programme accounts as program/accounts.go names them, so that each
	// programme's transfers are on its own chain.
	for p := 1; p <= maxP; p++ {
		for _, a := range []ledger.AccountSpec{
			{Code: benchAccount(p, "funding"), Type: apoyo.Equity, Currency: "MXN"},
			{Code: benchAccount(p, "budget"), Type: apoyo.Asset, Currency: "MXN", MinBalance: &zero},
			{Code: benchAccount(p, "benefits"), Type: apoyo.Expense, Currency: "MXN"},
		} {
			if _, err := setup.CreateAccount(ctx, a); err != nil {
				return LedgerReport{}, err
			}
		}
		if _, err := setup.Post(ctx, ledger.Transfer(fmt.Sprintf("deposit:%d", p), benchAccount(p, "budget"), benchAccount(p, "funding"), "city", decimal.New(1, 15), "")); err != nil {
			return LedgerReport{}, err
		}
	}
	setup.Close()

	o.Logf("pgbench: initialising (scale 10)")
	env, args := pgbenchConn(o.ServerURL, pdb)
	if out, err := runPgbench(ctx, o.Pgbench, env, append([]string{"-i", "-q", "-s", "10"}, args...)); err != nil {
		return LedgerReport{}, fmt.Errorf("pgbench -i: %v\n%s", err, out)
	}

	amount := decimal.RequireFromString("5600.00")
	inFlights := o.InFlight
	if len(inFlights) == 0 {
		inFlights = []int{1}
	}
	var rep LedgerReport
	run := 0
	for _, w := range o.Writers {
		var rows []LedgerRow
		for _, inFlight := range inFlights {
			var one float64
			for _, p := range programmes {
				run++
				row, err := measureLedger(ctx, pool, o, run, max(p, 1), w, max(inFlight, 1), amount)
				if err != nil {
					return rep, err
				}
				if row.Programmes == 1 {
					one = row.TransfersPerS
				} else if one > 0 {
					row.VsOneProgramme = row.TransfersPerS / one
				}
				o.Logf("ledger: %d programme(s) × %d writers × %d in flight → %.0f transfers/s", row.Programmes, w, row.InFlight, row.TransfersPerS)
				rows = append(rows, row)
			}
		}
		jobs := min(w, runtime.NumCPU())
		out, err := runPgbench(ctx, o.Pgbench, env, append([]string{"-N", "-n", "-c", strconv.Itoa(w), "-j", strconv.Itoa(jobs),
			"-T", strconv.Itoa(max(int(o.Duration.Seconds()), 1))}, args...))
		if err != nil {
			return rep, fmt.Errorf("pgbench -N: %v\n%s", err, out)
		}
		tps := parseTPS(out)
		o.Logf("pgbench -N: %d clients → %.0f tps", w, tps)
		for _, row := range rows {
			row.PgbenchTPS = tps
			if tps > 0 {
				row.Ratio = row.TransfersPerS / tps
			}
			rep.Rows = append(rep.Rows, row)
		}
	}

	check := ledger.New(pool, ledger.Options{})
	defer check.Close()
	vr, err := check.Verify(ctx)
	if err != nil {
		return rep, err
	}
	rep.Verified = vr.OK
	rep.Note = "each ledger transfer is a balanced two-posting transaction debiting its programme's one hot budget account (balance rule: never below zero), hash-chained, idempotency-keyed, committed (fsync on) before it is acknowledged; with N programmes, each has its own writers and its own chain (when the database and this load generator share a few cores, N programmes can add only the CPU one programme leaves idle); pgbench -N is one UPDATE + one INSERT + SELECT per transaction on random rows"
	return rep, nil
}

var tpsRe = regexp.MustCompile(`tps = ([0-9.]+)`)

func parseTPS(out string) float64 {
	m := tpsRe.FindStringSubmatch(out)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func runPgbench(ctx context.Context, path string, env []string, args []string) (string, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// pgbenchConn turns a URL into pgbench's connection flags.
func pgbenchConn(serverURL, db string) (env []string, args []string) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return nil, []string{db}
	}
	if h := u.Hostname(); h != "" {
		args = append(args, "-h", h)
	}
	if p := u.Port(); p != "" {
		args = append(args, "-p", p)
	}
	if u.User != nil {
		args = append(args, "-U", u.User.Username())
		if pw, ok := u.User.Password(); ok {
			env = append(env, "PGPASSWORD="+pw)
		}
	}
	if ssl := u.Query().Get("sslmode"); ssl != "" {
		env = append(env, "PGSSLMODE="+ssl)
	}
	return env, append(args, db)
}

// FindPgbench locates pgbench beside the server programs or on PATH.
func FindPgbench(binDir string) (string, error) {
	if binDir != "" {
		p := filepath.Join(binDir, "pgbench")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
	if len(matches) > 0 {
		return matches[len(matches)-1], nil
	}
	return exec.LookPath("pgbench")
}

// benchAccount is programme p's account of the given kind.
func benchAccount(p int, kind string) string { return fmt.Sprintf("prg:bench%d:%s", p, kind) }

// measureLedger runs w writers per programme for o.Duration, each
// submitting inFlight transfers per call, all debiting their programme's
// one hot budget account.
func measureLedger(ctx context.Context, pool *pgxpool.Pool, o LedgerOptions, run, programmes, w, inFlight int, amount decimal.Decimal) (LedgerRow, error) {
	l := ledger.New(pool, ledger.Options{BatchSize: o.BatchSize})
	defer l.Close()
	var batches, batched, tookNs atomic.Int64
	l.Observe(func(size int, took time.Duration, err error) {
		batches.Add(1)
		batched.Add(int64(size))
		tookNs.Add(int64(took))
	})
	defer func() {
		if b := batches.Load(); b > 0 {
			o.Logf("ledger: %d batches, mean size %.1f, mean commit %.2f ms", b, float64(batched.Load())/float64(b), float64(tookNs.Load())/float64(b)/1e6)
		}
	}()
	cpuBefore := cpuTimes()
	var n atomic.Int64
	var firstErr error
	var errOnce sync.Once
	deadline := time.Now().Add(o.Duration)
	start := time.Now()
	var wg sync.WaitGroup
	for g := 0; g < w*programmes; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			p := g%programmes + 1
			debit, credit := benchAccount(p, "benefits"), benchAccount(p, "budget")
			reqs := make([]ledger.TransactionRequest, inFlight)
			for i := 0; time.Now().Before(deadline); i++ {
				for j := range reqs {
					key := fmt.Sprintf("bench:%d:%d:%d:%d", run, g, i, j)
					reqs[j] = ledger.Transfer(key, debit, credit, "city", amount, "")
				}
				for _, res := range l.PostBatch(ctx, reqs) {
					if res.Err != nil {
						errOnce.Do(func() { firstErr = res.Err })
						return
					}
				}
				n.Add(int64(inFlight))
			}
		}(g)
	}
	wg.Wait()
	if firstErr != nil {
		return LedgerRow{}, firstErr
	}
	elapsed := time.Since(start).Seconds()
	return LedgerRow{Programmes: programmes, Writers: w, InFlight: inFlight, Transfers: n.Load(), TransfersPerS: float64(n.Load()) / elapsed,
		CPUBusy: cpuBefore.busySince()}, nil
}

// cpuSample is the machine's CPU time so far, busy and all, in seconds.
type cpuSample struct{ busy, total float64 }

// cpuTimes reads /proc/stat (zero where there is none).
func cpuTimes() cpuSample {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return cpuSample{}
	}
	st, err := fs.Stat()
	if err != nil {
		return cpuSample{}
	}
	c := st.CPUTotal
	idle := c.Idle + c.Iowait
	total := idle + c.User + c.Nice + c.System + c.IRQ + c.SoftIRQ + c.Steal
	return cpuSample{busy: total - idle, total: total}
}

// busySince is the share of CPU time in use since s (0 when unknown).
func (s cpuSample) busySince() float64 {
	now := cpuTimes()
	if s.total == 0 || now.total <= s.total {
		return 0
	}
	return (now.busy - s.busy) / (now.total - s.total)
}
