package ledger

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/apoyo-cdmx/apoyo"
)

// The code patterns, with the lengths of limits.go; migration 001's CHECK
// constraints repeat them.
var (
	accountCodeRe = regexp.MustCompile(fmt.Sprintf(`^[A-Za-z0-9][A-Za-z0-9_:.-]{0,%d}$`, MaxAccountCodeLen-1))
	fundCodeRe    = regexp.MustCompile(fmt.Sprintf(`^[a-z0-9][a-z0-9_.-]{0,%d}$`, MaxFundCodeLen-1))
)

// CreateFund records a fund. Creating the same fund again is a no-op;
// the same code with another name is ErrFundExists.
func (l *Ledger) CreateFund(ctx context.Context, f Fund) error {
	if !fundCodeRe.MatchString(f.Code) {
		return apoyo.Errorf(apoyo.EINVALID, "ledger.invalid_fund", "fund code %q: use 1–%d of a-z, 0-9, _ . -", f.Code, MaxFundCodeLen)
	}
	if f.Name == "" {
		f.Name = f.Code
	}
	if err := checkText("name", f.Name, MaxNameLen); err != nil {
		return err
	}
	var name string
	err := l.pool.QueryRow(ctx, `INSERT INTO ledger_funds (code, name) VALUES ($1, $2)
		ON CONFLICT (code) DO UPDATE SET code = EXCLUDED.code RETURNING name`, f.Code, f.Name).Scan(&name)
	if err != nil {
		return err
	}
	if name != f.Name {
		return ErrFundExists.With("fund %q exists with name %q", f.Code, name)
	}
	return nil
}

// Funds lists every fund.
func (l *Ledger) Funds(ctx context.Context) ([]Fund, error) {
	rows, err := l.pool.Query(ctx, "SELECT code, name FROM ledger_funds ORDER BY code")
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Fund, error) {
		var f Fund
		return f, r.Scan(&f.Code, &f.Name)
	})
}

// CreateAccount records an account, or returns the existing one when it
// has the same definition. Errors: ErrInvalidAccount, ErrUnknownCurrency,
// ErrAccountExists.
func (l *Ledger) CreateAccount(ctx context.Context, s AccountSpec) (apoyo.LedgerAccount, error) {
	if !accountCodeRe.MatchString(s.Code) {
		return apoyo.LedgerAccount{}, ErrInvalidAccount.With("account code %q: use 1–%d of letters, digits, _ : . -", s.Code, MaxAccountCodeLen)
	}
	if !s.Type.Valid() {
		return apoyo.LedgerAccount{}, ErrInvalidAccount.With("account %q: type %q is not one of asset, liability, equity, income, expense", s.Code, s.Type)
	}
	if _, err := l.scale(ctx, s.Currency); err != nil {
		return apoyo.LedgerAccount{}, err
	}
	if s.Name == "" {
		s.Name = s.Code
	}
	if err := checkText("name", s.Name, MaxNameLen); err != nil {
		return apoyo.LedgerAccount{}, err
	}
	if err := checkMetadata(s.Metadata); err != nil {
		return apoyo.LedgerAccount{}, err
	}
	metaJSON, err := encodeMetadata(s.Metadata)
	if err != nil {
		return apoyo.LedgerAccount{}, err
	}
	_, err = l.pool.Exec(ctx, `INSERT INTO ledger_accounts (code, name, type, currency, min_balance, metadata)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (code) DO NOTHING`, s.Code, s.Name, s.Type, s.Currency, s.MinBalance, string(metaJSON))
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23514" {
			return apoyo.LedgerAccount{}, ErrInvalidAccount.With("account %q: %s", s.Code, pgErr.Message)
		}
		return apoyo.LedgerAccount{}, err
	}
	a, err := l.Account(ctx, s.Code)
	if err != nil {
		return apoyo.LedgerAccount{}, err
	}
	same := a.Type == s.Type && a.Currency == s.Currency && a.Name == s.Name &&
		((a.MinBalance == nil) == (s.MinBalance == nil)) && (a.MinBalance == nil || a.MinBalance.Equal(*s.MinBalance))
	if !same {
		return a, ErrAccountExists.With("account %q exists as %s %s with another definition", s.Code, a.Type, a.Currency)
	}
	return a, nil
}

// Account returns the account with code. Errors: ErrUnknownAccount.
func (l *Ledger) Account(ctx context.Context, code string) (apoyo.LedgerAccount, error) {
	var a apoyo.LedgerAccount
	var meta map[string]string
	err := l.pool.QueryRow(ctx, `SELECT id, code, name, type, currency, min_balance, metadata, created_at, closed_at
		FROM ledger_accounts WHERE code = $1`, code).Scan(&a.ID, &a.Code, &a.Name, &a.Type, &a.Currency, &a.MinBalance, &meta, &a.CreatedAt, &a.ClosedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return apoyo.LedgerAccount{}, ErrUnknownAccount.With("unknown account %q", code)
	}
	if len(meta) > 0 {
		a.Metadata = meta
	}
	return a, err
}

// CloseAccount closes an account to new postings. Its history stays.
// Errors: ErrUnknownAccount.
//
// The closing moves every chain head's change count in the same transaction,
// so that no writer posts to the account from memory of it being open
// (see headCache).
func (l *Ledger) CloseAccount(ctx context.Context, code string) error {
	var closed int64
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "UPDATE ledger_chains SET changes = changes + 1"); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, "UPDATE ledger_accounts SET closed_at = now() WHERE code = $1 AND closed_at IS NULL", code)
		closed = tag.RowsAffected()
		return err
	})
	if err != nil {
		return err
	}
	if closed == 0 {
		if _, err := l.Account(ctx, code); err != nil {
			return err
		}
	}
	return nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Transaction returns the transaction with id. Errors: ErrTransactionNotFound.
func (l *Ledger) Transaction(ctx context.Context, id int64) (Transaction, error) {
	return loadTransaction(ctx, l.pool, "t.id = $1", id)
}

// TransactionByKey returns the transaction recorded under an idempotency
// key. Errors: ErrTransactionNotFound.
func (l *Ledger) TransactionByKey(ctx context.Context, key string) (Transaction, error) {
	return loadTransaction(ctx, l.pool, "t.idempotency_key = $1", key)
}

func loadTransaction(ctx context.Context, q querier, where string, arg any) (Transaction, error) {
	rows, err := q.Query(ctx, `SELECT t.id, t.idempotency_key, t.currency, t.description, t.metadata, coalesce(t.reverses_id, 0), t.effective_at, t.hash,
		a.code, p.fund, p.amount
		FROM ledger_transactions t JOIN ledger_postings p ON p.transaction_id = t.id JOIN ledger_accounts a ON a.id = p.account_id
		WHERE `+where+` ORDER BY p.seq`, arg)
	if err != nil {
		return Transaction{}, err
	}
	defer rows.Close()
	var t Transaction
	found := false
	for rows.Next() {
		var p Posting
		var meta map[string]string
		if err := rows.Scan(&t.ID, &t.IdempotencyKey, &t.Currency, &t.Description, &meta, &t.ReversesID, &t.EffectiveAt, &t.Hash,
			&p.Account, &p.Fund, &p.Amount); err != nil {
			return Transaction{}, err
		}
		if len(meta) > 0 {
			t.Metadata = meta
		}
		p.Direction = Debit
		if p.Amount.IsNegative() {
			p.Direction, p.Amount = Credit, p.Amount.Neg()
		}
		t.Postings = append(t.Postings, p)
		found = true
	}
	if err := rows.Err(); err != nil {
		return Transaction{}, err
	}
	if !found {
		return Transaction{}, ErrTransactionNotFound.With("transaction %v not found", arg)
	}
	t.EffectiveAt = t.EffectiveAt.UTC()
	return t, nil
}
