// Package canonhash feeds fields into a SHA-256 in one canonical,
// length-prefixed encoding, so that no two different sequences of fields
// hash alike ("ab","c" against "a","bc"). The ledger's journal chain and
// the audit log's chain both hash with it; what each hashes, and its
// version tag, is theirs. Changing this encoding changes every stored
// hash: it must not change.
package canonhash

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"maps"
	"slices"
)

// Hasher writes length-prefixed fields into a SHA-256.
type Hasher struct{ h hash.Hash }

// New returns a Hasher that has written the version tag first.
func New(version string) *Hasher {
	h := &Hasher{h: sha256.New()}
	h.Str(version)
	return h
}

// Str writes s with its length.
func (h *Hasher) Str(s string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	h.h.Write(n[:])
	h.h.Write([]byte(s))
}

// Bytes writes b with its length.
func (h *Hasher) Bytes(b []byte) { h.Str(string(b)) }

// Int writes v as 8 big-endian bytes.
func (h *Hasher) Int(v int64) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(v))
	h.h.Write(n[:])
}

// Map writes m's size, then each key and value in key order.
func (h *Hasher) Map(m map[string]string) {
	keys := slices.Sorted(maps.Keys(m))
	h.Int(int64(len(keys)))
	for _, k := range keys {
		h.Str(k)
		h.Str(m[k])
	}
}

// Sum returns the hash of everything written.
func (h *Hasher) Sum() []byte { return h.h.Sum(nil) }
