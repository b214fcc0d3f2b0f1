package apoyo_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
)

func TestStatusShownFor(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		maxAge, took, want time.Duration
	}{
		{time.Second, 20 * time.Millisecond, time.Second},       // a city's cycle: the max age
		{time.Second, 3 * time.Second, 30 * time.Second},        // millions of cases: ten times the read
		{time.Second, 100 * time.Millisecond, time.Second},      // the edge: both the same
		{-1, 3 * time.Second, -1},                               // read anew every time, however slow
		{time.Millisecond, 100 * time.Millisecond, time.Second}, // a max age below the read's cost
		{time.Hour, 3 * time.Second, time.Hour},                 // a longer max age stands
	} {
		require.Equal(t, c.want, apoyo.StatusShownFor(c.maxAge, c.took), "max age %v, read took %v", c.maxAge, c.took)
	}
}
