package report

import "math"

// unbounded stands for "no upper bound" in the recoverability check; it is
// far from overflowing when a few of them are added.
const unbounded = math.MaxInt64 / 1024

// protect decides which cells of a table to hide. vals[i][m] is category
// i's count for measure m; each measure counts a subset of the people of
// the one before it (enrolled ⊇ approved ⊇ paid), and each measure's
// column adds up to a total that is published. It returns hidden[i][m].
//
// The rule (see the package documentation):
//
//  1. primary: a count from 1 to k−1 is hidden;
//  2. a hidden cell hides the cells to its right in the same row, since
//     each of those is a subset of it and, shown, would bound it from
//     below;
//  3. complementary: while some hidden small cell of a column can be worked out
//     from the column's total, the labels of the hidden cells ("<k" means
//     0…k−1, "x" means k or more) and the shown count to its left (an
//     upper bound), the smallest cell still shown in that column is hidden
//     too. With one hidden cell this is always so: it equals the total
//     minus the rest.
//
// Steps 2 and 3 repeat until nothing changes; cells are only ever added,
// so it ends. A column that cannot be protected any further (every cell is
// already hidden) is left as it is: totals are never hidden.
func protect(vals [][]int64, k int64) [][]bool {
	rows := len(vals)
	if rows == 0 {
		return nil
	}
	cols := len(vals[0])
	hidden := make([][]bool, rows)
	for i := range vals {
		hidden[i] = make([]bool, cols)
		for m, v := range vals[i] {
			hidden[i][m] = v >= 1 && v < k
		}
	}
	for changed := true; changed; {
		changed = false
		for i := range hidden {
			for m := 1; m < cols; m++ {
				if hidden[i][m-1] && !hidden[i][m] {
					hidden[i][m], changed = true, true
				}
			}
		}
		for m := 0; m < cols; m++ {
			if !recoverable(vals, hidden, m, k) {
				continue
			}
			best := -1
			for i := range vals {
				if !hidden[i][m] && (best < 0 || vals[i][m] < vals[best][m]) {
					best = i
				}
			}
			if best >= 0 {
				hidden[best][m], changed = true, true
			}
		}
	}
	return hidden
}

// recoverable reports whether a reader who knows column m's total, its
// shown cells, the hidden cells' labels and each row's shown counts could
// pin down the value of one of the column's hidden small (1…k−1) cells.
func recoverable(vals [][]int64, hidden [][]bool, m int, k int64) bool {
	var idx []int
	var sum int64 // what the reader computes: total minus the shown cells
	for i := range vals {
		if hidden[i][m] {
			idx = append(idx, i)
			sum += vals[i][m]
		}
	}
	if len(idx) == 0 {
		return false
	}
	lo := make([]int64, len(idx))
	hi := make([]int64, len(idx))
	var sumLo, sumHi int64
	for j, i := range idx {
		v := vals[i][m]
		if v < k {
			lo[j], hi[j] = 0, k-1
		} else {
			lo[j], hi[j] = k, unbounded
		}
		if m > 0 && !hidden[i][m-1] && vals[i][m-1] < hi[j] {
			hi[j] = vals[i][m-1]
		}
		sumLo += lo[j]
		sumHi += hi[j]
	}
	for j, i := range idx {
		// Only a small count worked out exactly is a disclosure: a hidden
		// 0 pinned at 0, or a large complementary cell pinned at its value,
		// says nothing that could not have been published.
		if v := vals[i][m]; v < 1 || v >= k {
			continue
		}
		least := max(lo[j], sum-(sumHi-hi[j]))
		most := min(hi[j], sum-(sumLo-lo[j]))
		if least >= most {
			return true
		}
	}
	return false
}
