package analysis

import (
	"math"
	"slices"
)

// MannWhitneyResult is the Mann-Whitney U test of sample X against sample
// Y, with the normal approximation (continuity and tie corrections).
type MannWhitneyResult struct {
	NX uint64  `json:"n_x"`
	NY uint64  `json:"n_y"`
	U  float64 `json:"u"` // U of X: pairs with x > y, ties counting one half
	Z  float64 `json:"z"` // standardised U, continuity-corrected towards 0
	// PTwoSided is the probability of a U at least this far from its mean
	// if X and Y came from one distribution.
	PTwoSided float64 `json:"p_two_sided"`
	// PGreater is the one-sided p-value for "X tends to be larger than Y".
	PGreater float64 `json:"p_greater"`
	// CommonLanguage is U/(nx·ny): the probability that a random x exceeds
	// a random y (ties count one half); 0.5 means no difference.
	CommonLanguage float64 `json:"common_language"`
	// RankBiserial is 2·CommonLanguage−1, from −1 (X always smaller) to 1
	// (X always larger).
	RankBiserial float64 `json:"rank_biserial"`
}

// MannWhitney tests samples x against y. With an empty sample the result
// has p-values 1 and effect 0.
func MannWhitney(x, y []float64) MannWhitneyResult {
	// Merge into ordered groups of equal values: each group is one
	// category with its counts from x and y.
	xs, ys := slices.Clone(x), slices.Clone(y)
	slices.Sort(xs)
	slices.Sort(ys)
	var cx, cy []uint64
	i, j := 0, 0
	for i < len(xs) || j < len(ys) {
		var v float64
		switch {
		case j >= len(ys) || (i < len(xs) && xs[i] <= ys[j]):
			v = xs[i]
		default:
			v = ys[j]
		}
		var a, b uint64
		for i < len(xs) && xs[i] == v {
			a, i = a+1, i+1
		}
		for j < len(ys) && ys[j] == v {
			b, j = b+1, j+1
		}
		cx, cy = append(cx, a), append(cy, b)
	}
	return MannWhitneyCounts(cx, cy)
}

// MannWhitneyCounts tests two samples given as counts over the same
// ordered categories (histogram buckets): values in one bucket are ties.
func MannWhitneyCounts(x, y []uint64) MannWhitneyResult {
	n := max(len(x), len(y))
	at := func(s []uint64, i int) uint64 {
		if i < len(s) {
			return s[i]
		}
		return 0
	}
	var r MannWhitneyResult
	for i := range n {
		r.NX += at(x, i)
		r.NY += at(y, i)
	}
	if r.NX == 0 || r.NY == 0 {
		r.PTwoSided, r.PGreater, r.CommonLanguage = 1, 1, 0.5
		return r
	}
	nx, ny := float64(r.NX), float64(r.NY)
	total := nx + ny
	var below, rankSumX, ties float64
	for i := range n {
		a, b := float64(at(x, i)), float64(at(y, i))
		t := a + b
		if t == 0 {
			continue
		}
		mid := below + (t+1)/2
		rankSumX += a * mid
		ties += t*t*t - t
		below += t
	}
	r.U = rankSumX - nx*(nx+1)/2
	mean := nx * ny / 2
	variance := nx * ny / 12 * ((total + 1) - ties/(total*(total-1)))
	r.CommonLanguage = r.U / (nx * ny)
	r.RankBiserial = 2*r.CommonLanguage - 1
	if variance <= 0 { // every value tied: no evidence either way
		r.PTwoSided, r.PGreater = 1, 1
		return r
	}
	sd := math.Sqrt(variance)
	d := r.U - mean
	r.Z = math.Copysign(max(math.Abs(d)-0.5, 0), d) / sd
	r.PTwoSided = min(1, math.Erfc(math.Abs(r.Z)/math.Sqrt2))
	r.PGreater = 0.5 * math.Erfc((d-0.5)/sd/math.Sqrt2)
	return r
}
