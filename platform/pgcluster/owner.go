package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Who runs the server of a cluster directory, when several apoyo processes
// (`apoyo dev`, `apoyo ledger verify`, the demo…) use it at once, and any of
// them may have been killed:
//
//   - Dir/owner.lock: an exclusive advisory lock (flock) held by the one
//     process responsible for the server. Only its holder initialises,
//     recovers, starts or stops the server. The kernel drops it when the
//     holder dies, however it dies, so a free lock proves that nobody is
//     responsible any more; no pid is guessed. The holder writes its pid in
//     the file, for error messages only.
//   - Dir/users.lock: a shared lock held by every process that uses the
//     server, the owner included. The owner stops the server only when it
//     can take this lock exclusively, that is when nobody else uses it.
//
// So a process that finds the owner lock free takes it, and then starts the
// server, or keeps the one a dead owner left running (same port, sessions
// undisturbed). A process that finds it taken waits, bounded by
// Options.Wait, until the server answers, and uses it. When the owner
// leaves while others still use the server, it leaves it running and lets
// the lock go; the next of them to leave takes it over, so that the last
// process out stops the server and no server is stopped under anyone's
// feet.

// DefaultWait is how long Start waits by default for another process that
// is starting or stopping the cluster.
const DefaultWait = 2 * time.Minute

// pollInterval is how often a waiting Start looks again.
const pollInterval = 100 * time.Millisecond

const (
	ownerLockFile = "owner.lock"
	usersLockFile = "users.lock"
)

// acquire makes this process a user of the cluster's server: its owner
// (starting the server if need be) when nobody else is, otherwise a user of
// the owner's server once it answers.
func (c *Cluster) acquire(ctx context.Context) error {
	deadline := time.Now().Add(c.opts.Wait)
	ownerPath := filepath.Join(c.opts.Dir, ownerLockFile)
	usersPath := filepath.Join(c.opts.Dir, usersLockFile)
	for {
		owner, ok, err := tryLock(ownerPath, syscall.LOCK_EX)
		if err != nil {
			return err
		}
		if ok {
			_ = owner.Truncate(0)
			_, _ = owner.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
			c.owner = owner
			if err := c.startOwned(ctx, deadline); err != nil {
				c.release()
				return err
			}
			// Only owner-lock holders take the users lock exclusively, and
			// we hold the owner lock: this cannot be refused.
			u, ok, err := tryLock(usersPath, syscall.LOCK_SH)
			if err == nil && !ok {
				err = errors.New("pgcluster: users lock held exclusively without the owner lock")
			}
			if err != nil {
				c.release()
				return err
			}
			c.user = u
			return nil
		}
		// Someone else owns the server. Holding the users lock shared
		// keeps it from being stopped while we look at it and after.
		u, ok, err := tryLock(usersPath, syscall.LOCK_SH)
		if err != nil {
			return err
		}
		if ok {
			st, err := c.inspect(ctx)
			if err == nil && st.state == serverReady {
				if c.opts.Port != 0 && c.opts.Port != st.port {
					unlock(u)
					return fmt.Errorf("pgcluster: the server in %s runs on port %d, not the configured %d", c.opts.Dir, st.port, c.opts.Port)
				}
				c.port, c.user = st.port, u
				return nil
			}
			unlock(u)
		}
		if time.Now().After(deadline) {
			who := "another process"
			if b, err := os.ReadFile(ownerPath); err == nil && len(strings.TrimSpace(string(b))) > 0 {
				who = "another process (pid " + strings.TrimSpace(string(b)) + ")"
			}
			return fmt.Errorf("pgcluster: %s owns the PostgreSQL cluster in %s, and its server did not answer within %s; see %s", who, c.opts.Dir, c.opts.Wait, filepath.Join(c.opts.Dir, "postgres.log"))
		}
		if err := sleepCtx(ctx, pollInterval); err != nil {
			return err
		}
	}
}

// Stop ends this process's use of the server. The server itself is shut
// down (fast mode: open transactions roll back) only by its owner and only
// when no other process uses it; a process that merely used the server
// just lets go, unless the owner has gone meanwhile, in which case it takes
// over (and stops the server if it is the last user).
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.owner == nil && c.user == nil {
		return nil
	}
	if c.owner == nil {
		owner, ok, err := tryLock(filepath.Join(c.opts.Dir, ownerLockFile), syscall.LOCK_EX)
		if err != nil || !ok {
			c.release()
			return err
		}
		c.owner = owner
	}
	unlock(c.user)
	c.user = nil
	alone, ok, err := tryLock(filepath.Join(c.opts.Dir, usersLockFile), syscall.LOCK_EX)
	if err != nil || !ok {
		// Others still use the server: it stays up, and they inherit it.
		c.release()
		return err
	}
	defer unlock(alone)
	defer c.release()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	st, err := c.inspect(ctx)
	if err != nil {
		return err
	}
	if st.state == serverStopped || st.state == serverStale {
		return nil // already down (killed, or stopped by hand)
	}
	return c.pgctl(ctx, "stop", "-m", "fast", "-w")
}

// StartedByMe reports whether this process started the server, rather than
// finding it running.
func (c *Cluster) StartedByMe() bool { return c.startedByMe }

// release lets go of both locks.
func (c *Cluster) release() {
	unlock(c.user)
	unlock(c.owner)
	c.user, c.owner = nil, nil
}

// tryLock opens path and takes the flock how (LOCK_EX or LOCK_SH) without
// waiting; ok is false when another holder's lock conflicts.
func tryLock(path string, how int) (f *os.File, ok bool, err error) {
	f, err = os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, false, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("pgcluster: locking %s: %w", path, err)
	}
	return f, true, nil
}

func unlock(f *os.File) {
	if f == nil {
		return
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	_ = f.Close()
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// serverState is what the data directory's postmaster.pid, the process it
// names and the server's answer say.
type serverState int

const (
	// serverStopped: no postmaster.pid.
	serverStopped serverState = iota
	// serverStale: postmaster.pid names no live postmaster of this data
	// directory (the process is gone, a zombie, or another program), or
	// cannot be read as one; it is safe to remove.
	serverStale
	// serverBusy: a postmaster of this data directory lives (or we cannot
	// tell that it does not) but does not answer: starting, recovering,
	// shutting down.
	serverBusy
	// serverReady: it answers on its port, from this data directory,
	// with the database in place.
	serverReady
)

type serverStatus struct {
	state serverState
	pid   int
	port  int
}

// inspect looks at the server of the data directory without changing
// anything.
func (c *Cluster) inspect(ctx context.Context) (serverStatus, error) {
	b, err := os.ReadFile(filepath.Join(c.dataDir, "postmaster.pid"))
	if errors.Is(err, os.ErrNotExist) {
		return serverStatus{state: serverStopped}, nil
	}
	if err != nil {
		return serverStatus{}, err
	}
	// postmaster.pid: pid, data directory, start time, port, socket
	// directory, listen address, shared memory key, status (PostgreSQL's
	// documented layout, written by the postmaster).
	lines := strings.Split(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || pid <= 0 {
		// Only the owner starts servers, and it is the one asking, or
		// an attacher, who never removes anything.
		return serverStatus{state: serverStale}, nil
	}
	st := serverStatus{pid: pid}
	switch postmasterState(pid, c.dataDir) {
	case procGone, procOther:
		st.state = serverStale
		return st, nil
	}
	st.state = serverBusy
	if len(lines) > 3 {
		if p, err := strconv.Atoi(strings.TrimSpace(lines[3])); err == nil && p > 0 {
			st.port = p
			if c.answers(ctx, p) {
				st.state = serverReady
			}
		}
	}
	return st, nil
}

// answers reports whether a server of this data directory serves the
// database on port.
func (c *Cluster) answers(ctx context.Context, port int) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable&connect_timeout=5", c.opts.User, port, c.opts.Database))
	if err != nil {
		return false
	}
	defer conn.Close(ctx)
	var dataDir string
	if err := conn.QueryRow(ctx, "SELECT current_setting('data_directory')").Scan(&dataDir); err != nil {
		return false
	}
	return samePath(dataDir, c.dataDir)
}

type procState int

const (
	procGone       procState = iota // no such process, or a zombie
	procOther                       // a live process that is certainly not our postmaster
	procPostmaster                  // a live postmaster of this data directory
	procUnknown                     // alive, but we cannot tell what it is
)

// postmasterState says what process pid is, from /proc: a postmaster runs
// the postgres program with the data directory as its working directory.
// A zombie counts as gone: it holds nothing, but PostgreSQL's own stale
// lock check (kill(pid, 0)) takes it for alive and refuses to start, and
// an init that does not reap (some containers) keeps it for ever.
func postmasterState(pid int, dataDir string) procState {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		// No procfs: only "gone" can be told for sure.
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return procGone
		}
		return procUnknown
	}
	proc := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(proc + "/stat")
	if errors.Is(err, os.ErrNotExist) {
		return procGone
	}
	if err != nil {
		return procUnknown
	}
	// The state letter follows the parenthesised command name.
	if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) && (stat[i+2] == 'Z' || stat[i+2] == 'X') {
		return procGone
	}
	exe, err := os.Readlink(proc + "/exe")
	if err != nil {
		comm, cerr := os.ReadFile(proc + "/comm")
		if cerr != nil {
			return procUnknown
		}
		exe = strings.TrimSpace(string(comm))
	}
	if name := filepath.Base(strings.TrimSuffix(exe, " (deleted)")); name != "postgres" && name != "postmaster" {
		return procOther
	}
	cwd, err := os.Readlink(proc + "/cwd")
	if err != nil {
		return procUnknown
	}
	if samePath(cwd, dataDir) {
		return procPostmaster
	}
	return procOther
}

func samePath(a, b string) bool {
	if a == b {
		return true
	}
	ea, err1 := filepath.EvalSymlinks(a)
	eb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ea == eb
}
