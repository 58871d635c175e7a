package rollout

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"flotilla/api"
)

func latencies(ds ...time.Duration) api.Histogram {
	var h api.Histogram
	for _, d := range ds {
		h.Observe(d)
	}
	return h
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

func TestNormalCDF(t *testing.T) {
	for _, tt := range []struct{ x, want float64 }{
		{0, 0.5}, {1.959963985, 0.975}, {-1.644853627, 0.05}, {2.326347874, 0.99}, {-8, 6.22e-16},
	} {
		if got := NormalCDF(tt.x); math.Abs(got-tt.want) > 1e-9 && math.Abs(got-tt.want) > tt.want*1e-3 {
			t.Errorf("NormalCDF(%v) = %v, want %v", tt.x, got, tt.want)
		}
	}
}

func TestMannWhitneyGreaterByHand(t *testing.T) {
	// Five canary requests at 20ms, five stable ones at 10ms: every pair
	// has the canary slower, U = 25, mean 12.5; two tie groups of 5 make
	// the variance 25/12·(11 - 240/90) = (25/6)²; z = (25-12.5-0.5)/(25/6)
	// = 2.88 and p = 1-Φ(2.88) = 0.0019884.
	p := MannWhitneyGreater(latencies(repeat(20*time.Millisecond, 5)...), latencies(repeat(10*time.Millisecond, 5)...))
	if math.Abs(p-0.0019884) > 1e-6 {
		t.Errorf("p = %.7f, want 0.0019884", p)
	}
	// The other way round the canary is faster: no evidence at all.
	if p := MannWhitneyGreater(latencies(repeat(10*time.Millisecond, 5)...), latencies(repeat(20*time.Millisecond, 5)...)); p < 0.99 {
		t.Errorf("faster canary: p = %v, want near 1", p)
	}
}

// bruteMannWhitney computes the same test from the raw observations
// (bucket indexes), the textbook way: mid-ranks of the pooled sample, U from
// a's rank sum, and the tie correction from the groups of equal values.
func bruteMannWhitney(a, b []int) float64 {
	type obs struct {
		v     int
		fromA bool
	}
	var all []obs
	for _, v := range a {
		all = append(all, obs{v, true})
	}
	for _, v := range b {
		all = append(all, obs{v, false})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v < all[j].v })
	var rankSumA, ties float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		mid := float64(i+1+j) / 2 // ranks i+1..j
		for k := i; k < j; k++ {
			if all[k].fromA {
				rankSumA += mid
			}
		}
		t := float64(j - i)
		ties += t*t*t - t
		i = j
	}
	na, nb := float64(len(a)), float64(len(b))
	n := na + nb
	u := rankSumA - na*(na+1)/2
	// The same U by counting pairs, as a check of the check.
	var pairs float64
	for _, x := range a {
		for _, y := range b {
			switch {
			case x > y:
				pairs++
			case x == y:
				pairs += 0.5
			}
		}
	}
	if pairs != u {
		panic("rank sum and pair count disagree")
	}
	sigma := math.Sqrt(na * nb / 12 * ((n + 1) - ties/(n*(n-1))))
	return 1 - NormalCDF((u-na*nb/2-0.5)/sigma)
}

func TestMannWhitneyGreaterAgreesWithPairwiseCounting(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		na, nb := 1+r.IntN(15), 1+r.IntN(15)
		shift := r.IntN(3) // sometimes the canary is slower
		var ha, hb api.Histogram
		var a, b []int
		for range na {
			d := time.Duration(1+r.IntN(8)+shift) * time.Millisecond
			ha.Observe(d)
			a = append(a, api.LatencyBucket(d))
		}
		for range nb {
			d := time.Duration(1+r.IntN(8)) * time.Millisecond
			hb.Observe(d)
			b = append(b, api.LatencyBucket(d))
		}
		want := bruteMannWhitney(a, b)
		if math.IsNaN(want) { // every observation tied
			want = 1
		}
		if got := MannWhitneyGreater(ha, hb); math.Abs(got-want) > 1e-9 {
			t.Fatalf("trial %d: a=%v b=%v: p = %v, want %v", trial, a, b, got, want)
		}
	}
}

func TestMannWhitneyGreaterOnManyRequests(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	sample := func(n int, median time.Duration) api.Histogram {
		var h api.Histogram
		for range n {
			h.Observe(time.Duration(float64(median) * math.Exp(0.3*r.NormFloat64())))
		}
		return h
	}
	stable := sample(2000, 10*time.Millisecond)
	if p := MannWhitneyGreater(sample(2000, 10*time.Millisecond), stable); p < 0.01 {
		t.Errorf("same distribution: p = %v, want no significance", p)
	}
	if p := MannWhitneyGreater(stable, stable); p < 0.4 {
		t.Errorf("identical histograms: p = %v, want about 0.5", p)
	}
	if p := MannWhitneyGreater(sample(2000, 12*time.Millisecond), stable); p > 1e-6 {
		t.Errorf("canary 20%% slower: p = %v, want tiny", p)
	}
	if p := MannWhitneyGreater(sample(2000, 8*time.Millisecond), stable); p < 0.99 {
		t.Errorf("canary faster: p = %v, want near 1", p)
	}
}

func TestMannWhitneyGreaterWithoutEvidenceIsOne(t *testing.T) {
	some := latencies(time.Millisecond, 2*time.Millisecond)
	for name, tt := range map[string][2]api.Histogram{
		"empty canary":   {{}, some},
		"empty baseline": {some, {}},
		"both empty":     {{}, {}},
		"all tied":       {latencies(repeat(time.Millisecond, 3)...), latencies(repeat(time.Millisecond, 4)...)},
	} {
		if p := MannWhitneyGreater(tt[0], tt[1]); p != 1 {
			t.Errorf("%s: p = %v, want 1", name, p)
		}
	}
}

func TestTwoProportionGreater(t *testing.T) {
	// 30 of 200 against 15 of 200: pooled 45/400 = 0.1125, standard error
	// √(0.1125·0.8875·(1/200+1/200)) = 0.0315981, z = 0.075/0.0315981 =
	// 2.37356, p = 1-Φ(2.37356) = 0.0088087.
	if p := TwoProportionGreater(30, 200, 15, 200); math.Abs(p-0.0088087) > 1e-6 {
		t.Errorf("p = %.7f, want 0.0088087", p)
	}
	for _, tt := range []struct {
		name               string
		errA, nA, errB, nB uint64
		check              func(p float64) bool
		want               string
	}{
		{"same rate", 10, 1000, 10, 1000, func(p float64) bool { return p == 0.5 }, "0.5"},
		{"same rate, other sizes", 5, 500, 20, 2000, func(p float64) bool { return math.Abs(p-0.5) < 1e-12 }, "0.5"},
		{"10% against 1%", 100, 1000, 10, 1000, func(p float64) bool { return p < 1e-12 }, "tiny"},
		{"canary better", 1, 1000, 50, 1000, func(p float64) bool { return p > 0.999 }, "near 1"},
		{"a little worse on few requests", 2, 20, 1, 20, func(p float64) bool { return p > 0.2 && p < 0.5 }, "not significant"},
		{"no canary requests", 0, 0, 5, 100, func(p float64) bool { return p == 1 }, "1"},
		{"no baseline requests", 5, 100, 0, 0, func(p float64) bool { return p == 1 }, "1"},
		{"no errors at all", 0, 100, 0, 100, func(p float64) bool { return p == 1 }, "1"},
		{"every request failed", 100, 100, 50, 50, func(p float64) bool { return p == 1 }, "1"},
		{"errors above n", 500, 100, 0, 100, func(p float64) bool { return p < 1e-12 }, "tiny (counted as 100 of 100)"},
	} {
		if p := TwoProportionGreater(tt.errA, tt.nA, tt.errB, tt.nB); !tt.check(p) {
			t.Errorf("%s: p = %v, want %s", tt.name, p, tt.want)
		}
	}
}
