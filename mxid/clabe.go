package mxid

import (
	"strings"

	"github.com/apoyo-cdmx/apoyo"
)

// CLABE failures.
var (
	ErrCLABELength     = &apoyo.Error{Code: apoyo.EINVALID, Reason: "clabe.length", Message: "a CLABE has exactly 18 digits"}
	ErrCLABEDigits     = &apoyo.Error{Code: apoyo.EINVALID, Reason: "clabe.digits", Message: "a CLABE contains only digits"}
	ErrCLABECheckDigit = &apoyo.Error{Code: apoyo.EINVALID, Reason: "clabe.check_digit", Message: "the CLABE's check digit does not match; a digit was probably mistyped"}
)

// CLABEInfo is the breakdown of a CLABE.
type CLABEInfo struct {
	BankCode string // 3 digits, the participant in SPEI (see BankName)
	Plaza    string // 3 digits, the branch city code
	Account  string // 11 digits
}

// clabeWeights repeat 3,7,1 over the first 17 digits.
var clabeWeights = [3]int{3, 7, 1}

// clabeCheck computes the check digit over 17 ASCII digits.
func clabeCheck(first17 string) int {
	sum := 0
	for i := 0; i < 17; i++ {
		sum += (int(first17[i]-'0') * clabeWeights[i%3]) % 10
	}
	return (10 - sum%10) % 10
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// CLABECheckDigit computes the check digit (0-9) of the first 17 digits of
// a CLABE (surrounding whitespace is ignored).
func CLABECheckDigit(first17 string) (int, error) {
	s := strings.TrimSpace(first17)
	if !allDigits(s) {
		return 0, ErrCLABEDigits
	}
	if len(s) != 17 {
		return 0, ErrCLABELength.With("the check digit is computed over 17 digits; got %d", len(s))
	}
	return clabeCheck(s), nil
}

// ValidateCLABE reports whether s (surrounding whitespace ignored) is 18
// digits with a correct check digit. An unknown bank code is not an error:
// SPEI participants come and go faster than any table here.
func ValidateCLABE(s string) error {
	_, err := ParseCLABE(s)
	return err
}

// ParseCLABE validates s and splits it into bank code, plaza and account.
func ParseCLABE(s string) (CLABEInfo, error) {
	s = strings.TrimSpace(s)
	// Non-digits first: "has letters" is more useful than a length that was
	// counted over characters that do not belong in a CLABE.
	if !allDigits(s) {
		return CLABEInfo{}, ErrCLABEDigits
	}
	if len(s) != 18 {
		return CLABEInfo{}, ErrCLABELength.With("a CLABE has exactly 18 digits; this one has %d", len(s))
	}
	want := clabeCheck(s[:17])
	if got := int(s[17] - '0'); got != want {
		return CLABEInfo{}, ErrCLABECheckDigit.With("the CLABE's check digit is %d but its other digits give %d; a digit was probably mistyped", got, want)
	}
	return CLABEInfo{BankCode: s[0:3], Plaza: s[3:6], Account: s[6:17]}, nil
}

// banks lists well-known SPEI participants by the three-digit code that
// opens their CLABEs. It is for display only; it is deliberately not used to
// reject CLABEs.
var banks = map[string]string{
	"002": "BANAMEX",
	"006": "BANCOMEXT",
	"009": "BANOBRAS",
	"012": "BBVA MEXICO",
	"014": "SANTANDER",
	"019": "BANJERCITO",
	"021": "HSBC",
	"030": "BAJIO",
	"032": "IXE",
	"036": "INBURSA",
	"042": "MIFEL",
	"044": "SCOTIABANK",
	"058": "BANREGIO",
	"059": "INVEX",
	"060": "BANSI",
	"062": "AFIRME",
	"072": "BANORTE",
	"106": "BANK OF AMERICA",
	"113": "VE POR MAS",
	"127": "AZTECA",
	"128": "AUTOFIN",
	"130": "COMPARTAMOS",
	"136": "INTERCAM BANCO",
	"137": "BANCOPPEL",
	"140": "CONSUBANCO",
	"166": "BANCO DEL BIENESTAR", // formerly BANSEFI
	"638": "NU MEXICO",
	"646": "STP",
	"659": "ASP INTEGRA OPC",
	"722": "MERCADO PAGO W",
	"728": "SPIN BY OXXO",
}

// BankName returns the short name of the bank with the given three-digit
// CLABE prefix, and whether it is in the table.
func BankName(code string) (string, bool) {
	n, ok := banks[strings.TrimSpace(code)]
	return n, ok
}
