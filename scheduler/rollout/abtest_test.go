package rollout

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

func TestWilsonIntervalByHand(t *testing.T) {
	z := normalQuantile(0.975)
	for _, tc := range []struct {
		k, n      uint64
		low, high float64
	}{
		{10, 100, 0.0552, 0.1744}, // the textbook example
		{0, 10, 0, 0.2775},        // z²/(n+z²): no conversion still has an upper bound
		{10, 10, 0.7225, 1},
		{0, 0, 0, 1}, // nothing known
		{12, 10, 0.7225, 1},
	} {
		low, high := WilsonInterval(tc.k, tc.n, z)
		if !near(low, tc.low, 5e-5) || !near(high, tc.high, 5e-5) {
			t.Errorf("%d/%d: [%.4f, %.4f], want [%.4f, %.4f]", tc.k, tc.n, low, high, tc.low, tc.high)
		}
	}
}

func TestNormalQuantileInvertsNormalCDF(t *testing.T) {
	for _, p := range []float64{1e-9, 0.001, 0.025, 0.2, 0.5, 0.8, 0.975, 0.999} {
		if got := NormalCDF(normalQuantile(p)); !near(got, p, p*1e-6) {
			t.Errorf("NormalCDF(normalQuantile(%g)) = %g", p, got)
		}
	}
	if !near(normalQuantile(0.975), 1.959964, 1e-6) {
		t.Errorf("z(0.975) = %v", normalQuantile(0.975))
	}
}

func TestDifferenceAndLiftIntervalsByHand(t *testing.T) {
	// Newcombe (1998), example (a): 56/70 against 48/80; his method 10
	// gives 0.0524 to 0.3339 for the difference.
	z := normalQuantile(0.975)
	a, b := ABVariant{Visitors: 80, Conversions: 48}, ABVariant{Visitors: 70, Conversions: 56}
	d := differenceEstimate(a, b, z)
	if !near(d.Value, 0.2, 1e-12) || !near(d.Low, 0.0524, 5e-5) || !near(d.High, 0.3339, 5e-5) {
		t.Errorf("difference %+v, want 0.2 [0.0524, 0.3339]", d)
	}
	// Rate ratio 0.8/0.6 = 4/3, log standard error
	// √(1/56 − 1/70 + 1/48 − 1/80) = 0.109109: lift exp(ln(4/3) ± 1.96·0.109109) − 1.
	l := liftEstimate(a, b, z)
	if l == nil || !near(l.Value, 1.0/3, 1e-12) || !near(l.Low, 0.0766, 5e-5) || !near(l.High, 0.6512, 5e-5) {
		t.Errorf("lift %+v, want 0.3333 [0.0766, 0.6512]", l)
	}
	if liftEstimate(ABVariant{Visitors: 50}, b, z) != nil || liftEstimate(a, ABVariant{Visitors: 50}, z) != nil {
		t.Error("a lift from a variant without conversions")
	}
}

func TestMinSampleForByHand(t *testing.T) {
	// 10% against 12%, two-sided 5%, power 80%: p̄ = 0.11,
	// (1.959964·√(2·0.11·0.89) + 0.841621·√(0.09 + 0.1056))² / 0.02² = 3840.6.
	if n := MinSampleFor(0.10, 0.2, 0.05, 0.8); n != 3841 {
		t.Errorf("10%% → 12%%: %d per variant, want 3841", n)
	}
	// A bigger lift needs far fewer; a stricter level more.
	if n := MinSampleFor(0.10, 0.5, 0.05, 0.8); n != 686 {
		t.Errorf("10%% → 15%%: %d per variant, want 686", n)
	}
	if MinSampleFor(0.10, 0.2, 0.04, 0.8) <= 3841 || MinSampleFor(0.10, 0.2, 0.05, 0.9) <= 3841 {
		t.Error("a stricter level or more power must need more visitors")
	}
	for _, bad := range [][4]float64{{0, 0.2, 0.05, 0.8}, {1, 0.2, 0.05, 0.8}, {0.1, 0, 0.05, 0.8}, {0.1, 0.2, 0, 0.8}, {0.1, 0.2, 0.05, 1}} {
		if n := MinSampleFor(bad[0], bad[1], bad[2], bad[3]); n != 0 {
			t.Errorf("MinSampleFor%v = %d, want 0", bad, n)
		}
	}
}

func TestABVerdicts(t *testing.T) {
	cfg := ABConfig{MinSample: 1000}
	v := func(n, k uint64) ABVariant { return ABVariant{Visitors: n, Conversions: k} }
	for _, tc := range []struct {
		name        string
		a, b        ABVariant
		looksDone   int
		verdict     ABVerdict
		look        int
		alpha       float64
		looksAfter  int
		nextLook    int64
		messageHas  string
		minSample   int64
		noMinSample bool
	}{
		{"below the minimum sample, however clear", v(999, 100), v(1500, 300), 0, ABInconclusive, 0, 0, 0, 1000, "A has 999 and B 1500 visitors; 1000 per variant are needed", 1000, false},
		{"B better at look 1", v(1000, 100), v(1000, 150), 0, ABWinnerB, 1, 0.04, 1, 2000, "B converts better", 1000, false},
		{"B worse at look 1", v(1000, 150), v(1000, 100), 0, ABWinnerA, 1, 0.04, 1, 2000, "B converts worse", 1000, false},
		{"alike at look 1", v(1000, 100), v(1000, 105), 0, ABInconclusive, 1, 0.04, 1, 2000, "next look is at 2000", 1000, false},
		// p = 0.035: significant at a fixed 5%, but look 2 may only spend 0.5%.
		{"between looks: no verdict", v(1500, 150), v(1500, 190), 1, ABInconclusive, 0, 0, 1, 2000, "look 2 is due at 2000", 1000, false},
		{"look 2 is stricter", v(2000, 200), v(2000, 245), 1, ABInconclusive, 2, 0.005, 2, 4000, "level 0.005", 1000, false},
		{"look 3 without a winner", v(4000, 400), v(4000, 420), 2, ABNoWinner, 3, 0.005, 3, 0, "no significant difference at the last look", 1000, false},
		{"after the last look", v(9000, 900), v(9000, 1200), 3, ABNoWinner, 0, 0, 3, 0, "by the last look at 4000", 1000, false},
		{"looks due together are one test", v(4100, 410), v(4100, 470), 0, ABWinnerB, 3, 0.05, 3, 0, "look 3 of 3", 1000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := AnalyzeAB(cfg, tc.a, tc.b, tc.looksDone)
			if r.Verdict != tc.verdict || r.Look != tc.look || !near(r.Alpha, tc.alpha, 1e-12) || r.LooksDone != tc.looksAfter ||
				r.NextLook != tc.nextLook || r.MinSample != tc.minSample {
				t.Errorf("got %s at look %d (alpha %g, looks done %d, next %d, min %d), want %s at look %d (alpha %g, looks done %d, next %d, min %d)\n%s",
					r.Verdict, r.Look, r.Alpha, r.LooksDone, r.NextLook, r.MinSample,
					tc.verdict, tc.look, tc.alpha, tc.looksAfter, tc.nextLook, tc.minSample, r.Message)
			}
			if !strings.Contains(r.Message, tc.messageHas) {
				t.Errorf("message %q lacks %q", r.Message, tc.messageHas)
			}
		})
	}
}

func TestABFiguresAndMessage(t *testing.T) {
	r := AnalyzeAB(ABConfig{MinSample: 1000}, ABVariant{Visitors: 1000, Conversions: 100}, ABVariant{Visitors: 1000, Conversions: 150}, 0)
	if !near(r.A.Rate.Value, 0.10, 1e-12) || !near(r.B.Rate.Value, 0.15, 1e-12) || !near(r.Difference.Value, 0.05, 1e-12) ||
		r.Lift == nil || !near(r.Lift.Value, 0.5, 1e-12) {
		t.Fatalf("figures %+v", r)
	}
	// z = 0.05 / √(0.125·0.875·2/1000) = 3.3806: p = 2·(1 − Φ(3.3806)).
	if !near(r.PValue, 0.000723, 2e-6) {
		t.Errorf("p = %v, want 0.000723", r.PValue)
	}
	if r.A.Rate.Low >= 0.10 || r.A.Rate.High <= 0.10 || r.Difference.Low <= 0 || r.Lift.Low <= 0 {
		t.Errorf("intervals %+v %+v %+v", r.A.Rate, r.Difference, r.Lift)
	}
	for _, want := range []string{"B 150/1000 = 15.00% [", "against A 100/1000 = 10.00% [", "lift +50.0% [", "p=0.000723", "look 1 of 3 at 1000 visitors per variant, level 0.04"} {
		if !strings.Contains(r.Message, want) {
			t.Errorf("message %q lacks %q", r.Message, want)
		}
	}
}

func TestABMinimumSampleIsSizedByPower(t *testing.T) {
	a, b := ABVariant{Visitors: 300, Conversions: 30}, ABVariant{Visitors: 300, Conversions: 30}
	r := AnalyzeAB(ABConfig{}, a, b, 0)
	// The pooled 10%, a 20% lift, power 80%, at the first look's level 0.04.
	if want := MinSampleFor(0.10, 0.2, 0.04, 0.8); r.MinSample != want || want < 4000 || r.Verdict != ABInconclusive {
		t.Errorf("min sample %d (%s), want %d", r.MinSample, r.Verdict, want)
	}
	if r := AnalyzeAB(ABConfig{MinDetectableLift: 0.5, Confidence: 0.9}, a, b, 0); r.MinSample != MinSampleFor(0.10, 0.5, 0.08, 0.8) {
		t.Errorf("min sample %d for a 50%% lift at 90%% confidence", r.MinSample)
	}
	if r := AnalyzeAB(ABConfig{MinDetectableLift: 10}, ABVariant{Visitors: 50, Conversions: 25}, ABVariant{Visitors: 50, Conversions: 25}, 0); r.MinSample != MinABSample {
		t.Errorf("min sample %d, want the floor %d", r.MinSample, MinABSample)
	}
	if r := AnalyzeAB(ABConfig{}, ABVariant{Visitors: 5000}, ABVariant{Visitors: 5000}, 0); r.MinSample != 0 || r.Verdict != ABInconclusive ||
		!strings.Contains(r.Message, "no conversion yet") {
		t.Errorf("without conversions: %+v", r)
	}
	// A configured sample still waits for enough of both outcomes.
	if r := AnalyzeAB(ABConfig{MinSample: 20}, ABVariant{Visitors: 40, Conversions: 0}, ABVariant{Visitors: 40, Conversions: 5}, 0); r.Verdict != ABInconclusive || r.LooksDone != 0 {
		t.Errorf("5 conversions in all: %s, looks done %d", r.Verdict, r.LooksDone)
	}
}

func TestABConfigValidation(t *testing.T) {
	if err := (ABConfig{}).Validate(); err != nil {
		t.Error(err)
	}
	for _, tc := range []struct {
		cfg  ABConfig
		want string
	}{
		{ABConfig{Confidence: 1}, "confidence"},
		{ABConfig{Confidence: 0.3}, "confidence"},
		{ABConfig{Power: 1.2}, "power"},
		{ABConfig{MinDetectableLift: -0.1}, "lift"},
		{ABConfig{MinSample: -1}, "minimum sample"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error naming %s", tc.cfg, err, tc.want)
		}
	}
}

// experiment is one simulated A/B experiment: visitors arrive in both
// variants alike, each converting with its variant's rate.
type experiment struct {
	rng    *rand.Rand
	pa, pb float64
	a, b   ABVariant
}

func (e *experiment) arrive(n int) {
	for range n {
		e.a.Visitors++
		e.b.Visitors++
		if e.rng.Float64() < e.pa {
			e.a.Conversions++
		}
		if e.rng.Float64() < e.pb {
			e.b.Conversions++
		}
	}
}

const experiments = 200

// TestABFalseWinnerRateAtOneLookIsNearTheLevel: with both variants
// converting at 10%, one analysis at the minimum sample declares a false
// winner in about 0.8·5% = 4% of 200 experiments (the first look's level).
// The bound [1.5%, 7%] holds for this seed; a one-sided test each way
// (10% in all) or a test at 10% would not pass it, and the same
// experiments judged that way show it.
func TestABFalseWinnerRateAtOneLookIsNearTheLevel(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 1))
	cfg := ABConfig{MinSample: 2000}
	var falseWinners, oneSidedWinners int
	for range experiments {
		e := &experiment{rng: rng, pa: 0.10, pb: 0.10}
		e.arrive(2000)
		r := AnalyzeAB(cfg, e.a, e.b, 0)
		if r.Look != 1 {
			t.Fatalf("look %d, want the first: %s", r.Look, r.Message)
		}
		if r.Verdict == ABWinnerA || r.Verdict == ABWinnerB {
			falseWinners++
		}
		// The wrong test: one-sided at 5%, either way.
		if TwoProportionGreater(e.b.Conversions, e.b.Visitors, e.a.Conversions, e.a.Visitors) < 0.05 ||
			TwoProportionGreater(e.a.Conversions, e.a.Visitors, e.b.Conversions, e.b.Visitors) < 0.05 {
			oneSidedWinners++
		}
	}
	rate, wrong := float64(falseWinners)/experiments, float64(oneSidedWinners)/experiments
	t.Logf("false winners at one look: %d of %d (%.1f%%); one-sided each way: %.1f%%", falseWinners, experiments, 100*rate, 100*wrong)
	if rate < 0.015 || rate > 0.07 {
		t.Errorf("false-winner rate %.1f%%, want near 4%% (1.5%%..7%%)", 100*rate)
	}
	if wrong <= 0.07 {
		t.Errorf("the one-sided test gives %.1f%% on these experiments: the bound would not catch it", 100*wrong)
	}
}

// TestABFalseWinnerRateStaysNearTheLevelOverRepeatedLooks: the controller
// analyses every 50 visitors per variant from the start to the last look
// (4× the minimum sample of 1000). Over 200 experiments with equal rates
// the sequential verdict declares a false winner in at most about 5%; a
// fixed-horizon 5% test checked at each of those analyses from the minimum
// sample on declares far more, on the same experiments.
func TestABFalseWinnerRateStaysNearTheLevelOverRepeatedLooks(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 2))
	cfg := ABConfig{MinSample: 1000}
	var falseWinners, naiveWinners, analyses int
	for range experiments {
		e := &experiment{rng: rng, pa: 0.10, pb: 0.10}
		looks, decided, naive := 0, false, false
		for e.a.Visitors < 4000 {
			e.arrive(50)
			analyses++
			if !decided {
				r := AnalyzeAB(cfg, e.a, e.b, looks)
				looks = r.LooksDone
				switch r.Verdict {
				case ABWinnerA, ABWinnerB:
					falseWinners++
					decided = true
				case ABNoWinner:
					decided = true
				}
			}
			if !naive && e.a.Visitors >= 1000 && twoSidedP(e.a, e.b) < 0.05 {
				naive = true
				naiveWinners++
			}
		}
		if !decided {
			t.Fatalf("no final verdict at %d visitors per variant after %d looks", e.a.Visitors, looks)
		}
	}
	rate, naive := float64(falseWinners)/experiments, float64(naiveWinners)/experiments
	t.Logf("over %d analyses: false winners %d of %d (%.1f%%); uncorrected 5%% test at every analysis: %.1f%%",
		analyses, falseWinners, experiments, 100*rate, 100*naive)
	if rate < 0.015 || rate > 0.075 {
		t.Errorf("false-winner rate %.1f%% over repeated looks, want about 5%% at most (1.5%%..7.5%%)", 100*rate)
	}
	if naive <= 0.1 {
		t.Errorf("the uncorrected test gives only %.1f%% on these experiments: the test would not tell", 100*naive)
	}
}

// TestABMissRateFallsWithSampleSize: B truly converts at 15% against A's
// 10%. One analysis at the minimum sample misses the winner less and less
// often as the sample grows, and never names A.
func TestABMissRateFallsWithSampleSize(t *testing.T) {
	rng := rand.New(rand.NewPCG(34, 3))
	var misses []float64
	for _, n := range []int64{100, 300, 1000, 3000} {
		missed := 0
		for range experiments {
			e := &experiment{rng: rng, pa: 0.10, pb: 0.15}
			e.arrive(int(n))
			switch r := AnalyzeAB(ABConfig{MinSample: n}, e.a, e.b, 0); r.Verdict {
			case ABWinnerB:
			case ABWinnerA:
				t.Fatalf("A named the winner at %d per variant: %s", n, r.Message)
			default:
				missed++
			}
		}
		misses = append(misses, float64(missed)/experiments)
	}
	t.Logf("miss rates at 100, 300, 1000, 3000 visitors per variant: %v", misses)
	for i := 1; i < len(misses); i++ {
		if misses[i] >= misses[i-1] {
			t.Errorf("miss rate %v did not fall from %v as the sample grew", misses[i], misses[i-1])
		}
	}
	// Expected about 0.84, 0.58, 0.09 and 0.
	if misses[0] < 0.6 || misses[2] > 0.2 || misses[3] > 0.02 {
		t.Errorf("miss rates %v, want about 0.84, 0.58, 0.09, 0", misses)
	}
}

// TestABRepeatedLooksFindATrueWinner: with the looks the controller makes,
// a true 10% → 15% is found by the minimum sample's power-based default
// in nearly every experiment, and A is never named.
func TestABRepeatedLooksFindATrueWinner(t *testing.T) {
	rng := rand.New(rand.NewPCG(55, 5))
	cfg := ABConfig{MinDetectableLift: 0.5}
	found := 0
	for range experiments {
		e := &experiment{rng: rng, pa: 0.10, pb: 0.15}
		looks := 0
		for v := ABInconclusive; v == ABInconclusive; {
			e.arrive(50)
			r := AnalyzeAB(cfg, e.a, e.b, looks)
			looks, v = r.LooksDone, r.Verdict
			switch v {
			case ABWinnerB:
				found++
			case ABWinnerA:
				t.Fatalf("A named the winner: %s", r.Message)
			}
		}
	}
	t.Logf("found the winner in %d of %d experiments", found, experiments)
	if share := float64(found) / experiments; share < 0.9 {
		t.Errorf("found the winner in %.1f%% of experiments, want at least 90%%", 100*share)
	}
}
