package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo/bench"
)

// The report reads what `bench ledger -o json` writes: each goal line
// from the rows it needs, judged against the goal. (It once looked for a
// key the benchmark never wrote, and so never stated the two-programme
// goal.)
func TestBenchReportStatesTheLedgerGoals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rep := bench.LedgerReport{Rows: []bench.LedgerRow{
		{Programmes: 1, Writers: 32, InFlight: 1, TransfersPerS: 14000, PgbenchTPS: 2500, Ratio: 5.6, CPUBusy: 0.5},
		{Programmes: 2, Writers: 32, InFlight: 1, TransfersPerS: 16800, PgbenchTPS: 2500, Ratio: 6.72, VsOneProgramme: 1.2, CPUBusy: 0.8},
		{Programmes: 1, Writers: 32, InFlight: 16, TransfersPerS: 20000, PgbenchTPS: 2500, Ratio: 8, CPUBusy: 0.55},
		{Programmes: 2, Writers: 32, InFlight: 16, TransfersPerS: 34000, PgbenchTPS: 2500, Ratio: 13.6, VsOneProgramme: 1.7, CPUBusy: 0.9},
	}}
	writeBenchFile(t, dir, benchReportLedgerFile, rep)

	s := benchReport(t, dir)
	require.Contains(t, s, "| ≥ 3.0× pgbench -N, 32 writers, 1 in flight | 5.60× | **met** |")
	require.Contains(t, s, "| ≥ 5.0× pgbench -N, 32 writers, 16 in flight | 8.00× | **met** |")
	require.Contains(t, s, "| two programmes ≥ 1.6× one programme's rate, 32 writers each, 1 in flight | 1.20× (one programme kept 50 % of the CPU busy: this machine's ceiling is 2.00×) | **not met** |")
	require.Contains(t, s, "| two programmes ≥ 1.6× one programme's rate, 32 writers each, 16 in flight | 1.70× (one programme kept 55 % of the CPU busy: this machine's ceiling is 1.82×) | **met** |")
	require.Contains(t, s, "| 2 | 32 | 16 | 0 | 34000 | 2500 | 13.60× | 1.70× | 90 % |")
}

// A national size runs on its own (`make bench-national`, no bare
// baseline): the report merges its file with cycle.json by size and
// judges the scale goals from it, and says the ratio to bare was not
// measured rather than calling a missing baseline a miss.
func TestBenchReportMergesANationalRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	at := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)
	writeBenchFile(t, dir, benchReportCycleFile, []CycleBenchRow{
		{Beneficiaries: 1000, Paid: 1000, PerSecond: 17, BarePerSecond: 26, Ratio: 0.65, ActionsPerBeneficiary: 3, WorkerPeakRSSMB: 160, MeasuredAt: at},
		{Beneficiaries: 10000, Paid: 10000, PerSecond: 14, BarePerSecond: 24, Ratio: 0.58, ActionsPerBeneficiary: 3, WorkerPeakRSSMB: 200, MeasuredAt: at},
	})
	writeBenchFile(t, dir, "cycle-100000.json", []CycleBenchRow{
		{Beneficiaries: 100000, Paid: 100000, PerSecond: 13, ActionsPerBeneficiary: 3, WorkerPeakRSSMB: 260, MeasuredAt: at.Add(2 * time.Hour), TemporalStore: temporalStoreFile},
	})
	s := benchReport(t, dir)
	require.Contains(t, s, "| 100000 | 100000 | 0.0 | 13.0 | – | – | 3.0 | 0.0 | – | 0 | 260 | file | 2026-12-07 07:00 |")
	require.Contains(t, s, "| 1000 | 1000 | 0.0 | 17.0 | 26.0 | 0.65× | 3.0 | 0.0 | 0.0 | 0 | 160 | memory | 2026-12-07 05:00 |", "a row from before rows recorded the store ran in memory")
	require.Contains(t, s, "| ≥ 1.0× the bare workflow's rate at 100000 | no bare run at this size | **not measured** |")
	require.Contains(t, s, "| rate at 100000 ≥ 0.9× the rate at 10000 | 0.93× (from different runs: see measured) (Temporal's state: memory at 10000, file at 100000) | **met** |")
	require.Contains(t, s, "| worker peak RSS at 100000 < 1024 MB | 260 MB | **met** |")
	require.NotContains(t, s, "100000 not run")

	// make bench-national runs 10,000 again in its own run, on its store:
	// that row replaces make bench's, and the comparison is like for like.
	writeBenchFile(t, dir, "cycle-100000.json", []CycleBenchRow{
		{Beneficiaries: 10000, Paid: 10000, PerSecond: 15, BarePerSecond: 25, Ratio: 0.6, ActionsPerBeneficiary: 3, WorkerPeakRSSMB: 210, MeasuredAt: at.Add(time.Hour), TemporalStore: temporalStoreFile},
		{Beneficiaries: 100000, Paid: 100000, PerSecond: 14, ActionsPerBeneficiary: 3, WorkerPeakRSSMB: 260, MeasuredAt: at.Add(2 * time.Hour), TemporalStore: temporalStoreFile},
	})
	s = benchReport(t, dir)
	require.Contains(t, s, "| rate at 100000 ≥ 0.9× the rate at 10000 | 0.93× | **met** |")
	require.Contains(t, s, "| 10000 | 10000 | 0.0 | 15.0 | 25.0 | 0.60× | 3.0 | 0.0 | 0.0 | 0 | 210 | file | 2026-12-07 06:00 |")
}

// The baseline runs before and after the cycle, because the server slows
// as its tables fill: the cycle is compared with the mean of the two, and
// the report shows both rates.
func TestCycleComparedWithTheBaselineBeforeAndAfter(t *testing.T) {
	t.Parallel()
	row := CycleBenchRow{Beneficiaries: 1000, Paid: 1000, PerSecond: 21, BarePerSecond: 31, BareAfterPerSecond: 25}
	require.InDelta(t, 28.0, row.BaselinePerSecond(), 1e-9)
	older := CycleBenchRow{Beneficiaries: 1000, PerSecond: 21, BarePerSecond: 31}
	require.InDelta(t, 31.0, older.BaselinePerSecond(), 1e-9, "a row of a run without an after baseline keeps its one baseline")

	dir := t.TempDir()
	row.Ratio = row.PerSecond / row.BaselinePerSecond()
	writeBenchFile(t, dir, benchReportCycleFile, []CycleBenchRow{row})
	s := benchReport(t, dir)
	require.Contains(t, s, "| 1000 | 1000 | 0.0 | 21.0 | 31.0 / 25.0 | 0.75× |")
}

// writeBenchFile writes v as a benchmark's JSON result named name in dir.
func writeBenchFile(t *testing.T, dir, name string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o600))
}

// benchReport renders the report of dir's results.
func benchReport(t *testing.T, dir string) string {
	t.Helper()
	var out bytes.Buffer
	require.NoError(t, writeBenchReport(&out, dir))
	return out.String()
}

// The queue's section carries the status counts' timing when the run
// measured it, and says nothing of it for a run from before.
func TestBenchReportStatesTheStatusCounts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	q := bench.QueueReport{Load: bench.QueueLoad{Cases: 1000000}, GoalMS: 100, GoalMet: true}
	writeBenchFile(t, dir, benchReportQueueFile, q)
	require.NotContains(t, benchReport(t, dir), "status counts")

	q.StatusCounts = &bench.StatusCountsRow{CycleID: "cyc_benchqueue6", Cases: 166667, Reps: 20, P50MS: 180.4, P95MS: 210.9, ShownMS: 1804}
	writeBenchFile(t, dir, benchReportQueueFile, q)
	require.Contains(t, benchReport(t, dir), "over the 166667 cases of cyc_benchqueue6, on the same load: p50 180.4 ms, p95 210.9 ms (20 reads). A status read that takes that long is shown for 1.8 s (the longer of `DefaultStatusMaxAge` and 10× the read).")
}
