package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"golang.org/x/sync/errgroup"

	"github.com/spf13/cobra"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/bank/sandbox"
	"github.com/apoyo-cdmx/apoyo/bench"
	"github.com/apoyo-cdmx/apoyo/demo"
	"github.com/apoyo-cdmx/apoyo/platform/devstack"
	"github.com/apoyo-cdmx/apoyo/platform/migrations"
	"github.com/apoyo-cdmx/apoyo/platform/pgcluster"
	"github.com/apoyo-cdmx/apoyo/platform/temporalserver"
)

// Where a cycle benchmark's Temporal server keeps its state.
const (
	temporalStoreMemory = "memory"
	temporalStoreFile   = "file"
)

// CycleBenchRow is one cycle size's result.
type CycleBenchRow struct {
	Beneficiaries int     `json:"beneficiaries"`
	Paid          int     `json:"paid"`
	Seconds       float64 `json:"seconds_launch_to_paid"`
	PerSecond     float64 `json:"beneficiaries_per_second"`
	BareSeconds   float64 `json:"bare_seconds"`
	// BarePerSecond is the bare baseline's rate run just before the
	// cycle; BareAfterPerSecond the same baseline run again just after
	// it (0: not run). The embedded server slows as its tables fill (one
	// 1,000-person run: 31.1 bare workflows/s before its cycle, 25.3/s
	// after), so a baseline run only before the cycle would be measured
	// on a fresher server than the cycle it is compared with.
	BarePerSecond      float64 `json:"bare_workflows_per_second"`
	BareAfterPerSecond float64 `json:"bare_after_workflows_per_second,omitempty"`
	// Ratio is PerSecond against BaselinePerSecond.
	Ratio float64 `json:"ratio_to_bare"`
	// ActionsPerBeneficiary is a sample of paid cases' histories, counted
	// by Temporal Cloud's rules (bench.CountActions).
	ActionsPerBeneficiary float64 `json:"actions_per_beneficiary"`
	// BilledPerBeneficiary is the server's own action counter over the
	// whole cycle (its workflows, every update, signal, query and
	// heartbeat) divided by N; BilledPerBare the same for a bare workflow.
	BilledPerBeneficiary float64 `json:"billed_actions_per_beneficiary"`
	BilledPerBare        float64 `json:"billed_actions_per_bare_workflow"`
	Heartbeats           int64   `json:"heartbeats"`
	WorkerPeakRSSMB      float64 `json:"worker_peak_rss_mb"`
	// MeasuredAt is when the cycle ended (UTC), so that a report merging
	// several runs can say which run each row is from.
	MeasuredAt time.Time `json:"measured_at"`
	// TemporalStore is where the run's Temporal server kept its state:
	// "memory" or "file" (--temporal-file). Rates of the two differ, so a
	// report compares sizes only with the store said.
	TemporalStore string `json:"temporal_store"`
	// source is the file bench report read the row from.
	source string
}

// BaselinePerSecond is the rate the cycle is compared with: the mean of
// the bare runs before and after it, or the one before when no run after
// it was made (rows of older runs).
func (r CycleBenchRow) BaselinePerSecond() float64 {
	if r.BareAfterPerSecond > 0 && r.BarePerSecond > 0 {
		return (r.BarePerSecond + r.BareAfterPerSecond) / 2
	}
	return r.BarePerSecond
}

// bareText is the baseline's rates as a table shows them: "before" or
// "before / after".
func (r CycleBenchRow) bareText() string {
	if r.BareAfterPerSecond > 0 {
		return fmt.Sprintf("%.1f / %.1f", r.BarePerSecond, r.BareAfterPerSecond)
	}
	return fmt.Sprintf("%.1f", r.BarePerSecond)
}

func newBenchCycleCmd(a *cli) *cobra.Command {
	var o output
	var sizes []int
	var bareMax int
	var bareAfter bool
	var temporalFile bool
	var cpuProfile string
	cmd := &cobra.Command{
		Use:   "cycle",
		Short: "Cycle throughput (launch to paid) vs a bare workflow with the same activities, on the same server in the same run",
		Long: `cycle starts a private stack in a temporary directory (PostgreSQL, an
in-memory Temporal server, the sandbox bank) and the worker as a separate
process, then for each size: runs N bare workflows of 2 no-op activities
(the baseline), a real cycle of N people who go straight through
(CURP, no referrals), approved by the three secretariats through the bulk
approval path, and the baseline again (--bare-after), because the server
slows as its tables fill. It prints beneficiaries per second from launch
to paid, the ratio to the baseline (the mean of its runs before and after
the cycle), Temporal actions per beneficiary (counted from histories) and
the worker's peak memory (RSS high-water mark).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check("table", "json"); err != nil {
				return err
			}
			rows, err := runCycleBench(cmd.Context(), a, sizes, bareMax, bareAfter, temporalFile, cpuProfile)
			if err != nil {
				return err
			}
			if o.json() {
				return writeJSON(a.out, rows)
			}
			tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "N\tPAID\tSECONDS\tBENEF/S\tBARE WF/S (BEFORE / AFTER)\tRATIO\tACTIONS/BENEF (HISTORY)\tBILLED/BENEF (SERVER)\tBILLED/BARE WF\tHEARTBEATS\tWORKER PEAK MB\t")
			for _, r := range rows {
				ratio := "-" // no bare run at this size
				if r.BarePerSecond > 0 {
					ratio = fmt.Sprintf("%.2fx", r.Ratio)
				}
				fmt.Fprintf(tw, "%d\t%d\t%.1f\t%.1f\t%s\t%s\t%.1f\t%.1f\t%.1f\t%d\t%.0f\t\n", r.Beneficiaries, r.Paid, r.Seconds, r.PerSecond, r.bareText(),
					ratio, r.ActionsPerBeneficiary, r.BilledPerBeneficiary, r.BilledPerBare, r.Heartbeats, r.WorkerPeakRSSMB)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(rows) >= 2 && rows[0].PerSecond > 0 {
				last := rows[len(rows)-1]
				fmt.Fprintf(a.out, "rate at %d / rate at %d: %.2fx\n", last.Beneficiaries, rows[0].Beneficiaries, last.PerSecond/rows[0].PerSecond)
			}
			return nil
		},
	}
	o.add(cmd, "table or json")
	cmd.Flags().IntSliceVar(&sizes, "beneficiaries", []int{1000, 10000}, "cycle sizes")
	cmd.Flags().BoolVar(&temporalFile, "temporal-file", false, "keep the Temporal server's state in an SQLite file in the run's directory instead of in memory: a 100,000-person run's histories outgrew 24 GiB in memory")
	cmd.Flags().StringVar(&cpuProfile, "cpu-profile", "", "write Go CPU profiles of this process (the Temporal server, the bank and the people's side; not the worker) to PREFIX-bare-N.pprof and PREFIX-cycle-N.pprof, one per phase and size")
	cmd.Flags().BoolVar(&bareAfter, "bare-after", true, "run the bare baseline again after each cycle and compare the cycle with the mean of the two runs (the server slows as its tables fill)")
	cmd.Flags().IntVar(&bareMax, "bare-max", 0, "run the bare baseline only for sizes up to this (0: every size); a national size's bare run alone takes over an hour here")
	return cmd
}

func runCycleBench(ctx context.Context, a *cli, sizes []int, bareMax int, bareAfter, temporalFile bool, cpuProfile string) ([]CycleBenchRow, error) {
	dir, err := os.MkdirTemp("", "apoyo-bench-cycle-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	_ = os.Chmod(dir, 0o711)
	pg, err := pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(dir, "pg"), BinDir: a.cfg.Dev.PostgresBinDir,
		Settings: map[string]string{"max_connections": "300"}})
	if err != nil {
		return nil, err
	}
	defer pg.Stop() //nolint:errcheck
	dbURL := pg.URL("apoyo")
	if _, _, err := migrations.MigrateURL(ctx, dbURL); err != nil {
		return nil, err
	}
	tsOpts := temporalserver.Options{Namespace: a.cfg.Temporal.Namespace}
	if temporalFile {
		tsOpts.DatabaseFile = filepath.Join(dir, "temporal.db")
	}
	ts, err := temporalserver.Start(ctx, tsOpts)
	if err != nil {
		return nil, err
	}
	defer ts.Stop() //nolint:errcheck
	bctx, cancelBank := context.WithCancel(ctx)
	defer cancelBank()
	bank := sandbox.New(sandbox.Config{SettleDelay: 20 * time.Millisecond, AutoCollect: true, TickInterval: 10 * time.Millisecond})
	bank.Start(bctx)
	defer bank.Close() //nolint:errcheck
	bankAddr, err := bank.ListenAndServe(bctx, "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	if _, err := devstack.EnsureKeys(dir); err != nil {
		return nil, err
	}

	// This process plays the people; the worker is its own process, so
	// its memory is its own.
	a.cfg.DataDir, a.cfg.Database.URL, a.cfg.Temporal.Address, a.cfg.Payments.BankURL = dir, dbURL, ts.Address(), "http://"+bankAddr
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	wctx, stopWorker := context.WithCancel(ctx)
	defer stopWorker()
	worker := exec.CommandContext(wctx, exe, "worker", "--bench-baseline")
	worker.Env = append(os.Environ(), "APOYO_DATA_DIR="+dir, "APOYO_DATABASE_URL="+dbURL, "APOYO_TEMPORAL_ADDRESS="+ts.Address(),
		"APOYO_PAYMENTS_BANK_URL=http://"+bankAddr, "APOYO_PAYMENTS_POLL_INTERVAL=50ms", "APOYO_LOG_LEVEL=warn",
		"APOYO_TEMPORAL_NAMESPACE="+a.cfg.Temporal.Namespace, "APOYO_DATABASE_MAX_CONNS=64", "APOYO_WORKER_MAX_CONCURRENT_ACTIVITIES=500")
	worker.Stderr = a.errOut
	if err := worker.Start(); err != nil {
		return nil, err
	}
	defer func() { stopWorker(); _ = worker.Wait() }()

	s, err := a.open(ctx, true)
	if err != nil {
		return nil, err
	}
	defer s.close()
	raw, err := client.Dial(client.Options{HostPort: ts.Address(), Namespace: a.cfg.Temporal.Namespace, Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		return nil, err
	}
	defer raw.Close()

	store := temporalStoreMemory
	if temporalFile {
		store = temporalStoreFile
	}
	var rows []CycleBenchRow
	for i, n := range sizes {
		row := CycleBenchRow{Beneficiaries: n, TemporalStore: store}
		before, err := bench.ServerActions(ctx, ts.MetricsURL(), a.cfg.Temporal.Namespace)
		if err != nil {
			return rows, err
		}
		afterBare := before
		if bareMax <= 0 || n <= bareMax {
			a.log.Info("baseline: bare workflows", "n", n)
			stop, err := startCPUProfile(cpuProfile, "bare", n)
			if err != nil {
				return rows, err
			}
			row.BareSeconds, err = runBare(ctx, raw, n, i)
			stop()
			if err != nil {
				return rows, err
			}
			// The server reports its counter every few seconds: let it.
			time.Sleep(3 * time.Second)
			if afterBare, err = bench.ServerActions(ctx, ts.MetricsURL(), a.cfg.Temporal.Namespace); err != nil {
				return rows, err
			}
			row.BilledPerBare = float64(afterBare.Since(before).Billable()) / float64(n)
			row.BarePerSecond = float64(n) / row.BareSeconds
		}
		a.log.Info("apoyo: cycle", "n", n)
		stop, err := startCPUProfile(cpuProfile, "cycle", n)
		if err != nil {
			return rows, err
		}
		sum, err := demo.Run(ctx, demo.Deps{App: s.app, Cases: s.cases,
			BankURL: "http://" + bankAddr}, demo.Options{People: demo.BenchPeople(n, uint64(i+1), time.Now().UTC()), Seed: uint64(i + 1),
			Timeout: max(2*time.Hour, time.Duration(n)*150*time.Millisecond), CycleClosed: stop})
		stop()
		if err != nil {
			return rows, err
		}
		if sum.PaidTwice > 0 || !sum.LedgerVerified {
			return rows, fmt.Errorf("bench cycle: paid twice %d, ledger verified %v", sum.PaidTwice, sum.LedgerVerified)
		}
		row.Paid, row.Seconds, row.MeasuredAt = sum.Paid, sum.CycleSeconds, time.Now().UTC().Truncate(time.Second)
		row.PerSecond = float64(sum.Paid) / sum.CycleSeconds
		if row.ActionsPerBeneficiary, err = sampleActions(ctx, s, raw, sum.CycleID, 25); err != nil {
			return rows, err
		}
		time.Sleep(3 * time.Second)
		afterCycle, err := bench.ServerActions(ctx, ts.MetricsURL(), a.cfg.Temporal.Namespace)
		if err != nil {
			return rows, err
		}
		billed := afterCycle.Since(afterBare)
		row.BilledPerBeneficiary = float64(billed.Billable()) / float64(n)
		row.Heartbeats = billed.Heartbeats()
		row.WorkerPeakRSSMB = peakRSSMB(worker.Process.Pid)
		if bareAfter && row.BarePerSecond > 0 {
			// Counted after the cycle's actions and peak memory were read,
			// so that it changes neither.
			a.log.Info("baseline again: bare workflows", "n", n)
			stop, err := startCPUProfile(cpuProfile, "bare-after", n)
			if err != nil {
				return rows, err
			}
			secs, err := runBare(ctx, raw, n, len(sizes)+i)
			stop()
			if err != nil {
				return rows, err
			}
			row.BareAfterPerSecond = float64(n) / secs
		}
		if base := row.BaselinePerSecond(); base > 0 {
			row.Ratio = row.PerSecond / base
		}
		rows = append(rows, row)
		a.log.Info("result", "n", n, "per_second", row.PerSecond, "bare_per_second", row.BarePerSecond)
	}
	return rows, nil
}

// startCPUProfile profiles this process's CPU into
// PREFIX-<phase>-<n>.pprof until stop is called (again: no-op); no prefix
// profiles nothing.
func startCPUProfile(prefix, phase string, n int) (stop func(), err error) {
	if prefix == "" {
		return func() {}, nil
	}
	f, err := os.Create(fmt.Sprintf("%s-%s-%d.pprof", prefix, phase, n))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { pprof.StopCPUProfile(); f.Close() }) }, nil
}

// runBare runs n bare workflows, at most 100 starts in flight, and waits
// for all of them.
func runBare(ctx context.Context, c client.Client, n, round int) (float64, error) {
	start := time.Now()
	var g errgroup.Group
	g.SetLimit(100)
	for i := 0; i < n; i++ {
		g.Go(func() error {
			id := fmt.Sprintf("bench-bare-%d-%d", round, i)
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: bench.BaselineTaskQueue,
				WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE}, bench.BareWorkflowName, id)
			if err != nil {
				return err
			}
			return run.Get(ctx, nil)
		})
	}
	err := g.Wait()
	return time.Since(start).Seconds(), err
}

// sampleActions averages the billable actions of up to k paid cases.
func sampleActions(ctx context.Context, s *services, raw client.Client, cycleID string, k int) (float64, error) {
	pays, err := s.cases.Payments(ctx, cycleID)
	if err != nil {
		return 0, err
	}
	total, count := 0, 0
	for _, p := range pays {
		if count >= k {
			break
		}
		it := raw.GetWorkflowHistory(ctx, apoyo.CaseID(cycleID, p.BeneficiaryID), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		var hist []*historypb.HistoryEvent
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				return 0, err
			}
			hist = append(hist, e)
		}
		total += bench.Total(bench.CountActions(hist))
		count++
	}
	if count == 0 {
		return 0, nil
	}
	return float64(total) / float64(count), nil
}

// peakRSSMB reads a process's resident-set high-water mark (Linux).
func peakRSSMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return kb / 1024
			}
		}
	}
	return 0
}
