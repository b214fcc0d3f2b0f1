package mxid

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

const (
	upperLetters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	vowels       = "AEIOU"
	consonants   = "BCDFGHJKLMNPQRSTVWXYZ"
)

func pick(r *rand.Rand, set string) byte { return set[r.IntN(len(set))] }

// GenerateCURP returns a synthetic CURP with a valid layout and check digit
// for the given birth date, sex ("H", "M" or "X") and state code (one of the
// 32 or "NE"). The name letters are random, so the result does not belong
// to any real person except by chance. It panics on an invalid sex, state
// or a birth year outside 1900-2099, since those are programming errors in
// a test or demo.
func GenerateCURP(r *rand.Rand, birth time.Time, sex string, state string) string {
	sex = strings.ToUpper(sex)
	state = strings.ToUpper(state)
	if sex != "H" && sex != "M" && sex != "X" {
		panic(fmt.Sprintf("mxid.GenerateCURP: sex must be H, M or X, got %q", sex))
	}
	if _, ok := curpStates[state]; !ok {
		panic(fmt.Sprintf("mxid.GenerateCURP: unknown state code %q", state))
	}
	y := birth.Year()
	if y < 1900 || y > 2099 {
		panic(fmt.Sprintf("mxid.GenerateCURP: birth year %d outside 1900-2099", y))
	}
	b := make([]byte, 0, 18)
	b = append(b, pick(r, upperLetters), pick(r, vowels), pick(r, upperLetters), pick(r, upperLetters))
	b = fmt.Appendf(b, "%02d%02d%02d", y%100, int(birth.Month()), birth.Day())
	b = append(b, sex...)
	b = append(b, state...)
	b = append(b, pick(r, consonants), pick(r, consonants), pick(r, consonants))
	if y < 2000 {
		b = append(b, byte('0'+r.IntN(10)))
	} else {
		b = append(b, pick(r, upperLetters))
	}
	var c [17]rune
	for i, ch := range b {
		c[i] = rune(ch)
	}
	b = append(b, byte('0'+curpCheck(c[:])))
	return string(b)
}

// GenerateCLABE returns a synthetic CLABE for the three-digit bank code with
// random plaza and account digits and a correct check digit. It panics if
// bankCode is not three digits.
func GenerateCLABE(r *rand.Rand, bankCode string) string {
	return GenerateCLABEWithAccountSuffix(r, bankCode, "")
}

// GenerateCLABEWithAccountSuffix is GenerateCLABE with the last digits of the
// 11-digit account fixed to suffix, so a test can steer a sandbox bank that
// decides outcomes by account ending (e.g. "...0001" returns with cause 1).
// The check digit is computed after, so the CLABE stays valid. It panics if
// bankCode is not three digits or suffix is not 0-11 digits.
func GenerateCLABEWithAccountSuffix(r *rand.Rand, bankCode, suffix string) string {
	if len(bankCode) != 3 || !allDigits(bankCode) {
		panic(fmt.Sprintf("mxid.GenerateCLABE: bank code must be 3 digits, got %q", bankCode))
	}
	if len(suffix) > 11 || !allDigits(suffix) {
		panic(fmt.Sprintf("mxid.GenerateCLABEWithAccountSuffix: suffix must be at most 11 digits, got %q", suffix))
	}
	b := make([]byte, 0, 18)
	b = append(b, bankCode...)
	for i := 0; i < 3+11-len(suffix); i++ {
		b = append(b, byte('0'+r.IntN(10)))
	}
	b = append(b, suffix...)
	b = append(b, byte('0'+clabeCheck(string(b))))
	return string(b)
}
