package pii

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"log/slog"
	"strings"
	"unicode"

	"github.com/apoyo-cdmx/apoyo"
)

// fieldIndexKey is the configuration key the blind-index key is read from.
const fieldIndexKey = "pii.index_key"

// ErrIndexKeyReused: the configured index key equals one of the encryption
// keys. They must differ, see Indexer.
var ErrIndexKeyReused = &apoyo.Error{Code: apoyo.EINVALID, Reason: "pii.index_key_reused", Field: fieldIndexKey}

// Index domains. Each field that gets a blind index uses its own domain, so
// the same characters in two fields (a document number that happens to equal
// a phone number) give unrelated indexes and cannot be linked across columns.
const (
	DomainCURP  = "curp"
	DomainDoc   = "doc"
	DomainCLABE = "clabe"
	DomainPhone = "phone"
)

// indexKeyInfo labels the HKDF derivation of the HMAC key. The version lets
// a future scheme derive a different key from the same configured secret.
const indexKeyInfo = "apoyo/pii/blind-index/v1"

// Indexer computes blind indexes: a keyed HMAC-SHA256 of a normalised value,
// stored next to the value's ciphertext so that equality lookups and unique
// constraints ("this CURP is already registered") work without decrypting
// every row. Without the key the index reveals nothing and cannot be
// brute-forced from the small space of, say, phone numbers.
//
// Its key is separate from the encryption keys, on purpose: encryption keys
// rotate by rewrapping values one at a time, while every index computed
// under one index key must be compared with indexes under the same key.
// Rotating the index key therefore means recomputing every stored index
// (decrypt the value, normalise, Index under the new key) before lookups use
// the new key; do it rarely, and only if the key may have leaked.
//
// An Indexer is immutable and safe for concurrent use; it never prints its
// key.
type Indexer struct {
	key []byte
}

// ParseIndexer builds an Indexer from the configured index key, standard
// base64 of KeySize bytes (GenerateKey makes one). kr is the encryption
// keyring: the index key must not be one of its keys, which catches a key
// copied from the wrong setting. Pass nil to skip that check. Errors are
// EINVALID with Field "pii.index_key".
func ParseIndexer(b64key string, kr *Keyring) (*Indexer, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64key))
	if err != nil {
		return nil, ErrKeyEncoding.With("index key is not valid base64").At(0, fieldIndexKey).Wrap(err)
	}
	if kr != nil && kr.usesKey(key) {
		return nil, ErrIndexKeyReused.With("index key must differ from every encryption key")
	}
	return NewIndexer(key)
}

// NewIndexer builds an Indexer from a raw KeySize-byte key. The HMAC key is
// derived from it with HKDF-SHA256, so the configured secret itself is never
// used directly and the scheme can be versioned.
func NewIndexer(key []byte) (*Indexer, error) {
	if len(key) != KeySize {
		return nil, ErrKeyLength.With("index key is %d bytes, want %d", len(key), KeySize).At(0, fieldIndexKey)
	}
	derived, err := hkdf.Key(sha256.New, key, nil, indexKeyInfo, sha256.Size)
	if err != nil {
		return nil, apoyo.Errorf(apoyo.EINTERNAL, "pii.hkdf", "deriving index key: %v", err)
	}
	return &Indexer{key: derived}, nil
}

// Index returns the 32-byte blind index of a normalised value in a domain
// (one of the Domain constants, or another fixed non-empty name). The result
// is deterministic for a given key, domain and value.
//
// Normalising is the caller's job (NormaliseID for identifiers): the index
// matches only byte-identical input. An empty value has no index: Index
// returns nil, which stores as SQL NULL, so the many rows without, say, a
// phone never collide in a unique index.
//
// Index panics if domain is empty: domains are constants in the code, and a
// missing one would silently merge the index spaces of different fields.
func (ix *Indexer) Index(domain, normalised string) []byte {
	if domain == "" {
		panic("pii: Index called with an empty domain")
	}
	if normalised == "" {
		return nil
	}
	mac := hmac.New(sha256.New, ix.key)
	// Length-prefix the domain so ("ab", "c") and ("a", "bc") differ.
	mac.Write(binary.AppendUvarint(nil, uint64(len(domain))))
	mac.Write([]byte(domain))
	mac.Write([]byte(normalised))
	return mac.Sum(nil)
}

// String keeps the key out of fmt output.
func (ix *Indexer) String() string { return "pii.Indexer{key: [redacted]}" }

// GoString keeps the key out of %#v output.
func (ix *Indexer) GoString() string { return ix.String() }

// LogValue keeps the key out of log/slog output.
func (ix *Indexer) LogValue() slog.Value { return slog.StringValue(ix.String()) }

// NormaliseID puts an identifier (CURP, passport or other document number,
// CLABE, phone) in canonical form for indexing: upper case, with spaces,
// dots, dashes and invisible format characters removed, so "goxx-800101.h"
// and "GOXX800101H" index the same. It does no Unicode normalisation
// (composed and decomposed "Ñ" differ); CURPs are ASCII.
func NormaliseID(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r), r == '.', unicode.Is(unicode.Pd, r), unicode.Is(unicode.Cf, r):
			return -1
		}
		return unicode.ToUpper(r)
	}, s)
}
