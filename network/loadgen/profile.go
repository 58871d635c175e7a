package loadgen

import (
	"fmt"
	"math"
	"time"
)

// Rate profiles: with one, the rate moves between MinRate and Rate (the
// peak) once every Period instead of staying at Rate.
const (
	// ProfileSine: MinRate at the start of each period, Rate half way.
	ProfileSine = "sine"
	// ProfileSquare: MinRate for the first half of each period, Rate for
	// the second.
	ProfileSquare = "square"
)

// validateProfile checks the profile fields of c.
func (c Config) validateProfile() error {
	switch c.Profile {
	case "":
		return nil
	case ProfileSine, ProfileSquare:
	default:
		return fmt.Errorf("profile %q: want sine or square", c.Profile)
	}
	switch {
	case c.Period <= 0:
		return fmt.Errorf("period %s: want more than 0 with a profile", c.Period)
	case c.MinRate < 0 || c.MinRate > c.Rate || math.IsNaN(c.MinRate):
		return fmt.Errorf("min rate %g: want between 0 and the rate (%g)", c.MinRate, c.Rate)
	}
	return nil
}

// RateAt is the rate c asks for at offset t from the start.
func (c Config) RateAt(t time.Duration) float64 {
	if c.Profile == "" {
		return c.Rate
	}
	phase := float64(t%c.Period) / float64(c.Period)
	switch c.Profile {
	case ProfileSquare:
		if phase < 0.5 {
			return c.MinRate
		}
		return c.Rate
	default: // sine
		return c.MinRate + (c.Rate-c.MinRate)*(1-math.Cos(2*math.Pi*phase))/2
	}
}

// scheduleStep is the step the rate of a profile is integrated with.
const scheduleStep = time.Millisecond

// schedule gives the due offsets of a run's requests in order, open loop:
// request i is due when the integral of the rate since the start reaches
// i (for a constant rate, i/Rate).
type schedule struct {
	cfg   Config
	i     int64
	t     time.Duration // integrated up to t
	count float64       // requests due by t
}

// next returns the offset of the next request, false past Duration.
func (s *schedule) next() (time.Duration, bool) {
	i := s.i
	s.i++
	if s.cfg.Profile == "" {
		if i >= int64(math.Ceil(s.cfg.Rate*s.cfg.Duration.Seconds()-1e-9)) {
			return 0, false
		}
		return time.Duration(float64(i) * float64(time.Second) / s.cfg.Rate), true
	}
	for s.count < float64(i)-1e-9 {
		if s.t >= s.cfg.Duration {
			return 0, false
		}
		// The midpoint rule: exact for a square wave's steps, close for a sine.
		s.count += s.cfg.RateAt(s.t+scheduleStep/2) * scheduleStep.Seconds()
		s.t += scheduleStep
	}
	if s.t >= s.cfg.Duration {
		return 0, false
	}
	return s.t, true
}
