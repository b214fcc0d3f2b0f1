package audit

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apoyo-cdmx/apoyo"
)

// Limits on an entry's text, in characters (Unicode code points). An audit
// write must never fail at the database: text columns refuse NUL bytes and
// invalid UTF-8, and jsonb would store invalid UTF-8 differently from what
// was hashed. So an entry that breaks a limit, or holds a NUL byte or
// invalid UTF-8 in any text field, is refused in Go with ErrInvalid naming
// the field, before anything reaches PostgreSQL. The application checks an
// entry with Validate before it acts, so a bad entry stops the call rather
// than leaving an unrecorded change.
const (
	// MaxTextLen bounds ids, names, roles, actions, error codes and
	// reasons, and each target.
	MaxTextLen = 200
	// MaxPurposeLen bounds the stated purpose of a personal-data read.
	MaxPurposeLen = 500
	// MaxTargets bounds the ids one entry names; a larger set is recorded
	// by its hash and size in Detail.
	MaxTargets = 64
	// MaxDetailKeys, MaxDetailKeyLen and MaxDetailValueLen bound Detail.
	MaxDetailKeys     = 32
	MaxDetailKeyLen   = 64
	MaxDetailValueLen = 500
)

// textProblem says what breaks the text rules in s, or "" when nothing
// does. It describes the problem and where it is, never the text itself.
func textProblem(s string, max int) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return fmt.Sprintf("contains a NUL byte (byte %d)", i+1)
	}
	if !utf8.ValidString(s) {
		for i := 0; i < len(s); {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				return fmt.Sprintf("is not valid UTF-8 (byte %d)", i+1)
			}
			i += size
		}
	}
	if n := utf8.RuneCountInString(s); n > max {
		return fmt.Sprintf("is %d characters, longer than the limit of %d", n, max)
	}
	return ""
}

// checkText is textProblem as an ErrInvalid naming field.
func checkText(field, s string, max int) error {
	if p := textProblem(s, max); p != "" {
		return ErrInvalid.With("%s", p).At(0, field)
	}
	return nil
}

// Validate checks e against the rules an entry must meet to be stored:
// the text limits above, an action, and an outcome of ok, failed or
// denied. Seq, PrevHash and Hash are ignored (the log sets them). Append
// and AppendTx call it; the application calls it early, so that a call
// whose entry could not be recorded is refused before it changes anything.
func Validate(e apoyo.AuditEntry) error {
	if e.Action == "" {
		return ErrInvalid.With("is required").At(0, "action")
	}
	switch e.Outcome {
	case apoyo.AuditOK, apoyo.AuditFailed, apoyo.AuditDenied:
	default:
		return ErrInvalid.With("must be ok, failed or denied").At(0, "outcome")
	}
	for _, f := range []struct {
		name string
		s    string
		max  int
	}{
		{"actor_id", e.ActorID, MaxTextLen},
		{"actor_name", e.ActorName, MaxTextLen},
		{"role", string(e.Role), MaxTextLen},
		{"secretariat", string(e.Secretariat), MaxTextLen},
		{"via", e.Via, MaxTextLen},
		{"token_id", e.TokenID, MaxTextLen},
		{"action", string(e.Action), MaxTextLen},
		{"purpose", e.Purpose, MaxPurposeLen},
		{"error_code", string(e.ErrorCode), MaxTextLen},
		{"error_reason", e.ErrorReason, MaxTextLen},
		{"request_id", e.RequestID, MaxTextLen},
	} {
		if err := checkText(f.name, f.s, f.max); err != nil {
			return err
		}
	}
	if len(e.Targets) > MaxTargets {
		return ErrInvalid.With("has %d ids, more than the limit of %d", len(e.Targets), MaxTargets).At(0, "targets")
	}
	for i, t := range e.Targets {
		if err := checkText(fmt.Sprintf("targets[%d]", i), t, MaxTextLen); err != nil {
			return err
		}
	}
	if err := checkDetail(e.Detail); err != nil {
		return err
	}
	if !e.At.IsZero() {
		if y := e.At.UTC().Year(); y < 1 || y > 9999 {
			return ErrInvalid.With("year %d is outside 1..9999", y).At(0, "at")
		}
	}
	return nil
}

// checkDetail applies the text rules to every key and value. Keys and
// values are named by their place in key order, not by their text.
func checkDetail(m map[string]string) error {
	if len(m) > MaxDetailKeys {
		return ErrInvalid.With("has %d keys, more than the limit of %d", len(m), MaxDetailKeys).At(0, "detail")
	}
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if p := textProblem(k, MaxDetailKeyLen); p != "" {
			return ErrInvalid.With("key %d (in key order) %s", i+1, p).At(0, "detail")
		}
		if p := textProblem(m[k], MaxDetailValueLen); p != "" {
			return ErrInvalid.With("value of key %d (in key order) %s", i+1, p).At(0, "detail")
		}
	}
	return nil
}

// encodeDetail returns the JSON stored (as jsonb) for m, after checking
// that it decodes to exactly m: the chain hashes the map and Verify
// re-reads it from jsonb, so the two must be the same map, or a legitimate
// entry would fail verification for ever. With checkDetail passed this
// always holds; the round trip makes it a checked promise.
func encodeDetail(m map[string]string) (string, error) {
	if m == nil {
		m = map[string]string{}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", ErrInvalid.With("cannot be encoded").At(0, "detail")
	}
	var back map[string]string
	if err := json.Unmarshal(b, &back); err != nil || !maps.Equal(back, m) {
		return "", ErrInvalid.With("would not be stored as given").At(0, "detail")
	}
	return string(b), nil
}

// normalize gives an entry the shape the log stores and returns: Targets
// never nil, Detail nil when empty, At in UTC to the microsecond (the
// precision of timestamptz), or now when unset.
func normalize(e apoyo.AuditEntry, now time.Time) apoyo.AuditEntry {
	if e.Targets == nil {
		e.Targets = []string{}
	} else {
		e.Targets = slices.Clone(e.Targets)
	}
	if len(e.Detail) == 0 {
		e.Detail = nil
	} else {
		e.Detail = maps.Clone(e.Detail)
	}
	if e.At.IsZero() {
		e.At = now
	}
	e.At = e.At.UTC().Truncate(time.Microsecond)
	return e
}
