package pii

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// maskRune replaces hidden characters in Mask's output.
const maskRune = "•"

// Mask returns a hint of a value for reports, logs and screens where an
// operator must tell records apart without seeing them: the first and last
// two characters with every other character replaced by "•", e.g. a CURP
// "GOXX800101HDFRRN09" becomes "GO••••••••••••••09". Values of six
// characters or fewer, where four shown characters would reveal nearly
// everything, become "•••"; the empty string stays empty, so a missing value
// does not look present. Counting is by rune, so "Ñ" is one character and
// the output is always valid UTF-8.
func Mask(s string) string {
	if s == "" {
		return ""
	}
	r := []rune(s)
	if len(r) <= 6 {
		return strings.Repeat(maskRune, 3)
	}
	return string(r[:2]) + strings.Repeat(maskRune, len(r)-4) + string(r[len(r)-2:])
}

// redacted is what a Redacted value shows instead of itself.
const redacted = "[redacted]"

// Redacted holds a piece of personal data in memory while making it hard to
// leak by accident: fmt (every verb: %v, %+v, %#v, %s, %q, even a wrong %d),
// log/slog (any handler) and encoding/json all print "[redacted]". Use Reveal, visibly, where the
// value is really needed (to Seal it, to compare it).
//
// Limits, by the nature of Go's fmt: a Redacted in an unexported struct
// field is printed raw by %v, because fmt cannot call methods through
// unexported fields; keep such fields exported, or don't print the struct.
// A Redacted used as a JSON map key is written raw: encoding/json uses a
// string-kinded key as is, without asking it. And since JSON output is "[redacted]", never put a Redacted in a struct
// that must survive serialisation, such as a Temporal workflow or activity
// argument: the value would arrive as "[redacted]". Those carry ids, or
// ciphertexts, instead.
type Redacted string

// Reveal returns the value itself.
func (r Redacted) Reveal() string { return string(r) }

// String implements fmt.Stringer.
func (Redacted) String() string { return redacted }

// GoString implements fmt.GoStringer, for %#v.
func (Redacted) GoString() string { return redacted }

// MarshalJSON implements json.Marshaler.
func (Redacted) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// Format implements fmt.Formatter. String alone is not enough: for a verb
// that does not suit a string (%d) fmt prints the raw value in its error
// text without calling String.
func (Redacted) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// MarshalText implements encoding.TextMarshaler, for encoders other than
// encoding/json (XML attributes, YAML, ...).
func (Redacted) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue implements slog.LogValuer.
func (Redacted) LogValue() slog.Value { return slog.StringValue(redacted) }
