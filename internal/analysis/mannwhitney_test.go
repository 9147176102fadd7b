package analysis

import (
	"math"
	"testing"
)

func near(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.10g, want %.10g (±%g)", name, got, want, tol)
	}
}

// The example of scipy.stats.mannwhitneyu's documentation, method
// "asymptotic": U=17, p=0.11134688653314041.
func TestMannWhitneyKnownAnswer(t *testing.T) {
	males := []float64{19, 22, 16, 29, 24}
	females := []float64{20, 11, 17, 12}
	r := MannWhitney(males, females)
	near(t, "U", r.U, 17, 0)
	near(t, "p two-sided", r.PTwoSided, 0.11134688653314041, 1e-12)
	near(t, "common language", r.CommonLanguage, 17.0/20, 1e-12)
	near(t, "rank-biserial", r.RankBiserial, 0.7, 1e-12)
}

// Fully separated samples: U=0; z = (0−12.5+0.5)/sqrt(25·11/12).
func TestMannWhitneySeparated(t *testing.T) {
	r := MannWhitney([]float64{1, 2, 3, 4, 5}, []float64{6, 7, 8, 9, 10})
	near(t, "U", r.U, 0, 0)
	z := -12 / math.Sqrt(25.0*11/12)
	near(t, "z", r.Z, z, 1e-12)
	near(t, "p two-sided", r.PTwoSided, math.Erfc(-z/math.Sqrt2), 1e-12)
	near(t, "rank-biserial", r.RankBiserial, -1, 0)
	if r.PGreater < 0.99 {
		t.Errorf("p(x greater) = %g, want close to 1: x is smaller", r.PGreater)
	}
}

// Ties, computed by hand. x = 1 2 2 3, y = 2 3 3 4. Ranks of the pooled
// 1 2 2 2 3 3 3 4: 1, 3,3,3, 6,6,6, 8. R(x) = 1+3+3+6 = 13, U = 13−10 = 3.
// Ties: groups of 3 and 3 → Σ(t³−t) = 48. Var = 16/12·(9 − 48/56) =
// 10.857142…; z = (3−8+0.5)/sqrt(Var).
func TestMannWhitneyTies(t *testing.T) {
	r := MannWhitney([]float64{1, 2, 2, 3}, []float64{2, 3, 3, 4})
	near(t, "U", r.U, 3, 1e-12)
	v := 16.0 / 12 * (9 - 48.0/56)
	near(t, "z", r.Z, -4.5/math.Sqrt(v), 1e-12)
	near(t, "common language", r.CommonLanguage, 3.0/16, 1e-12)
}

// The histogram form gives the same answer as the raw samples it bins.
func TestMannWhitneyCountsMatchesSamples(t *testing.T) {
	raw := MannWhitney([]float64{1, 2, 2, 3}, []float64{2, 3, 3, 4})
	binned := MannWhitneyCounts([]uint64{1, 2, 1, 0}, []uint64{0, 1, 2, 1})
	if raw != binned {
		t.Errorf("binned %+v, raw %+v", binned, raw)
	}
}

// Synthetic latency distributions: a shift of +100ms is detected with high
// confidence and a large effect; the same distribution is not.
func TestMannWhitneySyntheticShift(t *testing.T) {
	base := make([]float64, 200)
	slow := make([]float64, 200)
	same := make([]float64, 200)
	for i := range base {
		// A deterministic spread of 1–41 ms.
		v := 0.001 + 0.040*float64((i*37)%200)/200
		base[i] = v
		slow[i] = v + 0.100
		same[i] = 0.001 + 0.040*float64((i*53)%200)/200
	}
	r := MannWhitney(slow, base)
	if r.PGreater > 1e-6 || r.RankBiserial != 1 {
		t.Errorf("+100ms: p=%g effect=%g, want p<1e-6 and effect 1", r.PGreater, r.RankBiserial)
	}
	r = MannWhitney(same, base)
	if r.PTwoSided < 0.9 || math.Abs(r.RankBiserial) > 0.01 {
		t.Errorf("same distribution: p=%g effect=%g, want p≈1, effect≈0", r.PTwoSided, r.RankBiserial)
	}
}

func TestMannWhitneyEmpty(t *testing.T) {
	r := MannWhitney(nil, []float64{1})
	if r.PTwoSided != 1 || r.PGreater != 1 || r.RankBiserial != 0 {
		t.Errorf("empty sample: %+v, want p=1 and no effect", r)
	}
	r = MannWhitneyCounts([]uint64{3}, []uint64{4})
	if r.PTwoSided != 1 || r.RankBiserial != 0 {
		t.Errorf("all tied: %+v, want p=1 and no effect", r)
	}
}
