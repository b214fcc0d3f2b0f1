// Package pgcluster starts and stops a private PostgreSQL cluster in a
// directory of apoyo's own, with the server programs (initdb, pg_ctl) found
// on PATH or under /usr/lib/postgresql/*/bin. It serves `apoyo dev`, the
// demo, the benchmarks and the integration tests, so that nothing has to be
// started by hand.
//
// PostgreSQL refuses to run as root; when apoyo runs as root the cluster is
// initialised and run as the "postgres" OS user, and the directory is handed
// to that user.
//
// Several processes may use one cluster directory at once; exactly one of
// them owns the server, and nobody stops a server another process still
// uses (owner.go says how). A stale postmaster.pid left by a killed server
// is recovered on the next start.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/apoyo-cdmx/apoyo/internal/netutil"
	"github.com/apoyo-cdmx/apoyo/platform/pgdb"
)

// Options describe the cluster to run.
type Options struct {
	// Dir is the cluster's home: the data directory is Dir/data, the log
	// Dir/postgres.log and the chosen port Dir/port.
	Dir string
	// Port to listen on at 127.0.0.1; 0 reuses the port recorded in Dir/port
	// or picks a free one.
	Port int
	// BinDir holds initdb and pg_ctl; "" searches PATH and
	// /usr/lib/postgresql/*/bin (newest version first).
	BinDir string
	// Durable keeps fsync on. Tests turn it off: their data is thrown away,
	// and fsync dominates their run time.
	Durable bool
	// User is the database superuser created by initdb. Default "apoyo".
	User string
	// Database is created on first start. Default "apoyo".
	Database string
	// Settings are extra postgresql.conf settings passed at start (-c k=v).
	Settings map[string]string
	// Wait bounds how long Start waits for another process that is
	// starting or stopping the same cluster, and for a crashed server to
	// wind down. Default DefaultWait.
	Wait time.Duration
}

// Cluster is this process's use of a running private PostgreSQL server.
type Cluster struct {
	opts    Options
	binDir  string
	port    int
	runAs   *user.User
	dataDir string

	mu sync.Mutex
	// owner is the owner lock, held while this process is the one
	// responsible for the server; nil for a process that only uses it.
	owner *os.File
	// user is the shared users lock, held while this process uses the
	// server; nil once it has let go.
	user *os.File
	// startedByMe: this process ran pg_ctl start (rather than finding the
	// server running).
	startedByMe bool
}

// FindBinDir locates the directory holding initdb and pg_ctl.
func FindBinDir(hint string) (string, error) {
	if hint != "" {
		if isExec(filepath.Join(hint, "pg_ctl")) && isExec(filepath.Join(hint, "initdb")) {
			return hint, nil
		}
		return "", fmt.Errorf("pgcluster: no initdb/pg_ctl in %s", hint)
	}
	// Debian puts the server programs outside PATH, so look there first
	// (newest major version wins) and fall back to PATH.
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(matches, func(i, j int) bool { return versionOf(matches[i]) > versionOf(matches[j]) })
	for _, m := range matches {
		if isExec(filepath.Join(m, "pg_ctl")) && isExec(filepath.Join(m, "initdb")) {
			return m, nil
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		dir := filepath.Dir(p)
		if isExec(filepath.Join(dir, "initdb")) {
			return dir, nil
		}
	}
	return "", errors.New("pgcluster: PostgreSQL server programs (initdb, pg_ctl) not found on PATH or under /usr/lib/postgresql/*/bin; install them (Debian: apt-get install postgresql) or set APOYO_DATABASE_URL to an existing database")
}

func versionOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// Start initialises the cluster if Dir holds none yet, and starts it, or
// uses the server already running there. See the package documentation
// for who owns the server and who stops it.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.User == "" {
		opts.User = "apoyo"
	}
	if opts.Database == "" {
		opts.Database = "apoyo"
	}
	if opts.Wait <= 0 {
		opts.Wait = DefaultWait
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	opts.Dir = dir
	binDir, err := FindBinDir(opts.BinDir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, binDir: binDir, dataDir: filepath.Join(dir, "data")}

	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, errors.New("pgcluster: running as root, and PostgreSQL refuses root: create a 'postgres' OS user (Debian's postgresql package does) or run apoyo as another user")
		}
		c.runAs = u
		if err := checkTraversable(dir); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// Only the directory itself here: its contents may be changing under
	// the server another process runs. The owner hands over the rest.
	if err := c.chownOne(dir); err != nil {
		return nil, err
	}
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// startOwned runs with the owner lock held: it recovers what a crash left,
// starts the server (or adopts the one a dead owner left running) and
// makes sure the database exists.
func (c *Cluster) startOwned(ctx context.Context, deadline time.Time) error {
	if _, err := os.Stat(filepath.Join(c.dataDir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := c.initdb(ctx); err != nil {
			return err
		}
	}
	for {
		st, err := c.inspect(ctx)
		if err != nil {
			return err
		}
		switch st.state {
		case serverReady:
			// The previous owner died and left its server running: keep it
			// (same port, open sessions of others undisturbed).
			if c.opts.Port != 0 && c.opts.Port != st.port {
				return fmt.Errorf("pgcluster: the server in %s runs on port %d, not the configured %d; stop it first (pg_ctl stop -D %s)", c.opts.Dir, st.port, c.opts.Port, c.dataDir)
			}
			c.port = st.port
			return c.ensureDatabase(ctx)
		case serverStale:
			// Certainly not a running server of this data directory (no
			// such process, a zombie, or another program reusing the pid):
			// PostgreSQL would refuse to start while that pid lives.
			if err := os.Remove(filepath.Join(c.dataDir, "postmaster.pid")); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			continue
		case serverStopped:
			if err := c.chown(c.opts.Dir); err != nil {
				return err
			}
			err := c.startServer(ctx)
			if err == nil {
				c.startedByMe = true
				return c.ensureDatabase(ctx)
			}
			// The server of a SIGKILLed postmaster may still be winding
			// down (its backends notice the death and exit, and
			// PostgreSQL refuses to start while they hold the old shared
			// memory): look again until the deadline.
			if time.Now().After(deadline) {
				return err
			}
		case serverBusy:
			// Our postmaster is alive but not answering yet: starting up,
			// recovering, or shutting down. Wait for it to settle.
			if time.Now().After(deadline) {
				return fmt.Errorf("pgcluster: the server of %s (pid %d) did not become ready within %s; see %s", c.dataDir, st.pid, c.opts.Wait, filepath.Join(c.opts.Dir, "postgres.log"))
			}
		}
		if err := sleepCtx(ctx, pollInterval); err != nil {
			return err
		}
	}
}

// startServer picks the port (the recorded one when it is free) and starts
// PostgreSQL.
func (c *Cluster) startServer(ctx context.Context) error {
	c.port = c.opts.Port
	portFile := filepath.Join(c.opts.Dir, "port")
	if c.port == 0 {
		if b, err := os.ReadFile(portFile); err == nil {
			if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && netutil.PortFree("127.0.0.1", p) {
				c.port = p
			}
		}
	}
	if c.port == 0 {
		var err error
		if c.port, err = netutil.FreePort(); err != nil {
			return err
		}
	}
	if err := c.start(ctx); err != nil {
		return err
	}
	return os.WriteFile(portFile, []byte(strconv.Itoa(c.port)+"\n"), 0o644)
}

// ensureDatabase creates the database unless it exists.
func (c *Cluster) ensureDatabase(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return err
	}
	var exists bool
	err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", c.opts.Database).Scan(&exists)
	_ = conn.Close(ctx)
	if err != nil || exists {
		return err
	}
	if err := c.CreateDatabase(ctx, c.opts.Database, ""); err != nil && !strings.Contains(err.Error(), "already exists") {
		return err
	}
	return nil
}

// checkTraversable fails early, with advice, when the postgres OS user
// cannot reach dir (e.g. a project under /root, which is mode 0700).
func checkTraversable(dir string) error {
	for d := filepath.Dir(dir); d != "/" && d != "."; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			continue // not created yet; MkdirAll will make it 0700 and we chown.
		}
		if st.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("pgcluster: running as root, PostgreSQL runs as the 'postgres' user, which cannot enter %s (mode %v); use a --data-dir outside it, or chmod o+x %s", d, st.Mode().Perm(), d)
		}
	}
	return nil
}

// chown hands path and everything under it to the postgres OS user. Only
// the owner calls it, with no server running.
func (c *Cluster) chown(path string) error {
	if c.runAs == nil {
		return nil
	}
	return filepath.Walk(path, func(p string, _ os.FileInfo, err error) error {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		return c.chownOne(p)
	})
}

func (c *Cluster) chownOne(path string) error {
	if c.runAs == nil {
		return nil
	}
	uid, _ := strconv.Atoi(c.runAs.Uid)
	gid, _ := strconv.Atoi(c.runAs.Gid)
	return os.Lchown(path, uid, gid)
}

func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, name), args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	cmd.Dir = c.opts.Dir
	if c.runAs != nil {
		uid, _ := strconv.Atoi(c.runAs.Uid)
		gid, _ := strconv.Atoi(c.runAs.Gid)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		cmd.Env = append(cmd.Env, "HOME="+c.opts.Dir, "USER=postgres")
	}
	// pg_ctl start leaves the postmaster running after we return; it must
	// not die with our process group on Ctrl-C before we stop it cleanly.
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	return cmd
}

func (c *Cluster) run(ctx context.Context, name string, args ...string) error {
	cmd := c.command(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pgcluster: %s %s: %v\n%s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

func (c *Cluster) initdb(ctx context.Context) error {
	// initdb writes into a side directory renamed into place when it has
	// finished, so that a crash half-way never leaves a data directory
	// that looks initialised. Only the owner runs this: a leftover side
	// directory is a crashed attempt's.
	tmp := c.dataDir + ".init"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if ents, err := os.ReadDir(c.dataDir); err == nil && len(ents) > 0 {
		return fmt.Errorf("pgcluster: %s is not empty but holds no PostgreSQL cluster (no PG_VERSION); move it away and start again", c.dataDir)
	}
	if err := os.RemoveAll(c.dataDir); err != nil {
		return err
	}
	// Local trust auth on a loopback-only listener: this is a private,
	// per-user development or test cluster.
	args := []string{"-D", tmp, "-U", c.opts.User, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-instructions"}
	if !c.opts.Durable {
		args = append(args, "--no-sync")
	}
	if err := c.run(ctx, "initdb", args...); err != nil {
		return err
	}
	return os.Rename(tmp, c.dataDir)
}

func (c *Cluster) start(ctx context.Context) error {
	settings := map[string]string{
		"listen_addresses":          "127.0.0.1",
		"port":                      strconv.Itoa(c.port),
		"unix_socket_directories":   c.opts.Dir,
		"max_connections":           "200",
		"shared_buffers":            "128MB",
		"log_min_messages":          "warning",
		"max_prepared_transactions": "0",
	}
	if !c.opts.Durable {
		settings["fsync"] = "off"
		settings["synchronous_commit"] = "off"
		settings["full_page_writes"] = "off"
	}
	for k, v := range c.opts.Settings {
		settings[k] = v
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var o []string
	for _, k := range keys {
		o = append(o, fmt.Sprintf("-c %s=%s", k, settings[k]))
	}
	return c.pgctl(ctx, "start", "-w", "-t", "60", "-l", filepath.Join(c.opts.Dir, "postgres.log"), "-o", strings.Join(o, " "))
}

func (c *Cluster) pgctl(ctx context.Context, action string, args ...string) error {
	return c.run(ctx, "pg_ctl", append([]string{action, "-D", c.dataDir}, args...)...)
}

// Port is the TCP port the server listens on at 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// BinDir is where the server programs (pgbench among them) were found.
func (c *Cluster) BinDir() string { return c.binDir }

// User is the superuser name.
func (c *Cluster) User() string { return c.opts.User }

// URL returns a connection URL for database db.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", c.opts.User, c.port, db)
}

// CreateDatabase creates db, copied from template when template != "".
func (c *Cluster) CreateDatabase(ctx context.Context, db, template string) error {
	sql := "CREATE DATABASE " + pgx.Identifier{db}.Sanitize()
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	return pgdb.Exec(ctx, c.URL("postgres"), sql)
}

// DropDatabase drops db, disconnecting its sessions.
func (c *Cluster) DropDatabase(ctx context.Context, db string) error {
	return pgdb.Exec(ctx, c.URL("postgres"), "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)")
}

// TB is the part of testing.TB that TempDir needs.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// TempDir makes a temporary directory that the postgres OS user can enter
// (testing.T.TempDir makes 0700 ones, which it cannot when we run as root),
// removed when the test ends.
func TempDir(t TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "apoyo-pg-")
	if err != nil {
		t.Fatalf("pgcluster: %v", err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatalf("pgcluster: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}
