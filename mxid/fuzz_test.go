package mxid_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/mxid"
)

// The fuzz targets check properties against an independent reading of the
// published rules (/work/shared/domain.md), written here a second time on
// purpose: a shared bug in the validator and its test would otherwise agree
// with itself.

// curpAlphabet is the check-digit alphabet exactly as RENAPO publishes it.
const curpAlphabet = "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ"

// refCURPCheck computes the check digit from the published description:
// each rune's index in the alphabet times weights 18 down to 2.
func refCURPCheck(first17 []rune) (int, bool) {
	alphabet := []rune(curpAlphabet)
	sum := 0
	for i, r := range first17 {
		idx := -1
		for j, a := range alphabet {
			if a == r {
				idx = j
				break
			}
		}
		if idx < 0 {
			return 0, false
		}
		sum += idx * (18 - i)
	}
	return (10 - sum%10) % 10, true
}

func curpSentinel(err error) bool {
	for _, s := range []error{mxid.ErrCURPLength, mxid.ErrCURPStructure, mxid.ErrCURPDate, mxid.ErrCURPSex, mxid.ErrCURPState, mxid.ErrCURPCheckDigit} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// FuzzValidateCURP: every verdict is nil or one of the ErrCURP* sentinels
// with code invalid; an accepted CURP has 18 runes of the alphabet whose
// last is the reference check digit; and for every input whose first 17
// normalised runes are in the alphabet, the validator never blames the
// check digit of first17+reference digit, and, when that one is accepted,
// rejects each of the nine other digits for exactly its check digit.
func FuzzValidateCURP(f *testing.F) {
	for _, s := range []string{
		"HEGG560427MVZRRL04", "LORX350217HNEPDV08", "AAMR850214MGRBRN01", "GAXL050315XNEMRSA4",
		"BADD110313HCMLNS09", "hegg560427mvzrrl04", " HEGG560427MVZRRL04 ", "HEGG560427MVZRRL0",
		"ÑEGG560427MVZRRL0", "HEGG000229MVZRRLA", "HEGG561327MVZRRL0", "", "\x00", "ñññññññññññññññññ",
		"HEGG560427MVZRRL0\xff", "PEÑA800101HDFRRN00", "ÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑ", "\xff\xfe", "HEGG560230MVZRRL0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := mxid.ValidateCURP(s)
		info, perr := mxid.ParseCURP(s)
		if (err == nil) != (perr == nil) {
			t.Fatalf("ValidateCURP and ParseCURP disagree on %q: %v / %v", s, err, perr)
		}
		n := mxid.NormalizeCURP(s)
		if err != nil {
			var ae *apoyo.Error
			if !errors.As(err, &ae) || ae.Code != apoyo.EINVALID || !curpSentinel(err) {
				t.Fatalf("%q: error %v is not an invalid-input CURP sentinel", s, err)
			}
		} else {
			runes := []rune(n)
			if len(runes) != 18 {
				t.Fatalf("%q accepted with %d runes", s, len(runes))
			}
			want, ok := refCURPCheck(runes[:17])
			if !ok || strconv.Itoa(want) != string(runes[17]) {
				t.Fatalf("%q accepted but the reference check digit is %d (alphabet ok: %v)", s, want, ok)
			}
			if info.Sex != string(runes[10]) || info.State != string(runes[11:13]) {
				t.Fatalf("%q: parsed %+v does not match its characters", s, info)
			}
			if mxid.ValidateCURP(n) != nil {
				t.Fatalf("%q accepted but its normal form is not", s)
			}
		}

		if !utf8.ValidString(n) {
			return
		}
		runes := []rune(n)
		if len(runes) < 17 {
			return
		}
		first := runes[:17]
		want, ok := refCURPCheck(first)
		if !ok {
			return
		}
		prefix := string(first)
		if d, derr := mxid.CURPCheckDigit(prefix); derr != nil || d != want {
			t.Fatalf("CURPCheckDigit(%q) = %d, %v; reference %d", prefix, d, derr, want)
		}
		good := prefix + strconv.Itoa(want)
		gerr := mxid.ValidateCURP(good)
		if errors.Is(gerr, mxid.ErrCURPCheckDigit) {
			t.Fatalf("%q has the reference check digit but is refused for it: %v", good, gerr)
		}
		if gerr != nil {
			return
		}
		for d := 0; d <= 9; d++ {
			if d == want {
				continue
			}
			bad := prefix + strconv.Itoa(d)
			if berr := mxid.ValidateCURP(bad); !errors.Is(berr, mxid.ErrCURPCheckDigit) {
				t.Fatalf("%q has a wrong check digit but ValidateCURP says %v", bad, berr)
			}
		}
	})
}

// refCLABECheck is the published CLABE rule: weights 3,7,1 repeating over
// the first 17 digits, each product taken mod 10.
func refCLABECheck(first17 string) int {
	weights := []int{3, 7, 1}
	sum := 0
	for i, c := range first17 {
		sum += (int(c-'0') * weights[i%3]) % 10
	}
	return (10 - sum%10) % 10
}

func isASCIIDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// FuzzValidateCLABE: accepted means 18 ASCII digits (after trimming) ending
// in the reference check digit; every refusal is a CLABE sentinel; and the
// parts of an accepted CLABE put back together give the CLABE.
func FuzzValidateCLABE(f *testing.F) {
	for _, s := range []string{
		"032180000118359719", "002010077777777771", " 002010077777777771 ", "032180000118359718",
		"03218000011835971A", "0321 80000118359719", "03218000011835971", "0321800001183597190", "",
		"０３２180000118359719", "\t032180000118359719\n", "03218000011835971\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		info, err := mxid.ParseCLABE(s)
		if verr := mxid.ValidateCLABE(s); (verr == nil) != (err == nil) {
			t.Fatalf("ValidateCLABE and ParseCLABE disagree on %q", s)
		}
		trimmed := strings.TrimSpace(s)
		refOK := len(trimmed) == 18 && isASCIIDigits(trimmed) && refCLABECheck(trimmed[:17]) == int(trimmed[17]-'0')
		if (err == nil) != refOK {
			t.Fatalf("%q: validator says %v, reference says valid=%v", s, err, refOK)
		}
		if err != nil {
			var ae *apoyo.Error
			if !errors.As(err, &ae) || ae.Code != apoyo.EINVALID ||
				!(errors.Is(err, mxid.ErrCLABELength) || errors.Is(err, mxid.ErrCLABEDigits) || errors.Is(err, mxid.ErrCLABECheckDigit)) {
				t.Fatalf("%q: %v is not a CLABE sentinel", s, err)
			}
			if len(trimmed) >= 6 && strings.Contains(err.Error(), trimmed) {
				t.Fatalf("the error echoes the CLABE: %v", err)
			}
			return
		}
		if info.BankCode+info.Plaza+info.Account+trimmed[17:] != trimmed {
			t.Fatalf("%q splits into %+v", s, info)
		}
		if d, derr := mxid.CLABECheckDigit(trimmed[:17]); derr != nil || d != refCLABECheck(trimmed[:17]) {
			t.Fatalf("CLABECheckDigit(%q) = %d, %v", trimmed[:17], d, derr)
		}
	})
}
