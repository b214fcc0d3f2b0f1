package ledger

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// BalanceFilter narrows Balances. Empty fields match everything.
type BalanceFilter struct {
	// AccountPrefix matches account codes that start with it.
	AccountPrefix string
	Fund          string
}

// Balances returns balances per account and fund, on each account's normal
// side, ordered by account code and fund.
func (l *Ledger) Balances(ctx context.Context, f BalanceFilter) ([]Balance, error) {
	rows, err := l.pool.Query(ctx, `SELECT a.code, a.type, a.currency, b.fund, b.debits, b.credits, b.balance
		FROM ledger_balances b JOIN ledger_accounts a ON a.id = b.account_id
		WHERE ($1 = '' OR a.code LIKE $1 || '%') AND ($2 = '' OR b.fund = $2)
		ORDER BY a.code, b.fund`, f.AccountPrefix, f.Fund)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Balance, error) {
		var b Balance
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

// TrialBalanceLine is one account's totals over all funds.
type TrialBalanceLine struct {
	Account  string          `json:"account"`
	Type     AccountType     `json:"type"`
	Currency string          `json:"currency"`
	Debits   decimal.Decimal `json:"debits"`
	Credits  decimal.Decimal `json:"credits"`
	Balance  decimal.Decimal `json:"balance"`
}

// TrialBalance lists every account's debits and credits; per currency the
// totals must be equal, which Balanced reports.
type TrialBalance struct {
	Lines  []TrialBalanceLine `json:"lines"`
	Totals []CurrencyTotal    `json:"totals"`
	// Balanced is true when, in every currency, debits equal credits.
	Balanced bool `json:"balanced"`
}

// CurrencyTotal sums a currency's debits and credits.
type CurrencyTotal struct {
	Currency string          `json:"currency"`
	Debits   decimal.Decimal `json:"debits"`
	Credits  decimal.Decimal `json:"credits"`
}

// TrialBalance computes the trial balance from the balances projection
// (Verify proves the projection equals the journal).
func (l *Ledger) TrialBalance(ctx context.Context) (TrialBalance, error) {
	rows, err := l.pool.Query(ctx, `SELECT a.code, a.type, a.currency, coalesce(sum(b.debits), 0), coalesce(sum(b.credits), 0), coalesce(sum(b.balance), 0)
		FROM ledger_accounts a LEFT JOIN ledger_balances b ON b.account_id = a.id
		GROUP BY a.code, a.type, a.currency ORDER BY a.code`)
	if err != nil {
		return TrialBalance{}, err
	}
	lines, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TrialBalanceLine, error) {
		var t TrialBalanceLine
		return t, r.Scan(&t.Account, &t.Type, &t.Currency, &t.Debits, &t.Credits, &t.Balance)
	})
	if err != nil {
		return TrialBalance{}, err
	}
	tb := TrialBalance{Lines: lines, Balanced: true}
	idx := map[string]int{}
	for _, ln := range lines {
		i, ok := idx[ln.Currency]
		if !ok {
			i = len(tb.Totals)
			idx[ln.Currency] = i
			tb.Totals = append(tb.Totals, CurrencyTotal{Currency: ln.Currency})
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

// StatementLine is one posting on an account with the running balance.
type StatementLine struct {
	TransactionID int64           `json:"transaction_id"`
	EffectiveAt   time.Time       `json:"effective_at"`
	Description   string          `json:"description"`
	Fund          string          `json:"fund"`
	Debit         decimal.Decimal `json:"debit"`
	Credit        decimal.Decimal `json:"credit"`
	Balance       decimal.Decimal `json:"balance"`
	ReversesID    int64           `json:"reverses_id,omitempty"`
}

// Statement is an account's postings in journal order.
type Statement struct {
	Account Account         `json:"account"`
	Lines   []StatementLine `json:"lines"`
	Closing decimal.Decimal `json:"closing_balance"`
}

// StatementOptions narrow a statement.
type StatementOptions struct {
	// Fund restricts to one fund; the running balance is then the fund's.
	Fund string
	// Limit caps the lines returned (the newest are kept); 0 means 1000.
	Limit int
}

// Statement returns the postings of account code with a running balance on
// its normal side. Errors: ErrUnknownAccount.
func (l *Ledger) Statement(ctx context.Context, code string, o StatementOptions) (Statement, error) {
	a, err := l.Account(ctx, code)
	if err != nil {
		return Statement{}, err
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
		return Statement{}, err
	}
	lines, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (StatementLine, error) {
		var s StatementLine
		var seq int16
		err := r.Scan(&s.TransactionID, &s.EffectiveAt, &s.Description, &s.Fund, &s.Debit, &s.Credit, &s.Balance, &s.ReversesID, &seq)
		s.EffectiveAt = s.EffectiveAt.UTC()
		return s, err
	})
	if err != nil {
		return Statement{}, err
	}
	st := Statement{Account: a, Lines: lines}
	st.Closing, err = l.AccountBalance(ctx, code, o.Fund)
	return st, err
}
