package apoyo

import (
	"time"

	"github.com/shopspring/decimal"
)

// Programme and case defaults, in one place. A programme that leaves a
// rule at zero gets these; a launch copies the filled-in rules into every
// case's input, so changing a default here never changes a running case
// (its history replays) nor a case already launched.
var (
	// DefaultBenefitAmount is what the city's 2021 emergency support
	// paid per person.
	DefaultBenefitAmount = decimal.RequireFromString("5600.00")
)

const (
	// DefaultCurrency: SPEI is MXN-only.
	DefaultCurrency = "MXN"
	// DefaultMinAge: adults only, unless the programme says otherwise.
	DefaultMinAge = 18
	// DefaultApprovalSLA is how long the secretariats have to decide.
	DefaultApprovalSLA = 5 * 24 * time.Hour
	// DefaultReviewDeadline is how long a caseworker has to check a
	// document under review.
	DefaultReviewDeadline = 7 * 24 * time.Hour
	// DefaultFollowUp is when a referral without an outcome is looked at
	// again.
	DefaultFollowUp = 30 * 24 * time.Hour
	// DefaultInstrumentWait is how long a case whose payment came back
	// waits for a new payment instrument before the money goes back.
	DefaultInstrumentWait = 30 * 24 * time.Hour
	// DefaultMaxPaymentAttempts bounds the payment orders of one case.
	DefaultMaxPaymentAttempts = 3
	// DefaultStatusMaxAge is how old a cycle's status a read may show: a
	// person watching a cycle sees it move within a second, and a cycle's
	// status costs at most one read a second however many watch it.
	DefaultStatusMaxAge = time.Second
	// StatusReadCostShare bounds the time a cycle's status reads take: a
	// read that took d is kept for d × StatusReadCostShare when that is
	// longer than the max age. A status read counts the cycle's cases, so
	// on a national cycle of millions it takes seconds; read every second,
	// it would keep a database connection busy for nothing. Each process
	// then spends at most one part in StatusReadCostShare of its time on
	// one cycle's status reads.
	StatusReadCostShare = 10
)

// StatusShownFor is how long a cycle's status read that took took is
// shown to later readers: maxAge, or took × StatusReadCostShare if longer,
// so that however large the cycle its status reads keep at most that
// share of one database connection busy. A negative maxAge (read anew
// every time) stays so.
func StatusShownFor(maxAge, took time.Duration) time.Duration {
	if maxAge < 0 {
		return maxAge
	}
	return max(maxAge, took*StatusReadCostShare)
}
