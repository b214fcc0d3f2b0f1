package activities

import "time"

// ShortenCancelWaits makes CancelCases' waits for visibility and for its
// batch short, for the length of a test.
func ShortenCancelWaits(visibility, batch time.Duration) (restore func()) {
	v, b := cancelVisibilityWait, cancelBatchWait
	cancelVisibilityWait, cancelBatchWait = visibility, batch
	return func() { cancelVisibilityWait, cancelBatchWait = v, b }
}

// SetTellPage sets how many cases the sweep starts at a time (startApproved),
// for the length of a test.
func SetTellPage(n int) (restore func()) {
	old := tellPage
	tellPage = n
	return func() { tellPage = old }
}
