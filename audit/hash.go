package audit

import (
	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/internal/canonhash"
)

// hashVersion names the canonical encoding below. A change to what is
// hashed, or how, needs a new version, or every stored entry would stop
// verifying.
const hashVersion = "apoyo.audit.v1"

// entryHash links an entry to its predecessor: it covers prev and every
// field of e except PrevHash and Hash themselves (prev is PrevHash, as
// bytes), so any change to a stored entry, or to the order of entries,
// changes every later hash. Targets are hashed in order, with their count;
// Detail in key order, with its count.
func entryHash(prev []byte, e *apoyo.AuditEntry) []byte {
	h := canonhash.New(hashVersion)
	h.Bytes(prev)
	h.Int(e.Seq)
	h.Int(e.At.UnixMicro())
	h.Str(e.ActorID)
	h.Str(e.ActorName)
	h.Str(string(e.Role))
	h.Str(string(e.Secretariat))
	h.Str(e.Via)
	h.Str(e.TokenID)
	h.Str(string(e.Action))
	h.Int(int64(len(e.Targets)))
	for _, t := range e.Targets {
		h.Str(t)
	}
	h.Str(e.Purpose)
	h.Str(string(e.Outcome))
	h.Str(string(e.ErrorCode))
	h.Str(e.ErrorReason)
	h.Str(e.RequestID)
	h.Map(e.Detail)
	return h.Sum()
}
