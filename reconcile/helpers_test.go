package reconcile_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/activities"
	"github.com/apoyo-cdmx/apoyo/cases"
	"github.com/apoyo-cdmx/apoyo/internal/pgtest"
	"github.com/apoyo-cdmx/apoyo/internal/testfactory"
	"github.com/apoyo-cdmx/apoyo/ledger"
	"github.com/apoyo-cdmx/apoyo/payment"
	"github.com/apoyo-cdmx/apoyo/program"
	"github.com/apoyo-cdmx/apoyo/reconcile"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// Monday 2025-03-10, 10:00 in Mexico City: the statements' first day.
var (
	monday10 = time.Date(2025, 3, 10, 16, 0, 0, 0, time.UTC)
	day1     = "2025-03-10"
	day2     = "2025-03-11"
	benefit  = decimal.NewFromInt(5600)
)

// fixture is one database with a programme, a cycle and its accounts, and
// a reconciler on it.
type fixture struct {
	db    *pgtest.DB
	w     *testfactory.World
	l     *ledger.Ledger
	cs    *cases.Store
	progs *program.Store
	rec   *reconcile.Reconciler
	prog  apoyo.Program
	cycle apoyo.Cycle
	fund  string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := pgtest.New(t)
	w := testfactory.New(t, db)
	f := &fixture{db: db, w: w, l: w.Ledger, cs: w.Cases, progs: w.Programs, prog: w.Program(t, nil)}
	f.cycle = w.Cycle(t, f.prog.ID, &testfactory.CycleOpts{Name: "2025-03", CycleDate: monday10, Accounts: true})
	f.fund = program.LedgerFund(f.prog.ID, f.prog.Funds[0].Code)
	f.rec = reconcile.New(db.Pool, w.Ledger, w.Cases)
	return f
}

// beneficiary inserts a minimal beneficiary row (no real personal data:
// reconciliation never reads it) and the case the payments hang on.
func (f *fixture) beneficiary(t *testing.T, method string) string {
	t.Helper()
	id := f.w.Beneficiary(t, f.prog.ID, &testfactory.BeneficiaryOpts{PopulationGroup: "migrant", Rail: apoyo.Rail(method)})
	require.NoError(t, f.cs.Save(context.Background(), apoyo.Case{ProgramID: f.prog.ID, CycleID: f.cycle.ID, BeneficiaryID: id,
		Step: apoyo.StepPayment, Status: "running", Version: 1}))
	return id
}

func (f *fixture) meta(b string) map[string]string {
	return map[string]string{"program": f.prog.ID, "cycle": f.cycle.ID, "beneficiary": b}
}

func (f *fixture) account(state string) string {
	return program.CycleAccount(f.prog.ID, f.cycle.ID, state)
}

func (f *fixture) post(t *testing.T, key, debit, credit, desc string, meta map[string]string) ledger.Transaction {
	t.Helper()
	r := ledger.Transfer(key, debit, credit, f.fund, benefit, desc)
	r.Metadata = meta
	tx, err := f.l.Post(context.Background(), r)
	require.NoError(t, err)
	return tx
}

// inTransit does what the Disburse activity does up to the bank's answer:
// commit the entitlement, move it in transit, record the pending order.
func (f *fixture) inTransit(t *testing.T, rail apoyo.Rail) apoyo.Payment {
	t.Helper()
	method := string(rail)
	b := f.beneficiary(t, method)
	c := f.cycle.ID
	f.post(t, "commit:"+c+":"+b, f.account(program.CycleCommitted), program.AvailableAccount(f.prog.ID), "entitlement committed", f.meta(b))
	f.post(t, fmt.Sprintf("transit:%s:%s:1", c, b), f.account(program.CycleInTransit), f.account(program.CycleCommitted), "payment order, attempt 1", f.meta(b))
	orderID := activities.OrderID(c, b, 1)
	p := apoyo.Payment{OrderID: orderID, CaseID: apoyo.CaseID(c, b), ProgramID: f.prog.ID, CycleID: c, BeneficiaryID: b, Attempt: 1,
		Rail: rail, Amount: benefit, Fund: f.fund, TrackingKey: payment.NewTrackingKey(orderID), State: apoyo.PaymentPending}
	require.NoError(t, f.cs.RecordPayment(context.Background(), p))
	return p
}

// workerSettled books a settlement as Disburse does when the bank answers.
func (f *fixture) workerSettled(t *testing.T, p apoyo.Payment) {
	t.Helper()
	f.post(t, fmt.Sprintf("settle:%s:%s:1", p.CycleID, p.BeneficiaryID), f.account(program.CyclePaid), f.account(program.CycleInTransit),
		"payment settled", f.meta(p.BeneficiaryID))
	require.NoError(t, f.cs.UpdatePayment(context.Background(), p.OrderID, "settled", 0, "SBX0000000001", day1))
}

// workerUnpaid books an attempt that did not pay, as Disburse does.
func (f *fixture) workerUnpaid(t *testing.T, p apoyo.Payment, state string, cause int) {
	t.Helper()
	f.post(t, fmt.Sprintf("return:%s:%s:1", p.CycleID, p.BeneficiaryID), f.account(program.CycleReturned), f.account(program.CycleInTransit),
		"payment "+state, f.meta(p.BeneficiaryID))
	require.NoError(t, f.cs.UpdatePayment(context.Background(), p.OrderID, state, cause, "SBX0000000001", day1))
}

func orderLine(p apoyo.Payment, date, state string) payment.StatementLine {
	l := payment.StatementLine{OperationDate: date, TrackingKey: p.TrackingKey, OrderID: p.OrderID, Amount: p.Amount, State: state,
		CreatedAt: monday10.Add(-time.Minute)}
	if state == payment.SPEISettled {
		l.SettledAt = monday10
	}
	return l
}

// returnLine is a return of p; settledAt is zero for an order refused
// outright.
func returnLine(p apoyo.Payment, date string, cause int, settledAt, returnedAt time.Time) payment.StatementLine {
	return payment.StatementLine{OperationDate: date, TrackingKey: p.TrackingKey, OrderID: p.OrderID, Amount: p.Amount, State: payment.SPEIReturned,
		ReturnTrackingKey: "DEV" + p.TrackingKey[:20], ReturnCause: cause, CreatedAt: monday10.Add(-time.Minute), SettledAt: settledAt, ReturnedAt: returnedAt}
}

func statement(t *testing.T, lines ...payment.StatementLine) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, payment.WriteStatement(&buf, lines))
	return buf.String()
}

func (f *fixture) reconcile(t *testing.T, name, csv string) apoyo.ReconcileReport {
	t.Helper()
	rep, err := f.rec.Reconcile(context.Background(), name, strings.NewReader(csv))
	require.NoError(t, err)
	return rep
}

func (f *fixture) transactions(t *testing.T) int64 {
	t.Helper()
	var n int64
	require.NoError(t, f.db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM ledger_transactions").Scan(&n))
	return n
}

func (f *fixture) payment(t *testing.T, orderID string) apoyo.Payment {
	t.Helper()
	ps, err := f.cs.Payments(context.Background(), f.cycle.ID)
	require.NoError(t, err)
	for _, p := range ps {
		if p.OrderID == orderID {
			return p
		}
	}
	t.Fatalf("no payment %s", orderID)
	return apoyo.Payment{}
}

// balance is the cycle account's balance in state, in the fixture's fund.
func (f *fixture) balance(t *testing.T, state string) string {
	t.Helper()
	b, err := f.l.AccountBalance(context.Background(), f.account(state), f.fund)
	require.NoError(t, err)
	return b.StringFixed(2)
}

func (f *fixture) verify(t *testing.T) {
	t.Helper()
	rep, err := f.l.Verify(context.Background())
	require.NoError(t, err)
	require.True(t, rep.OK, "ledger problems: %+v", rep.Problems)
}

// counts lists the non-zero counts, for short assertions.
func counts(rep apoyo.ReconcileReport) map[apoyo.FindingClass]int {
	out := map[apoyo.FindingClass]int{}
	for c, n := range rep.Counts {
		if n != 0 {
			out[c] = n
		}
	}
	return out
}
