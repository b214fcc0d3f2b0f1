package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/internal/pgtest"
	"github.com/apoyo-cdmx/apoyo/ledger"
	"github.com/apoyo-cdmx/apoyo/program"
)

// runWithReport is run, after checking that the root wires the report
// command (a test that added it itself would pass with a binary that has
// no such command).
func runWithReport(ctx context.Context, t *testing.T, token string, args ...string) (int, string, string) {
	t.Helper()
	requireCommand(t, "report", "cycle")
	return runAs(ctx, t, token, args...)
}

// TestReportCycleCommand seeds a cycle of 9 paid people (7 H, 2 X) and
// reads its report as JSON and CSV: totals exact, X hidden as "<5" and M's
// 0 hidden with it, so X cannot be read as 9 − 7.
func TestReportCycleCommand(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t)
	as := newStaff(t, db.Pool)
	l := ledger.New(db.Pool, ledger.Options{})
	day := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	p, err := program.Build(apoyo.ProgramSpec{Name: "Protección al Ingreso", Funds: program.DefaultFunds(decimal.RequireFromString("1000000"))}, day)
	require.NoError(t, err)
	_, err = program.NewStore(db.Pool).Create(ctx, p, l)
	require.NoError(t, err)
	l.Close()
	const cyc = "cyc_clireport01"
	_, err = db.Pool.Exec(ctx, `INSERT INTO cycles (id, program_id, name, cycle_date) VALUES ($1, $2, '2025-06', $3)`, cyc, p.ID, day)
	require.NoError(t, err)
	for i := range 9 {
		sex := "H"
		if i >= 7 {
			sex = "X"
		}
		b := fmt.Sprintf("ben_%016d", i)
		_, err := db.Pool.Exec(ctx, `INSERT INTO beneficiaries (id, program_id, birth_date, sex, nationality, population_group, alcaldia,
				payment_method, consent, given_names, first_surname, key_id)
			VALUES ($1, $2, '1990-01-15', $3, 'VEN', 'refugee', 'Iztapalapa', 'spei', true, '\x00'::bytea, '\x00'::bytea, 'k1')`, b, p.ID, sex)
		require.NoError(t, err)
		caseID := apoyo.CaseID(cyc, b)
		_, err = db.Pool.Exec(ctx, `INSERT INTO cases (id, program_id, cycle_id, beneficiary_id, step, status, outcome)
			VALUES ($1, $2, $3, $4, 'done', 'done', 'completed')`, caseID, p.ID, cyc, b)
		require.NoError(t, err)
		_, err = db.Pool.Exec(ctx, `INSERT INTO payments (order_id, case_id, program_id, cycle_id, beneficiary_id, attempt, rail, amount, fund, tracking_key, state)
			VALUES ($1, $2, $3, $4, $5, 1, 'spei', 5600.00, $6, $1, 'settled')`, "ord"+b, caseID, p.ID, cyc, b, program.LedgerFund(p.ID, "city"))
		require.NoError(t, err)
	}

	code, out, errOut := runWithReport(ctx, t, as.manager, "report", "cycle", cyc, "--database-url", db.URL, "-o", "json")
	require.Equal(t, 0, code, errOut)
	var r apoyo.CycleReport
	require.NoError(t, json.Unmarshal([]byte(out), &r))
	require.Equal(t, int64(9), r.Totals.Enrolled)
	require.Equal(t, int64(9), r.Totals.Paid)
	require.Equal(t, "50400.00", r.Totals.AmountPaid.StringFixed(2))
	require.Equal(t, "sex", r.Dimensions[0].Name)
	require.Equal(t, apoyo.ReportCount{Value: 7}, r.Dimensions[0].Categories[0].Enrolled)
	require.Equal(t, apoyo.ReportCount{Suppressed: true, Label: "<5"}, r.Dimensions[0].Categories[1].Enrolled)
	require.Equal(t, apoyo.ReportCount{Suppressed: true, Label: "<5"}, r.Dimensions[0].Categories[2].Enrolled)
	require.Contains(t, out, `"suppressed": true`)
	require.NotContains(t, out, "ben_")

	code, out, errOut = runWithReport(ctx, t, as.manager, "report", "cycle", cyc, "--database-url", db.URL, "-o", "csv")
	require.Equal(t, 0, code, errOut)
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"dimension", "category", "enrolled", "approved", "paid", "amount_paid"}, recs[0])
	require.Equal(t, []string{"total", "all", "9", "9", "9", "50400.00"}, recs[1])
	require.Contains(t, recs, []string{"sex", "X", "<5", "<5", "<5", "x"})
	require.Contains(t, recs, []string{"sex", "H", "7", "7", "7", "39200.00"})
	require.Contains(t, recs, []string{"sex", "M", "<5", "<5", "<5", "x"})
	require.Contains(t, recs, []string{"alcaldia", "Iztapalapa", "9", "9", "9", "50400.00"})

	code, out, errOut = runWithReport(ctx, t, as.manager, "report", "cycle", cyc, "--database-url", db.URL, "--min-cell", "2")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "BY sex")

	code, _, errOut = runWithReport(ctx, t, as.manager, "report", "cycle", "cyc_nosuchcycle", "--database-url", db.URL)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "not found")

	code, _, _ = runWithReport(ctx, t, as.manager, "report", "cycle", cyc, "--database-url", db.URL, "-o", "xml")
	require.Equal(t, 2, code)
	code, _, _ = runWithReport(ctx, t, as.manager, "report", "cycle", cyc, "--database-url", db.URL, "--min-cell", "1")
	require.Equal(t, 2, code)
}
