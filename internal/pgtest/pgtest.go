// Package pgtest gives each integration test a real PostgreSQL database of
// its own, migrated to the current schema, with nothing started by hand.
//
// A test binary that uses it calls pgtest.Main from TestMain: the first test
// that asks for a database starts one private cluster (pgcluster) for the
// whole binary, migrates a template database once, and every test gets a
// copy of the template (CREATE DATABASE … TEMPLATE is a file copy: fast),
// dropped when the test ends. With APOYO_TEST_DATABASE_URL set, the
// databases are created on that server instead (its user needs CREATEDB).
package pgtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/apoyo-cdmx/apoyo/platform/migrations"
	"github.com/apoyo-cdmx/apoyo/platform/pgcluster"
	"github.com/apoyo-cdmx/apoyo/platform/pgdb"
)

// EnvURL names an existing server to use instead of a private cluster.
const EnvURL = "APOYO_TEST_DATABASE_URL"

var (
	mu       sync.Mutex
	started  bool
	cluster  *pgcluster.Cluster
	adminURL string // a URL to a maintenance database on the server
	template string
	counter  atomic.Int64
	tmpDir   string
)

// Main runs the tests and stops the private cluster afterwards.
func Main(m *testing.M) {
	code := m.Run()
	mu.Lock()
	if cluster == nil && template != "" {
		// A shared server: leave it as we found it.
		_ = pgdb.Exec(context.Background(), adminURL, "DROP DATABASE IF EXISTS "+pgx.Identifier{template}.Sanitize())
	}
	if cluster != nil {
		_ = cluster.Stop()
	}
	if tmpDir != "" {
		_ = os.RemoveAll(tmpDir)
	}
	mu.Unlock()
	os.Exit(code)
}

// DB is one test's database.
type DB struct {
	// URL connects as a superuser (tamper tests need one).
	URL  string
	Name string
	Pool *pgxpool.Pool
}

// New returns a fresh, migrated database for t, dropped at cleanup.
func New(t testing.TB) *DB {
	t.Helper()
	ctx := context.Background()
	mu.Lock()
	if !started {
		if err := startServer(ctx); err != nil {
			mu.Unlock()
			t.Fatalf("pgtest: %v", err)
		}
		started = true
	}
	name := fmt.Sprintf("t_%d_%d", os.Getpid(), counter.Add(1))
	err := pgdb.Exec(ctx, adminURL, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+pgx.Identifier{template}.Sanitize())
	mu.Unlock()
	if err != nil {
		t.Fatalf("pgtest: creating database: %v", err)
	}
	dbURL := pgdb.WithDatabase(adminURL, name)
	pool, err := pgdb.Open(ctx, dbURL, 40)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		pool.Close()
		_ = pgdb.Exec(context.Background(), adminURL, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	return &DB{URL: dbURL, Name: name, Pool: pool}
}

func startServer(ctx context.Context) error {
	if u := os.Getenv(EnvURL); u != "" {
		adminURL = u
	} else {
		dir, err := os.MkdirTemp("", "apoyo-pgtest-")
		if err != nil {
			return err
		}
		// The postgres OS user (we may be root) must enter this directory.
		if err := os.Chmod(dir, 0o711); err != nil {
			return err
		}
		tmpDir = dir
		c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: dir + "/pg"})
		if err != nil {
			return err
		}
		cluster = c
		adminURL = c.URL("postgres")
	}
	// One template per test binary, named after the process so binaries
	// running side by side on one server do not collide.
	template = fmt.Sprintf("tmpl_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6)
	if err := pgdb.Exec(ctx, adminURL, "CREATE DATABASE "+pgx.Identifier{template}.Sanitize()); err != nil {
		return err
	}
	if _, _, err := migrations.MigrateURL(ctx, pgdb.WithDatabase(adminURL, template)); err != nil {
		return err
	}
	return nil
}

// Cluster returns the private cluster, or nil when EnvURL named a server.
func Cluster() *pgcluster.Cluster { return cluster }
