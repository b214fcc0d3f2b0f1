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

	"github.com/apoyo-cdmx/apoyo"
	"github.com/jackc/pgx/v5"

	"github.com/shopspring/decimal"
)

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
	Type     apoyo.AccountType
	Currency string
	// MinBalance, when set, is the lowest normal-side balance the account
	// may have in any fund; 0 means "never below zero".
	MinBalance *decimal.Decimal
	Metadata   map[string]string
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

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var txRepeatableReadOnly = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
