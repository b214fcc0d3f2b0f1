// Package payment defines the one interface apoyo uses to pay a beneficiary,
// whatever the rail: SPEI transfers to a CLABE, cash pickup orders for the
// unbanked, and loads onto welfare/prepaid cards.
//
// The disbursement workflow only ever talks to a Provider. Keeping every rail
// behind the same Submit/Status pair means the hard part — never paying the
// same person twice when a bank times out — is solved once, here, by two
// rules: orders are idempotent by IdempotencyKey, and after an unknown
// outcome the caller asks Status before it does anything else.
//
// The package also holds the rail rules that do not depend on a provider
// (order validation, SPEI return causes, deterministic tracking keys) and the
// settlement statement format used for reconciliation.
package payment

import (
	"context"
	"time"

	"github.com/shopspring/decimal"

	"github.com/apoyo-cdmx/apoyo"
)

// CurrencyMXN is the only currency the programme pays in; SPEI itself is
// MXN-only (return cause 5 is "other currency").
const CurrencyMXN = "MXN"

// Instrument says where the money goes. Which field is required depends on
// the rail: CLABE for SPEI, CardNumber for card, nothing for cash pickup.
type Instrument struct {
	CLABE      string `json:"clabe,omitempty"`
	CardNumber string `json:"card_number,omitempty"`
	// HolderName is optional: the programme does not send names to a bank
	// unless the rail needs them, because many beneficiaries fear their data
	// travelling further than necessary.
	HolderName string `json:"holder_name,omitempty"`
}

// Order is one attempt to pay one beneficiary. Its JSON form (see
// MarshalJSON) is the wire format of the bank API, with the amount as a
// string with two decimals.
type Order struct {
	// ID is our payment id, opaque to the provider, e.g.
	// "pay_<cycle>_<beneficiary>_<attempt>". Status is looked up by it.
	ID string `json:"id"`
	// IdempotencyKey makes Submit safe to repeat. One key is one payment
	// attempt: reuse it for every retry of that attempt, never for another.
	IdempotencyKey string          `json:"idempotency_key"`
	Rail           apoyo.Rail      `json:"rail"`
	Amount         decimal.Decimal `json:"amount"`
	Currency       string          `json:"currency"`
	// Concept is the free text the beneficiary sees (≤39 characters, SPEI
	// rule).
	Concept string `json:"concept"`
	// TrackingKey is the SPEI clave de rastreo (≤30, [A-Za-z0-9]); see
	// NewTrackingKey.
	TrackingKey string `json:"tracking_key,omitempty"`
	// Reference is the SPEI numeric reference (≤7 digits); see NewReference.
	Reference   string     `json:"reference,omitempty"`
	Beneficiary Instrument `json:"instrument"`
	// CallbackURL, if set, asks the provider to POST the Status there on
	// each state change. It is delivery metadata, not part of the payment,
	// so it is ignored when comparing orders for idempotency.
	CallbackURL string `json:"callback_url,omitempty"`
}

// SameAs reports whether o and p describe the same payment, which is what
// decides between "repeat of the same order" and "idempotency conflict".
// Amounts compare by value (5600 equals 5600.00); CallbackURL is ignored.
func (o Order) SameAs(p Order) bool {
	return o.ID == p.ID &&
		o.IdempotencyKey == p.IdempotencyKey &&
		o.Rail == p.Rail &&
		o.Amount.Equal(p.Amount) &&
		o.Currency == p.Currency &&
		o.Concept == p.Concept &&
		o.TrackingKey == p.TrackingKey &&
		o.Reference == p.Reference &&
		o.Beneficiary == p.Beneficiary
}

// SPEI states as banks report them.
const (
	SPEISettled   = "LQ" // liquidada
	SPEIReturned  = "D"  // devuelta
	SPEICancelled = "CN" // cancelada
)

// Status is what a provider knows about an order.
type Status struct {
	OrderID     string             `json:"order_id"`
	ProviderRef string             `json:"provider_ref"`
	Rail        apoyo.Rail         `json:"rail"`
	State       apoyo.PaymentState `json:"state"`
	// SPEIState is "LQ", "D" or "CN" for SPEI orders once known, "" for
	// pending orders and other rails.
	SPEIState string `json:"spei_state,omitempty"`
	// ReturnCause is the SPEI return cause (see ReturnCauseText), 0 if none.
	ReturnCause     int    `json:"return_cause,omitempty"`
	ReturnCauseText string `json:"return_cause_text,omitempty"`
	// ReturnTrackingKey is the clave de rastreo of the return, which is a
	// payment of its own.
	ReturnTrackingKey string `json:"return_tracking_key,omitempty"`
	// PickupReference and ExpiresAt are set for cash pickup orders.
	PickupReference string     `json:"pickup_reference,omitempty"`
	ExpiresAt       *time.Time `json:"expires_at,omitempty"`
	// OperationDate is the fecha de operación (YYYY-MM-DD) under which the
	// bank booked the settlement (or the refusal); "" while pending. It can
	// differ from the calendar date and is what a CEP lookup needs.
	OperationDate string    `json:"operation_date,omitempty"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// Final reports whether the caller can stop waiting for this order: its
// outcome can be booked. A settled SPEI transfer or card load is final even
// though SPEI allows a return to arrive after settlement (cause 13 and
// friends); such a return shows up later as State returned, in the bank's
// movements and statement, and through callbacks, and is handled as its own
// event. A settled cash pickup is not final: the money waits at the counter
// until it is collected or expires.
func (s Status) Final() bool { return s.Rail.Final(s.State) }

// Provider pays orders on one or more rails.
//
// The rule for callers: after a timeout, an EUNAVAILABLE error, or any other
// unknown outcome from Submit, call Status(order.ID) before ever submitting
// again. If Status finds the order, follow it; never create a new attempt
// (new ID or IdempotencyKey) for that payment. If Status returns ENOTFOUND
// the provider never received the order and it may be submitted again — with
// the same IdempotencyKey and content, because the first request may still
// be in flight and only the key protects against paying twice.
type Provider interface {
	// Submit sends an order and returns its status, usually pending. It is
	// idempotent by IdempotencyKey: the same key with the same order (see
	// Order.SameAs) returns the existing status and pays nothing more.
	//
	// Errors:
	//   - EINVALID payment.invalid_order: the order breaks a rule
	//     (ValidateOrder, or the provider's own such as a CLABE check digit
	//     or a card number); retrying unchanged cannot succeed.
	//   - ECONFLICT payment.idempotency_conflict: the key was used for a
	//     different order.
	//   - ECONFLICT payment.duplicate_order_id / payment.duplicate_tracking_key:
	//     another key already used this order id or clave de rastreo.
	//   - EUNAVAILABLE payment.provider_unavailable: timeout, network error or
	//     provider failure; the order may or may not exist. Call Status.
	//   - EINTERNAL payment.provider_error: an answer the client does not
	//     understand (a bug or a misconfiguration).
	Submit(ctx context.Context, o Order) (Status, error)

	// Status returns the current status of the order with our id orderID.
	//
	// Errors:
	//   - ENOTFOUND payment.unknown_order: the provider never received it.
	//   - EUNAVAILABLE payment.provider_unavailable: ask again later.
	//   - EINTERNAL payment.provider_error: as for Submit.
	Status(ctx context.Context, orderID string) (Status, error)
}

// Sentinel errors; compare with errors.Is (matching is by Reason).
var (
	ErrInvalidOrder = apoyo.Errorf(apoyo.EINVALID, "payment.invalid_order",
		"invalid payment order")
	ErrIdempotencyConflict = apoyo.Errorf(apoyo.ECONFLICT, "payment.idempotency_conflict",
		"idempotency key already used for a different order")
	ErrDuplicateOrderID = apoyo.Errorf(apoyo.ECONFLICT, "payment.duplicate_order_id",
		"order id already used with another idempotency key")
	ErrDuplicateTrackingKey = apoyo.Errorf(apoyo.ECONFLICT, "payment.duplicate_tracking_key",
		"tracking key already used by another order")
	ErrUnknownOrder = apoyo.Errorf(apoyo.ENOTFOUND, "payment.unknown_order",
		"the provider has no such order")
	ErrUnavailable = apoyo.Errorf(apoyo.EUNAVAILABLE, "payment.provider_unavailable",
		"payment provider unavailable; outcome unknown, check Status before resubmitting")
	ErrProviderError = apoyo.Errorf(apoyo.EINTERNAL, "payment.provider_error",
		"unexpected answer from payment provider")
)
