package ledger

import (
	"time"

	"github.com/apoyo-cdmx/apoyo/internal/canonhash"
	"github.com/shopspring/decimal"
)

// requestHash fingerprints what a caller asked for, independent of the id
// and time the ledger assigns, so a replay with the same key can be told
// from a different request reusing it. Amounts are normalised to the
// currency's scale: 5600 and 5600.00 are the same request.
func requestHash(r *TransactionRequest, scale int32) []byte {
	h := canonhash.New("apoyo.ledger.request.v1")
	h.Str(r.Currency)
	h.Str(r.Description)
	h.Map(r.Metadata)
	h.Int(r.reverses)
	if r.EffectiveAt.IsZero() {
		h.Int(0)
	} else {
		h.Int(r.EffectiveAt.UnixMicro())
	}
	h.Int(int64(len(r.Postings)))
	for _, p := range r.Postings {
		h.Str(p.Account)
		h.Str(p.Fund)
		h.Str(string(p.Direction))
		h.Str(p.Amount.StringFixed(scale))
	}
	return h.Sum()
}

// storedPosting is a posting as the journal keeps it: account id and a
// signed amount (debits positive).
type storedPosting struct {
	AccountID int64
	Fund      string
	Amount    decimal.Decimal
}

// chainInput is everything of a transaction row that the hash chain covers.
type chainInput struct {
	ID             int64
	IdempotencyKey string
	RequestHash    []byte
	Currency       string
	Description    string
	Metadata       map[string]string
	ReversesID     int64
	EffectiveAt    time.Time
	Postings       []storedPosting
}

// chainHash links a transaction to its predecessor: any change to a
// recorded row, posting, or the order of rows changes every later hash.
func chainHash(prev []byte, in *chainInput, scale int32) []byte {
	h := canonhash.New("apoyo.ledger.chain.v1")
	h.Bytes(prev)
	h.Int(in.ID)
	h.Str(in.IdempotencyKey)
	h.Bytes(in.RequestHash)
	h.Str(in.Currency)
	h.Str(in.Description)
	h.Map(in.Metadata)
	h.Int(in.ReversesID)
	h.Int(in.EffectiveAt.UnixMicro())
	h.Int(int64(len(in.Postings)))
	for _, p := range in.Postings {
		h.Int(p.AccountID)
		h.Str(p.Fund)
		h.Str(p.Amount.StringFixed(scale))
	}
	return h.Sum()
}
