package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/apoyo-cdmx/apoyo/bank/sandbox"
	"github.com/apoyo-cdmx/apoyo/platform/devstack"
	"github.com/apoyo-cdmx/apoyo/platform/migrations"
	"github.com/apoyo-cdmx/apoyo/platform/pgcluster"
	"github.com/apoyo-cdmx/apoyo/platform/temporalserver"
)

// StackOptions describe the private stack a chaos run breaks.
type StackOptions struct {
	// Seed drives the bank's fault plan.
	Seed uint64
	// FaultRate is the share of orders the bank misbehaves on; 0 means
	// sandbox.DefaultFaultRate.
	FaultRate float64
	// PostgresBinDir is where initdb and pg_ctl are ("" searches).
	PostgresBinDir string
	// Namespace is the Temporal namespace.
	Namespace string
	// Worker is the command line of the worker child process (the apoyo
	// binary and "worker", or a test binary's helper); it is started with
	// WorkerEnv added to the environment along with the stack's addresses.
	Worker    []string
	WorkerEnv []string
	Log       *slog.Logger
}

// Stack is a private PostgreSQL, Temporal server (on SQLite, so it can be
// restarted on the same file and port), sandbox bank with faults, and the
// worker as a supervised child process, all in one temporary directory.
type Stack struct {
	Dir             string
	DatabaseURL     string
	TemporalAddress string
	BankURL         string
	Bank            *sandbox.Bank

	opts       StackOptions
	log        *slog.Logger
	pgOpts     pgcluster.Options
	pg         *pgcluster.Cluster
	tsOpts     temporalserver.Options
	ts         *temporalserver.Server
	cancelBank context.CancelFunc
	worker     *supervisor
}

// Bank timings on the real clock: short, so a cycle runs in minutes, and a
// return after settlement comes while the cycle still runs.
const (
	bankSettleDelay = 100 * time.Millisecond
	bankReturnDelay = 3 * time.Second
)

// StartStack brings the stack up; Stop takes it down and removes Dir.
func StartStack(ctx context.Context, o StackOptions) (_ *Stack, err error) {
	if len(o.Worker) == 0 {
		return nil, errors.New("chaos: no worker command")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	dir, err := os.MkdirTemp("", "apoyo-chaos-")
	if err != nil {
		return nil, err
	}
	// When we run as root PostgreSQL runs as postgres, which must enter.
	_ = os.Chmod(dir, 0o711)
	s := &Stack{Dir: dir, opts: o, log: o.Log}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if _, err := devstack.EnsureKeys(dir); err != nil {
		return nil, err
	}
	s.pgOpts = pgcluster.Options{Dir: filepath.Join(dir, "pg"), BinDir: o.PostgresBinDir, Settings: map[string]string{"max_connections": "300"}}
	if s.pg, err = pgcluster.Start(ctx, s.pgOpts); err != nil {
		return nil, err
	}
	s.pgOpts.Port = s.pg.Port() // a restart comes back on the same port
	s.DatabaseURL = s.pg.URL("apoyo")
	if _, _, err := migrations.MigrateURL(ctx, s.DatabaseURL); err != nil {
		return nil, err
	}
	s.tsOpts = temporalserver.Options{DatabaseFile: filepath.Join(dir, "temporal.db"), Namespace: o.Namespace}
	if s.ts, err = temporalserver.Start(ctx, s.tsOpts); err != nil {
		return nil, err
	}
	s.TemporalAddress = s.ts.Address()
	// A restart comes back on the same port, so every client finds it.
	if _, p, err := net.SplitHostPort(s.TemporalAddress); err == nil {
		s.tsOpts.Port, _ = strconv.Atoi(p)
	}

	s.Bank = sandbox.New(sandbox.Config{
		SettleDelay: bankSettleDelay, ReturnDelay: bankReturnDelay, TickInterval: 20 * time.Millisecond,
		Faults: &sandbox.FaultPlan{Seed: o.Seed, Rate: o.FaultRate}, Logger: o.Log.With("component", "sandbox-bank"),
	})
	bctx, cancel := context.WithCancel(context.Background())
	s.cancelBank = cancel
	addr, err := s.Bank.ListenAndServe(bctx, "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.BankURL = "http://" + addr

	env := append(os.Environ(), "APOYO_DATA_DIR="+dir, "APOYO_DATABASE_URL="+s.DatabaseURL, "APOYO_TEMPORAL_ADDRESS="+s.TemporalAddress,
		"APOYO_PAYMENTS_BANK_URL="+s.BankURL, "APOYO_PAYMENTS_POLL_INTERVAL=50ms", "APOYO_LOG_LEVEL=warn",
		"APOYO_TEMPORAL_NAMESPACE="+o.Namespace, "APOYO_DATABASE_MAX_CONNS=40", "APOYO_WORKER_MAX_CONCURRENT_ACTIVITIES=200")
	s.worker = &supervisor{argv: o.Worker, env: append(env, o.WorkerEnv...), logPath: filepath.Join(dir, "worker.log"), log: o.Log}
	if err := s.worker.start(); err != nil {
		return nil, err
	}
	return s, nil
}

// KillWorker SIGKILLs the worker; its supervisor starts a new one.
func (s *Stack) KillWorker() error { return s.worker.kill() }

// WorkerStarts is how many times a worker process was started.
func (s *Stack) WorkerStarts() int { return s.worker.startCount() }

// WorkerLog is the file the worker processes write their logs to.
func (s *Stack) WorkerLog() string { return s.worker.logPath }

// RestartPostgres stops the cluster (fast: open transactions roll back,
// every connection breaks) and starts it again on the same port.
func (s *Stack) RestartPostgres(ctx context.Context) error {
	if err := s.pg.Stop(); err != nil {
		return fmt.Errorf("chaos: stopping PostgreSQL: %w", err)
	}
	var err error
	for try := 0; try < 20; try++ {
		if s.pg, err = pgcluster.Start(ctx, s.pgOpts); err == nil {
			return nil
		}
		if !sleep(ctx, 500*time.Millisecond) {
			break
		}
	}
	return fmt.Errorf("chaos: starting PostgreSQL again: %w", err)
}

// RestartTemporal stops the Temporal server and starts it again on the same
// SQLite file and port; workflows carry on from their histories.
func (s *Stack) RestartTemporal(ctx context.Context) error {
	if err := s.ts.Stop(); err != nil {
		s.log.Warn("chaos: stopping Temporal", "err", err)
	}
	var err error
	for try := 0; try < 60; try++ {
		var ts *temporalserver.Server
		if ts, err = temporalserver.Start(ctx, s.tsOpts); err == nil {
			s.ts = ts
			return nil
		}
		if !sleep(ctx, 500*time.Millisecond) {
			break
		}
	}
	return fmt.Errorf("chaos: starting Temporal again: %w", err)
}

// Stop stops the worker, the bank, Temporal and PostgreSQL, and removes
// the directory.
func (s *Stack) Stop() {
	if s.worker != nil {
		s.worker.stop()
	}
	if s.cancelBank != nil {
		s.cancelBank()
	}
	if s.Bank != nil {
		_ = s.Bank.Close()
	}
	if s.ts != nil {
		_ = s.ts.Stop()
	}
	if s.pg != nil {
		_ = s.pg.Stop()
	}
	_ = os.RemoveAll(s.Dir)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// supervisor keeps one worker process running: whenever it exits (killed
// by us, or failing because Temporal or PostgreSQL is down) it starts
// another, until stop.
type supervisor struct {
	argv    []string
	env     []string
	logPath string
	log     *slog.Logger

	mu       sync.Mutex
	cmd      *exec.Cmd
	starts   int
	stopping bool
	done     chan struct{}
}

func (w *supervisor) start() error {
	w.done = make(chan struct{})
	if err := w.spawn(); err != nil {
		return err
	}
	go w.loop()
	return nil
}

// spawn starts one worker process.
func (w *supervisor) spawn() error {
	logf, err := os.OpenFile(w.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(w.argv[0], w.argv[1:]...)
	cmd.Env = w.env
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a Ctrl-C on the harness reaches us, and we
	// stop the worker ourselves.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	logf.Close()
	if err != nil {
		return fmt.Errorf("chaos: starting the worker: %w", err)
	}
	w.mu.Lock()
	w.cmd = cmd
	w.starts++
	w.mu.Unlock()
	return nil
}

func (w *supervisor) loop() {
	defer close(w.done)
	for {
		w.mu.Lock()
		cmd := w.cmd
		w.mu.Unlock()
		err := cmd.Wait()
		w.mu.Lock()
		stopping := w.stopping
		w.mu.Unlock()
		if stopping {
			return
		}
		w.log.Info("chaos: worker exited; starting another", "err", err)
		for {
			time.Sleep(300 * time.Millisecond) // a pause, so a failing start does not spin
			w.mu.Lock()
			stopping = w.stopping
			w.mu.Unlock()
			if stopping {
				return
			}
			if err := w.spawn(); err == nil {
				break
			} else {
				w.log.Warn("chaos: worker", "err", err)
			}
		}
	}
}

func (w *supervisor) kill() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cmd == nil || w.cmd.Process == nil {
		return errors.New("chaos: no worker to kill")
	}
	return w.cmd.Process.Signal(syscall.SIGKILL)
}

func (w *supervisor) startCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.starts
}

// stop ends the worker (SIGTERM, then SIGKILL after a grace period) and
// the supervision.
func (w *supervisor) stop() {
	w.mu.Lock()
	w.stopping = true
	cmd := w.cmd
	w.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-w.done
	}
}
