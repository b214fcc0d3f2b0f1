package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"time"

	"github.com/shopspring/decimal"
)

// hasher writes length-prefixed fields, so that no two different field
// sequences produce the same byte stream ("ab","c" vs "a","bc").
type hasher struct{ h hash.Hash }

func newHasher(version string) *hasher {
	h := &hasher{h: sha256.New()}
	h.str(version)
	return h
}

func (h *hasher) str(s string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	h.h.Write(n[:])
	h.h.Write([]byte(s))
}

func (h *hasher) bytes(b []byte) { h.str(string(b)) }

func (h *hasher) int(v int64) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(v))
	h.h.Write(n[:])
}

func (h *hasher) sum() []byte { return h.h.Sum(nil) }

func (h *hasher) meta(m map[string]string) {
	keys := sortedKeys(m)
	h.int(int64(len(keys)))
	for _, k := range keys {
		h.str(k)
		h.str(m[k])
	}
}

// requestHash fingerprints what a caller asked for, independent of the id
// and time the ledger assigns, so a replay with the same key can be told
// from a different request reusing it. Amounts are normalised to the
// currency's scale: 5600 and 5600.00 are the same request.
func requestHash(r *TransactionRequest, scale int32) []byte {
	h := newHasher("apoyo.ledger.request.v1")
	h.str(r.Currency)
	h.str(r.Description)
	h.meta(r.Metadata)
	h.int(r.reverses)
	if r.EffectiveAt.IsZero() {
		h.int(0)
	} else {
		h.int(r.EffectiveAt.UnixMicro())
	}
	h.int(int64(len(r.Postings)))
	for _, p := range r.Postings {
		h.str(p.Account)
		h.str(p.Fund)
		h.str(string(p.Direction))
		h.str(p.Amount.StringFixed(scale))
	}
	return h.sum()
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
	h := newHasher("apoyo.ledger.chain.v1")
	h.bytes(prev)
	h.int(in.ID)
	h.str(in.IdempotencyKey)
	h.bytes(in.RequestHash)
	h.str(in.Currency)
	h.str(in.Description)
	h.meta(in.Metadata)
	h.int(in.ReversesID)
	h.int(in.EffectiveAt.UnixMicro())
	h.int(int64(len(in.Postings)))
	for _, p := range in.Postings {
		h.int(p.AccountID)
		h.str(p.Fund)
		h.str(p.Amount.StringFixed(scale))
	}
	return h.sum()
}
