package apoyo

import (
	"time"

	"github.com/shopspring/decimal"
)

// The ledger's read model: what auditors, reports and cycle status read.
// The double-entry ledger itself (package ledger) writes; these are the
// shapes it answers in.

// AccountType is the accounting nature of a ledger account.
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

// LedgerAccount is a ledger account.
type LedgerAccount struct {
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

// BalanceFilter narrows a list of balances. Empty fields match everything.
type BalanceFilter struct {
	// AccountPrefix matches account codes that start with it.
	AccountPrefix string `json:"prefix,omitempty"`
	Fund          string `json:"fund,omitempty"`
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
	Account LedgerAccount   `json:"account"`
	Lines   []StatementLine `json:"lines"`
	Closing decimal.Decimal `json:"closing_balance"`
}

// StatementOptions narrow a statement.
type StatementOptions struct {
	// Fund restricts to one fund; the running balance is then the fund's.
	Fund string `json:"fund,omitempty"`
	// Limit caps the lines returned (the newest are kept); 0 means 1000.
	Limit int `json:"limit,omitempty"`
}

// LedgerProblem is one violation a verification found.
type LedgerProblem struct {
	// Kind is one of: chain_break, unbalanced, too_few_postings, gap,
	// head_mismatch, balance_mismatch, balance_rule.
	Kind          string `json:"kind"`
	TransactionID int64  `json:"transaction_id,omitempty"`
	Account       string `json:"account,omitempty"`
	Fund          string `json:"fund,omitempty"`
	Detail        string `json:"detail"`
}

// LedgerVerifyOptions choose how much of the ledger a verification reads.
type LedgerVerifyOptions struct {
	// Full re-hashes every chain from its start. Default false: each chain
	// from where it was last verified good (its checkpoint).
	Full bool `json:"full"`
}

// LedgerVerifyReport is the outcome of verifying the ledger.
type LedgerVerifyReport struct {
	OK           bool  `json:"ok"`
	Transactions int64 `json:"transactions"`
	Postings     int64 `json:"postings"`
	Balances     int64 `json:"balances"`
	// Chains is how many hash chains had transactions to check (one per
	// programme that has written, and chain 0 for the rest).
	Chains int64 `json:"chains"`
	// HeadHash is chain 0's head.
	HeadHash string `json:"head_hash"`
	// Incremental is true when only what was appended since each chain's
	// last verification was re-hashed (Transactions counts those).
	Incremental bool            `json:"incremental"`
	Problems    []LedgerProblem `json:"problems,omitempty"`
	// FirstBadTransaction is the lowest transaction id named by a problem,
	// 0 when none is.
	FirstBadTransaction int64 `json:"first_bad_transaction,omitempty"`
}
