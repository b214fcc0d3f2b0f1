package program

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/apoyo-cdmx/apoyo/ledger"
)

// Every ledger idempotency key apoyo uses is made here, from business ids
// only, so that a retried step posts the same key and the ledger answers
// with the transaction it already has:
//
//	reserve:<cycle>:<fund>            launch: available → committed, the whole cycle's share of a fund
//	commit:<cycle>:<beneficiary>      a case not covered by a reservation: available → committed
//	transit|settle|return|late-return:<cycle>:<beneficiary>:<attempt>   one payment attempt (Attempt)
//	release:<state>:<cycle>:<beneficiary>   an unpaid case's money back to the budget
//	close:<cycle>:<fund>              the cycle's unspent reservation back to the budget

// ReserveKey is the key of a cycle's reservation in one fund.
func ReserveKey(cycle, fund string) string { return "reserve:" + cycle + ":" + fund }

// CommitKey is the key of a case's own commitment (cases outside a
// reservation).
func CommitKey(cycle, beneficiary string) string { return "commit:" + cycle + ":" + beneficiary }

// ReleaseKey is the key of an unpaid case's money going back to the
// budget from the cycle account in state from.
func ReleaseKey(cycle, beneficiary, from string) string {
	return "release:" + from + ":" + cycle + ":" + beneficiary
}

// CloseKey is the key of a cycle's unspent reservation in one fund going
// back to the budget.
func CloseKey(cycle, fund string) string { return "close:" + cycle + ":" + fund }

// Attempt is one payment attempt of a case as the ledger books it. The
// worker (Disburse) and reconciliation both book through it: the same event
// is then the same request — same key, same content — whichever of them
// comes first, and the second gets the first's transaction back.
type Attempt struct {
	Program, Cycle, Beneficiary string
	// N counts attempts from 1.
	N      int
	Fund   string // ledger fund
	Amount decimal.Decimal
}

func (a Attempt) key(kind string) string {
	return fmt.Sprintf("%s:%s:%s:%d", kind, a.Cycle, a.Beneficiary, a.N)
}

// TransitKey, SettleKey, ReturnKey and LateReturnKey are the idempotency
// keys of the attempt's entries, derived from business ids only.
func (a Attempt) TransitKey() string    { return a.key("transit") }
func (a Attempt) SettleKey() string     { return a.key("settle") }
func (a Attempt) ReturnKey() string     { return a.key("return") }
func (a Attempt) LateReturnKey() string { return a.key("late-return") }

// OrderID is the attempt's payment order id at the bank (its idempotency
// key too): one order per attempt, the same on every retry.
func (a Attempt) OrderID() string { return fmt.Sprintf("pay_%s_%s_%d", a.Cycle, a.Beneficiary, a.N) }

// AttemptOfOrder is OrderID's inverse for a known case: the attempt
// number of orderID, an order of the beneficiary's case in the cycle. ok
// is false for an order of another case, or no order id.
func AttemptOfOrder(cycle, beneficiary, orderID string) (n int, ok bool) {
	rest, found := strings.CutPrefix(orderID, fmt.Sprintf("pay_%s_%s_", cycle, beneficiary))
	if !found {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || (Attempt{Cycle: cycle, Beneficiary: beneficiary, N: n}).OrderID() != orderID {
		return 0, false
	}
	return n, true
}

// Meta is the metadata on the attempt's entries (opaque ids only).
func (a Attempt) Meta() map[string]string {
	return map[string]string{"program": a.Program, "cycle": a.Cycle, "beneficiary": a.Beneficiary}
}

func (a Attempt) transfer(key, debitState, creditState, description string) ledger.TransactionRequest {
	r := ledger.Transfer(key, CycleAccount(a.Program, a.Cycle, debitState), CycleAccount(a.Program, a.Cycle, creditState), a.Fund, a.Amount, description)
	r.Metadata = a.Meta()
	return r
}

// Transit books the order leaving: committed → in_transit for the first
// attempt, returned → in_transit for a re-payment.
func (a Attempt) Transit() ledger.TransactionRequest {
	from := CycleCommitted
	if a.N > 1 {
		from = CycleReturned
	}
	return a.transfer(a.TransitKey(), CycleInTransit, from, fmt.Sprintf("payment order, attempt %d", a.N))
}

// Settle books the money reaching the person: in_transit → paid.
func (a Attempt) Settle() ledger.TransactionRequest {
	return a.transfer(a.SettleKey(), CyclePaid, CycleInTransit, "payment settled")
}

// Return books an attempt that did not pay (returned, rejected, expired,
// cancelled — the final state the bank gave): in_transit → returned.
func (a Attempt) Return(state string) ledger.TransactionRequest {
	return a.transfer(a.ReturnKey(), CycleReturned, CycleInTransit, "payment "+state)
}

// LateReturn books money that came back after the attempt had settled:
// paid → returned.
func (a Attempt) LateReturn(returnTrackingKey string) ledger.TransactionRequest {
	r := a.transfer(a.LateReturnKey(), CycleReturned, CyclePaid, "payment returned after settlement")
	r.Metadata["order"] = a.OrderID()
	r.Metadata["return_tracking_key"] = returnTrackingKey
	return r
}
