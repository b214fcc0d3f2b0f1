package program

import (
	"context"
	"fmt"
	"regexp"

	"github.com/shopspring/decimal"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/ledger"
)

// Cycle account states, in the order money moves through them.
const (
	CycleCommitted = "committed"
	CycleInTransit = "in_transit"
	CyclePaid      = "paid"
	CycleReturned  = "returned"
)

// CycleStates lists the states of a cycle's money.
var CycleStates = []string{CycleCommitted, CycleInTransit, CyclePaid, CycleReturned}

// The ledger's own rule for fund codes: LedgerFund must satisfy it.
var ledgerFundRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// cycleIDRe keeps cycle ids to characters that cannot break the account
// code's ':'-separated structure.
var cycleIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)

// maxFundCodeLen is the longest programme fund code whose ledger fund code
// ("prg_" + 16 + "." + code) still fits the ledger's 64 characters.
const maxFundCodeLen = 64 - len("prg_0123456789abcdef.")

// LedgerFund is the ledger fund code of programme p's fund f: "<p>.<f>".
func LedgerFund(p, f string) string { return p + "." + f }

// FundingAccount is programme p's equity account, credited by deposits.
func FundingAccount(p string) string { return "prg:" + p + ":funding" }

// AvailableAccount is programme p's uncommitted budget.
func AvailableAccount(p string) string { return "prg:" + p + ":available" }

// CycleAccount is the account of cycle c of programme p holding money in
// state (one of CycleStates).
func CycleAccount(p, c, state string) string { return "prg:" + p + ":cyc:" + c + ":" + state }

var zero = decimal.Zero

// programAccounts are the accounts Store.Create opens for a programme.
func programAccounts(p apoyo.Program) []ledger.AccountSpec {
	meta := map[string]string{"program": p.ID}
	return []ledger.AccountSpec{
		{Code: FundingAccount(p.ID), Name: p.Name + ": funding", Type: apoyo.Equity, Currency: p.Currency, Metadata: meta},
		{Code: AvailableAccount(p.ID), Name: p.Name + ": available budget", Type: apoyo.Asset, Currency: p.Currency, MinBalance: &zero, Metadata: meta},
	}
}

// EnsureCycleAccounts opens the four accounts of cycle c of programme p,
// or finds them open. It is idempotent, so a cycle's workflow may call it
// on every (re)start. Programmes are in MXN (Spec.Build refuses others).
func EnsureCycleAccounts(ctx context.Context, l *ledger.Ledger, p, c string) error {
	if !validID(p) {
		return ErrInvalid.With("programme id %q is not of the form prg_<16 characters>", p)
	}
	if !cycleIDRe.MatchString(c) {
		return apoyo.Errorf(apoyo.EINVALID, "program.invalid_cycle", "cycle id %q: use 1–100 of letters, digits, _ . -", c)
	}
	for _, s := range CycleStates {
		spec := ledger.AccountSpec{
			Code:     CycleAccount(p, c, s),
			Name:     fmt.Sprintf("cycle %s: %s", c, s),
			Type:     apoyo.Asset,
			Currency: apoyo.DefaultCurrency,
			Metadata: map[string]string{"program": p, "cycle": c, "state": s},
		}
		if s == CyclePaid {
			spec.Type = apoyo.Expense
		} else {
			spec.MinBalance = &zero
		}
		if _, err := l.CreateAccount(ctx, spec); err != nil {
			return err
		}
	}
	return nil
}
