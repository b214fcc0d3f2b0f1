package payment

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/apoyo-cdmx/apoyo"
)

// Limits from the SPEI message format.
const (
	MaxConceptLen     = 39
	MaxTrackingKeyLen = 30
	MaxReferenceLen   = 7
	// MaxOrderIDLen bounds our own ids; they travel in URL paths.
	MaxOrderIDLen = 64
	// MaxIdempotencyKeyLen bounds keys so a provider can index them.
	MaxIdempotencyKeyLen = 128
)

// MarshalJSON writes the order with its amount as a string with exactly two
// decimals ("5600.00"), the form banks expect. Decoding accepts the same
// form through decimal.Decimal's own UnmarshalJSON.
func (o Order) MarshalJSON() ([]byte, error) {
	type plain Order // drops the method, avoiding recursion
	return json.Marshal(struct {
		plain
		Amount string `json:"amount"`
	}{plain(o), o.Amount.StringFixed(2)})
}

// ValidateOrder checks the rules any provider would enforce and that need no
// outside knowledge, so a bad order fails fast and permanently (EINVALID,
// Reason payment.invalid_order, Field naming the JSON field) instead of as a
// bank return days later. It checks lengths and digits of the CLABE but not
// its check digit, which is validated where the CLABE is captured.
func ValidateOrder(o Order) error {
	bad := func(field, format string, args ...any) error {
		return ErrInvalidOrder.With(format, args...).At(0, field)
	}
	if o.ID == "" || len(o.ID) > MaxOrderIDLen || !isIDChars(o.ID) {
		return bad("id", "order id must be 1-%d characters of [A-Za-z0-9_:-]", MaxOrderIDLen)
	}
	if o.IdempotencyKey == "" || len(o.IdempotencyKey) > MaxIdempotencyKeyLen || !isPrintableASCII(o.IdempotencyKey) {
		return bad("idempotency_key", "idempotency key must be 1-%d printable ASCII characters", MaxIdempotencyKeyLen)
	}
	if !o.Rail.Valid() {
		return bad("rail", "unknown rail %q", o.Rail)
	}
	if !o.Amount.IsPositive() {
		return bad("amount", "amount must be positive, got %s", o.Amount.String())
	}
	if !o.Amount.Equal(o.Amount.Round(2)) {
		return bad("amount", "amount %s has more than 2 decimals", o.Amount.String())
	}
	if o.Currency != CurrencyMXN {
		return bad("currency", "currency must be %s, got %q", CurrencyMXN, o.Currency)
	}
	// SPEI accepts a restricted character set; accents and other non-ASCII
	// characters are a classic cause of return 19 (invalid character), so
	// they are refused for every rail to keep one rule.
	if o.Concept == "" || utf8.RuneCountInString(o.Concept) > MaxConceptLen || !isPrintableASCII(o.Concept) {
		return bad("concept", "concept must be 1-%d printable ASCII characters (no accents)", MaxConceptLen)
	}
	if o.TrackingKey != "" || o.Rail == apoyo.RailSPEI {
		if o.TrackingKey == "" || len(o.TrackingKey) > MaxTrackingKeyLen || !isAlnum(o.TrackingKey) {
			return bad("tracking_key", "tracking key must be 1-%d characters of [A-Za-z0-9]", MaxTrackingKeyLen)
		}
	}
	if o.Reference != "" || o.Rail == apoyo.RailSPEI {
		if o.Reference == "" || len(o.Reference) > MaxReferenceLen || !isDigits(o.Reference) {
			return bad("reference", "numeric reference must be 1-%d digits", MaxReferenceLen)
		}
	}
	switch o.Rail.Rules().Instrument {
	case apoyo.InstrumentCLABE:
		if len(o.Beneficiary.CLABE) != 18 || !isDigits(o.Beneficiary.CLABE) {
			return bad("instrument.clabe", "CLABE must be 18 digits")
		}
	case apoyo.InstrumentCard:
		n := len(o.Beneficiary.CardNumber)
		if n < 13 || n > 19 || !isDigits(o.Beneficiary.CardNumber) {
			return bad("instrument.card_number", "card number must be 13-19 digits")
		}
	}
	return nil
}

// trackingKeyPrefix marks our claves de rastreo so a statement line can be
// recognised as the programme's at a glance.
const trackingKeyPrefix = "APOYO"

// NewTrackingKey derives the clave de rastreo from our payment id: "APOYO"
// followed by 25 characters of the base32 SHA-256 of the id (30 characters,
// [A-Z2-7]). Deterministic, so a retried submission of the same attempt
// carries the same key and a bank rejects a second payment under it (return
// cause 30, duplicate tracking key), while different attempts get different
// keys. 125 bits of hash make collisions irrelevant.
func NewTrackingKey(orderID string) string {
	sum := sha256.Sum256([]byte(orderID))
	enc := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:])
	return trackingKeyPrefix + enc[:MaxTrackingKeyLen-len(trackingKeyPrefix)]
}

// NewReference derives a 7-digit numeric reference from our payment id, for
// the SPEI referencia numérica. It is not unique (10^7 values) and need not
// be: the tracking key identifies the transfer, the reference only helps a
// person match it.
func NewReference(orderID string) string {
	sum := sha256.Sum256([]byte("reference:" + orderID))
	return fmt.Sprintf("%07d", binary.BigEndian.Uint64(sum[:8])%10_000_000)
}

// SPEI return causes (causas de devolución) that matter to the programme.
const (
	CauseAccountNotFound      = 1
	CauseAccountBlocked       = 2
	CauseAccountCancelled     = 3
	CauseOtherCurrency        = 5
	CauseNotAtReceivingBank   = 6
	CauseNotRecognised        = 13
	CauseMissingData          = 14
	CauseWrongPaymentType     = 15
	CauseWrongOperationType   = 16
	CauseWrongAccountType     = 17
	CauseSenderRequest        = 18
	CauseInvalidCharacter     = 19
	CauseBalanceLimitExceeded = 20
	CauseMonthlyDepositLimit  = 21
	CauseDuplicateTrackingKey = 30
)

const unknownReturnCauseDescription = "unknown return cause"

var returnCauses = map[int]string{
	CauseAccountNotFound:      "account does not exist",
	CauseAccountBlocked:       "account blocked",
	CauseAccountCancelled:     "account cancelled",
	CauseOtherCurrency:        "account in another currency",
	CauseNotAtReceivingBank:   "account not at the receiving bank",
	CauseNotRecognised:        "beneficiary does not recognise the payment",
	CauseMissingData:          "missing mandatory data",
	CauseWrongPaymentType:     "wrong payment type",
	CauseWrongOperationType:   "wrong operation type",
	CauseWrongAccountType:     "wrong account type",
	CauseSenderRequest:        "returned at the sender's request",
	CauseInvalidCharacter:     "invalid character",
	CauseBalanceLimitExceeded: "balance limit exceeded (low-tier account)",
	CauseMonthlyDepositLimit:  "monthly deposit limit exceeded (low-tier account)",
	CauseDuplicateTrackingKey: "duplicate tracking key",
}

// ReturnCauseText describes a SPEI return cause; unknown codes (and 0, no
// cause) get "unknown return cause".
func ReturnCauseText(code int) string {
	if t, ok := returnCauses[code]; ok {
		return t
	}
	return unknownReturnCauseDescription
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

func isIDChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' ||
			c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
