package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/bench"
)

// Goals of issue 10, checked by `apoyo bench report` against the figures
// of one run (ratios against baselines of the same run, never timings).
const (
	goalLedgerOneInFlight   = 3.0 // × pgbench -N, 32 writers, 1 transfer in flight each
	goalLedgerManyInFlight  = 5.0 // × pgbench -N, 32 writers, 16 in flight each
	goalLedgerTwoPrograms   = 1.6 // two programmes' rate / one programme's
	goalCycleVsBare         = 1.0 // beneficiaries/s ÷ bare workflows/s
	goalCycleScale          = 0.9 // the largest cycle's rate ÷ the 10,000 one's
	goalWorkerRSSMB         = 1024.0
	goalActionsHappyPath    = 3.0
	benchReportLedgerFile   = "ledger.json"
	benchReportCycleFile    = "cycle.json"
	benchReportQueueFile    = "queue.json"
	benchReportMachineNotes = "2 cores and 24 GiB are this workplace's machines; every figure is a ratio against a baseline measured in the same run on the same machine"
)

func newBenchReportCmd(a *cli) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Write BENCHMARKS.md (Markdown, to standard output) from the JSON results of bench ledger, cycle and queue in --dir, saying which goals are met",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return writeBenchReport(a.out, dir)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "bench/results", "directory holding ledger.json, cycle.json, queue.json and any cycle-*.json (make bench's, committed)")
	return cmd
}

// readJSON reads dir/name into v; a missing file is (false, nil).
func readJSON(dir, name string, v any) (bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, json.Unmarshal(b, v)
}

// readCycleRows reads the cycle rows of cycle.json and of any
// cycle-*.json beside it (a national size run on its own, as `make
// bench-national` does), by size; a size in a later file replaces the
// same size of an earlier one.
func readCycleRows(dir string) ([]CycleBenchRow, error) {
	extra, err := filepath.Glob(filepath.Join(dir, "cycle-*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(extra)
	bySize := map[int]CycleBenchRow{}
	for _, path := range append([]string{filepath.Join(dir, benchReportCycleFile)}, extra...) {
		var rows []CycleBenchRow
		if _, err := readJSON(dir, filepath.Base(path), &rows); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
		}
		var written time.Time
		if st, err := os.Stat(path); err == nil {
			written = st.ModTime().UTC().Truncate(time.Minute)
		}
		for _, r := range rows {
			r.source = path
			if r.MeasuredAt.IsZero() {
				r.MeasuredAt = written // a file from before rows said: when it was written
			}
			if r.TemporalStore == "" {
				// Rows from before they recorded it: --temporal-file came later.
				r.TemporalStore = temporalStoreMemory
			}
			bySize[r.Beneficiaries] = r
		}
	}
	rows := make([]CycleBenchRow, 0, len(bySize))
	for _, r := range bySize {
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Beneficiaries < rows[j].Beneficiaries })
	return rows, nil
}

func met(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

func writeBenchReport(w io.Writer, dir string) error {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("# Benchmarks\n\nProduced by `make bench` (`apoyo bench report`) on %s. Do not edit by hand: run `make bench` again.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	p("## Machine\n\n%s.\n\n", benchReportMachineNotes)
	p("| | |\n|---|---|\n| CPU | %s × %d |\n| memory | %s |\n| Go | %s |\n| PostgreSQL | %s |\n\n", cpuModel(), runtime.NumCPU(), memTotal(), runtime.Version(), postgresVersion())

	var ledger struct {
		Rows []map[string]any `json:"rows"`
		Note string           `json:"note"`
	}
	if ok, err := readJSON(dir, benchReportLedgerFile, &ledger); err != nil {
		return err
	} else if ok {
		p("## Ledger: transfers per second against `pgbench -N` (`apoyo bench ledger`)\n\n")
		cols := []string{"programmes", "writers", "in_flight_per_writer", "transfers", "transfers_per_second", "pgbench_simple_update_tps", "ratio", "vs_one_programme", "cpu_busy"}
		p("| programmes | writers | in flight each | transfers | transfers/s | pgbench -N TPS | ratio | vs one programme | CPU busy |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range ledger.Rows {
			vals := make([]string, len(cols))
			for i, c := range cols {
				switch v := r[c].(type) {
				case float64:
					switch c {
					case "ratio", "vs_one_programme":
						vals[i] = fmt.Sprintf("%.2f×", v)
					case "cpu_busy":
						vals[i] = fmt.Sprintf("%.0f %%", 100*v)
					default:
						vals[i] = fmt.Sprintf("%.0f", v)
					}
				case nil:
					vals[i] = "1"
					if c == "vs_one_programme" || c == "cpu_busy" {
						vals[i] = "–"
					}
				default:
					vals[i] = fmt.Sprint(v)
				}
			}
			p("| %s |\n", strings.Join(vals, " | "))
		}
		row := func(writers, inFlight, programmes float64) (map[string]any, bool) {
			for _, r := range ledger.Rows {
				pr, _ := r["programmes"].(float64)
				if pr == 0 {
					pr = 1
				}
				if r["writers"] == writers && r["in_flight_per_writer"] == inFlight && pr == programmes {
					return r, true
				}
			}
			return nil, false
		}
		ratio := func(writers, inFlight, programmes float64) (float64, bool) {
			r, ok := row(writers, inFlight, programmes)
			v, _ := r["ratio"].(float64)
			return v, ok
		}
		p("\n| goal | figure | |\n|---|---:|---|\n")
		if v, ok := ratio(32, 1, 1); ok {
			p("| ≥ %.1f× pgbench -N, 32 writers, 1 in flight | %.2f× | %s |\n", goalLedgerOneInFlight, v, met(v >= goalLedgerOneInFlight))
		}
		if v, ok := ratio(32, 16, 1); ok {
			p("| ≥ %.1f× pgbench -N, 32 writers, 16 in flight | %.2f× | %s |\n", goalLedgerManyInFlight, v, met(v >= goalLedgerManyInFlight))
		}
		for _, inFlight := range []float64{1, 16} {
			if r, ok := row(32, inFlight, 2); ok {
				v, _ := r["vs_one_programme"].(float64)
				ceiling := ""
				if one, ok := row(32, inFlight, 1); ok {
					if busy, _ := one["cpu_busy"].(float64); busy > 0 {
						ceiling = fmt.Sprintf(" (one programme kept %.0f %% of the CPU busy: this machine's ceiling is %.2f×)", 100*busy, 1/busy)
					}
				}
				p("| two programmes ≥ %.1f× one programme's rate, 32 writers each, %.0f in flight | %.2f×%s | %s |\n", goalLedgerTwoPrograms, inFlight, v, ceiling, met(v >= goalLedgerTwoPrograms))
			}
		}
		if ledger.Note != "" {
			p("\n%s\n", ledger.Note)
		}
		p("\n")
	}

	cycle, err := readCycleRows(dir)
	if err != nil {
		return err
	}
	if len(cycle) > 0 {
		p("## Cycle: launch to paid against a bare workflow (`apoyo bench cycle`)\n\n")
		p("Each person goes straight through (CURP, no referrals, SPEI), approved by the three secretariats' signed lists; the bare workflow runs two no-op activities on the same server and worker process, just before the cycle and again just after it (before / after): the embedded server slows as its tables fill, so the ratio is against the mean of the two runs (rows without an after run: against the one before). Actions are counted as Temporal Cloud bills them: from the paid cases' histories, and from the server's own counter over the whole cycle (its cycle workflow, list signals, queries and the sweep included). Sizes above `BENCH_BARE_MAX` run no bare baseline (–): at 100,000 it alone would take over an hour here.\n\n")
		p("| people | paid | seconds | people/s | bare workflows/s (before / after) | ratio | actions/person (history) | billed/person (server) | billed/bare workflow | heartbeats | worker peak RSS MB | Temporal's state | measured (UTC) |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n")
		for _, r := range cycle {
			bare, ratio, billedBare := "–", "–", "–"
			if r.BarePerSecond > 0 {
				bare, ratio, billedBare = r.bareText(), fmt.Sprintf("%.2f×", r.Ratio), fmt.Sprintf("%.1f", r.BilledPerBare)
			}
			at := "–"
			if !r.MeasuredAt.IsZero() {
				at = r.MeasuredAt.Format("2006-01-02 15:04")
			}
			p("| %d | %d | %.1f | %.1f | %s | %s | %.1f | %.1f | %s | %d | %.0f | %s | %s |\n", r.Beneficiaries, r.Paid, r.Seconds, r.PerSecond, bare,
				ratio, r.ActionsPerBeneficiary, r.BilledPerBeneficiary, billedBare, r.Heartbeats, r.WorkerPeakRSSMB, r.TemporalStore, at)
		}
		p("\n| goal | figure | |\n|---|---:|---|\n")
		for _, r := range cycle {
			if r.BarePerSecond > 0 {
				p("| ≥ %.1f× the bare workflow's rate at %d | %.2f× | %s |\n", goalCycleVsBare, r.Beneficiaries, r.Ratio, met(r.Ratio >= goalCycleVsBare))
			} else {
				p("| ≥ %.1f× the bare workflow's rate at %d | no bare run at this size | **not measured** |\n", goalCycleVsBare, r.Beneficiaries)
			}
		}
		var ten, largest CycleBenchRow
		for _, r := range cycle {
			if r.Beneficiaries == 10_000 {
				ten = r
			}
			if r.Beneficiaries > largest.Beneficiaries {
				largest = r
			}
		}
		if first := cycle[0]; len(cycle) > 1 && first.PerSecond > 0 && first.BarePerSecond > 0 && largest.BarePerSecond > 0 {
			p("| (not a goal) rate at %d ÷ rate at %d; the bare workflow's own | %.2f×; %.2f× | |\n", largest.Beneficiaries, first.Beneficiaries,
				largest.PerSecond/first.PerSecond, largest.BaselinePerSecond()/first.BaselinePerSecond())
		}
		if largest.Beneficiaries < 100_000 {
			p("| worker peak RSS < %.0f MB at 100000 | %.0f MB at %d (100000 not run) | **not measured** |\n", goalWorkerRSSMB, largest.WorkerPeakRSSMB, largest.Beneficiaries)
		}
		if ten.PerSecond > 0 && largest.Beneficiaries > ten.Beneficiaries {
			v := largest.PerSecond / ten.PerSecond
			runs := ""
			if ten.source != largest.source {
				runs = " (from different runs: see measured)"
			}
			if ten.TemporalStore != largest.TemporalStore {
				runs += fmt.Sprintf(" (Temporal's state: %s at 10000, %s at %d)", ten.TemporalStore, largest.TemporalStore, largest.Beneficiaries)
			}
			p("| rate at %d ≥ %.1f× the rate at 10000 | %.2f×%s | %s |\n", largest.Beneficiaries, goalCycleScale, v, runs, met(v >= goalCycleScale))
			p("| worker peak RSS at %d < %.0f MB | %.0f MB | %s |\n", largest.Beneficiaries, goalWorkerRSSMB, largest.WorkerPeakRSSMB, met(largest.WorkerPeakRSSMB < goalWorkerRSSMB))
		}
		p("| ≤ %.0f actions per person on the happy path (history) | %.1f | %s |\n\n", goalActionsHappyPath, largest.ActionsPerBeneficiary, met(largest.ActionsPerBeneficiary <= goalActionsHappyPath))
	}

	var queue bench.QueueReport
	if ok, err := readJSON(dir, benchReportQueueFile, &queue); err != nil {
		return err
	} else if ok {
		p("## The stuck-case queue over %d cases (`apoyo bench queue`)\n\n", queue.Load.Cases)
		p("| filter | value | matches | page | p50 ms | p95 ms | p99 ms |\n|---|---|---:|---|---:|---:|---:|\n")
		for _, r := range queue.Rows {
			p("| %s | %s | %d | %s | %.2f | %.2f | %.2f |\n", r.Filter, r.Value, r.Matches, r.Page, r.P50MS, r.P95MS, r.P99MS)
		}
		p("\n| goal | |\n|---|---|\n| every page under %.0f ms at p95 | %s |\n", queue.GoalMS, met(queue.GoalMet))
		if sc := queue.StatusCounts; sc != nil {
			p("\nA cycle's status counts (`cases.Store.CycleCounts`, the aggregates every status read runs) over the %d cases of %s, on the same load: p50 %.1f ms, p95 %.1f ms (%d reads). A status read that takes that long is shown for %.1f s (the longer of `DefaultStatusMaxAge` and %d× the read).\n",
				sc.Cases, sc.CycleID, sc.P50MS, sc.P95MS, sc.Reps, sc.ShownMS/1000, apoyo.StatusReadCostShare)
		}
	}
	return nil
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			if _, v, ok := strings.Cut(l, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return runtime.GOARCH
}

func memTotal() string {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "MemTotal:") {
			var kb float64
			fmt.Sscan(strings.TrimSpace(strings.TrimPrefix(strings.TrimSuffix(l, "kB"), "MemTotal:")), &kb)
			return fmt.Sprintf("%.1f GiB", kb/1024/1024)
		}
	}
	return "unknown"
}

func postgresVersion() string {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(matches) == 0 {
		return "unknown"
	}
	out, err := exec.Command(matches[len(matches)-1], "--version").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
