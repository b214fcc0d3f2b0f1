package ledger

import (
	"context"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// Balances returns balances per account and fund, on each account's normal
// side, ordered by account code and fund.
func (l *Ledger) Balances(ctx context.Context, f apoyo.BalanceFilter) ([]apoyo.Balance, error) {
	rows, err := l.pool.Query(ctx, `SELECT a.code, a.type, a.currency, b.fund, b.debits, b.credits, b.balance
		FROM ledger_balances b JOIN ledger_accounts a ON a.id = b.account_id
		WHERE ($1 = '' OR a.code LIKE $1 || '%') AND ($2 = '' OR b.fund = $2)
		ORDER BY a.code, b.fund`, f.AccountPrefix, f.Fund)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (apoyo.Balance, error) {
		var b apoyo.Balance
		return b, r.Scan(&b.Account, &b.Type, &b.Currency, &b.Fund, &b.Debits, &b.Credits, &b.Balance)
	})
}

// AccountBalance is the balance of one account summed over funds (or in
// one fund when fund != ""). Errors: ErrUnknownAccount.
func (l *Ledger) AccountBalance(ctx context.Context, code, fund string) (decimal.Decimal, error) {
	if _, err := l.Account(ctx, code); err != nil {
		return decimal.Zero, err
	}
	var sum decimal.Decimal
	err := l.pool.QueryRow(ctx, `SELECT coalesce(sum(b.balance), 0) FROM ledger_balances b JOIN ledger_accounts a ON a.id = b.account_id
		WHERE a.code = $1 AND ($2 = '' OR b.fund = $2)`, code, fund).Scan(&sum)
	return sum, err
}

// TrialBalance computes the trial balance from the balances projection
// (Verify proves the projection equals the journal).
func (l *Ledger) TrialBalance(ctx context.Context) (apoyo.TrialBalance, error) {
	rows, err := l.pool.Query(ctx, `SELECT a.code, a.type, a.currency, coalesce(sum(b.debits), 0), coalesce(sum(b.credits), 0), coalesce(sum(b.balance), 0)
		FROM ledger_accounts a LEFT JOIN ledger_balances b ON b.account_id = a.id
		GROUP BY a.code, a.type, a.currency ORDER BY a.code`)
	if err != nil {
		return apoyo.TrialBalance{}, err
	}
	lines, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (apoyo.TrialBalanceLine, error) {
		var t apoyo.TrialBalanceLine
		return t, r.Scan(&t.Account, &t.Type, &t.Currency, &t.Debits, &t.Credits, &t.Balance)
	})
	if err != nil {
		return apoyo.TrialBalance{}, err
	}
	tb := apoyo.TrialBalance{Lines: lines, Balanced: true}
	idx := map[string]int{}
	for _, ln := range lines {
		i, ok := idx[ln.Currency]
		if !ok {
			i = len(tb.Totals)
			idx[ln.Currency] = i
			tb.Totals = append(tb.Totals, apoyo.CurrencyTotal{Currency: ln.Currency})
		}
		tb.Totals[i].Debits = tb.Totals[i].Debits.Add(ln.Debits)
		tb.Totals[i].Credits = tb.Totals[i].Credits.Add(ln.Credits)
	}
	for _, t := range tb.Totals {
		if !t.Debits.Equal(t.Credits) {
			tb.Balanced = false
		}
	}
	return tb, nil
}

// Statement returns the postings of account code with a running balance on
// its normal side. Errors: ErrUnknownAccount.
func (l *Ledger) Statement(ctx context.Context, code string, o apoyo.StatementOptions) (apoyo.Statement, error) {
	a, err := l.Account(ctx, code)
	if err != nil {
		return apoyo.Statement{}, err
	}
	if o.Limit <= 0 {
		o.Limit = 1000
	}
	rows, err := l.pool.Query(ctx, `SELECT * FROM (
		SELECT t.id, t.effective_at, t.description, p.fund,
		       CASE WHEN p.amount > 0 THEN p.amount ELSE 0 END,
		       CASE WHEN p.amount < 0 THEN -p.amount ELSE 0 END,
		       $3::numeric * sum(p.amount) OVER (ORDER BY p.transaction_id, p.seq),
		       coalesce(t.reverses_id, 0), p.seq
		FROM ledger_postings p JOIN ledger_transactions t ON t.id = p.transaction_id
		WHERE p.account_id = $1 AND ($2 = '' OR p.fund = $2)
		ORDER BY p.transaction_id DESC, p.seq DESC LIMIT $4) s ORDER BY 1, 9`, a.ID, o.Fund, a.Type.NormalSign(), o.Limit)
	if err != nil {
		return apoyo.Statement{}, err
	}
	lines, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (apoyo.StatementLine, error) {
		var s apoyo.StatementLine
		var seq int16
		err := r.Scan(&s.TransactionID, &s.EffectiveAt, &s.Description, &s.Fund, &s.Debit, &s.Credit, &s.Balance, &s.ReversesID, &seq)
		s.EffectiveAt = s.EffectiveAt.UTC()
		return s, err
	})
	if err != nil {
		return apoyo.Statement{}, err
	}
	st := apoyo.Statement{Account: a, Lines: lines}
	st.Closing, err = l.AccountBalance(ctx, code, o.Fund)
	return st, err
}
