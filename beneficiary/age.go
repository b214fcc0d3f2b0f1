package beneficiary

import "time"

// AgeOn returns the age in whole years, on day, of someone born on birth:
// the eligibility rule and the reports' age bands both count this way.
func AgeOn(birth, day time.Time) int {
	by, bm, bd := birth.Date()
	y, m, d := day.Date()
	age := y - by
	if m < bm || (m == bm && d < bd) {
		age--
	}
	return age
}
