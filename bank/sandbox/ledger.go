package sandbox

import (
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/shopspring/decimal"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/payment"
)

// MovementKind names an event in the bank's record.
type MovementKind string

const (
	MovementAccepted  MovementKind = "accepted"
	MovementSettled   MovementKind = "settled"
	MovementReturned  MovementKind = "returned"
	MovementCollected MovementKind = "collected"
	MovementExpired   MovementKind = "expired"
	MovementRejected  MovementKind = "rejected"
	// MovementCancelled is a SPEI CN: the bank cancelled the order instead
	// of settling it (a FaultCancelled answer).
	MovementCancelled MovementKind = "cancelled"
)

// Movement is one entry of the bank's own record, and one line of the
// journal. The bank's state is exactly the result of applying its movements
// in Seq order, which is what makes the journal replayable.
type Movement struct {
	Seq           int64           `json:"seq"`
	Kind          MovementKind    `json:"kind"`
	At            time.Time       `json:"at"`
	OperationDate string          `json:"operation_date"`
	OrderID       string          `json:"order_id"`
	ProviderRef   string          `json:"provider_ref"`
	Rail          apoyo.Rail      `json:"rail"`
	Amount        decimal.Decimal `json:"amount"`
	TrackingKey   string          `json:"tracking_key,omitempty"`
	// ReturnTrackingKey and ReturnCause are set on returned and expired
	// movements (an expiry has no SPEI cause).
	ReturnTrackingKey string     `json:"return_tracking_key,omitempty"`
	ReturnCause       int        `json:"return_cause,omitempty"`
	PickupReference   string     `json:"pickup_reference,omitempty"`
	ExpiresAt         *time.Time `json:"expires_at,omitempty"`
	// Order is the full order, on accepted movements only.
	Order *payment.Order `json:"order,omitempty"`
}

// MarshalJSON writes the amount with two decimals, like every amount on the
// wire.
func (m Movement) MarshalJSON() ([]byte, error) {
	type plain Movement
	return json.Marshal(struct {
		plain
		Amount string `json:"amount"`
	}{plain(m), m.Amount.StringFixed(2)})
}

// Errors of the sandbox's own operations.
var (
	ErrNotCashPickup  = apoyo.Errorf(apoyo.ECONFLICT, "sandbox.not_cash_pickup", "order is not a cash pickup")
	ErrNotCollectable = apoyo.Errorf(apoyo.ECONFLICT, "sandbox.not_collectable", "cash pickup cannot be collected in its current state")
	ErrJournal        = apoyo.Errorf(apoyo.EINTERNAL, "sandbox.journal", "sandbox journal failure")
	ErrGatewayTimeout = apoyo.Errorf(apoyo.EUNAVAILABLE, "sandbox.gateway_timeout", "gateway timeout (the bank may have received the order)")
)

// record journals m, then applies it. Callers hold b.mu. If the journal
// cannot be written nothing happens, so memory never runs ahead of the file.
func (b *Bank) record(m Movement) error {
	m.Seq = int64(len(b.movements)) + 1
	m.OperationDate = operationDate(m.At)
	if err := b.appendJournal(m); err != nil {
		return err
	}
	var prev *payment.Status
	if before := b.byID[m.OrderID]; before != nil && m.Kind != MovementAccepted {
		st := before.st
		prev = &st
	}
	ord := b.apply(m)
	if ord != nil && ord.o.CallbackURL != "" && !b.closed {
		b.enqueueCallbacks(ord, delivery{url: ord.o.CallbackURL, seq: m.Seq, kind: m.Kind, status: ord.st}, prev)
	}
	return nil
}

// movementFor starts a movement about ord.
func movementFor(kind MovementKind, ord *order, at time.Time) Movement {
	return Movement{
		Kind: kind, At: at, OrderID: ord.o.ID, ProviderRef: ord.st.ProviderRef,
		Rail: ord.o.Rail, Amount: ord.o.Amount, TrackingKey: ord.o.TrackingKey,
	}
}

// apply changes state according to m, both live and on replay. It returns
// the order concerned, or nil for a movement about an unknown order (a
// journal from another bank), which is ignored.
func (b *Bank) apply(m Movement) *order {
	b.movements = append(b.movements, m)
	ord := b.applyState(m)
	if ord != nil && !ord.listedOpen && ord.open() {
		b.open = append(b.open, ord)
		ord.listedOpen = true
	}
	return ord
}

// applyState is apply's change of the order's state.
func (b *Bank) applyState(m Movement) *order {
	if m.Kind == MovementAccepted {
		if m.Order == nil {
			return nil
		}
		ord := &order{
			o:         *m.Order,
			createdAt: m.At,
			dueAt:     after(m.At, b.cfg.SettleDelay),
			st: payment.Status{
				OrderID: m.OrderID, ProviderRef: m.ProviderRef, Rail: m.Rail,
				State: apoyo.PaymentPending, PickupReference: m.PickupReference,
				ExpiresAt: m.ExpiresAt, UpdatedAt: m.At,
			},
		}
		b.list = append(b.list, ord)
		b.byID[ord.o.ID] = ord
		b.byKey[ord.o.IdempotencyKey] = ord
		if ord.o.TrackingKey != "" {
			b.byTracking[ord.o.TrackingKey] = ord
		}
		if m.PickupReference != "" {
			b.pickupRefs[m.PickupReference] = true
		}
		return ord
	}
	ord := b.byID[m.OrderID]
	if ord == nil {
		return nil
	}
	st := &ord.st
	st.UpdatedAt = m.At
	switch m.Kind {
	case MovementSettled:
		st.State = apoyo.PaymentSettled
		st.OperationDate = m.OperationDate
		ord.settledAt = m.At
		if ord.o.Rail == apoyo.RailSPEI {
			st.SPEIState = payment.SPEISettled
		}
		if b.returnsAfterSettlement(ord.o) {
			ord.lateReturnAt = after(m.At, b.cfg.ReturnDelay)
		}
	case MovementReturned:
		st.State = apoyo.PaymentReturned
		st.SPEIState = payment.SPEIReturned
		st.ReturnCause = m.ReturnCause
		st.ReturnCauseText = payment.ReturnCauseText(m.ReturnCause)
		st.ReturnTrackingKey = m.ReturnTrackingKey
		if st.OperationDate == "" {
			st.OperationDate = m.OperationDate
		}
		ord.returnedAt = m.At
		ord.lateReturnAt = time.Time{}
	case MovementCollected:
		st.State = apoyo.PaymentCollected
	case MovementExpired:
		st.State = apoyo.PaymentExpired
		st.ReturnTrackingKey = m.ReturnTrackingKey
		ord.returnedAt = m.At
	case MovementRejected:
		st.State = apoyo.PaymentRejected
		st.OperationDate = m.OperationDate
	case MovementCancelled:
		st.State = apoyo.PaymentCancelled
		st.SPEIState = payment.SPEICancelled
		st.OperationDate = m.OperationDate
	}
	return ord
}

// after is t plus a configured delay, where Immediately means none.
func after(t time.Time, d time.Duration) time.Time {
	if d < 0 {
		return t
	}
	return t.Add(d)
}

// checkOrder applies the bank's own rules on top of payment.ValidateOrder.
func checkOrder(o payment.Order) error {
	if err := payment.ValidateOrder(o); err != nil {
		return err
	}
	switch o.Rail {
	case apoyo.RailSPEI:
		if !validCLABE(o.Beneficiary.CLABE) {
			return payment.ErrInvalidOrder.With("CLABE check digit is wrong").At(0, "instrument.clabe")
		}
	case apoyo.RailCard:
		if !luhnValid(o.Beneficiary.CardNumber) {
			return payment.ErrInvalidOrder.With("card number fails the Luhn check").At(0, "instrument.card_number")
		}
	}
	if o.CallbackURL != "" {
		u, err := url.Parse(o.CallbackURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return payment.ErrInvalidOrder.With("callback_url must be an absolute http(s) URL").At(0, "callback_url")
		}
	}
	return nil
}

// Submit accepts o, or returns the existing order for a repeat of it. created
// reports whether this call created the order; gatewayTimeout whether this
// call must pretend the response was lost (rule 0504, creating call only).
func (b *Bank) Submit(o payment.Order) (st payment.Status, created, gatewayTimeout bool, err error) {
	if err := checkOrder(o); err != nil {
		return payment.Status{}, false, false, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.processLocked(false); err != nil {
		return payment.Status{}, false, false, err
	}
	if ord := b.byKey[o.IdempotencyKey]; ord != nil {
		if !ord.o.SameAs(o) {
			return payment.Status{}, false, false, payment.ErrIdempotencyConflict.With(
				"idempotency key %q was used for order %s with different content", o.IdempotencyKey, ord.o.ID)
		}
		return ord.st, false, false, nil
	}
	if ord := b.byID[o.ID]; ord != nil {
		return payment.Status{}, false, false, payment.ErrDuplicateOrderID.With(
			"order id %s already submitted under another idempotency key", o.ID)
	}
	if o.TrackingKey != "" {
		if ord := b.byTracking[o.TrackingKey]; ord != nil {
			return payment.Status{}, false, false, payment.ErrDuplicateTrackingKey.With(
				"tracking key %s already used by order %s", o.TrackingKey, ord.o.ID)
		}
	}
	if err := b.refuseBeforeAcceptLocked(o); err != nil {
		return payment.Status{}, false, false, err
	}
	now := b.now()
	oc := o
	m := Movement{
		Kind: MovementAccepted, At: now, OrderID: o.ID,
		ProviderRef: b.providerRef(), Rail: o.Rail, Amount: o.Amount,
		TrackingKey: o.TrackingKey, Order: &oc,
	}
	if o.Rail == apoyo.RailCashPickup {
		m.PickupReference = b.newPickupReference(o.ID)
		exp := now.Add(b.cfg.PickupExpiry)
		m.ExpiresAt = &exp
	}
	if err := b.record(m); err != nil {
		return payment.Status{}, false, false, err
	}
	ord := b.byID[o.ID]
	return ord.st, true, gatewayTimesOut(o) || b.injectLocked(o, FaultTimeoutAfterAccept), nil
}

func (b *Bank) providerRef() string {
	return fmt.Sprintf("SBX%010d", len(b.list)+1)
}

func (b *Bank) newPickupReference(orderID string) string {
	for i := 0; ; i++ {
		if ref := pickupReference(orderID, i); !b.pickupRefs[ref] {
			return ref
		}
	}
}

// Status returns the order's status, or ENOTFOUND payment.unknown_order.
func (b *Bank) Status(orderID string) (payment.Status, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.processLocked(false); err != nil {
		return payment.Status{}, err
	}
	ord := b.byID[orderID]
	if ord == nil {
		return payment.Status{}, payment.ErrUnknownOrder.With("no order %q", orderID)
	}
	return ord.st, nil
}

// Collect records that the beneficiary collected a cash pickup. Collecting
// an already collected order returns its status again.
func (b *Bank) Collect(orderID string) (payment.Status, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.processLocked(false); err != nil {
		return payment.Status{}, err
	}
	ord := b.byID[orderID]
	if ord == nil {
		return payment.Status{}, payment.ErrUnknownOrder.With("no order %q", orderID)
	}
	if ord.o.Rail != apoyo.RailCashPickup {
		return payment.Status{}, ErrNotCashPickup.With("order %s is %s, not a cash pickup", orderID, ord.o.Rail)
	}
	switch ord.st.State {
	case apoyo.PaymentCollected:
		return ord.st, nil
	case apoyo.PaymentSettled:
		if err := b.record(movementFor(MovementCollected, ord, b.now())); err != nil {
			return payment.Status{}, err
		}
		return ord.st, nil
	}
	return payment.Status{}, ErrNotCollectable.With("cash pickup %s is %s", orderID, ord.st.State)
}

// Advance settles every pending order now ("run settlement now"), then moves
// the sandbox clock forward by d (d ≥ 0) and processes what fell due: late
// returns, expiries. It returns the new sandbox time.
func (b *Bank) Advance(d time.Duration) (time.Time, error) {
	if d < 0 {
		return time.Time{}, apoyo.Errorf(apoyo.EINVALID, "sandbox.invalid_request", "cannot move the clock back (%s)", d)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.processLocked(true); err != nil {
		return time.Time{}, err
	}
	b.offset += d
	if err := b.processLocked(false); err != nil {
		return time.Time{}, err
	}
	return b.now(), nil
}

// processLocked does the work that is due at the sandbox clock, or with
// force every pending order regardless of its delay. Order matters: an order
// settles before it can be returned or expire. Callers hold b.mu.
func (b *Bank) processLocked(force bool) error {
	now := b.now()
	defer b.closeFinished()
	for _, ord := range b.open {
		if ord.st.State != apoyo.PaymentPending || (!force && now.Before(ord.dueAt)) {
			continue
		}
		if err := b.settle(ord, now); err != nil {
			return err
		}
	}
	for _, ord := range b.open {
		if ord.st.State == apoyo.PaymentSettled && !ord.lateReturnAt.IsZero() && !now.Before(ord.lateReturnAt) {
			m := movementFor(MovementReturned, ord, now)
			m.ReturnCause = b.lateReturnCause(ord.o)
			m.ReturnTrackingKey = returnTrackingKey(ord.o.ID)
			if err := b.record(m); err != nil {
				return err
			}
			if !returnsLater(ord.o) {
				b.countFault(ord.o, FaultReturnAfterSettlement)
			}
		}
	}
	for _, ord := range b.open {
		exp := ord.st.ExpiresAt
		if exp == nil || now.Before(*exp) {
			continue
		}
		if ord.st.State == apoyo.PaymentPending {
			// Only with a settle delay longer than the expiry; fund it
			// first so the money that comes back had left.
			if err := b.settle(ord, now); err != nil {
				return err
			}
		}
		if ord.st.State == apoyo.PaymentSettled {
			m := movementFor(MovementExpired, ord, now)
			m.ReturnTrackingKey = returnTrackingKey(ord.o.ID)
			if err := b.record(m); err != nil {
				return err
			}
		}
	}
	return nil
}

// closeFinished drops from b.open the orders with no work left, keeping
// the others' order.
func (b *Bank) closeFinished() {
	kept := b.open[:0]
	for _, ord := range b.open {
		if ord.open() {
			kept = append(kept, ord)
		} else {
			ord.listedOpen = false
		}
	}
	clear(b.open[len(kept):])
	b.open = kept
}

// settle processes a pending order by the outcome rules.
func (b *Bank) settle(ord *order, now time.Time) error {
	if cause := immediateReturnCause(ord.o); cause != 0 {
		m := movementFor(MovementReturned, ord, now)
		m.ReturnCause = cause
		m.ReturnTrackingKey = returnTrackingKey(ord.o.ID)
		return b.record(m)
	}
	if cardRejected(ord.o) {
		return b.record(movementFor(MovementRejected, ord, now))
	}
	if ord.o.Rail == apoyo.RailSPEI && b.injectLocked(ord.o, FaultCancelled) {
		return b.record(movementFor(MovementCancelled, ord, now))
	}
	if err := b.record(movementFor(MovementSettled, ord, now)); err != nil {
		return err
	}
	if ord.o.Rail == apoyo.RailCashPickup && b.cfg.AutoCollect {
		return b.record(movementFor(MovementCollected, ord, now))
	}
	return nil
}

// Movements returns the bank's record for an operation date (YYYY-MM-DD),
// or all of it for "".
func (b *Bank) Movements(date string) []Movement {
	b.mu.Lock()
	defer b.mu.Unlock()
	_ = b.processLocked(false) // a failure is reported by the next write
	out := []Movement{}
	for _, m := range b.movements {
		if date == "" || m.OperationDate == date {
			out = append(out, m)
		}
	}
	return out
}

// Statement returns the settlement statement lines for an operation date,
// in the shape documented on payment.StatementHeader, in movement order.
func (b *Bank) Statement(date string) []payment.StatementLine {
	b.mu.Lock()
	defer b.mu.Unlock()
	_ = b.processLocked(false)
	var lines []payment.StatementLine
	for _, m := range b.movements {
		if m.OperationDate != date {
			continue
		}
		ord := b.byID[m.OrderID]
		if ord == nil {
			continue
		}
		base := payment.StatementLine{
			OperationDate: m.OperationDate, TrackingKey: m.TrackingKey, OrderID: m.OrderID,
			Amount: m.Amount, CreatedAt: ord.createdAt,
		}
		orderLine, returnLine := base, base
		orderLine.SettledAt = m.At
		returnLine.State = payment.SPEIReturned
		returnLine.ReturnTrackingKey = m.ReturnTrackingKey
		returnLine.ReturnCause = m.ReturnCause
		returnLine.ReturnedAt = m.At
		switch m.Kind {
		case MovementSettled:
			orderLine.State = payment.SPEISettled
			lines = append(lines, orderLine)
		case MovementRejected, MovementCancelled:
			orderLine.State = payment.SPEICancelled
			orderLine.SettledAt = time.Time{}
			lines = append(lines, orderLine)
		case MovementReturned, MovementExpired:
			if ord.settledAt.IsZero() || ord.settledAt.After(m.At) {
				// Refused outright: the order line shows D, and the money
				// comes back on the return line of the same day.
				refused := returnLine
				refused.ReturnTrackingKey = ""
				lines = append(lines, refused)
			} else {
				returnLine.SettledAt = ord.settledAt
			}
			lines = append(lines, returnLine)
		}
	}
	return lines
}
