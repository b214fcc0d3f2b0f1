package sandbox

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // the dev stack may run in a container without zoneinfo

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/payment"
)

// Account endings (last four digits of the CLABE's 11-digit account part)
// that trigger the SPEI outcome rules; see the package documentation.
const (
	AccountNotFound       = "0001"
	AccountBlocked        = "0002"
	AccountCancelled      = "0003"
	AccountMissingData    = "0014"
	AccountReturnLater    = "0013"
	AccountGatewayTimeout = "0504"
	// CardRejected is the ending of card numbers the issuer rejects.
	CardRejected = "0000"
)

// immediateReturns maps account endings to the cause of a return that
// replaces settlement.
var immediateReturns = map[string]int{
	AccountNotFound:    payment.CauseAccountNotFound,
	AccountBlocked:     payment.CauseAccountBlocked,
	AccountCancelled:   payment.CauseAccountCancelled,
	AccountMissingData: payment.CauseMissingData,
}

// accountEnding is the last four digits of the CLABE's account part
// (positions 7–17; position 18 is the check digit).
func accountEnding(clabe string) string {
	if len(clabe) != 18 {
		return ""
	}
	return clabe[13:17]
}

// immediateReturnCause is the cause of the return that replaces settlement
// for o, or 0 if o settles (or is not SPEI).
func immediateReturnCause(o payment.Order) int {
	if o.Rail != apoyo.RailSPEI {
		return 0
	}
	return immediateReturns[accountEnding(o.Beneficiary.CLABE)]
}

// returnsLater reports whether o, once settled, is returned with cause 13.
func returnsLater(o payment.Order) bool {
	return o.Rail == apoyo.RailSPEI && accountEnding(o.Beneficiary.CLABE) == AccountReturnLater
}

func gatewayTimesOut(o payment.Order) bool {
	return o.Rail == apoyo.RailSPEI && accountEnding(o.Beneficiary.CLABE) == AccountGatewayTimeout
}

func cardRejected(o payment.Order) bool {
	return o.Rail == apoyo.RailCard && strings.HasSuffix(o.Beneficiary.CardNumber, CardRejected)
}

// clabeCheckDigit computes the CLABE check digit of the first 17 digits.
func clabeCheckDigit(first17 string) byte {
	weights := [3]int{3, 7, 1}
	sum := 0
	for i := 0; i < 17; i++ {
		sum += int(first17[i]-'0') * weights[i%3] % 10
	}
	return byte('0' + (10-sum%10)%10)
}

func validCLABE(c string) bool {
	return len(c) == 18 && allDigits(c) && clabeCheckDigit(c[:17]) == c[17]
}

// luhnValid reports whether number passes the Luhn check.
func luhnValid(number string) bool {
	if !allDigits(number) || number == "" {
		return false
	}
	sum := 0
	double := false
	for i := len(number) - 1; i >= 0; i-- {
		d := int(number[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// CLABE builds a valid CLABE at bank 002, plaza 180, for an account of up to
// 11 digits (left-padded with zeros), with the right check digit. CLABE("1")
// is an account ending in 0001, which the sandbox returns with cause 1.
func CLABE(account string) string {
	if len(account) > 11 || !allDigits(account) {
		panic(fmt.Sprintf("sandbox.CLABE: account %q is not up to 11 digits", account))
	}
	first17 := "002180" + strings.Repeat("0", 11-len(account)) + account
	return first17 + string(clabeCheckDigit(first17))
}

// CardNumber builds a 16-digit Luhn-valid card number ending in suffix (up to
// 8 digits), e.g. CardNumber("0000") for an issuer rejection.
func CardNumber(suffix string) string {
	if len(suffix) > 8 || !allDigits(suffix) {
		panic(fmt.Sprintf("sandbox.CardNumber: suffix %q is not up to 8 digits", suffix))
	}
	// Vary one digit before the suffix: at a fixed position, the ten digits
	// give ten different Luhn contributions mod 10, so one of them fits.
	base := []byte("4000000000000000")
	copy(base[16-len(suffix):], suffix)
	pos := 16 - len(suffix) - 1
	for d := byte('0'); d <= '9'; d++ {
		base[pos] = d
		if luhnValid(string(base)) {
			return string(base)
		}
	}
	panic("unreachable")
}

// mexicoCity is the zone of the fecha de operación.
var mexicoCity = func() *time.Location {
	loc, err := time.LoadLocation("America/Mexico_City")
	if err != nil {
		// Mexico City has been on UTC-6 all year since 2022.
		return time.FixedZone("CST", -6*60*60)
	}
	return loc
}()

// operationDate is the fecha de operación for a movement at t: the Mexico
// City date, the next day after 17:30, and Monday for a weekend.
func operationDate(t time.Time) string {
	l := t.In(mexicoCity)
	day := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, mexicoCity)
	if cutoff := day.Add(17*time.Hour + 30*time.Minute); l.After(cutoff) {
		day = day.AddDate(0, 0, 1)
	}
	for day.Weekday() == time.Saturday || day.Weekday() == time.Sunday {
		day = day.AddDate(0, 0, 1)
	}
	return day.Format(time.DateOnly)
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// returnTrackingKey is the clave de rastreo of the return of an order; a
// return is a payment of its own, made by the receiving bank, so its key
// does not look like ours.
func returnTrackingKey(orderID string) string {
	sum := sha256.Sum256([]byte("return:" + orderID))
	return "DEVSBX" + b32.EncodeToString(sum[:])[:payment.MaxTrackingKeyLen-6]
}

// pickupReference derives a 10-digit reference from the order id; attempt
// separates the rare collisions.
func pickupReference(orderID string, attempt int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "pickup:%d:%s", attempt, orderID))
	return fmt.Sprintf("%010d", binary.BigEndian.Uint64(sum[:8])%10_000_000_000)
}
