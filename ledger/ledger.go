// Package ledger is apoyo's double-entry ledger on PostgreSQL: accounts of
// five types with optional balance rules, funds that trace every posting to
// who paid for it, and an append-only journal of balanced transactions
// chained by hashes.
//
// Writes go through a batching writer (see writer.go): every payment of a
// programme debits the same budget account, so instead of one database
// transaction per transfer, each serialising on that account's row lock, the
// writer commits many transfers per database transaction and hands each
// caller its own result. Balance rules are checked transfer by transfer
// inside the batch, against balances locked for the batch, and enforced once
// more by a CHECK constraint in the database.
package ledger

import (
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shopspring/decimal"
)

// AccountType is the accounting nature of an account.
type AccountType string

const (
	Asset     AccountType = "asset"
	Liability AccountType = "liability"
	Equity    AccountType = "equity"
	Income    AccountType = "income"
	Expense   AccountType = "expense"
)

// Valid reports whether t is one of the five account types.
func (t AccountType) Valid() bool {
	switch t {
	case Asset, Liability, Equity, Income, Expense:
		return true
	}
	return false
}

// NormalSign is +1 for debit-normal accounts (assets, expenses) and -1 for
// credit-normal ones: balances are shown and ruled on the normal side, so a
// budget (asset) of 1,000 reads 1,000, and so does a liability of 1,000.
func (t AccountType) NormalSign() int64 {
	if t == Asset || t == Expense {
		return 1
	}
	return -1
}

// Direction says which side of an account a posting is on.
type Direction string

const (
	Debit  Direction = "debit"
	Credit Direction = "credit"
)

// Fund is a source of money: city budget, a grant, a trust fund.
type Fund struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// AccountSpec defines an account to create.
type AccountSpec struct {
	// Code is the account's unique name, e.g. "program:p1:budget".
	Code     string
	Name     string
	Type     AccountType
	Currency string
	// MinBalance, when set, is the lowest normal-side balance the account
	// may have in any fund; 0 means "never below zero".
	MinBalance *decimal.Decimal
	Metadata   map[string]string
}

// Account is a ledger account.
type Account struct {
	ID         int64             `json:"id"`
	Code       string            `json:"code"`
	Name       string            `json:"name"`
	Type       AccountType       `json:"type"`
	Currency   string            `json:"currency"`
	MinBalance *decimal.Decimal  `json:"min_balance,omitempty"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	CreatedAt  time.Time         `json:"created_at"`
	ClosedAt   *time.Time        `json:"closed_at,omitempty"`
}

// Posting moves Amount (always positive) of Fund to one side of Account.
type Posting struct {
	Account   string          `json:"account"`
	Fund      string          `json:"fund"`
	Direction Direction       `json:"direction"`
	Amount    decimal.Decimal `json:"amount"`
}

// TransactionRequest asks the ledger to record a balanced transaction.
type TransactionRequest struct {
	// IdempotencyKey identifies the business event (e.g. "pay:<cycle>:<beneficiary>").
	// The same key with the same content returns the first transaction; with
	// other content it is ErrIdempotencyConflict.
	IdempotencyKey string
	Currency       string
	Description    string
	// Metadata carries opaque business ids (programme, cycle, payment) used
	// for queries; never personal data.
	Metadata map[string]string
	Postings []Posting
	// EffectiveAt is when the event happened; zero means now.
	EffectiveAt time.Time

	// reverses is set by Reverse only: a reversal is not a public request
	// shape, so nobody can claim to reverse a transaction with postings that
	// do not mirror it.
	reverses int64
}

// Transaction is a recorded transaction.
type Transaction struct {
	ID             int64             `json:"id"`
	IdempotencyKey string            `json:"idempotency_key"`
	Currency       string            `json:"currency"`
	Description    string            `json:"description,omitempty"`
	Metadata       map[string]string `json:"metadata,omitempty"`
	Postings       []Posting         `json:"postings"`
	ReversesID     int64             `json:"reverses_id,omitempty"`
	EffectiveAt    time.Time         `json:"effective_at"`
	Hash           []byte            `json:"hash"`
	// Replayed is true when this call found the transaction already
	// recorded under the same key and content.
	Replayed bool `json:"replayed,omitempty"`
}

// Transfer is the common two-posting transaction: Amount of Fund from the
// credited account to the debited one.
func Transfer(key, debit, credit, fund string, amount decimal.Decimal, description string) TransactionRequest {
	return TransactionRequest{
		IdempotencyKey: key,
		Currency:       "MXN",
		Description:    description,
		Postings: []Posting{
			{Account: debit, Fund: fund, Direction: Debit, Amount: amount},
			{Account: credit, Fund: fund, Direction: Credit, Amount: amount},
		},
	}
}

// Balance is an account's balance in one fund, on its normal side.
type Balance struct {
	Account  string          `json:"account"`
	Type     AccountType     `json:"type"`
	Currency string          `json:"currency"`
	Fund     string          `json:"fund"`
	Debits   decimal.Decimal `json:"debits"`
	Credits  decimal.Decimal `json:"credits"`
	Balance  decimal.Decimal `json:"balance"`
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var txRepeatableReadOnly = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
