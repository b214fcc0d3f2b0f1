package ledger

import "github.com/apoyo-cdmx/apoyo"

// Errors the ledger returns. Each is an *apoyo.Error: compare with
// errors.Is; the returned error carries the specifics in its message.
var (
	// ErrMissingKey: a transaction without an idempotency key.
	ErrMissingKey = apoyo.Errorf(apoyo.EINVALID, "ledger.missing_idempotency_key", "idempotency key is required")
	// ErrTooFewPostings: fewer than two postings.
	ErrTooFewPostings = apoyo.Errorf(apoyo.EINVALID, "ledger.too_few_postings", "a transaction needs at least two postings")
	// ErrNonPositiveAmount: a posting of zero or less.
	ErrNonPositiveAmount = apoyo.Errorf(apoyo.EINVALID, "ledger.non_positive_amount", "posting amounts must be greater than zero")
	// ErrAmountPrecision: more decimals than the currency has (3 in MXN).
	ErrAmountPrecision = apoyo.Errorf(apoyo.EINVALID, "ledger.amount_precision", "amount has more decimals than the currency allows")
	// ErrUnbalanced: debits and credits differ.
	ErrUnbalanced = apoyo.Errorf(apoyo.EINVALID, "ledger.unbalanced", "debits and credits do not balance")
	// ErrBadDirection: a posting neither debit nor credit.
	ErrBadDirection = apoyo.Errorf(apoyo.EINVALID, "ledger.bad_direction", "posting direction must be debit or credit")
	// ErrUnknownCurrency: a currency the ledger does not keep.
	ErrUnknownCurrency = apoyo.Errorf(apoyo.EINVALID, "ledger.unknown_currency", "unknown currency")
	// ErrCurrencyMismatch: an account in another currency than the transaction.
	ErrCurrencyMismatch = apoyo.Errorf(apoyo.EINVALID, "ledger.currency_mismatch", "account currency differs from the transaction's")
	// ErrInvalidAccount: an account definition that breaks the rules.
	ErrInvalidAccount = apoyo.Errorf(apoyo.EINVALID, "ledger.invalid_account", "invalid account")
	// ErrUnknownAccount: no account with that code.
	ErrUnknownAccount = apoyo.Errorf(apoyo.ENOTFOUND, "ledger.unknown_account", "unknown account")
	// ErrUnknownFund: no fund with that code.
	ErrUnknownFund = apoyo.Errorf(apoyo.ENOTFOUND, "ledger.unknown_fund", "unknown fund")
	// ErrTransactionNotFound: no transaction with that id or key.
	ErrTransactionNotFound = apoyo.Errorf(apoyo.ENOTFOUND, "ledger.transaction_not_found", "transaction not found")
	// ErrAccountClosed: a posting to a closed account.
	ErrAccountClosed = apoyo.Errorf(apoyo.ECONFLICT, "ledger.account_closed", "account is closed")
	// ErrAccountExists: an account code already defined differently.
	ErrAccountExists = apoyo.Errorf(apoyo.ECONFLICT, "ledger.account_exists", "account exists with another definition")
	// ErrFundExists: a fund code already defined with another name.
	ErrFundExists = apoyo.Errorf(apoyo.ECONFLICT, "ledger.fund_exists", "fund exists with another name")
	// ErrIdempotencyConflict: a key reused with other content.
	ErrIdempotencyConflict = apoyo.Errorf(apoyo.ECONFLICT, "ledger.idempotency_conflict", "idempotency key was used for a different transaction")
	// ErrBalanceRule: the transaction would take an account below its
	// minimum balance (e.g. a budget below zero).
	ErrBalanceRule = apoyo.Errorf(apoyo.ECONFLICT, "ledger.balance_rule", "balance rule violated")
	// ErrAlreadyReversed: a second reversal of the same transaction.
	ErrAlreadyReversed = apoyo.Errorf(apoyo.ECONFLICT, "ledger.already_reversed", "transaction already reversed")
	// ErrClosed: the ledger's writer has been shut down.
	ErrClosed = apoyo.Errorf(apoyo.EUNAVAILABLE, "ledger.closed", "ledger writer is closed")
)

// ErrInvalidText: a text field (idempotency key, description, metadata,
// account or fund code, name) that is not valid UTF-8, holds control
// characters, or is longer than its limit (see limits.go). Field names it.
var ErrInvalidText = apoyo.Errorf(apoyo.EINVALID, "ledger.invalid_text", "invalid text")
