package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"maps"
	"slices"

	"github.com/apoyo-cdmx/apoyo"
)

// hashVersion names the canonical encoding below. A change to what is
// hashed, or how, needs a new version, or every stored entry would stop
// verifying.
const hashVersion = "apoyo.audit.v1"

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

// entryHash links an entry to its predecessor: it covers prev and every
// field of e except PrevHash and Hash themselves (prev is PrevHash, as
// bytes), so any change to a stored entry, or to the order of entries,
// changes every later hash. Targets are hashed in order, with their count;
// Detail in key order, with its count.
func entryHash(prev []byte, e *apoyo.AuditEntry) []byte {
	h := newHasher(hashVersion)
	h.bytes(prev)
	h.int(e.Seq)
	h.int(e.At.UnixMicro())
	h.str(e.ActorID)
	h.str(e.ActorName)
	h.str(string(e.Role))
	h.str(string(e.Secretariat))
	h.str(e.Via)
	h.str(e.TokenID)
	h.str(string(e.Action))
	h.int(int64(len(e.Targets)))
	for _, t := range e.Targets {
		h.str(t)
	}
	h.str(e.Purpose)
	h.str(string(e.Outcome))
	h.str(string(e.ErrorCode))
	h.str(e.ErrorReason)
	h.str(e.RequestID)
	keys := slices.Sorted(maps.Keys(e.Detail))
	h.int(int64(len(keys)))
	for _, k := range keys {
		h.str(k)
		h.str(e.Detail[k])
	}
	return h.sum()
}
