package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// chaosTimeout bounds CI's chaos run.
const chaosTimeout = 9 * time.Minute

// envChaosWorker marks the test binary started as the chaos run's worker.
const envChaosWorker = "APOYO_TEST_CHAOS_WORKER"

// TestChaosWorkerProcess is not a test: it is the worker child process of
// TestChaosSmall (this test binary started again with it alone), so the
// worker SIGKILLed is a process of its own, as in `apoyo chaos`.
func TestChaosWorkerProcess(t *testing.T) {
	if os.Getenv(envChaosWorker) != "1" {
		t.Skip("the worker child process of TestChaosSmall")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &cli{out: os.Stdout, errOut: os.Stderr}
	root := newRoot(a)
	root.SetArgs([]string{"worker"})
	if err := root.ExecuteContext(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestChaosSmall is CI's chaos run: 300 people, 3 worker kills, one
// PostgreSQL and one Temporal restart, the bank misbehaving on about 20% of
// orders. It must exit 0 with nobody paid twice, nobody lost and nothing
// unmatched.
//
// The run takes 3–4 minutes alone and more beside other packages' tests.
// Its own timeout (chaosTimeout) ends it well inside the test binary's
// (the -timeout of `make test`), so a run that is stuck fails with the
// cases it waited on, not with a goroutine dump.
func TestChaosSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("a chaos run takes minutes")
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	prev := chaosWorker
	chaosWorker = func() ([]string, []string, error) {
		return []string{exe, "-test.run=^TestChaosWorkerProcess$"}, []string{envChaosWorker + "=1"}, nil
	}
	t.Cleanup(func() { chaosWorker = prev })

	ctx, cancel := context.WithTimeout(context.Background(), chaosTimeout+time.Minute)
	defer cancel()
	start := time.Now()
	code, out, errOut := run(ctx, t, "chaos", "--beneficiaries", "300", "--kills", "3", "--seed", "7", "--timeout", chaosTimeout.String())
	t.Log("\n" + errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	writeChaosReport(t, fmt.Sprintf("%s (%.0f s)\n", last, time.Since(start).Seconds()))
	require.Equal(t, 0, code, "chaos run failed:\n%s", errOut)
	require.Regexp(t, `^chaos: 300 cases, 3 kills, [1-9][0-9]* faults, double_payments=0, lost=0, unmatched=0$`, last)
	t.Logf("chaos run of 300 people: %.0f s", time.Since(start).Seconds())
}

// writeChaosReport leaves the run's last line in .test-report/chaos.txt,
// for CI to print with the other measured figures.
func writeChaosReport(t *testing.T, text string) {
	dir := filepath.Join("..", "..", ".test-report")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("test report: %v", err)
		return
	}
	_ = os.WriteFile(filepath.Join(dir, "chaos.txt"), []byte(text), 0o644)
}
