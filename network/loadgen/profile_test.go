package loadgen

import (
	"math"
	"testing"
	"time"
)

// dueCounts counts a schedule's requests per bucket of the given width.
func dueCounts(cfg Config, bucket time.Duration) []int {
	counts := make([]int, int(cfg.Duration/bucket))
	s := &schedule{cfg: cfg}
	for {
		at, ok := s.next()
		if !ok {
			return counts
		}
		counts[int(at/bucket)]++
	}
}

func TestLoadProfileScheduleFollowsTheRate(t *testing.T) {
	for _, tc := range []struct {
		profile string
		// halves are the requests due in each half of a period.
		halves [2]float64
	}{
		// Square: 30 s at 20/s then 30 s at 300/s.
		{ProfileSquare, [2]float64{600, 9000}},
		// Sine from 20 to 300: mean 160/s; the rising half and the
		// falling half carry as much.
		{ProfileSine, [2]float64{4800, 4800}},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			cfg := Config{Rate: 300, Profile: tc.profile, Period: time.Minute, MinRate: 20, Duration: 4 * time.Minute}
			counts := dueCounts(cfg, 30*time.Second)
			for i, n := range counts {
				if want := tc.halves[i%2]; math.Abs(float64(n)-want) > 2 {
					t.Errorf("half-period %d: %d requests due, want %g ±2", i, n, want)
				}
			}
		})
	}
}

func TestLoadProfileSineRateAtItsPeakAndTrough(t *testing.T) {
	cfg := Config{Rate: 300, Profile: ProfileSine, Period: time.Minute, MinRate: 20}
	if r := cfg.RateAt(0); math.Abs(r-20) > 1e-9 {
		t.Errorf("rate at 0 = %g, want the min 20", r)
	}
	if r := cfg.RateAt(90 * time.Second); math.Abs(r-300) > 1e-9 {
		t.Errorf("rate half way through the second period = %g, want the peak 300", r)
	}
}

func TestLoadWithoutProfileKeepsTheSteadySchedule(t *testing.T) {
	s := &schedule{cfg: Config{Rate: 4, Duration: time.Second}}
	var got []time.Duration
	for at, ok := s.next(); ok; at, ok = s.next() {
		got = append(got, at)
	}
	want := []time.Duration{0, 250 * time.Millisecond, 500 * time.Millisecond, 750 * time.Millisecond}
	if len(got) != len(want) {
		t.Fatalf("due at %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("due at %v, want %v", got, want)
		}
	}
}

func TestLoadProfileValidation(t *testing.T) {
	base := Config{URL: "http://127.0.0.1:1/", Rate: 300, Duration: time.Second}
	for _, tc := range []struct {
		name    string
		edit    func(*Config)
		wantErr bool
	}{
		{"no profile", func(*Config) {}, false},
		{"square", func(c *Config) { c.Profile, c.Period, c.MinRate = ProfileSquare, time.Minute, 20 }, false},
		{"unknown profile", func(c *Config) { c.Profile, c.Period = "saw", time.Minute }, true},
		{"no period", func(c *Config) { c.Profile = ProfileSine }, true},
		{"min above peak", func(c *Config) { c.Profile, c.Period, c.MinRate = ProfileSine, time.Minute, 400 }, true},
	} {
		c := base
		tc.edit(&c)
		if err := c.Validate(); (err != nil) != tc.wantErr {
			t.Errorf("%s: Validate() = %v, want error %v", tc.name, err, tc.wantErr)
		}
	}
}
