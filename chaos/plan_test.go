package chaos

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPlanIsSeededAndMidCycle(t *testing.T) {
	t.Parallel()
	a, b, c := plan(7, 5), plan(7, 5), plan(8, 5)
	require.Equal(t, a, b, "same seed, same moments")
	require.NotEqual(t, a, c, "another seed, other moments")
	kinds := map[string]int{}
	for i, ev := range a {
		kinds[ev.kind]++
		require.GreaterOrEqual(t, ev.at, 0.03)
		require.LessOrEqual(t, ev.at, 0.85, "every break happens mid-cycle")
		if i > 0 {
			require.GreaterOrEqual(t, ev.at, a[i-1].at, "in order")
		}
	}
	require.Equal(t, map[string]int{"kill": 5, "postgres": 1, "temporal": 1}, kinds)
}
