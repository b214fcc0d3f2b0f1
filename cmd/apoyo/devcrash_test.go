package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/apoyo-cdmx/apoyo/platform/devstack"
	"github.com/apoyo-cdmx/apoyo/platform/pgcluster"
)

// envDevCrashArgs carries, as JSON, the command line of an apoyo child
// process of TestDevComesBackAfterSIGKILL.
const envDevCrashArgs = "APOYO_TEST_DEVCRASH_ARGS"

// TestDevCrashChildProcess is not a test: it is an apoyo process of
// TestDevComesBackAfterSIGKILL (this test binary started again with it
// alone), so that `apoyo dev` and the commands next to it are processes of
// their own that can be SIGKILLed and hold their own locks.
func TestDevCrashChildProcess(t *testing.T) {
	raw := os.Getenv(envDevCrashArgs)
	if raw == "" {
		t.Skip("a child process of TestDevComesBackAfterSIGKILL")
	}
	var args []string
	require.NoError(t, json.Unmarshal([]byte(raw), &args))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &cli{out: os.Stdout, errOut: os.Stderr}
	root := newRoot(a)
	root.SetArgs(args)
	// The exit status is the command's, as from main.
	os.Exit(exitCode(root.ExecuteContext(ctx), a.errOut))
}

// apoyoProc is an apoyo child process.
type apoyoProc struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	errOut *syncBuffer
	ready  chan struct{} // closed when stdout shows "apoyo dev ready"
	done   chan struct{}
	code   int
}

func startApoyo(t *testing.T, env []string, args ...string) *apoyoProc {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	raw, err := json.Marshal(args)
	require.NoError(t, err)
	cmd := exec.Command(exe, "-test.run=^TestDevCrashChildProcess$")
	cmd.Env = append(append(os.Environ(), env...), envDevCrashArgs+"="+string(raw))
	p := &apoyoProc{cmd: cmd, out: &syncBuffer{}, errOut: &syncBuffer{}, ready: make(chan struct{}), done: make(chan struct{})}
	cmd.Stderr = p.errOut
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	go func() {
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			fmt.Fprintln(p.out, sc.Text())
			if strings.HasPrefix(sc.Text(), "apoyo dev ready") {
				once.Do(func() { close(p.ready) })
			}
		}
		err := cmd.Wait()
		p.code = cmd.ProcessState.ExitCode()
		if err != nil && p.code == 0 {
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-p.done })
	return p
}

// bound keeps a hung child from hanging the suite; nothing is asserted
// about how long anything took.
const bound = 4 * time.Minute

// waitReady waits until `apoyo dev` is ready; it fails if the process
// exits first (it did not come up on the first try).
func (p *apoyoProc) waitReady(t *testing.T) {
	t.Helper()
	select {
	case <-p.ready:
	case <-p.done:
		t.Fatalf("apoyo dev exited (status %d) instead of coming up:\nstdout: %s\nstderr: %s", p.code, p.out, p.errOut)
	case <-time.After(bound):
		t.Fatalf("apoyo dev not ready:\nstdout: %s\nstderr: %s", p.out, p.errOut)
	}
}

func (p *apoyoProc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(bound):
		t.Fatalf("apoyo %v did not finish:\nstdout: %s\nstderr: %s", p.cmd.Env[len(p.cmd.Env)-1], p.out, p.errOut)
		return -1
	}
}

func postmasterPIDOf(t *testing.T, dataDir string) int {
	b, err := os.ReadFile(filepath.Join(dataDir, "postgres", "data", "postmaster.pid"))
	if os.IsNotExist(err) {
		return 0
	}
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	require.NoError(t, err)
	return pid
}

// TestDevComesBackAfterSIGKILL kills `apoyo dev` and its PostgreSQL with
// SIGKILL, then starts it again while other apoyo commands (`ledger
// verify`, which find the data directory's database by themselves) run on
// the same data directory. It must come up on the first try, on the same
// ports, every command next to it must succeed, and none of them may take
// its database away when they finish.
func TestDevComesBackAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole stack three times")
	}
	if _, err := pgcluster.FindBinDir(""); err != nil {
		t.Skip(err)
	}
	ctx := context.Background()
	dataDir := filepath.Join(pgcluster.TempDir(t), "state")
	env := []string{"APOYO_DATA_DIR=" + dataDir, fmt.Sprintf("APOYO_DEV_TEMPORAL_PORT=%d", freePort(t)), "APOYO_DEV_UI_PORT=0"}

	dev := startApoyo(t, env, "dev")
	dev.waitReady(t)
	before, err := devstack.Discover(dataDir)
	require.NoError(t, err)
	require.NotNil(t, before)
	pm := postmasterPIDOf(t, dataDir)
	require.NotZero(t, pm)
	// Temporal's state is written ahead (WAL), as its SQLite file was
	// meant to be all along: the pragma was once passed by a name SQLite
	// ignored, leaving a rollback journal with a full sync per commit.
	require.FileExists(t, filepath.Join(dataDir, "temporal.db-wal"))

	// The crash: apoyo dev and its postmaster, both by SIGKILL.
	require.NoError(t, dev.cmd.Process.Signal(syscall.SIGKILL))
	dev.wait(t)
	require.NoError(t, syscall.Kill(pm, syscall.SIGKILL))

	// Commands racing the restart for the data directory's PostgreSQL: two
	// at once before apoyo dev starts, and a new one each time one ends,
	// until apoyo dev is ready, so that some surely overlap its start.
	var verifies []*apoyoProc
	for range 2 {
		verifies = append(verifies, startApoyo(t, env, "--as", "auditor", "ledger", "verify"))
	}
	dev = startApoyo(t, env, "dev")
	for running := true; running; {
		last := verifies[len(verifies)-1]
		select {
		case <-dev.ready:
			running = false
		case <-dev.done:
			running = false
		case <-last.done:
			if len(verifies) < 12 {
				verifies = append(verifies, startApoyo(t, env, "--as", "auditor", "ledger", "verify"))
			} else {
				running = false // waitReady below says how dev ended
			}
		}
	}
	dev.waitReady(t)
	for i, v := range verifies {
		require.Equal(t, 0, v.wait(t), "ledger verify %d next to the restart:\nstdout: %s\nstderr: %s", i, v.out, v.errOut)
		require.Contains(t, v.out.String(), "ledger verified: OK")
	}

	after, err := devstack.Discover(dataDir)
	require.NoError(t, err)
	require.NotNil(t, after)
	require.Equal(t, before.DatabaseURL, after.DatabaseURL, "PostgreSQL on the same port")
	require.Equal(t, before.TemporalAddress, after.TemporalAddress, "Temporal on the same port")
	require.Equal(t, before.BankURL, after.BankURL, "the bank on the same port")

	// The commands that ran next to the restart are gone; the stack's
	// database and Temporal still serve.
	conn, err := pgx.Connect(ctx, after.DatabaseURL)
	require.NoError(t, err, "the commands that finished took apoyo dev's database with them")
	var one int
	require.NoError(t, conn.QueryRow(ctx, "SELECT 1").Scan(&one))
	require.NoError(t, conn.Close(ctx))
	c, err := client.Dial(client.Options{HostPort: after.TemporalAddress, Namespace: after.Namespace})
	require.NoError(t, err)
	_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
	require.NoError(t, err)
	c.Close()
	v := startApoyo(t, env, "--as", "auditor", "ledger", "verify")
	require.Equal(t, 0, v.wait(t), "stderr: %s", v.errOut)

	// A clean stop still stops everything, PostgreSQL included.
	require.NoError(t, dev.cmd.Process.Signal(os.Interrupt))
	require.Equal(t, 0, dev.wait(t), "stderr: %s", dev.errOut)
	require.Zero(t, postmasterPIDOf(t, dataDir), "apoyo dev's Ctrl-C stops its PostgreSQL")

	// SIGKILL of apoyo dev alone (PostgreSQL survives it): back on the
	// first try, on the same ports, using the surviving server.
	dev = startApoyo(t, env, "dev")
	dev.waitReady(t)
	pm = postmasterPIDOf(t, dataDir)
	require.NoError(t, dev.cmd.Process.Signal(syscall.SIGKILL))
	dev.wait(t)
	v = startApoyo(t, env, "--as", "auditor", "ledger", "verify")
	dev = startApoyo(t, env, "dev")
	dev.waitReady(t)
	require.Equal(t, 0, v.wait(t), "stderr: %s", v.errOut)
	again, err := devstack.Discover(dataDir)
	require.NoError(t, err)
	require.NotNil(t, again)
	require.Equal(t, before.DatabaseURL, again.DatabaseURL)
	require.Equal(t, before.TemporalAddress, again.TemporalAddress)
	require.Equal(t, before.BankURL, again.BankURL)
	require.Equal(t, pm, postmasterPIDOf(t, dataDir), "the surviving PostgreSQL is used, not restarted")
	require.NoError(t, dev.cmd.Process.Signal(os.Interrupt))
	require.Equal(t, 0, dev.wait(t), "stderr: %s", dev.errOut)
	require.Zero(t, postmasterPIDOf(t, dataDir))
}
