package mxid

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apoyo-cdmx/apoyo"
)

// CURP failures. Each has its own Reason so that a caseworker screen can say
// precisely what to ask the person to check.
var (
	ErrCURPLength     = &apoyo.Error{Code: apoyo.EINVALID, Reason: "curp.length", Message: "a CURP has exactly 18 characters"}
	ErrCURPStructure  = &apoyo.Error{Code: apoyo.EINVALID, Reason: "curp.structure", Message: "the CURP does not have the expected layout"}
	ErrCURPDate       = &apoyo.Error{Code: apoyo.EINVALID, Reason: "curp.date", Message: "the birth date in the CURP is not a real calendar date"}
	ErrCURPSex        = &apoyo.Error{Code: apoyo.EINVALID, Reason: "curp.sex", Message: "character 11 of the CURP must be H, M or X"}
	ErrCURPState      = &apoyo.Error{Code: apoyo.EINVALID, Reason: "curp.state", Message: "characters 12-13 of the CURP must be a state code or NE"}
	ErrCURPCheckDigit = &apoyo.Error{Code: apoyo.EINVALID, Reason: "curp.check_digit", Message: "the CURP's check digit does not match; a character was probably mistyped"}
)

// curpValue returns r's value for the check digit: its index in the
// 37-character alphabet "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ", or -1. Ñ
// sits between N and O, which is why the CURP must be walked rune by rune
// (Ñ is two bytes in UTF-8).
func curpValue(r rune) int {
	switch {
	case r >= '0' && r <= '9':
		return int(r - '0')
	case r >= 'A' && r <= 'N':
		return int(r-'A') + 10
	case r == 'Ñ':
		return 24
	case r >= 'O' && r <= 'Z':
		return int(r-'O') + 25
	}
	return -1
}

// curpStates maps the two-letter state codes used by RENAPO in positions
// 12-13 to the state's name. NE ("nacido en el extranjero") marks people
// born abroad, which is most of this programme's population.
var curpStates = map[string]string{
	"AS": "Aguascalientes", "BC": "Baja California", "BS": "Baja California Sur",
	"CC": "Campeche", "CL": "Coahuila", "CM": "Colima", "CS": "Chiapas",
	"CH": "Chihuahua", "DF": "Ciudad de México", "DG": "Durango",
	"GT": "Guanajuato", "GR": "Guerrero", "HG": "Hidalgo", "JC": "Jalisco",
	"MC": "Estado de México", "MN": "Michoacán", "MS": "Morelos", "NT": "Nayarit",
	"NL": "Nuevo León", "OC": "Oaxaca", "PL": "Puebla", "QT": "Querétaro",
	"QR": "Quintana Roo", "SP": "San Luis Potosí", "SL": "Sinaloa", "SR": "Sonora",
	"TC": "Tabasco", "TS": "Tamaulipas", "TL": "Tlaxcala", "VZ": "Veracruz",
	"YN": "Yucatán", "ZS": "Zacatecas",
	"NE": "Nacido en el extranjero",
}

// stateCodes maps each code to itself, so a lookup by a temporary key can
// return a long-lived string.
var stateCodes = func() map[string]string {
	m := make(map[string]string, len(curpStates))
	for k := range curpStates {
		m[k] = k
	}
	return m
}()

// BornAbroadState is the CURP state code for people born outside Mexico.
const BornAbroadState = "NE"

// CURPStateName returns the name of a CURP state code (including NE).
func CURPStateName(code string) (string, bool) {
	n, ok := curpStates[strings.ToUpper(strings.TrimSpace(code))]
	return n, ok
}

// CURPInfo is what a CURP says about its holder.
type CURPInfo struct {
	BirthDate  time.Time // midnight UTC of the birth date
	Sex        string    // "H", "M" or "X"
	State      string    // two-letter state code, "NE" for born abroad
	BornAbroad bool
}

// NormalizeCURP trims surrounding whitespace and upper-cases s, the only
// normalisation a CURP needs before checking (people often type it in lower
// case; Ñ upper-cases correctly).
func NormalizeCURP(s string) string {
	return strings.ToUpper(strings.TrimSpace(s))
}

func isCURPLetter(r rune) bool { return (r >= 'A' && r <= 'Z') || r == 'Ñ' }
func isDigit(r rune) bool      { return r >= '0' && r <= '9' }

// isCURPConsonant: positions 14-16 hold the first inner consonant of each
// name part, or X when there is none.
func isCURPConsonant(r rune) bool {
	if !isCURPLetter(r) {
		return false
	}
	switch r {
	case 'A', 'E', 'I', 'O', 'U':
		return false
	}
	return true
}

// ValidateCURP reports whether s (after trimming and upper-casing) is a
// well-formed CURP with a correct check digit. It returns nil or an
// *apoyo.Error matching one of the ErrCURP* sentinels. It cannot tell
// whether RENAPO actually issued the CURP.
func ValidateCURP(s string) error {
	_, err := parseCURP(NormalizeCURP(s))
	return err
}

// ParseCURP validates s and returns what it encodes. The century comes from
// the homonymy character (17th): a digit means a birth in the 1900s, a letter
// a birth in 2000 or later.
func ParseCURP(s string) (CURPInfo, error) {
	return parseCURP(NormalizeCURP(s))
}

func parseCURP(s string) (CURPInfo, error) {
	if n := utf8.RuneCountInString(s); n != 18 {
		return CURPInfo{}, ErrCURPLength.With("a CURP has exactly 18 characters; this one has %d", n)
	}
	var c [18]rune
	i := 0
	for _, r := range s {
		c[i] = r
		i++
	}
	for i := 0; i < 4; i++ {
		if !isCURPLetter(c[i]) {
			return CURPInfo{}, ErrCURPStructure.With("characters 1-4 of the CURP must be letters (character %d is not)", i+1)
		}
	}
	for i := 4; i < 10; i++ {
		if !isDigit(c[i]) {
			return CURPInfo{}, ErrCURPStructure.With("characters 5-10 of the CURP must be the birth date as six digits YYMMDD (character %d is not a digit)", i+1)
		}
	}
	sex := c[10]
	if sex != 'H' && sex != 'M' && sex != 'X' {
		return CURPInfo{}, ErrCURPSex
	}
	// Look the state up through a byte array so validating a CURP does not
	// allocate; the map's own key string is what ParseCURP returns.
	var sk [2]byte
	if c[11] < 'A' || c[11] > 'Z' || c[12] < 'A' || c[12] > 'Z' {
		return CURPInfo{}, ErrCURPState.With("characters 12-13 of the CURP must be one of the 32 state codes or NE (born abroad)")
	}
	sk[0], sk[1] = byte(c[11]), byte(c[12])
	state, ok := stateCodes[string(sk[:])]
	if !ok {
		return CURPInfo{}, ErrCURPState.With("characters 12-13 of the CURP must be one of the 32 state codes or NE (born abroad); %q is not", string(sk[:]))
	}
	for i := 13; i < 16; i++ {
		if !isCURPConsonant(c[i]) {
			return CURPInfo{}, ErrCURPStructure.With("characters 14-16 of the CURP must be consonants (character %d is not)", i+1)
		}
	}
	hom := c[16]
	if !isDigit(hom) && !(hom >= 'A' && hom <= 'Z') {
		return CURPInfo{}, ErrCURPStructure.With("character 17 of the CURP must be a digit (born before 2000) or a letter (born 2000 or later)")
	}
	if !isDigit(c[17]) {
		return CURPInfo{}, ErrCURPStructure.With("the last character of the CURP (the check digit) must be a digit")
	}

	yy := int(c[4]-'0')*10 + int(c[5]-'0')
	mm := int(c[6]-'0')*10 + int(c[7]-'0')
	dd := int(c[8]-'0')*10 + int(c[9]-'0')
	year := 1900 + yy
	if !isDigit(hom) {
		year = 2000 + yy
	}
	birth := time.Date(year, time.Month(mm), dd, 0, 0, 0, 0, time.UTC)
	// time.Date normalises 30 February to 2 March; a round trip that changes
	// the date means the CURP's date does not exist.
	if mm < 1 || mm > 12 || birth.Year() != year || int(birth.Month()) != mm || birth.Day() != dd {
		return CURPInfo{}, ErrCURPDate.With("the birth date in the CURP (year %d, month %02d, day %02d) is not a real calendar date", year, mm, dd)
	}

	want := curpCheck(c[:17])
	if got := int(c[17] - '0'); got != want {
		return CURPInfo{}, ErrCURPCheckDigit.With("the CURP's check digit is %d but its other characters give %d; a character was probably mistyped", got, want)
	}
	return CURPInfo{BirthDate: birth, Sex: string(sex), State: state, BornAbroad: state == BornAbroadState}, nil
}

// curpCheck computes the check digit of 17 runes already known to be in the
// alphabet.
func curpCheck(first17 []rune) int {
	sum := 0
	for i, r := range first17 {
		sum += curpValue(r) * (18 - i)
	}
	return (10 - sum%10) % 10
}

// CURPCheckDigit computes the check digit (0-9) for the first 17 characters
// of a CURP. It normalises like ValidateCURP and checks only that every
// character is in the CURP alphabet, not the layout.
func CURPCheckDigit(first17 string) (int, error) {
	s := NormalizeCURP(first17)
	if n := utf8.RuneCountInString(s); n != 17 {
		return 0, ErrCURPLength.With("the check digit is computed over 17 characters; got %d", n)
	}
	var c [17]rune
	i := 0
	for _, r := range s {
		if curpValue(r) < 0 {
			return 0, ErrCURPStructure.With("character %d is not a digit or a letter A-Z/Ñ", i+1)
		}
		c[i] = r
		i++
	}
	return curpCheck(c[:]), nil
}
