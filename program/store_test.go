package program_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/internal/pgtest"
	"github.com/apoyo-cdmx/apoyo/ledger"
	"github.com/apoyo-cdmx/apoyo/program"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func setup(t *testing.T) (*program.Store, *ledger.Ledger) {
	t.Helper()
	db := pgtest.New(t)
	l := ledger.New(db.Pool, ledger.Options{})
	t.Cleanup(l.Close)
	return program.NewStore(db.Pool), l
}

func requireVerified(t *testing.T, l *ledger.Ledger) {
	t.Helper()
	rep, err := l.Verify(context.Background())
	require.NoError(t, err)
	require.True(t, rep.OK, "verify problems: %+v", rep.Problems)
}

func TestCreateOpensAccountsAndDepositsBudgets(t *testing.T) {
	t.Parallel()
	s, l := setup(t)
	ctx := context.Background()
	p, err := program.Build(apoyo.ProgramSpec{Name: "Protección al Ingreso", Funds: program.DefaultFunds(d("1000000.01"))}, now)
	require.NoError(t, err)
	got, err := s.Create(ctx, p, l)
	require.NoError(t, err)
	require.Equal(t, p.ID, got.ID)

	// One ledger fund per programme fund, named apart from other programmes.
	funds, err := l.Funds(ctx)
	require.NoError(t, err)
	var codes []string
	for _, f := range funds {
		codes = append(codes, f.Code)
	}
	require.ElementsMatch(t, []string{p.ID + ".city", p.ID + ".gcf", p.ID + ".un"}, codes)

	bals, err := l.Balances(ctx, apoyo.BalanceFilter{AccountPrefix: "prg:" + p.ID + ":"})
	require.NoError(t, err)
	type key struct{ account, fund string }
	got2 := map[key]string{}
	for _, b := range bals {
		got2[key{b.Account, b.Fund}] = b.Balance.StringFixed(2)
	}
	avail, funding := program.AvailableAccount(p.ID), program.FundingAccount(p.ID)
	require.Equal(t, map[key]string{
		{avail, program.LedgerFund(p.ID, "city")}:   "600000.01",
		{avail, program.LedgerFund(p.ID, "gcf")}:    "250000.00",
		{avail, program.LedgerFund(p.ID, "un")}:     "150000.00",
		{funding, program.LedgerFund(p.ID, "city")}: "600000.01",
		{funding, program.LedgerFund(p.ID, "gcf")}:  "250000.00",
		{funding, program.LedgerFund(p.ID, "un")}:   "150000.00",
	}, got2)
	tx, err := l.TransactionByKey(ctx, "deposit:"+p.ID+":gcf")
	require.NoError(t, err)
	require.Equal(t, p.ID, tx.Metadata["program"])

	a, err := l.Account(ctx, avail)
	require.NoError(t, err)
	require.Equal(t, apoyo.Asset, a.Type)
	require.NotNil(t, a.MinBalance)
	require.True(t, a.MinBalance.IsZero())
	a, err = l.Account(ctx, funding)
	require.NoError(t, err)
	require.Equal(t, apoyo.Equity, a.Type)
	requireVerified(t, l)

	// Creating it again (a retry after a crash) changes nothing.
	again, err := s.Create(ctx, p, l)
	require.NoError(t, err)
	require.Equal(t, p.ID, again.ID)
	bal, err := l.AccountBalance(ctx, avail, "")
	require.NoError(t, err)
	require.Equal(t, "1000000.01", bal.StringFixed(2))
	requireVerified(t, l)

	// Available can never go below zero: more than the budget cannot leave.
	require.NoError(t, program.EnsureCycleAccounts(ctx, l, p.ID, "2025-07"))
	require.NoError(t, program.EnsureCycleAccounts(ctx, l, p.ID, "2025-07"), "idempotent")
	committed := program.CycleAccount(p.ID, "2025-07", program.CycleCommitted)
	_, err = l.Post(ctx, ledger.Transfer("commit:1", committed, avail, program.LedgerFund(p.ID, "un"), d("150000.01"), "commit"))
	require.ErrorIs(t, err, ledger.ErrBalanceRule)
	_, err = l.Post(ctx, ledger.Transfer("commit:2", committed, avail, program.LedgerFund(p.ID, "un"), d("5600"), "commit"))
	require.NoError(t, err)
	paid, err := l.Account(ctx, program.CycleAccount(p.ID, "2025-07", program.CyclePaid))
	require.NoError(t, err)
	require.Equal(t, apoyo.Expense, paid.Type)
	require.Nil(t, paid.MinBalance)
	for _, st := range []string{program.CycleInTransit, program.CycleReturned} {
		a, err := l.Account(ctx, program.CycleAccount(p.ID, "2025-07", st))
		require.NoError(t, err)
		require.Equal(t, apoyo.Asset, a.Type)
		require.NotNil(t, a.MinBalance)
	}
	require.Error(t, program.EnsureCycleAccounts(ctx, l, p.ID, "bad:cycle"))
	requireVerified(t, l)
}

func TestCreateSameNameConflicts(t *testing.T) {
	t.Parallel()
	s, l := setup(t)
	ctx := context.Background()
	p1, err := program.Build(apoyo.ProgramSpec{Name: "Apoyo Emergente", Funds: program.DefaultFunds(d("5600"))}, now)
	require.NoError(t, err)
	_, err = s.Create(ctx, p1, l)
	require.NoError(t, err)

	p2, err := program.Build(apoyo.ProgramSpec{Name: "apoyo emergente", Funds: program.DefaultFunds(d("100"))}, now)
	require.NoError(t, err)
	_, err = s.Create(ctx, p2, l)
	require.ErrorIs(t, err, program.ErrExists)
	require.Equal(t, apoyo.ECONFLICT, apoyo.ErrorCodeOf(err))
	require.Equal(t, "program.exists", apoyo.ErrorReasonOf(err))

	// The loser left no money behind.
	funds, err := l.Funds(ctx)
	require.NoError(t, err)
	require.Len(t, funds, 3)
	bals, err := l.Balances(ctx, apoyo.BalanceFilter{AccountPrefix: "prg:" + p2.ID})
	require.NoError(t, err)
	require.Empty(t, bals)

	// An invalid programme is refused before anything is written.
	bad := p2
	bad.Name = "other"
	bad.Funds = nil
	_, err = s.Create(ctx, bad, l)
	require.ErrorIs(t, err, program.ErrInvalid)
	requireVerified(t, l)
}

func TestGetByNameList(t *testing.T) {
	t.Parallel()
	s, l := setup(t)
	ctx := context.Background()
	spec, err := program.LoadSpecYAML(stringsReader(`
name: Zeta
funds: [{code: city, name: Presupuesto CDMX, budget: 1000.50}, {code: zero, budget: 0}]
approval: {required: [SIBISO, STYFE], quorum: 1, sla: 2d}
`))
	require.NoError(t, err)
	pz, err := program.Build(spec, now)
	require.NoError(t, err)
	_, err = s.Create(ctx, pz, l)
	require.NoError(t, err)
	pa, err := program.Build(apoyo.ProgramSpec{Name: "alfa", Funds: program.DefaultFunds(d("1"))}, now)
	require.NoError(t, err)
	_, err = s.Create(ctx, pa, l)
	require.NoError(t, err)

	got, err := s.Get(ctx, pz.ID)
	require.NoError(t, err)
	require.Equal(t, pz.ID, got.ID)
	require.Equal(t, "Zeta", got.Name)
	require.Equal(t, now, got.CreatedAt)
	require.True(t, got.BenefitAmount.Equal(pz.BenefitAmount))
	require.Len(t, got.Funds, 2)
	require.True(t, got.Funds[0].Budget.Equal(d("1000.50")))
	require.Equal(t, pz.Approval, got.Approval)
	require.Equal(t, pz.Eligibility, got.Eligibility)
	require.Equal(t, pz.Identity, got.Identity)
	require.Equal(t, pz.Referrals, got.Referrals)

	byName, err := s.ByName(ctx, "ZETA")
	require.NoError(t, err)
	require.Equal(t, pz.ID, byName.ID)

	_, err = s.Get(ctx, "prg_aaaaaaaaaaaaaaaa")
	require.ErrorIs(t, err, program.ErrNotFound)
	require.Equal(t, "program.not_found", apoyo.ErrorReasonOf(err))
	_, err = s.ByName(ctx, "nope")
	require.ErrorIs(t, err, program.ErrNotFound)

	list, err := s.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, []string{"alfa", "Zeta"}, []string{list[0].Name, list[1].Name})

	// A zero budget opens the fund but deposits nothing.
	bal, err := l.AccountBalance(ctx, program.AvailableAccount(pz.ID), program.LedgerFund(pz.ID, "zero"))
	require.NoError(t, err)
	require.True(t, bal.IsZero())
	requireVerified(t, l)
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
