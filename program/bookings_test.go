package program_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo/program"
)

// AttemptOfOrder reads back what OrderID wrote, and only for the case it
// is asked about (ids contain '_', so a looser split could mistake one
// case's order for another's).
func TestAttemptOfOrder(t *testing.T) {
	t.Parallel()
	order := program.Attempt{Cycle: "cyc_a1", Beneficiary: "ben_b2", N: 12}.OrderID()
	n, ok := program.AttemptOfOrder("cyc_a1", "ben_b2", order)
	require.True(t, ok)
	require.Equal(t, 12, n)
	for _, bad := range []struct{ cycle, ben, order string }{
		{"cyc_a1", "ben_b", order},
		{"cyc_a", "1_ben_b2", order},
		{"cyc_a1", "ben_b2", "pay_cyc_a1_ben_b2_"},
		{"cyc_a1", "ben_b2", "pay_cyc_a1_ben_b2_+3"},
		{"cyc_a1", "ben_b2", "pay_cyc_a1_ben_b2_03"},
		{"cyc_a1", "ben_b2", "ord_cyc_a1_ben_b2_1"},
	} {
		_, ok := program.AttemptOfOrder(bad.cycle, bad.ben, bad.order)
		require.False(t, ok, "%+v", bad)
	}
}
