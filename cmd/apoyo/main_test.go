package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/identity"
	"github.com/apoyo-cdmx/apoyo/internal/netutil"
	"github.com/apoyo-cdmx/apoyo/internal/pgtest"
	"github.com/apoyo-cdmx/apoyo/ledger"
	"github.com/apoyo-cdmx/apoyo/platform/devstack"
	"github.com/apoyo-cdmx/apoyo/platform/pgcluster"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// syncBuffer is a bytes.Buffer safe to read while a command writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// run executes the apoyo command line in-process and returns its exit
// status and output.
func run(ctx context.Context, t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut syncBuffer
	a := &cli{out: &out, errOut: &errOut}
	root := newRoot(a)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	code := exitCode(err, &errOut)
	return code, out.String(), errOut.String()
}

// requireCommand fails unless the root command line has the command at
// path (e.g. "report", "cycle").
func requireCommand(t *testing.T, path ...string) {
	t.Helper()
	root := newRoot(&cli{out: &syncBuffer{}, errOut: &syncBuffer{}})
	c, rest, err := root.Find(path)
	require.NoError(t, err, "apoyo %s", strings.Join(path, " "))
	require.Empty(t, rest, "apoyo %s", strings.Join(path, " "))
	require.NotEqual(t, root, c, "apoyo %s is not registered", strings.Join(path, " "))
	require.Equal(t, path[len(path)-1], c.Name(), "apoyo %s is not registered", strings.Join(path, " "))
}

// TestEveryDocumentedCommandIsRegistered checks the command line the
// README documents, role by role, against the root as main builds it.
func TestEveryDocumentedCommandIsRegistered(t *testing.T) {
	t.Parallel()
	for _, path := range [][]string{
		{"demo"}, {"dev"}, {"worker"}, {"migrate"}, {"config", "show"},
		{"program", "create"}, {"beneficiaries", "import"},
		{"cycle", "launch"}, {"cycle", "status"}, {"cycle", "pause"}, {"cycle", "resume"}, {"cycle", "cancel"},
		{"report", "cycle"}, {"approve"},
		{"case", "list"}, {"case", "tasks"}, {"case", "show"}, {"case", "verify-identity"}, {"case", "set-payment-instrument"},
		{"referral", "outcome"},
		{"ledger", "verify"}, {"ledger", "trial-balance"}, {"ledger", "statement"}, {"ledger", "balances"},
		{"reconcile"}, {"bank", "serve"}, {"bench", "cycle"},
	} {
		requireCommand(t, path...)
	}
}

func freePort(t *testing.T) int {
	p, err := netutil.FreePort()
	require.NoError(t, err)
	return p
}

func TestConfigShowMasksSecretsAndRejectsBadValues(t *testing.T) {
	t.Setenv("APOYO_DATABASE_URL", "postgres://apoyo:hunter2@db.example:5432/apoyo")
	code, out, _ := run(context.Background(), t, "config", "show", "-o", "json")
	require.Equal(t, 0, code)
	require.NotContains(t, out, "hunter2")
	require.Contains(t, out, "db.example:5432")

	t.Setenv("APOYO_LEDGER_BATCH_SIZE", "0")
	code, _, errOut := run(context.Background(), t, "config", "show")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "ledger.batch_size")
	require.Contains(t, errOut, "APOYO_LEDGER_BATCH_SIZE")
}

// TestLedgerVerifyCommand runs `apoyo ledger verify` on a real database:
// clean after a workload, failing (exit 1, naming the transaction) after a
// superuser tampers with a posting.
func TestLedgerVerifyCommand(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t)
	l := ledger.New(db.Pool, ledger.Options{})
	zero := decimal.Zero
	require.NoError(t, l.CreateFund(ctx, ledger.Fund{Code: "city", Name: "City"}))
	for _, a := range []ledger.AccountSpec{
		{Code: "funding", Type: apoyo.Equity, Currency: "MXN"},
		{Code: "budget", Type: apoyo.Asset, Currency: "MXN", MinBalance: &zero},
		{Code: "benefits", Type: apoyo.Expense, Currency: "MXN"},
	} {
		_, err := l.CreateAccount(ctx, a)
		require.NoError(t, err)
	}
	_, err := l.Post(ctx, ledger.Transfer("deposit", "budget", "funding", "city", decimal.NewFromInt(56000), ""))
	require.NoError(t, err)
	for i := 0; i < 5; i++ {
		_, err := l.Post(ctx, ledger.Transfer(fmt.Sprintf("pay:%d", i), "benefits", "budget", "city", decimal.NewFromInt(5600), ""))
		require.NoError(t, err)
	}
	l.Close()
	st := newStaff(t, db.Pool)

	code, out, errOut := runAs(ctx, t, st.auditor, "ledger", "verify", "--database-url", db.URL, "-o", "json")
	require.Equal(t, 0, code, errOut)
	var rep apoyo.LedgerVerifyReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.True(t, rep.OK)
	require.Equal(t, int64(6), rep.Transactions)

	code, out, _ = runAs(ctx, t, st.auditor, "ledger", "trial-balance", "--database-url", db.URL)
	require.Equal(t, 0, code)
	require.Contains(t, out, "balanced: true")
	code, out, _ = runAs(ctx, t, st.auditor, "ledger", "statement", "budget", "--database-url", db.URL)
	require.Equal(t, 0, code)
	require.Contains(t, out, "closing balance 28000.00")

	conn, err := db.Pool.Acquire(ctx)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "SET session_replication_role = replica; UPDATE ledger_postings SET amount = sign(amount) * 1 WHERE transaction_id = 4")
	require.NoError(t, err)
	conn.Release()

	// The default verify starts each chain from its last good check, so
	// it does not re-hash transaction 4; the balances, always checked
	// whole, still give the change away. --full names the transaction.
	code, out, _ = runAs(ctx, t, st.auditor, "ledger", "verify", "--database-url", db.URL)
	require.Equal(t, 1, code)
	require.Contains(t, out, "balance_mismatch")
	code, out, _ = runAs(ctx, t, st.auditor, "ledger", "verify", "--full", "--database-url", db.URL)
	require.Equal(t, 1, code)
	require.Contains(t, out, "first bad transaction 4")
}

// TestDevCommandComesUpRestartsAndStops runs `apoyo dev` for real: it must
// print where each part listens and "apoyo dev ready", keep its state and
// ports across a restart, let other commands find it, and stop cleanly when
// its context is cancelled (Ctrl-C).
func TestDevCommandComesUpRestartsAndStops(t *testing.T) {
	if _, err := pgcluster.FindBinDir(""); err != nil {
		t.Skip(err)
	}
	dataDir := filepath.Join(pgcluster.TempDir(t), "state")
	tport := freePort(t)
	t.Setenv("APOYO_DATA_DIR", dataDir)
	t.Setenv("APOYO_DEV_TEMPORAL_PORT", fmt.Sprint(tport))
	t.Setenv("APOYO_DEV_UI_PORT", "0")

	startDev := func() (stop func() int, out *syncBuffer) {
		ctx, cancel := context.WithCancel(context.Background())
		out = &syncBuffer{}
		errOut := &syncBuffer{}
		done := make(chan int, 1)
		go func() {
			a := &cli{out: out, errOut: errOut}
			root := newRoot(a)
			root.SetArgs([]string{"dev"})
			done <- exitCode(root.ExecuteContext(ctx), errOut)
		}()
		require.Eventually(t, func() bool { return strings.Contains(out.String(), "apoyo dev ready") }, 90*time.Second, 100*time.Millisecond,
			"stdout: %s\nstderr: %s", out, errOut)
		return func() int { cancel(); return <-done }, out
	}

	stop, out := startDev()
	require.Contains(t, out.String(), fmt.Sprintf("temporal   127.0.0.1:%d", tport))
	info, err := devstack.Discover(dataDir)
	require.NoError(t, err)
	require.NotNil(t, info)

	// Another command finds the stack by itself.
	code, vout, verr := run(context.Background(), t, "--as", "auditor", "ledger", "verify")
	require.Equal(t, 0, code, verr)
	require.Contains(t, vout, "ledger verified: OK")

	// The Temporal frontend answers and the bank serves.
	c, err := client.Dial(client.Options{HostPort: info.TemporalAddress, Namespace: info.Namespace})
	require.NoError(t, err)
	_, err = c.CheckHealth(context.Background(), &client.CheckHealthRequest{})
	require.NoError(t, err)
	c.Close()
	resp, err := http.Get(info.BankURL + "/v1/movements?date=2026-01-01")
	require.NoError(t, err)
	resp.Body.Close()

	// The console's address is printed with each user's token, and a
	// newcomer signs in with one (the demo's cycle, if any, is then there).
	consoleAt := regexp.MustCompile(`(?m)^console +(http://\S+/) `).FindStringSubmatch(out.String())
	require.NotNil(t, consoleAt, out.String())
	tok := regexp.MustCompile(`(?m)^ +dev\.caseworker +caseworker +token (\S+) `).FindStringSubmatch(out.String())
	require.NotNil(t, tok, out.String())
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.PostForm(consoleAt[1]+"login", url.Values{"token": {tok[1]}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/", resp.Header.Get("Location"))
	require.Contains(t, resp.Header.Get("Set-Cookie"), "apoyo_session=")

	// A second stack on the same directory is refused.
	code, _, errOut := run(context.Background(), t, "dev")
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "another apoyo stack is running")

	require.Equal(t, 0, stop())
	_, err = os.Stat(filepath.Join(dataDir, "stack.json"))
	require.True(t, os.IsNotExist(err), "stack.json is removed on a clean stop")

	stop, out = startDev()
	require.Contains(t, out.String(), info.DatabaseURL, "PostgreSQL keeps its port across restarts")
	require.Equal(t, 0, stop())
}

// staff are a test's users, one per role, with their API tokens: every
// command acts as one of them.
type staff struct {
	admin, manager, caseworker, auditor string
	approver                            map[apoyo.Secretariat]string
}

// newStaff creates one user per role in the database behind pool (as
// apoyo itself, as `apoyo dev` does) and returns their tokens.
func newStaff(t *testing.T, pool *pgxpool.Pool) staff {
	t.Helper()
	ctx := context.Background()
	ids := identity.NewStore(pool)
	sys := apoyo.System("test")
	make := func(name string, role apoyo.Role, sec apoyo.Secretariat) string {
		_, err := ids.CreateUser(ctx, apoyo.NewUser{Name: name, Role: role, Secretariat: sec}, sys)
		require.NoError(t, err)
		tok, err := ids.CreateToken(ctx, name, time.Hour, sys)
		require.NoError(t, err)
		return tok.Secret
	}
	s := staff{admin: make("test.admin", apoyo.RoleAdmin, ""), manager: make("test.manager", apoyo.RoleProgramManager, ""),
		caseworker: make("test.caseworker", apoyo.RoleCaseworker, ""), auditor: make("test.auditor", apoyo.RoleAuditor, ""),
		approver: map[apoyo.Secretariat]string{}}
	for _, sec := range apoyo.Secretariats {
		s.approver[sec] = make("test."+strings.ToLower(string(sec)), apoyo.RoleApprover, sec)
	}
	return s
}

// runAs runs the command line as the user of token.
func runAs(ctx context.Context, t *testing.T, token string, args ...string) (int, string, string) {
	t.Helper()
	return run(ctx, t, append([]string{"--token", token}, args...)...)
}
