package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/internal/pgtest"
	"github.com/apoyo-cdmx/apoyo/ledger"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

var zero = decimal.Zero

// fixture is a small programme: a budget (asset, never below zero) funded
// from two funds through an equity account, and a benefits expense.
type fixture struct {
	l  *ledger.Ledger
	db *pgtest.DB
}

func setup(t *testing.T, opts ledger.Options) *fixture {
	t.Helper()
	db := pgtest.New(t)
	l := ledger.New(db.Pool, opts)
	t.Cleanup(l.Close)
	ctx := context.Background()
	for _, f := range []ledger.Fund{{Code: "city", Name: "City budget"}, {Code: "gcf", Name: "Global Cities Fund"}} {
		require.NoError(t, l.CreateFund(ctx, f))
	}
	for _, a := range []ledger.AccountSpec{
		{Code: "funding", Type: apoyo.Equity, Currency: "MXN"},
		{Code: "budget", Type: apoyo.Asset, Currency: "MXN", MinBalance: &zero},
		{Code: "benefits", Type: apoyo.Expense, Currency: "MXN"},
		{Code: "usd-cash", Type: apoyo.Asset, Currency: "USD"},
	} {
		_, err := l.CreateAccount(ctx, a)
		require.NoError(t, err)
	}
	return &fixture{l: l, db: db}
}

func (f *fixture) fund(t *testing.T, fund string, amount string) {
	t.Helper()
	_, err := f.l.Post(context.Background(), ledger.Transfer("deposit:"+fund+":"+amount, "budget", "funding", fund, d(amount), "deposit"))
	require.NoError(t, err)
}

func requireVerified(t *testing.T, l *ledger.Ledger) apoyo.LedgerVerifyReport {
	t.Helper()
	rep, err := l.Verify(context.Background())
	require.NoError(t, err)
	require.True(t, rep.OK, "verify problems: %+v", rep.Problems)
	return rep
}

func TestTransferBalancesTrialBalanceStatement(t *testing.T) {
	t.Parallel()
	f := setup(t, ledger.Options{})
	ctx := context.Background()
	f.fund(t, "city", "10000.00")
	f.fund(t, "gcf", "5600")

	tx, err := f.l.Post(ctx, ledger.Transfer("pay:c1:b1", "benefits", "budget", "city", d("5600.00"), "benefit"))
	require.NoError(t, err)
	require.Equal(t, int64(3), tx.ID)
	require.False(t, tx.Replayed)

	bal, err := f.l.AccountBalance(ctx, "budget", "")
	require.NoError(t, err)
	require.Equal(t, "10000.00", bal.StringFixed(2))
	bal, err = f.l.AccountBalance(ctx, "budget", "city")
	require.NoError(t, err)
	require.Equal(t, "4400.00", bal.StringFixed(2), "balances per fund")

	tb, err := f.l.TrialBalance(ctx)
	require.NoError(t, err)
	require.True(t, tb.Balanced)
	require.Equal(t, "21200.00", tb.Totals[0].Debits.StringFixed(2))

	st, err := f.l.Statement(ctx, "budget", apoyo.StatementOptions{})
	require.NoError(t, err)
	require.Len(t, st.Lines, 3)
	require.Equal(t, "15600.00", st.Lines[1].Balance.StringFixed(2))
	require.Equal(t, "10000.00", st.Lines[2].Balance.StringFixed(2))
	require.Equal(t, "5600.00", st.Lines[2].Credit.StringFixed(2))

	requireVerified(t, f.l)
}

func TestIdempotentReplayAndConflict(t *testing.T) {
	t.Parallel()
	f := setup(t, ledger.Options{})
	ctx := context.Background()
	f.fund(t, "city", "20000")
	first, err := f.l.Post(ctx, ledger.Transfer("pay:c1:b1", "benefits", "budget", "city", d("5600.00"), "benefit"))
	require.NoError(t, err)
	// 5600 and 5600.00 are the same amount: a replay.
	again, err := f.l.Post(ctx, ledger.Transfer("pay:c1:b1", "benefits", "budget", "city", d("5600"), "benefit"))
	require.NoError(t, err)
	require.True(t, again.Replayed)
	require.Equal(t, first.ID, again.ID)

	_, err = f.l.Post(ctx, ledger.Transfer("pay:c1:b1", "benefits", "budget", "city", d("5601.00"), "benefit"))
	require.ErrorIs(t, err, ledger.ErrIdempotencyConflict)
	require.Equal(t, apoyo.ECONFLICT, apoyo.ErrorCodeOf(err))

	bal, err := f.l.AccountBalance(ctx, "benefits", "")
	require.NoError(t, err)
	require.Equal(t, "5600.00", bal.StringFixed(2), "paid once")
}

func TestBadInputTypedErrors(t *testing.T) {
	t.Parallel()
	f := setup(t, ledger.Options{})
	ctx := context.Background()
	f.fund(t, "city", "1000")
	_, err := f.l.CreateAccount(ctx, ledger.AccountSpec{Code: "old", Type: apoyo.Expense, Currency: "MXN"})
	require.NoError(t, err)
	require.NoError(t, f.l.CloseAccount(ctx, "old"))

	two := func(key string, debit, credit string, da, ca string) ledger.TransactionRequest {
		return ledger.TransactionRequest{IdempotencyKey: key, Currency: "MXN", Postings: []ledger.Posting{
			{Account: debit, Fund: "city", Direction: ledger.Debit, Amount: d(da)},
			{Account: credit, Fund: "city", Direction: ledger.Credit, Amount: d(ca)},
		}}
	}
	cases := []struct {
		name string
		req  ledger.TransactionRequest
		want error
	}{
		{"unbalanced", two("k1", "benefits", "budget", "10", "9"), ledger.ErrUnbalanced},
		{"zero", two("k2", "benefits", "budget", "0", "0"), ledger.ErrNonPositiveAmount},
		{"negative", two("k3", "benefits", "budget", "-5", "-5"), ledger.ErrNonPositiveAmount},
		{"unknown account", two("k4", "nope", "budget", "1", "1"), ledger.ErrUnknownAccount},
		{"closed account", two("k5", "old", "budget", "1", "1"), ledger.ErrAccountClosed},
		{"mixed currency", two("k6", "usd-cash", "budget", "1", "1"), ledger.ErrCurrencyMismatch},
		{"three decimals", two("k7", "benefits", "budget", "1.005", "1.005"), ledger.ErrAmountPrecision},
		{"no key", two("", "benefits", "budget", "1", "1"), ledger.ErrMissingKey},
		{"one posting", ledger.TransactionRequest{IdempotencyKey: "k8", Currency: "MXN", Postings: []ledger.Posting{{Account: "budget", Fund: "city", Direction: ledger.Debit, Amount: d("1")}}}, ledger.ErrTooFewPostings},
		{"unknown currency", ledger.TransactionRequest{IdempotencyKey: "k9", Currency: "EUR", Postings: two("", "benefits", "budget", "1", "1").Postings}, ledger.ErrUnknownCurrency},
		{"unknown fund", ledger.Transfer("k10", "benefits", "budget", "nofund", d("1"), ""), ledger.ErrUnknownFund},
		{"budget below zero", ledger.Transfer("k11", "benefits", "budget", "city", d("1000.01"), ""), ledger.ErrBalanceRule},
	}
	for _, c := range cases {
		_, err := f.l.Post(ctx, c.req)
		require.Error(t, err, c.name)
		require.ErrorIs(t, err, c.want, "%s: got %v", c.name, err)
		for _, other := range cases {
			if other.want != c.want {
				require.False(t, errors.Is(err, other.want), "%s also matches %v", c.name, other.want)
			}
		}
	}
	// The key reused with other content.
	_, err = f.l.Post(ctx, ledger.Transfer("used", "benefits", "budget", "city", d("1"), ""))
	require.NoError(t, err)
	_, err = f.l.Post(ctx, ledger.Transfer("used", "benefits", "budget", "city", d("2"), ""))
	require.ErrorIs(t, err, ledger.ErrIdempotencyConflict)
	requireVerified(t, f.l)
}

func TestReversalMirrorsAndOnlyOnce(t *testing.T) {
	t.Parallel()
	f := setup(t, ledger.Options{})
	ctx := context.Background()
	f.fund(t, "gcf", "5600")
	pay, err := f.l.Post(ctx, ledger.Transfer("pay:c1:b1", "benefits", "budget", "gcf", d("5600"), ""))
	require.NoError(t, err)
	rev, err := f.l.Reverse(ctx, pay.ID, "reverse:pay:c1:b1", "returned by the bank")
	require.NoError(t, err)
	require.Equal(t, pay.ID, rev.ReversesID)
	require.Equal(t, ledger.Debit, rev.Postings[1].Direction, "the budget's credit is mirrored by a debit")

	// Replaying the same reversal is idempotent; a second one is refused.
	again, err := f.l.Reverse(ctx, pay.ID, "reverse:pay:c1:b1", "returned by the bank")
	require.NoError(t, err)
	require.True(t, again.Replayed)
	_, err = f.l.Reverse(ctx, pay.ID, "reverse-2", "")
	require.ErrorIs(t, err, ledger.ErrAlreadyReversed)
	_, err = f.l.Reverse(ctx, 9999, "reverse-3", "")
	require.ErrorIs(t, err, ledger.ErrTransactionNotFound)

	bal, err := f.l.AccountBalance(ctx, "budget", "gcf")
	require.NoError(t, err)
	require.Equal(t, "5600.00", bal.StringFixed(2))
	requireVerified(t, f.l)
}

func TestJournalIsAppendOnly(t *testing.T) {
	t.Parallel()
	f := setup(t, ledger.Options{})
	ctx := context.Background()
	f.fund(t, "city", "100")
	for _, sql := range []string{
		"UPDATE ledger_postings SET amount = 1",
		"DELETE FROM ledger_postings",
		"UPDATE ledger_transactions SET description = 'x'",
		"DELETE FROM ledger_transactions",
		"TRUNCATE ledger_postings CASCADE",
	} {
		_, err := f.db.Pool.Exec(ctx, sql)
		require.ErrorContains(t, err, "append-only", sql)
	}
}

// TestJournalParentsAreKept: the journal's rows name accounts, funds and
// currencies without a foreign key per row (migration 017), so the parents
// themselves must never disappear or change their key.
func TestJournalParentsAreKept(t *testing.T) {
	t.Parallel()
	f := setup(t, ledger.Options{})
	ctx := context.Background()
	f.fund(t, "city", "100")
	for _, sql := range []string{
		"DELETE FROM ledger_accounts WHERE code = 'benefits'",
		"UPDATE ledger_accounts SET code = 'renamed' WHERE code = 'budget'",
		"UPDATE ledger_accounts SET currency = 'USD' WHERE code = 'budget'",
		"TRUNCATE ledger_accounts CASCADE",
		"DELETE FROM ledger_funds WHERE code = 'city'",
		"UPDATE ledger_funds SET code = 'town' WHERE code = 'city'",
		"DELETE FROM ledger_currencies WHERE code = 'USD'",
		"UPDATE ledger_currencies SET code = 'XXX' WHERE code = 'USD'",
	} {
		_, err := f.db.Pool.Exec(ctx, sql)
		require.ErrorContains(t, err, "is refused", sql)
	}
	// What may change still changes: a fund's name, an account's closing.
	_, err := f.db.Pool.Exec(ctx, "UPDATE ledger_funds SET name = 'City budget 2027' WHERE code = 'city'")
	require.NoError(t, err)
	require.NoError(t, f.l.CloseAccount(ctx, "benefits"))
	requireVerified(t, f.l)
}

// TestTamperIsDetected changes journal rows as a superuser who switches the
// append-only triggers off, and checks that Verify names the transaction.
func TestTamperIsDetected(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tamper := func(t *testing.T, f *fixture, sql string) {
		conn, err := f.db.Pool.Acquire(ctx)
		require.NoError(t, err)
		defer conn.Release()
		_, err = conn.Exec(ctx, "SET session_replication_role = replica")
		require.NoError(t, err)
		_, err = conn.Exec(ctx, sql)
		require.NoError(t, err)
		_, err = conn.Exec(ctx, "SET session_replication_role = origin")
		require.NoError(t, err)
	}
	build := func(t *testing.T) *fixture {
		f := setup(t, ledger.Options{})
		f.fund(t, "city", "20000")
		for i := 1; i <= 3; i++ {
			_, err := f.l.Post(ctx, ledger.Transfer(fmt.Sprintf("pay:%d", i), "benefits", "budget", "city", d("5600"), ""))
			require.NoError(t, err)
		}
		requireVerified(t, f.l)
		return f
	}
	cases := []struct {
		name, sql string
		kind      string
		firstBad  int64
	}{
		{"posting amount changed, both legs", "UPDATE ledger_postings SET amount = sign(amount) * 56 WHERE transaction_id = 3", "chain_break", 3},
		{"one leg changed", "UPDATE ledger_postings SET amount = 1 WHERE transaction_id = 2 AND seq = 1", "unbalanced", 2},
		{"description changed", "UPDATE ledger_transactions SET description = 'forged' WHERE id = 3", "chain_break", 3},
		{"last transaction deleted", "DELETE FROM ledger_postings WHERE transaction_id = 4; DELETE FROM ledger_transactions WHERE id = 4", "head_mismatch", 4},
		{"middle transaction deleted", "DELETE FROM ledger_postings WHERE transaction_id = 2; DELETE FROM ledger_transactions WHERE id = 2", "gap", 3},
		{"balance row changed", "UPDATE ledger_balances SET balance = balance + 1 WHERE account_id = (SELECT id FROM ledger_accounts WHERE code = 'benefits')", "balance_mismatch", 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := build(t)
			tamper(t, f, c.sql)
			rep, err := f.l.Verify(ctx)
			require.NoError(t, err)
			require.False(t, rep.OK)
			kinds := []string{}
			for _, p := range rep.Problems {
				kinds = append(kinds, p.Kind)
			}
			require.Contains(t, kinds, c.kind)
			require.Equal(t, c.firstBad, rep.FirstBadTransaction, "%+v", rep.Problems)
		})
	}
}

// TestConcurrentRandomTransfers hammers one hot budget from many goroutines
// and two independent writers (as two processes would), with replays mixed
// in: sums stay zero, the budget never goes below zero, replays return the
// original transaction, and verify is clean.
func TestConcurrentRandomTransfers(t *testing.T) {
	t.Parallel()
	f := setup(t, ledger.Options{BatchSize: 64})
	other := ledger.New(f.db.Pool, ledger.Options{BatchSize: 16}) // a second "process"
	t.Cleanup(other.Close)
	ctx := context.Background()
	f.fund(t, "city", "100000.00")
	f.fund(t, "gcf", "50000.00")
	for i := 0; i < 5; i++ {
		_, err := f.l.CreateAccount(ctx, ledger.AccountSpec{Code: fmt.Sprintf("bank:%d", i), Type: apoyo.Asset, Currency: "MXN", MinBalance: &zero})
		require.NoError(t, err)
	}

	const workers, perWorker = 32, 60
	var mu sync.Mutex
	ids := map[string]int64{}
	var refused int
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(w)))
			l := f.l
			if w%2 == 1 {
				l = other
			}
			for i := 0; i < perWorker; i++ {
				fund := []string{"city", "gcf"}[r.Intn(2)]
				amt := decimal.New(int64(1+r.Intn(60000)), -2) // 0.01 .. 600.00
				var req ledger.TransactionRequest
				key := fmt.Sprintf("w%d:%d", w, i)
				switch r.Intn(3) {
				case 0: // pay a benefit from the hot budget
					req = ledger.Transfer(key, "benefits", "budget", fund, amt, "")
				case 1: // move money to a bank account
					req = ledger.Transfer(key, fmt.Sprintf("bank:%d", r.Intn(5)), "budget", fund, amt, "")
				default: // and back
					req = ledger.Transfer(key, "budget", fmt.Sprintf("bank:%d", r.Intn(5)), fund, amt, "")
				}
				tx, err := l.Post(ctx, req)
				if errors.Is(err, ledger.ErrBalanceRule) {
					mu.Lock()
					refused++
					mu.Unlock()
					continue
				}
				require.NoError(t, err)
				mu.Lock()
				ids[key] = tx.ID
				mu.Unlock()
				if r.Intn(4) == 0 { // replay through the other writer
					again, err := other.Post(ctx, req)
					require.NoError(t, err)
					require.True(t, again.Replayed)
					require.Equal(t, tx.ID, again.ID)
				}
			}
		}(w)
	}
	wg.Wait()
	t.Logf("%d transfers recorded, %d refused by the balance rule", len(ids), refused)
	require.Greater(t, refused, 0, "the workload must push the budget to its floor")

	rep := requireVerified(t, f.l)
	require.Equal(t, int64(len(ids)+2), rep.Transactions, "one transaction per successful key, plus the deposits")
	bals, err := f.l.Balances(ctx, apoyo.BalanceFilter{})
	require.NoError(t, err)
	net := decimal.Zero
	for _, b := range bals {
		if b.Account == "budget" || b.Account[:4] == "bank" {
			require.False(t, b.Balance.IsNegative(), "%s %s = %s", b.Account, b.Fund, b.Balance)
		}
		net = net.Add(b.Debits).Sub(b.Credits)
	}
	require.True(t, net.IsZero(), "debits equal credits across the ledger")
}

func TestAccountAndFundIdempotentCreate(t *testing.T) {
	t.Parallel()
	f := setup(t, ledger.Options{})
	ctx := context.Background()
	a, err := f.l.CreateAccount(ctx, ledger.AccountSpec{Code: "budget", Type: apoyo.Asset, Currency: "MXN", MinBalance: &zero})
	require.NoError(t, err)
	require.Equal(t, apoyo.Asset, a.Type)
	_, err = f.l.CreateAccount(ctx, ledger.AccountSpec{Code: "budget", Type: apoyo.Liability, Currency: "MXN"})
	require.ErrorIs(t, err, ledger.ErrAccountExists)
	_, err = f.l.CreateAccount(ctx, ledger.AccountSpec{Code: "bad code!", Type: apoyo.Asset, Currency: "MXN"})
	require.ErrorIs(t, err, ledger.ErrInvalidAccount)
	require.NoError(t, f.l.CreateFund(ctx, ledger.Fund{Code: "city", Name: "City budget"}))
	require.ErrorIs(t, f.l.CreateFund(ctx, ledger.Fund{Code: "city", Name: "Other"}), ledger.ErrFundExists)
}
