package report

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func col(vs ...int64) [][]int64 {
	out := make([][]int64, len(vs))
	for i, v := range vs {
		out[i] = []int64{v}
	}
	return out
}

func hiddenCol(h [][]bool) []bool {
	out := make([]bool, len(h))
	for i := range h {
		out[i] = h[i][0]
	}
	return out
}

func TestProtectColumn(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals []int64
		want []bool
	}{
		{"nothing small", []int64{20, 18, 0}, []bool{false, false, false}},
		{"one small: the next smallest goes too", []int64{20, 18, 2}, []bool{false, true, true}},
		{"the next smallest may be a zero", []int64{20, 0, 2, 9}, []bool{false, true, true, false}},
		{"two small cells protect each other", []int64{20, 3, 2}, []bool{false, true, true}},
		// 4 + 4 = 8 and both are "<5": each must be 4, so a third goes.
		{"two fours add up to eight", []int64{20, 4, 4, 7}, []bool{false, true, true, true}},
		{"ties go to the first", []int64{6, 6, 1}, []bool{true, false, true}},
		{"all small", []int64{1, 1}, []bool{true, true}},
		{"a single category cannot be protected", []int64{3}, []bool{true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, hiddenCol(protect(col(tc.vals...), 5)))
		})
	}
}

func TestProtectRowsCascadeAndBound(t *testing.T) {
	// enrolled, approved, paid per category.
	vals := [][]int64{
		{26, 12, 10},
		{11, 7, 6},
		{2, 2, 2},
	}
	h := protect(vals, 5)
	require.Equal(t, [][]bool{
		{false, false, false},
		{true, true, true}, // complementary for enrolled, then the row after it
		{true, true, true}, // primary, then the row after it
	}, h)

	// A shown enrolled count bounds a hidden approved count from above.
	// Approved 4 is small; the next smallest, 5, is hidden, but its row
	// shows enrolled 5, so the reader knows it is exactly 5 and the 4 is
	// 9 − 5. Hiding the 7 (enrolled 7) still leaves the 4 at 16 − 5 − 7;
	// only hiding the 20 (enrolled 30) protects it.
	vals = [][]int64{
		{30, 20},
		{9, 4},
		{5, 5},
		{7, 7},
	}
	h = protect(vals, 5)
	require.Equal(t, []bool{true, true, true, true}, []bool{h[0][1], h[1][1], h[2][1], h[3][1]})
	require.False(t, h[0][0] || h[1][0] || h[2][0] || h[3][0], "enrolled has nothing small")
}

func TestProtectZerosAreNotDisclosures(t *testing.T) {
	// Every hidden paid cell is 0: pinned at 0, which discloses nothing,
	// so no more cells are hidden.
	vals := [][]int64{
		{13, 12, 12},
		{9, 2, 0},
		{2, 1, 0},
		{0, 0, 0},
		{0, 0, 0},
		{6, 6, 6},
	}
	h := protect(vals, 5)
	column := func(m int) []bool {
		out := make([]bool, len(h))
		for i := range h {
			out[i] = h[i][m]
		}
		return out
	}
	// enrolled: the 2, and the first 0 as its complement.
	require.Equal(t, []bool{false, false, true, true, false, false}, column(0))
	// approved: the 2 (primary) and the hidden rows.
	require.Equal(t, []bool{false, true, true, true, false, false}, column(1))
	// paid: the rows hidden before, all 0; nothing more.
	require.Equal(t, []bool{false, true, true, true, false, false}, column(2))
}

func TestRegion(t *testing.T) {
	for code, want := range map[string]string{
		"VEN": RegionSouthAmerica, "HND": RegionCentralAmerica, "HTI": RegionCaribbean, "MEX": RegionNorthAmerica,
		"NGA": RegionAfrica, "AFG": RegionAsia, "UKR": RegionEurope, "FJI": RegionOceania, "XXA": OtherUnknown, "": OtherUnknown,
	} {
		require.Equal(t, want, Region(code), code)
	}
	seen := map[string]bool{}
	for _, r := range regionCodes {
		seen[r] = true
	}
	for _, r := range Regions[:len(Regions)-1] {
		require.True(t, seen[r], r)
	}
}
