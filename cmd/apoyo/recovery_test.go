package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	historypb "go.temporal.io/api/history/v1"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/activities"
	"github.com/apoyo-cdmx/apoyo/bank/sandbox"
	"github.com/apoyo-cdmx/apoyo/cases"
	"github.com/apoyo-cdmx/apoyo/config"
	"github.com/apoyo-cdmx/apoyo/enrolment"
	"github.com/apoyo-cdmx/apoyo/internal/golden"
	"github.com/apoyo-cdmx/apoyo/internal/pgtest"
	"github.com/apoyo-cdmx/apoyo/ledger"
	"github.com/apoyo-cdmx/apoyo/mxid"
	"github.com/apoyo-cdmx/apoyo/payment"
	"github.com/apoyo-cdmx/apoyo/payment/httpprovider"
	"github.com/apoyo-cdmx/apoyo/platform/devstack"
	"github.com/apoyo-cdmx/apoyo/platform/temporalserver"
	"github.com/apoyo-cdmx/apoyo/program"
	"github.com/apoyo-cdmx/apoyo/worker"
)

// conflictOnce answers the first Submit of one order with the bank's 409
// (an idempotency conflict: non-retryable), then lets orders through: a
// step that fails for a reason a person must look at.
type conflictOnce struct {
	payment.Provider
	mu      sync.Mutex
	orderID string
	done    bool
}

func (c *conflictOnce) Submit(ctx context.Context, o payment.Order) (payment.Status, error) {
	c.mu.Lock()
	fail := o.ID == c.orderID && !c.done
	c.done = c.done || fail
	c.mu.Unlock()
	if fail {
		return payment.Status{}, payment.ErrIdempotencyConflict.With("POST /v1/orders: HTTP 409 for order %s", o.ID)
	}
	return c.Provider.Submit(ctx, o)
}

// failureText is the failure message an event carries, if any.
func failureText(ev *historypb.HistoryEvent) string {
	if a := ev.GetActivityTaskFailedEventAttributes(); a != nil {
		return a.GetFailure().GetMessage()
	}
	if a := ev.GetWorkflowTaskFailedEventAttributes(); a != nil {
		return a.GetFailure().GetMessage()
	}
	if a := ev.GetWorkflowExecutionFailedEventAttributes(); a != nil {
		return a.GetFailure().GetMessage()
	}
	return ""
}

// TestNothingLostNothingStranded runs, on a real Temporal server, real
// PostgreSQL and the sandbox bank over HTTP, the two paths where a case
// used to be lost or its money stranded:
//
//   - A non-retryable payment failure (the bank's 409) used to fail the
//     case's workflow silently. Now the case waits with a step_failed task;
//     `apoyo case retry` runs the same attempt again and the person is paid
//     once.
//   - A return after settlement, found by reconciliation, used to leave the
//     money in "returned" with a task nobody could act on (the case had
//     ended and refused a new instrument, which was changed anyway). Now
//     reconciliation reopens the case; `set-payment-instrument` pays it once
//     more with the next attempt, and the task closes.
//
// Counts come from the bank's own record.
func TestNothingLostNothingStranded(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	db := pgtest.New(t)
	ts, err := temporalserver.Start(ctx, temporalserver.Options{Namespace: "apoyo"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ts.Stop() })
	// Rule 0013: settled, then returned (cause 13) a moment later.
	bank := sandbox.New(sandbox.Config{SettleDelay: 20 * time.Millisecond, ReturnDelay: 200 * time.Millisecond, AutoCollect: true, TickInterval: 10 * time.Millisecond})
	bank.Start(ctx)
	t.Cleanup(func() { _ = bank.Close() })
	bankSrv := httptest.NewServer(bank.Handler())
	t.Cleanup(bankSrv.Close)

	t.Setenv("APOYO_DATA_DIR", t.TempDir())
	t.Setenv("APOYO_PII_KEYS", golden.KeyID+":"+golden.Key)
	t.Setenv("APOYO_PII_ACTIVE_KEY", golden.KeyID)
	t.Setenv("APOYO_PII_INDEX_KEY", golden.IndexKey)
	t.Setenv("APOYO_DATABASE_URL", db.URL)
	t.Setenv("APOYO_TEMPORAL_ADDRESS", ts.Address())
	t.Setenv("APOYO_PAYMENTS_BANK_URL", bankSrv.URL)
	t.Setenv("APOYO_LOG_LEVEL", "warn")
	as := newStaff(t, db.Pool)

	// Two people paid by SPEI: Rosa's account returns the money after it
	// settles; Tomás's first order meets a 409.
	r := rand.New(rand.NewPCG(3, 5))
	adult := time.Date(1988, 2, 9, 0, 0, 0, 0, time.UTC)
	rosa := &person{key: "R", given: "Rosa", first: "Guerrero", second: "Pinto", birth: adult, phone: "5511112222", method: "spei", clabe: sandbox.CLABE("90013")}
	tomas := &person{key: "T", given: "Tomás", first: "Reyes", second: "Lara", birth: adult, phone: "5533334444", method: "spei", clabe: mxid.GenerateCLABE(r, "012")}
	people := []*person{rosa, tomas}
	csvPath := filepath.Join(t.TempDir(), "roster.csv")
	f, err := os.Create(csvPath)
	require.NoError(t, err)
	w := csv.NewWriter(f)
	require.NoError(t, w.Write(header))
	for _, p := range people {
		p.curp = mxid.GenerateCURP(r, p.birth, "M", "NE")
		require.NoError(t, w.Write(p.row()))
	}
	w.Flush()
	require.NoError(t, f.Close())

	code, out, errOut := runAs(ctx, t, as.manager, "program", "create", "--name", "Ingreso Inclusivo recuperación", "--budget", "100000", "-o", "json")
	require.Equal(t, 0, code, errOut)
	var prog apoyo.Program
	require.NoError(t, json.Unmarshal([]byte(out), &prog))
	code, _, errOut = runAs(ctx, t, as.manager, "beneficiaries", "import", csvPath, "--program", prog.ID)
	require.Equal(t, 0, code, errOut)

	cfg := config.Default()
	cfg.PII.Keys, cfg.PII.ActiveKey, cfg.PII.IndexKey = golden.KeyID+":"+golden.Key, golden.KeyID, golden.IndexKey
	kr, ix, err := devstack.Keyring(cfg)
	require.NoError(t, err)
	enrol := enrolment.NewStore(db.Pool, kr, ix)
	ids, err := enrol.ListIDs(ctx, prog.ID, "", 10)
	require.NoError(t, err)
	for _, id := range ids {
		b, err := enrol.Get(ctx, id)
		require.NoError(t, err)
		for _, p := range people {
			if b.Record.GivenNames == p.given {
				p.id = id
			}
		}
	}
	require.NotEmpty(t, rosa.id)
	require.NotEmpty(t, tomas.id)

	code, out, errOut = runAs(ctx, t, as.manager, "cycle", "launch", "--program", prog.ID, "--period", "2026-12", "-o", "json")
	require.Equal(t, 0, code, errOut)
	var launch struct {
		Cycle apoyo.Cycle `json:"cycle"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &launch))
	cycleID := launch.Cycle.ID

	// The worker, with the 409 on Tomás's first order.
	tc, err := worker.Dial(ts.Address(), "apoyo", kr, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(tc.Close)
	led := ledger.New(db.Pool, ledger.Options{})
	t.Cleanup(led.Close)
	store := cases.NewStore(db.Pool)
	provider := &conflictOnce{Provider: httpprovider.NewClient(bankSrv.URL, &http.Client{Timeout: 10 * time.Second}),
		orderID: program.Attempt{Cycle: cycleID, Beneficiary: tomas.id, N: 1}.OrderID()}
	acts := &activities.Activities{Programs: program.NewStore(db.Pool), Beneficiaries: enrol, Cases: store, Ledger: led,
		Payments: provider, Temporal: tc, PollInterval: 20 * time.Millisecond, Log: slog.New(slog.DiscardHandler)}
	// The bank's callbacks, as `apoyo worker` receives them: Rosa's case
	// hears of the settlement before the return that follows it.
	callbacks := httptest.NewServer(acts.CallbackHandler())
	t.Cleanup(callbacks.Close)
	acts.CallbackURL = callbacks.URL
	wk := worker.New(tc, acts, worker.Options{TaskQueue: cfg.Temporal.TaskQueue})
	require.NoError(t, wk.Start())
	t.Cleanup(wk.Stop)

	caseOf := func(p *person) string { return apoyo.CaseID(cycleID, p.id) }
	waitFor := func(p *person, what string, ok func(apoyo.CaseState) bool) apoyo.CaseState {
		var st apoyo.CaseState
		var last string
		reached := assert.Eventually(t, func() bool {
			code, out, errOut := runAs(ctx, t, as.caseworker, "case", "show", caseOf(p), "-o", "json")
			st = apoyo.CaseState{}
			err := json.Unmarshal([]byte(out), &st)
			last = fmt.Sprintf("exit %d, json %v, stderr %q", code, err, errOut)
			return code == 0 && err == nil && ok(st)
		}, 60*time.Second, 100*time.Millisecond, "case %s never reached %s", p.key, what)
		if !reached {
			t.Logf("last state %+v (%s)", st, last)
			desc, err := tc.DescribeWorkflowExecution(ctx, caseOf(p), "")
			if err == nil {
				t.Logf("workflow %s: %s, pending activities %v", caseOf(p), desc.WorkflowExecutionInfo.Status, desc.PendingActivities)
			}
			it := tc.GetWorkflowHistory(ctx, caseOf(p), "", false, 0)
			for it.HasNext() {
				ev, err := it.Next()
				if err != nil {
					break
				}
				t.Logf("  %d %s %s", ev.EventId, ev.EventType, failureText(ev))
			}
			t.FailNow()
		}
		return st
	}
	openTasks := func(p *person) map[string]bool {
		ts, err := store.OpenTasks(ctx, cycleID, 100)
		require.NoError(t, err)
		kinds := map[string]bool{}
		for _, task := range ts {
			if task.CaseID == caseOf(p) {
				kinds[string(task.Kind)] = true
			}
		}
		return kinds
	}

	for _, p := range people {
		waitFor(p, "approval", func(s apoyo.CaseState) bool { return s.Step == apoyo.StepApproval })
	}
	for _, s := range apoyo.Secretariats {
		code, _, errOut := runAs(ctx, t, as.approver[s], "approve", "--cycle", cycleID, "--all-pending")
		require.Equal(t, 0, code, errOut)
	}

	// Tomás: the 409 leaves the case failed, waiting, with a task.
	failed := waitFor(tomas, "a failed payment step", func(s apoyo.CaseState) bool { return s.Status == apoyo.CaseFailed })
	require.Equal(t, apoyo.StepPayment, failed.Step)
	require.Equal(t, payment.ErrIdempotencyConflict.Reason, failed.Failure.Reason)
	// The query sees the failure as the case decides it; the task and the
	// projection come with the activity that records it, a moment later.
	require.Eventually(t, func() bool {
		proj, err := store.Case(ctx, caseOf(tomas))
		return openTasks(tomas)[string(apoyo.TaskStepFailed)] && err == nil && proj.Status == apoyo.CaseFailed
	}, 30*time.Second, 50*time.Millisecond, "a person is told: a step_failed task, and the projection says failed")
	code, _, errOut = runAs(ctx, t, as.caseworker, "case", "retry", caseOf(tomas), "--reason", "bank confirmed the 409 was theirs")
	require.Equal(t, 0, code, errOut)
	done := waitFor(tomas, "completed", func(s apoyo.CaseState) bool { return s.Outcome == apoyo.OutcomeCompleted })
	require.Len(t, done.Payments, 1, "the retry was the same attempt")
	require.Eventually(t, func() bool { return !openTasks(tomas)[string(apoyo.TaskStepFailed)] }, 30*time.Second, 50*time.Millisecond,
		"the task closed with the retry")
	code, _, errOut = runAs(ctx, t, as.caseworker, "case", "retry", caseOf(tomas), "--reason", "once more")
	require.NotEqual(t, 0, code, "nothing to retry on a finished case")
	require.Contains(t, errOut, "nothing to retry")

	// Rosa: paid, case completed; then the bank returns the money.
	waitFor(rosa, "completed", func(s apoyo.CaseState) bool { return s.Outcome == apoyo.OutcomeCompleted })
	rosaFirst := program.Attempt{Cycle: cycleID, Beneficiary: rosa.id, N: 1}.OrderID()
	require.Eventually(t, func() bool {
		for _, m := range bank.Movements("") {
			if m.OrderID == rosaFirst && m.Kind == sandbox.MovementReturned {
				return true
			}
		}
		return false
	}, 30*time.Second, 20*time.Millisecond, "the bank returns Rosa's payment")
	// A new CLABE is refused while the case is not waiting for one, and
	// the account on file does not change.
	good := mxid.GenerateCLABE(r, "014")
	code, _, _ = runAs(ctx, t, as.caseworker, "case", "set-payment-instrument", caseOf(rosa), "--clabe", good)
	require.NotEqual(t, 0, code)
	b, err := enrol.Get(ctx, rosa.id)
	require.NoError(t, err)
	require.Equal(t, rosa.clabe, b.Record.CLABE, "the refused instrument was not stored")

	// Reconcile every statement: the return after settlement reopens Rosa's
	// case; a second run changes nothing.
	reconcileAll := func() {
		pays, err := store.Payments(ctx, cycleID)
		require.NoError(t, err)
		dates := map[string]bool{}
		for _, p := range pays {
			if p.OperationDate != "" {
				dates[p.OperationDate] = true
			}
		}
		for _, m := range bank.Movements("") {
			if m.OperationDate != "" {
				dates[m.OperationDate] = true
			}
		}
		for d := range dates {
			path := filepath.Join(t.TempDir(), d+".csv")
			sf, err := os.Create(path)
			require.NoError(t, err)
			require.NoError(t, payment.WriteStatement(sf, bank.Statement(d)))
			require.NoError(t, sf.Close())
			code, out, errOut := runAs(ctx, t, as.manager, "reconcile", "--statement", path)
			require.Equal(t, 0, code, "%s\n%s", out, errOut)
		}
	}
	reconcileAll()
	reopened := waitFor(rosa, "reopened, waiting for an instrument", func(s apoyo.CaseState) bool {
		return s.Step == apoyo.StepPayment && s.Status == apoyo.CaseWaiting
	})
	require.Empty(t, reopened.Outcome)
	require.True(t, openTasks(rosa)["returned_after_settlement"])
	// The caseworkers' projection (what the queue and the demo read) shows
	// the reopened case too: the new run's writes are newer than the old's.
	require.Eventually(t, func() bool {
		proj, err := store.Case(ctx, caseOf(rosa))
		return err == nil && proj.Step == apoyo.StepPayment && proj.Status == apoyo.CaseWaiting
	}, 30*time.Second, 50*time.Millisecond, "the projection still shows the ended case")
	reconcileAll() // idempotent: no second reopening

	code, _, errOut = runAs(ctx, t, as.caseworker, "case", "set-payment-instrument", caseOf(rosa), "--clabe", good)
	require.Equal(t, 0, code, errOut)
	repaid := waitFor(rosa, "paid again", func(s apoyo.CaseState) bool { return s.Outcome == apoyo.OutcomeCompleted })
	require.Equal(t, "paid again after a return", repaid.Reason)
	require.Eventually(t, func() bool {
		proj, err := store.Case(ctx, caseOf(rosa))
		return err == nil && proj.Step == apoyo.StepDone && proj.Reason == "paid again after a return"
	}, 30*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool { return len(openTasks(rosa)) == 0 }, 30*time.Second, 50*time.Millisecond,
		"the return's task closed when the money left again")

	// The bank's own record: each person net paid once; Rosa twice out,
	// once back.
	audit := bank.Audit(cycleID)
	require.Zero(t, audit.DoublePaid)
	require.Equal(t, 2, audit.PaidOnce)
	rp := audit.Payee(cycleID, rosa.id)
	require.Equal(t, 2, rp.Orders)
	require.Equal(t, 2, rp.Paid)
	require.Equal(t, 1, rp.Returned)
	require.Equal(t, 1, audit.Payee(cycleID, tomas.id).Orders, "the retry sent no second order")
	code, _, errOut = runAs(ctx, t, as.auditor, "ledger", "verify")
	require.Equal(t, 0, code, errOut)
	// Nothing sits in an intermediate account.
	for _, state := range []string{program.CycleInTransit, program.CycleReturned} {
		bal, err := led.AccountBalance(ctx, program.CycleAccount(prog.ID, cycleID, state), program.LedgerFund(prog.ID, prog.Funds[0].Code))
		require.NoError(t, err)
		require.True(t, bal.IsZero(), "%s holds %s", state, bal)
	}
}
