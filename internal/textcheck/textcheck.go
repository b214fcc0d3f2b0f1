// Package textcheck holds the rules every text field of every file apoyo
// reads must satisfy — the roster CSV (beneficiary.Reader), the bank's
// settlement statement (payment.ParseStatement) and the programme YAML
// (program.LoadSpecYAML) — and the one place where their length limits are
// written down.
//
// A field is valid UTF-8, holds no control character (no tab or line break
// either: none of these files has a free-text field that needs one), no
// bidirectional override, no byte-order mark and no U+FFFD replacement
// character (the trace of text that was already decoded wrongly), and is
// no longer than its limit in characters (runes). PostgreSQL refuses NUL
// and invalid UTF-8 in text, and a name with a right-to-left override
// displays as something other than what is stored, so checking here keeps
// every such value out of the database, the ledger's metadata and its hash
// chain, with an error that names the row and field instead of a failure
// half way through an import.
//
// Errors never quote the value: the files hold names, CURPs and bank
// accounts. They say where (character position) and what is wrong.
//
// Whole files are also checked for their encoding (see Decode and
// RequireUTF8): Mexican office spreadsheets are often saved as
// Windows-1252, which is not UTF-8.
package textcheck

import (
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/apoyo-cdmx/apoyo"
)

// Failures of a field. They carry no Row or Field: the reader that found
// them locates them with At.
var (
	ErrInvalidUTF8 = &apoyo.Error{Code: apoyo.EINVALID, Reason: "text.invalid_utf8", Message: "the value is not valid UTF-8 text"}
	ErrControl     = &apoyo.Error{Code: apoyo.EINVALID, Reason: "text.control_character", Message: "the value contains a control character"}
	ErrTooLong     = &apoyo.Error{Code: apoyo.EINVALID, Reason: "text.too_long", Message: "the value is too long"}
)

// SaveAsUTF8 tells a person how to fix a file that is not UTF-8.
const SaveAsUTF8 = `save it as UTF-8: in Excel, File > Save As > "CSV UTF-8 (comma delimited)"; in LibreOffice, File > Save As > Text CSV with character set "Unicode (UTF-8)"`

// Length limits, in characters. Every limit of every file is here so that
// they can be read, and changed, together.
const (
	// MaxName: a given name or surname (also the roster validator's limit).
	MaxName = 100
	// MaxEmail: RFC 5321's limit on an address.
	MaxEmail = 254
	// MaxIdentifier: values people type that identify something: CURP (18),
	// CLABE (18, more with spaces), card (19, more with spaces), phone,
	// document numbers, dates, numbers and enum values.
	MaxIdentifier = 40
	// MaxList: a ';'-separated roster list (needs).
	MaxList = 200
	// MaxStatementCell: every statement field; tracking keys are at most 30
	// in SPEI (reconcile checks that precisely), order ids and timestamps
	// are shorter than this.
	MaxStatementCell = 64
	// MaxTitle: a programme's, fund's or referral service's name.
	MaxTitle = 200
	// MaxCode: codes, keys and list items of the programme YAML, and the
	// names in a CSV header.
	MaxCode = 64
)

// RosterLimits is the limit of each roster column.
var RosterLimits = map[string]int{
	"given_names": MaxName, "first_surname": MaxName, "second_surname": MaxName,
	"birth_date": MaxIdentifier, "sex": MaxIdentifier, "nationality": MaxIdentifier,
	"population_group": MaxIdentifier, "alcaldia": MaxIdentifier, "household_size": MaxIdentifier,
	"phone": MaxIdentifier, "email": MaxEmail, "curp": MaxIdentifier,
	"id_document_type": MaxIdentifier, "id_document_number": MaxIdentifier,
	"payment_method": MaxIdentifier, "clabe": MaxIdentifier, "card_number": MaxIdentifier,
	"needs": MaxList, "consent": MaxIdentifier,
}

// ProgrammeLimit is the limit of a scalar of the programme YAML whose key
// (the last element of its path, without index) is key.
func ProgrammeLimit(key string) int {
	switch key {
	case "name":
		return MaxTitle
	}
	return MaxCode
}

// Check returns nil if s is valid text of at most max characters, or one of
// ErrInvalidUTF8, ErrControl, ErrTooLong with a message that says where the
// problem is without quoting s.
func Check(s string, max int) *apoyo.Error {
	n := 0
	for i, r := range s {
		n++
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return ErrInvalidUTF8.With("byte %d is not valid UTF-8; the file is probably not saved as UTF-8 — %s", i+1, SaveAsUTF8)
			}
			return ErrControl.With("character %d is U+FFFD, the replacement character left by text decoded with the wrong encoding; fix the original value", n)
		}
		if Forbidden(r) {
			return ErrControl.With("character %d is the invisible control character %U, which a value may not contain", n, r)
		}
	}
	if n > max {
		return ErrTooLong.With("the value has %d characters; at most %d are allowed", n, max)
	}
	return nil
}

// Forbidden reports whether r may not appear in any field: C0 and C1
// controls (tab and line breaks included), DEL, the line and paragraph
// separators, bidirectional embeddings, overrides and isolates, and the
// byte-order mark / zero-width no-break space.
func Forbidden(r rune) bool {
	switch {
	case unicode.IsControl(r):
		return true
	case r == '\u2028', r == '\u2029', r == '\ufeff':
		return true
	case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069', r == '\u200e', r == '\u200f', r == '\u061c':
		return true
	}
	return false
}

// Valid reports whether s passes Check with the given limit.
func Valid(s string, max int) bool { return Check(s, max) == nil }

// describe is used in messages about a whole file.
func describe(enc Encoding) string {
	switch enc {
	case UTF16:
		return "UTF-16 (\"Unicode text\")"
	case Windows1252:
		return "Windows-1252 (\"CSV\" or \"ANSI\" in Excel)"
	}
	return fmt.Sprint(enc)
}
