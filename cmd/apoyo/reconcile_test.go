package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/activities"
	"github.com/apoyo-cdmx/apoyo/cases"
	"github.com/apoyo-cdmx/apoyo/internal/pgtest"
	"github.com/apoyo-cdmx/apoyo/ledger"
	"github.com/apoyo-cdmx/apoyo/payment"
	"github.com/apoyo-cdmx/apoyo/program"
)

// runWithReconcile is run, after checking that the root wires the
// reconcile command (a test that added it itself would pass with a binary
// that has no such command).
func runWithReconcile(ctx context.Context, t *testing.T, token string, args ...string) (int, string, string) {
	t.Helper()
	requireCommand(t, "reconcile")
	return runAs(ctx, t, token, args...)
}

// TestReconcileCommand runs `apoyo reconcile` on a real database with one
// payment order in transit: a clean statement exits 0 and books the
// settlement once; a statement with an unknown line exits 1 and names it;
// a malformed one exits 2 naming row and field.
func TestReconcileCommand(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t)
	as := newStaff(t, db.Pool)
	l := ledger.New(db.Pool, ledger.Options{})
	day := time.Date(2025, 3, 10, 16, 0, 0, 0, time.UTC)
	p, err := program.Build(apoyo.ProgramSpec{Name: "Ingreso Inclusivo", Funds: program.DefaultFunds(decimal.RequireFromString("100000"))}, day)
	require.NoError(t, err)
	_, err = program.NewStore(db.Pool).Create(ctx, p, l)
	require.NoError(t, err)
	cs := cases.NewStore(db.Pool)
	cyc, _, err := cs.CreateCycle(ctx, apoyo.Cycle{ProgramID: p.ID, Name: "2025-03", CycleDate: day})
	require.NoError(t, err)
	require.NoError(t, program.EnsureCycleAccounts(ctx, l, p.ID, cyc.ID))
	ben := "ben_0000000000000001"
	_, err = db.Pool.Exec(ctx, `INSERT INTO beneficiaries (id, program_id, birth_date, sex, nationality, population_group, alcaldia,
		payment_method, consent, given_names, first_surname, key_id)
		VALUES ($1, $2, '1990-05-17', 'M', 'HND', 'migrant', 'Iztapalapa', 'spei', true, '\x00', '\x00', 'test')`, ben, p.ID)
	require.NoError(t, err)
	require.NoError(t, cs.Save(ctx, apoyo.Case{ProgramID: p.ID, CycleID: cyc.ID, BeneficiaryID: ben, Step: apoyo.StepPayment, Status: "running", Version: 1}))
	// What Disburse books before the bank answers.
	fund, amount := program.LedgerFund(p.ID, p.Funds[0].Code), decimal.NewFromInt(5600)
	acct := func(s string) string { return program.CycleAccount(p.ID, cyc.ID, s) }
	for _, r := range []ledger.TransactionRequest{
		ledger.Transfer("commit:"+cyc.ID+":"+ben, acct(program.CycleCommitted), program.AvailableAccount(p.ID), fund, amount, "entitlement committed"),
		ledger.Transfer(fmt.Sprintf("transit:%s:%s:1", cyc.ID, ben), acct(program.CycleInTransit), acct(program.CycleCommitted), fund, amount, "payment order, attempt 1"),
	} {
		_, err := l.Post(ctx, r)
		require.NoError(t, err)
	}
	l.Close()
	orderID := activities.OrderID(cyc.ID, ben, 1)
	pay := apoyo.Payment{OrderID: orderID, CaseID: apoyo.CaseID(cyc.ID, ben), ProgramID: p.ID, CycleID: cyc.ID, BeneficiaryID: ben, Attempt: 1,
		Rail: "spei", Amount: amount, Fund: fund, TrackingKey: payment.NewTrackingKey(orderID), State: "pending"}
	require.NoError(t, cs.RecordPayment(ctx, pay))

	dir := t.TempDir()
	write := func(name string, lines ...payment.StatementLine) string {
		var buf bytes.Buffer
		require.NoError(t, payment.WriteStatement(&buf, lines))
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
		return path
	}
	settled := payment.StatementLine{OperationDate: "2025-03-10", TrackingKey: pay.TrackingKey, OrderID: orderID, Amount: amount, State: "LQ",
		CreatedAt: day, SettledAt: day}
	clean := write("clean.csv", settled)

	// A token that is not valid is refused as such: no warning about
	// Temporal, whose absence is not the trouble.
	code, _, errOut := runWithReconcile(ctx, t, "apoyo_not_a_token", "reconcile", "--statement", clean, "--database-url", db.URL)
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "invalid token")
	require.NotContains(t, errOut, "not reopened", "an identity refused is not Temporal missing")

	code, out, errOut := runWithReconcile(ctx, t, as.manager, "reconcile", "--statement", clean, "--database-url", db.URL, "-o", "json")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, errOut, "not reopened until reconciliation runs with Temporal", "without Temporal it still reconciles, and says what waits")
	var rep apoyo.ReconcileReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Equal(t, 1, rep.Counts[apoyo.FindingMatched])
	require.Equal(t, 1, rep.Posted)
	require.Zero(t, rep.Unmatched)

	code, out, errOut = runWithReconcile(ctx, t, as.manager, "reconcile", "--statement", clean, "--database-url", db.URL)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "posted 0 new ledger transactions")
	require.Contains(t, out, "reconciled before")
	require.Contains(t, out, "reconciled: OK")

	unknown := settled
	unknown.TrackingKey, unknown.OrderID = "APOYOUNKNOWNKEY", "pay_unknown_1"
	withUnknown := write("unknown.csv", settled, unknown)
	code, out, _ = runWithReconcile(ctx, t, as.manager, "reconcile", "--statement", withUnknown, "--database-url", db.URL, "-o", "json")
	require.Equal(t, 1, code, out)
	rep = apoyo.ReconcileReport{}
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Equal(t, 1, rep.Counts[apoyo.FindingUnknownInStatement])
	require.Equal(t, 1, rep.Unmatched)
	require.Equal(t, "APOYOUNKNOWNKEY", rep.Problems[apoyo.FindingUnknownInStatement][0].TrackingKey)
	require.Equal(t, 3, rep.Problems[apoyo.FindingUnknownInStatement][0].Line)
	code, out, _ = runWithReconcile(ctx, t, as.manager, "reconcile", "--statement", withUnknown, "--database-url", db.URL)
	require.Equal(t, 1, code)
	require.Contains(t, out, "APOYOUNKNOWNKEY")
	require.Contains(t, out, "reconciliation FAILED: 1 unmatched")

	bad := filepath.Join(dir, "bad.csv")
	data, err := os.ReadFile(clean)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bad, bytes.Replace(data, []byte(",5600.00,"), []byte(",56OO.00,"), 1), 0o600))
	code, _, errOut = runWithReconcile(ctx, t, as.manager, "reconcile", "--statement", bad, "--database-url", db.URL)
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "row 2: amount")
}
