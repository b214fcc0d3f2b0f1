package activities_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/activities"
	"github.com/apoyo-cdmx/apoyo/bank/sandbox"
	"github.com/apoyo-cdmx/apoyo/cases"
	"github.com/apoyo-cdmx/apoyo/enrolment"
	"github.com/apoyo-cdmx/apoyo/internal/pgtest"
	"github.com/apoyo-cdmx/apoyo/internal/testfactory"
	"github.com/apoyo-cdmx/apoyo/ledger"
	"github.com/apoyo-cdmx/apoyo/payment"
	"github.com/apoyo-cdmx/apoyo/payment/httpprovider"
	"github.com/apoyo-cdmx/apoyo/program"
	"github.com/apoyo-cdmx/apoyo/workflows"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// cycleDate is the date every test cycle pays on.
var cycleDate = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// person is one roster row of a test; name is its key in fixture.ids.
type person struct {
	name      string
	birth     time.Time // zero: 1990-05-17 (testfactory's default)
	alcaldia  string    // "": Iztapalapa
	method    apoyo.Rail
	clabe     string
	card      string
	docType   apoyo.IDDocumentType // "": a CURP is given
	docNumber string
	needs     string // ';'-separated
}

// options tune a fixture.
type options struct {
	settleDelay time.Duration // 0: 20ms
	returnDelay time.Duration // rule 0013; 0: the sandbox's default (2s)
	alcaldias   []string      // the programme's eligibility list; nil: all
	// manualClock stops the bank's clock: orders stay pending until the
	// test calls f.bank.Advance, so no test depends on how fast the
	// machine is.
	manualClock bool
	people      []person
}

// fixture is one test's full stack: database, ledger, stores, sandbox bank
// over HTTP and the activities, with one programme and one running cycle.
type fixture struct {
	t      *testing.T
	ctx    context.Context
	db     *pgtest.DB
	w      *testfactory.World
	led    *ledger.Ledger
	progs  *program.Store
	bens   *enrolment.Store
	cases  *cases.Store
	bank   *sandbox.Bank
	client *httpprovider.Client
	spy    *spyProvider
	act    *activities.Activities
	prog   apoyo.Program
	cycle  apoyo.Cycle
	ids    map[string]string // person name → beneficiary id
	amount decimal.Decimal
}

func newFixture(t *testing.T, o options) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	f := &fixture{t: t, ctx: ctx, db: pgtest.New(t), ids: map[string]string{}}
	f.w = testfactory.New(t, f.db)
	f.led, f.progs, f.bens, f.cases = f.w.Ledger, f.w.Programs, f.w.Enrol, f.w.Cases

	f.prog = f.w.Program(t, &testfactory.ProgramOpts{Spec: &apoyo.ProgramSpec{Eligibility: apoyo.EligibilitySpec{Alcaldias: o.alcaldias}}})
	f.amount = f.prog.BenefitAmount

	f.importPeople(o.people)

	f.cycle = f.w.Cycle(t, f.prog.ID, &testfactory.CycleOpts{CycleDate: cycleDate, Accounts: true})
	require.Equal(t, apoyo.CycleStatus("running"), f.cycle.Status)

	delay := o.settleDelay
	if delay == 0 {
		delay = 20 * time.Millisecond
	}
	cfg := sandbox.Config{SettleDelay: delay, ReturnDelay: o.returnDelay, AutoCollect: true, TickInterval: 5 * time.Millisecond}
	if o.manualClock {
		frozen := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
		cfg.Now = func() time.Time { return frozen }
		cfg.SettleDelay = time.Hour
	}
	f.bank = sandbox.New(cfg)
	bctx, stop := context.WithCancel(context.Background())
	f.bank.Start(bctx)
	srv := httptest.NewServer(f.bank.Handler())
	t.Cleanup(func() { srv.Close(); stop(); _ = f.bank.Close() })
	f.client = httpprovider.NewClient(srv.URL, http.DefaultClient)
	f.spy = &spyProvider{Provider: f.client}

	f.act = &activities.Activities{Programs: f.progs, Beneficiaries: f.bens, Cases: f.cases, Ledger: f.led, Payments: f.spy,
		PollInterval: 10 * time.Millisecond, Log: slog.New(slog.DiscardHandler)}
	return f
}

// importPeople enrols the people through a roster CSV and records their ids.
func (f *fixture) importPeople(people []person) {
	t := f.t
	if len(people) == 0 {
		return
	}
	rows := make([]map[string]string, len(people))
	for i, p := range people {
		rows[i] = map[string]string{"given_names": p.name, "alcaldia": p.alcaldia, "payment_method": string(p.method),
			"clabe": p.clabe, "card_number": p.card, "id_document_type": string(p.docType), "id_document_number": p.docNumber,
			"needs": p.needs}
		if !p.birth.IsZero() {
			rows[i]["birth_date"] = p.birth.Format(time.DateOnly)
		}
	}
	for _, id := range f.w.People(t, f.prog.ID, &testfactory.PeopleOpts{Rail: apoyo.RailSPEI, Rows: rows}) {
		b, err := f.bens.Get(f.ctx, id)
		require.NoError(t, err)
		f.ids[b.Record.GivenNames] = id
	}
	for _, p := range people {
		require.NotEmpty(t, f.ids[p.name], p.name)
	}
}

func (f *fixture) id(name string) string {
	id, ok := f.ids[name]
	require.True(f.t, ok, "no person %q", name)
	return id
}

func (f *fixture) screenIn(name string) workflows.ScreenInput {
	return workflows.ScreenInput{ProgramID: f.prog.ID, CycleID: f.cycle.ID, BeneficiaryID: f.id(name), CycleDate: cycleDate, Version: 1}
}

// screen runs Screen for a person and requires a verified, eligible case.
func (f *fixture) screen(name string) {
	f.t.Helper()
	res, err := f.act.Screen(f.ctx, f.screenIn(name))
	require.NoError(f.t, err)
	require.Equal(f.t, apoyo.IdentityVerified, res.Identity, res.IdentityReason)
	require.True(f.t, res.Eligible, "%+v", res.Rules)
}

func (f *fixture) disburseIn(name string, attempt int) workflows.DisburseInput {
	return workflows.DisburseInput{ProgramID: f.prog.ID, CycleID: f.cycle.ID, BeneficiaryID: f.id(name), Amount: f.amount,
		Attempt: attempt, Version: 2 + int64(attempt)}
}

func (f *fixture) orderID(name string, attempt int) string {
	return activities.OrderID(f.cycle.ID, f.id(name), attempt)
}

func (f *fixture) account(state string) string {
	return program.CycleAccount(f.prog.ID, f.cycle.ID, state)
}

func (f *fixture) fund(code string) string { return program.LedgerFund(f.prog.ID, code) }

// balance is an account's balance over all funds.
func (f *fixture) balance(account string) decimal.Decimal {
	f.t.Helper()
	b, err := f.led.AccountBalance(f.ctx, account, "")
	require.NoError(f.t, err)
	return b
}

func (f *fixture) requireBalance(account string, want decimal.Decimal) {
	f.t.Helper()
	got := f.balance(account)
	require.True(f.t, want.Equal(got), "%s: balance %s, want %s", account, got, want)
}

// requireTransfer checks that key is a transfer of amount of fund from
// credit to debit.
func (f *fixture) requireTransfer(key, debit, credit, fund string, amount decimal.Decimal) ledger.Transaction {
	f.t.Helper()
	tx, err := f.led.TransactionByKey(f.ctx, key)
	require.NoError(f.t, err, key)
	require.Len(f.t, tx.Postings, 2, key)
	for _, p := range tx.Postings {
		require.Equal(f.t, fund, p.Fund, key)
		require.True(f.t, amount.Equal(p.Amount), "%s: amount %s, want %s", key, p.Amount, amount)
		switch p.Direction {
		case ledger.Debit:
			require.Equal(f.t, debit, p.Account, key)
		case ledger.Credit:
			require.Equal(f.t, credit, p.Account, key)
		}
	}
	return tx
}

func (f *fixture) requireNoTransaction(key string) {
	f.t.Helper()
	_, err := f.led.TransactionByKey(f.ctx, key)
	require.ErrorIs(f.t, err, ledger.ErrTransactionNotFound, key)
}

// ledgerKeys lists the idempotency keys of a beneficiary's transactions,
// in journal order.
func (f *fixture) ledgerKeys(name string) []string {
	f.t.Helper()
	rows, err := f.db.Pool.Query(f.ctx, `SELECT idempotency_key FROM ledger_transactions WHERE metadata->>'beneficiary' = $1 ORDER BY id`, f.id(name))
	require.NoError(f.t, err)
	var keys []string
	for rows.Next() {
		var k string
		require.NoError(f.t, rows.Scan(&k))
		keys = append(keys, k)
	}
	require.NoError(f.t, rows.Err())
	return keys
}

func (f *fixture) verifyLedger() {
	f.t.Helper()
	rep, err := f.led.Verify(f.ctx)
	require.NoError(f.t, err)
	require.True(f.t, rep.OK, "ledger problems: %+v", rep.Problems)
	tb, err := f.led.TrialBalance(f.ctx)
	require.NoError(f.t, err)
	require.True(f.t, tb.Balanced, "trial balance: %+v", tb.Totals)
}

// moves counts the bank's movements of an order by kind.
func (f *fixture) moves(orderID string) map[sandbox.MovementKind]int {
	n := map[sandbox.MovementKind]int{}
	for _, m := range f.bank.Movements("") {
		if m.OrderID == orderID {
			n[m.Kind]++
		}
	}
	return n
}

// bankPaid is the bank's own record of a person in the test cycle: how
// many times money left for them, net of returns (sandbox.Audit), not
// apoyo's payments table, whose unique index says "once" by construction.
func (f *fixture) bankPaid(name string) sandbox.Payee {
	return f.bank.Audit(f.cycle.ID).Payee(f.cycle.ID, f.id(name))
}

// bankOrders lists the order ids the bank accepted, in order.
func (f *fixture) bankOrders() []string {
	var ids []string
	for _, m := range f.bank.Movements("") {
		if m.Kind == sandbox.MovementAccepted {
			ids = append(ids, m.OrderID)
		}
	}
	return ids
}

// payments returns the cycle's payment rows of a person by order id.
func (f *fixture) payments(name string) map[string]apoyo.Payment {
	f.t.Helper()
	ps, err := f.cases.Payments(f.ctx, f.cycle.ID)
	require.NoError(f.t, err)
	out := map[string]apoyo.Payment{}
	for _, p := range ps {
		if p.BeneficiaryID == f.id(name) {
			out[p.OrderID] = p
		}
	}
	return out
}

// spyProvider wraps the real client: it counts calls and can inject
// failures and hooks, to play crashes and lost answers.
type spyProvider struct {
	payment.Provider

	mu      sync.Mutex
	submits int
	errs    []error
	// submitErr, when set, is returned by Submit without asking the bank
	// (the request never reached it).
	submitErr error
	// afterSubmit, when set, runs after a Submit that reached the bank.
	afterSubmit func()
	// beforeSubmit, when set, runs before Submit asks the bank (a call
	// still on its way).
	beforeSubmit func()
	// statusFailures is how many of the next Status calls fail with
	// EUNAVAILABLE without asking the bank.
	statusFailures int
	// afterStatus, when set, runs once, after the next Status call has
	// had the bank's answer (another try running in between).
	afterStatus func()
}

func (s *spyProvider) Status(ctx context.Context, orderID string) (payment.Status, error) {
	s.mu.Lock()
	fail := s.statusFailures > 0
	if fail {
		s.statusFailures--
	}
	s.mu.Unlock()
	if fail {
		return payment.Status{}, payment.ErrUnavailable.With("GET /v1/orders/%s: HTTP 503", orderID)
	}
	st, err := s.Provider.Status(ctx, orderID)
	s.mu.Lock()
	after := s.afterStatus
	s.afterStatus = nil
	s.mu.Unlock()
	if after != nil {
		after()
	}
	return st, err
}

func (s *spyProvider) Submit(ctx context.Context, o payment.Order) (payment.Status, error) {
	s.mu.Lock()
	s.submits++
	inject, hook, before := s.submitErr, s.afterSubmit, s.beforeSubmit
	s.mu.Unlock()
	if inject != nil {
		return payment.Status{}, inject
	}
	if before != nil {
		before()
		s.mu.Lock()
		hook = s.afterSubmit // the hook as it is once the call goes on
		s.mu.Unlock()
	}
	st, err := s.Provider.Submit(ctx, o)
	s.mu.Lock()
	s.errs = append(s.errs, err)
	s.mu.Unlock()
	if hook != nil && err == nil {
		hook()
	}
	return st, err
}

func (s *spyProvider) set(fn func(s *spyProvider)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s)
}

func (s *spyProvider) submitCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.submits
}

func (s *spyProvider) submitErrs() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.errs...)
}

// reasonOf is the reason of an activity's error as Temporal sees it (its
// application error type).
func reasonOf(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae.Type()
	}
	return apoyo.ErrorReasonOf(err)
}

// nonRetryable reports whether Temporal would give up on err.
func nonRetryable(err error) bool {
	var ae *temporal.ApplicationError
	return errors.As(err, &ae) && ae.NonRetryable()
}
