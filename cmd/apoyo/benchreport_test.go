package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

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
	b, err := json.Marshal(rep)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, benchReportLedgerFile), b, 0o600))

	var out bytes.Buffer
	require.NoError(t, writeBenchReport(&out, dir))
	s := out.String()
	require.Contains(t, s, "| ≥ 3.0× pgbench -N, 32 writers, 1 in flight | 5.60× | **met** |")
	require.Contains(t, s, "| ≥ 5.0× pgbench -N, 32 writers, 16 in flight | 8.00× | **met** |")
	require.Contains(t, s, "| two programmes ≥ 1.6× one programme's rate, 32 writers each, 1 in flight | 1.20× (one programme kept 50 % of the CPU busy: this machine's ceiling is 2.00×) | **not met** |")
	require.Contains(t, s, "| two programmes ≥ 1.6× one programme's rate, 32 writers each, 16 in flight | 1.70× (one programme kept 55 % of the CPU busy: this machine's ceiling is 1.82×) | **met** |")
	require.Contains(t, s, "| 2 | 32 | 16 | 0 | 34000 | 2500 | 13.60× | 1.70× | 90 % |")
}
