package apoyo

// Rail is the way money reaches a beneficiary. Only about 42% of the
// programme's people have a bank account, hence the two non-bank rails.
// Everything that differs between rails is in one table, railRules:
// which instrument a rail needs, which state means paid, and which final
// state an order that did not pay ends in.
type Rail string

const (
	// RailSPEI is an interbank transfer to an 18-digit CLABE.
	RailSPEI Rail = "spei"
	// RailCashPickup is a reference the beneficiary takes to a branch or
	// store to collect cash before it expires.
	RailCashPickup Rail = "cash_pickup"
	// RailCard loads the amount onto a welfare or prepaid card.
	RailCard Rail = "card"
)

// Rails lists every rail in canonical order.
var Rails = []Rail{RailSPEI, RailCashPickup, RailCard}

// InstrumentField names the field of a person's record that says where
// the money goes.
type InstrumentField string

const (
	InstrumentNone  InstrumentField = ""
	InstrumentCLABE InstrumentField = "clabe"
	InstrumentCard  InstrumentField = "card_number"
)

// RailRules is what differs between rails.
type RailRules struct {
	Rail Rail
	// Instrument is the record field the rail pays to (none for a cash
	// pickup: the person collects with a reference).
	Instrument InstrumentField
	// PaidState is the state in which the money has reached the person: a
	// settled SPEI transfer or card load; a cash pickup only once
	// collected (settled means funded and waiting at the counter).
	PaidState PaymentState
	// Refused is the final state of an order the bank reports cancelled
	// (SPEI CN): rejected for a card load (the issuer refused it),
	// cancelled otherwise.
	Refused PaymentState
	// Unpaid is the final state of an order whose money came back (a
	// return line of a statement): returned for SPEI and card, expired
	// for a cash pickup that nobody collected.
	Unpaid PaymentState
}

var railRules = map[Rail]RailRules{
	RailSPEI:       {Rail: RailSPEI, Instrument: InstrumentCLABE, PaidState: PaymentSettled, Refused: PaymentCancelled, Unpaid: PaymentReturned},
	RailCashPickup: {Rail: RailCashPickup, Instrument: InstrumentNone, PaidState: PaymentCollected, Refused: PaymentCancelled, Unpaid: PaymentExpired},
	RailCard:       {Rail: RailCard, Instrument: InstrumentCard, PaidState: PaymentSettled, Refused: PaymentRejected, Unpaid: PaymentReturned},
}

// Valid reports whether r is one of Rails.
func (r Rail) Valid() bool { _, ok := railRules[r]; return ok }

// Rules returns the rail's rules (zero RailRules for an unknown rail).
func (r Rail) Rules() RailRules { return railRules[r] }

// PaymentState is a provider-independent payment order state.
type PaymentState string

const (
	// PaymentPending: accepted, not yet settled.
	PaymentPending PaymentState = "pending"
	// PaymentSettled: the money left the programme's account (SPEI LQ,
	// card loaded, cash pickup funded and ready to collect).
	PaymentSettled PaymentState = "settled"
	// PaymentReturned: SPEI returned (D) by the receiving bank, before
	// or after settlement.
	PaymentReturned PaymentState = "returned"
	// PaymentCancelled: cancelled before settlement (SPEI CN).
	PaymentCancelled PaymentState = "cancelled"
	// PaymentCollected: the beneficiary collected the cash.
	PaymentCollected PaymentState = "collected"
	// PaymentExpired: the cash pickup reference expired uncollected and
	// the money came back.
	PaymentExpired PaymentState = "expired"
	// PaymentRejected: the card issuer refused the load.
	PaymentRejected PaymentState = "rejected"
)

// Final reports whether an order in state s on rail r needs no more
// waiting: its outcome can be booked. A settled SPEI transfer or card
// load is final even though SPEI allows a return after settlement (that
// return is an event of its own); a settled cash pickup is not: the money
// waits at the counter until it is collected or expires.
func (r Rail) Final(s PaymentState) bool {
	switch s {
	case PaymentReturned, PaymentCancelled, PaymentCollected, PaymentExpired, PaymentRejected:
		return true
	case PaymentSettled:
		return r.Rules().PaidState == PaymentSettled
	}
	return false
}

// Paid reports whether state s means the money reached the person.
func (s PaymentState) Paid() bool { return s == PaymentSettled || s == PaymentCollected }
