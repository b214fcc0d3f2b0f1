package ledger

import (
	"encoding/json"
	"fmt"
	"maps"
	"unicode"
	"unicode/utf8"
)

// textProblem says what breaks the text rules of limits.go in s, or ""
// when nothing does. It describes the problem and where it is, never the
// text itself: a field may carry bytes a terminal or a log cannot show, and
// callers' values are not ours to echo.
func textProblem(s string, max int) string {
	n := 0
	for i, r := range s {
		n++
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return fmt.Sprintf("is not valid UTF-8 (byte %d)", i+1)
			}
		}
		if unicode.IsControl(r) {
			return fmt.Sprintf("contains the control character %U at character %d", r, n)
		}
	}
	if n > max {
		return fmt.Sprintf("is %d characters, longer than the limit of %d", n, max)
	}
	return ""
}

// checkText is textProblem as an ErrInvalidText naming field.
func checkText(field, s string, max int) error {
	if p := textProblem(s, max); p != "" {
		return ErrInvalidText.With("%s", p).At(0, field)
	}
	return nil
}

// checkMetadata applies the text rules to every key and value. A bad key
// cannot be named by its text, so it is named by its place in key order.
func checkMetadata(m map[string]string) error {
	if len(m) > MaxMetadataKeys {
		return ErrInvalidText.With("has %d keys, more than the limit of %d", len(m), MaxMetadataKeys).At(0, "metadata")
	}
	for i, k := range sortedKeys(m) {
		if k == "" {
			return ErrInvalidText.With("key %d (in key order) is empty", i+1).At(0, "metadata")
		}
		if p := textProblem(k, MaxMetadataKeyLen); p != "" {
			return ErrInvalidText.With("key %d (in key order) %s", i+1, p).At(0, "metadata")
		}
		if p := textProblem(m[k], MaxMetadataValueLen); p != "" {
			return ErrInvalidText.With("%s", p).At(0, fmt.Sprintf("metadata[%q]", k))
		}
	}
	return nil
}

// encodeMetadata returns the JSON the journal stores for m (as jsonb),
// after checking that it decodes to exactly m. The chain hashes the map and
// Verify re-reads it from jsonb: the two must be the same map, or a
// legitimate write would fail verification for ever. With checkMetadata
// passed this always holds; the round trip makes it a checked promise.
func encodeMetadata(m map[string]string) ([]byte, error) {
	if m == nil {
		m = map[string]string{}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, ErrInvalidText.With("cannot be encoded: %v", err).At(0, "metadata")
	}
	var back map[string]string
	if err := json.Unmarshal(b, &back); err != nil || !maps.Equal(back, m) {
		return nil, ErrInvalidText.With("would not be stored as given").At(0, "metadata")
	}
	return b, nil
}
