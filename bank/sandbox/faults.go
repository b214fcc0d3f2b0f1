package sandbox

import (
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/payment"
)

// FaultKind names one way the sandbox bank misbehaves on purpose, as real
// banks and gateways do, so `apoyo chaos` can prove apoyo survives it.
type FaultKind string

const (
	// FaultTimeoutAfterAccept: the bank takes the order but the client gets
	// 504 Gateway Timeout, as with rule 0504; the client must ask Status.
	FaultTimeoutAfterAccept FaultKind = "timeout_after_accept"
	// FaultUnavailableBeforeAccept: the first submission of the order is
	// answered 503 without taking it; a repeat with the same key is taken.
	FaultUnavailableBeforeAccept FaultKind = "unavailable_before_accept"
	// FaultDuplicateCallback: every callback of the order is delivered
	// twice.
	FaultDuplicateCallback FaultKind = "duplicate_callback"
	// FaultOutOfOrderCallback: after each state change the previous,
	// stale status is delivered again (e.g. settled, then pending).
	FaultOutOfOrderCallback FaultKind = "out_of_order_callback"
	// FaultCancelled: a SPEI order is answered CN (cancelled by the bank)
	// instead of settling.
	FaultCancelled FaultKind = "cancelled"
	// FaultReturnAfterSettlement: a SPEI order settles (LQ) and
	// Config.ReturnDelay later comes back (D) with a cause, as its own
	// movement and statement return line.
	FaultReturnAfterSettlement FaultKind = "return_after_settlement"
)

// FaultKinds lists every kind, in a fixed order.
var FaultKinds = []FaultKind{FaultTimeoutAfterAccept, FaultUnavailableBeforeAccept, FaultDuplicateCallback,
	FaultOutOfOrderCallback, FaultCancelled, FaultReturnAfterSettlement}

// DefaultFaultRate is the share of orders a FaultPlan with a zero Rate
// makes misbehave.
const DefaultFaultRate = 0.2

// lateReturnCauses are the causes a FaultReturnAfterSettlement return
// carries: reasons a receiving bank gives after it first took the money.
var lateReturnCauses = []int{payment.CauseNotRecognised, payment.CauseAccountBlocked, payment.CauseAccountCancelled,
	payment.CauseBalanceLimitExceeded, payment.CauseMonthlyDepositLimit}

// FaultPlan decides, from a seed, which orders misbehave and how. The
// decision for an order is a pure function of the seed and the order (its
// id, rail and whether it asked for callbacks), never of timing or call
// order, so the same seed gives the same plan however a run interleaves.
// The zero Rate means DefaultFaultRate.
type FaultPlan struct {
	Seed uint64
	Rate float64
}

// applicableFaults are the kinds that can happen to o: CN and returns
// after settlement are SPEI answers, callback faults need a callback.
func applicableFaults(o payment.Order) []FaultKind {
	out := []FaultKind{FaultTimeoutAfterAccept, FaultUnavailableBeforeAccept}
	if o.CallbackURL != "" {
		out = append(out, FaultDuplicateCallback, FaultOutOfOrderCallback)
	}
	if o.Rail == apoyo.RailSPEI {
		out = append(out, FaultCancelled, FaultReturnAfterSettlement)
	}
	return out
}

// rng is the order's own stream of the plan.
func (p *FaultPlan) rng(orderID string) *rand.Rand {
	h := fnv.New64a()
	_, _ = h.Write([]byte(orderID))
	return rand.New(rand.NewPCG(p.Seed, h.Sum64()))
}

// For returns the fault planned for o, or "" for none. A nil plan plans
// nothing.
func (p *FaultPlan) For(o payment.Order) FaultKind { return p.forKey(o.ID, o) }

// forKey is For with the order known by key (see Bank.SetFaultKey).
func (p *FaultPlan) forKey(key string, o payment.Order) FaultKind {
	if p == nil {
		return ""
	}
	rate := p.Rate
	if rate == 0 {
		rate = DefaultFaultRate
	}
	r := p.rng(key)
	if r.Float64() >= rate {
		return ""
	}
	kinds := applicableFaults(o)
	return kinds[r.IntN(len(kinds))]
}

// returnCause is the cause of o's planned return after settlement.
func (p *FaultPlan) returnCause(key string) int {
	r := p.rng(key)
	_, _ = r.Float64(), r.Uint64() // past the draws of For
	return lateReturnCauses[r.IntN(len(lateReturnCauses))]
}

// ErrInjectedUnavailable is the 503 of FaultUnavailableBeforeAccept.
var ErrInjectedUnavailable = apoyo.Errorf(apoyo.EUNAVAILABLE, "sandbox.unavailable", "bank temporarily unavailable, order not taken; retry with the same idempotency key")

// faultState is the bank's memory of injected faults. Callers hold b.mu.
type faultState struct {
	refused  map[string]bool // orders whose first submission got the 503
	injected map[string]bool // orderID + "/" + kind, counted once each
	counts   map[FaultKind]int
	// key names an order to the plan; nil means by its id.
	key func(orderID string) string
}

// SetFaultKey makes the fault plan know orders by key(order id) instead of
// the id: a run whose ids are random (cycle and beneficiary ids) names them
// by something its seed fixes (the person's row and the attempt), so the
// same seed hits the same people the same way. key must be a pure
// function; set it before the orders come. A key of "" spares the order.
func (b *Bank) SetFaultKey(key func(orderID string) string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.faults.key = key
}

// faultKey is how the plan knows o. Callers hold b.mu.
func (b *Bank) faultKey(o payment.Order) string {
	if b.faults.key != nil {
		return b.faults.key(o.ID)
	}
	return o.ID
}

// planned reports whether the plan has kind for o. Callers hold b.mu.
func (b *Bank) planned(o payment.Order, kind FaultKind) bool {
	if b.cfg.Faults == nil {
		return false
	}
	key := b.faultKey(o)
	return key != "" && b.cfg.Faults.forKey(key, o) == kind
}

// countFault records that kind hit o, once per order and kind. Callers hold
// b.mu.
func (b *Bank) countFault(o payment.Order, kind FaultKind) {
	fs := &b.faults
	if fs.injected == nil {
		fs.injected, fs.counts = map[string]bool{}, map[FaultKind]int{}
	}
	if k := o.ID + "/" + string(kind); !fs.injected[k] {
		fs.injected[k] = true
		fs.counts[kind]++
	}
}

// injectLocked reports whether kind applies to o now, and counts it if so.
// Callers hold b.mu.
func (b *Bank) injectLocked(o payment.Order, kind FaultKind) bool {
	if !b.planned(o, kind) {
		return false
	}
	b.countFault(o, kind)
	return true
}

// refuseBeforeAcceptLocked answers the first submission of a new order
// planned for FaultUnavailableBeforeAccept with a 503, taking nothing.
// Callers hold b.mu.
func (b *Bank) refuseBeforeAcceptLocked(o payment.Order) error {
	if !b.planned(o, FaultUnavailableBeforeAccept) || b.faults.refused[o.ID] {
		return nil
	}
	if b.faults.refused == nil {
		b.faults.refused = map[string]bool{}
	}
	b.faults.refused[o.ID] = true
	b.countFault(o, FaultUnavailableBeforeAccept)
	return ErrInjectedUnavailable.With("bank unavailable, order %s not taken; retry with the same idempotency key", o.ID)
}

// lateReturnCause is the cause of the return of a settled order: 13 for
// rule 0013, the plan's cause for FaultReturnAfterSettlement.
func (b *Bank) lateReturnCause(o payment.Order) int {
	if returnsLater(o) || b.cfg.Faults == nil {
		return payment.CauseNotRecognised
	}
	return b.cfg.Faults.returnCause(b.faultKey(o))
}

// returnsAfterSettlement reports whether a settled o comes back later, by
// rule 0013 or by the plan. It counts nothing: apply calls it on replay too.
func (b *Bank) returnsAfterSettlement(o payment.Order) bool {
	return returnsLater(o) || b.planned(o, FaultReturnAfterSettlement)
}

// enqueueCallbacks queues d for ord's callback, plus what ord's planned
// callback fault adds: the same delivery again, or the stale previous
// status after the new one. Callers hold b.mu, b not closed.
func (b *Bank) enqueueCallbacks(ord *order, d delivery, prev *payment.Status) {
	b.notify.enqueue(d)
	switch {
	case b.injectLocked(ord.o, FaultDuplicateCallback):
		b.notify.enqueue(d)
	case prev != nil && b.injectLocked(ord.o, FaultOutOfOrderCallback):
		stale := d
		stale.seq--
		stale.status = *prev
		b.notify.enqueue(stale)
	}
}

// FaultCounts returns how many orders each fault kind hit so far.
func (b *Bank) FaultCounts() map[FaultKind]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.faults.counts)
}

// Faults returns how many faults were injected so far, all kinds together.
func (b *Bank) Faults() int {
	n := 0
	for _, c := range b.FaultCounts() {
		n += c
	}
	return n
}

// FaultSummary lists the counts by kind in FaultKinds order, for reports.
func FaultSummary(counts map[FaultKind]int) []string {
	var out []string
	for _, k := range FaultKinds {
		if c := counts[k]; c > 0 {
			out = append(out, string(k)+"="+strconv.Itoa(c))
		}
	}
	return slices.Clip(out)
}
