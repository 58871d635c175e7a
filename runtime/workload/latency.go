package workload

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// LatencyShape is how a Latency spreads its delays.
type LatencyShape int

// Latency shapes, one per --latency syntax.
const (
	// LatencyFixed: "100ms", always the same delay.
	LatencyFixed LatencyShape = iota
	// LatencyUniform: "50ms..150ms", uniform between Low and High.
	LatencyUniform
	// LatencyNormal: "100ms±20ms" (or "100ms+-20ms"), normal around Mean
	// with StdDev, clamped at 0.
	LatencyNormal
)

// Latency is the delay added to every GET /. The zero value adds none.
type Latency struct {
	Shape LatencyShape
	// Low and High bound a uniform latency; a fixed one has Low == High.
	Low, High time.Duration
	// Mean and StdDev shape a normal latency (a fixed one has Mean == Low).
	Mean, StdDev time.Duration
}

// FixedLatency is a Latency of exactly d.
func FixedLatency(d time.Duration) Latency {
	return Latency{Shape: LatencyFixed, Low: d, High: d, Mean: d}
}

// ParseLatency reads the --latency syntax: "100ms" (fixed), "50ms..150ms"
// (uniform) or "100ms±20ms" / "100ms+-20ms" (normal, clamped at 0). An
// empty string or "0" is no latency.
func ParseLatency(s string) (Latency, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return Latency{}, nil
	}
	if lo, hi, ok := strings.Cut(s, ".."); ok {
		low, err := parseNonNegative(lo)
		if err != nil {
			return Latency{}, err
		}
		high, err := parseNonNegative(hi)
		if err != nil {
			return Latency{}, err
		}
		if high < low {
			return Latency{}, fmt.Errorf("latency range %q ends before it starts", s)
		}
		return Latency{Shape: LatencyUniform, Low: low, High: high, Mean: (low + high) / 2}, nil
	}
	for _, sep := range []string{"±", "+-"} {
		if mean, dev, ok := strings.Cut(s, sep); ok {
			m, err := parseNonNegative(mean)
			if err != nil {
				return Latency{}, err
			}
			d, err := parseNonNegative(dev)
			if err != nil {
				return Latency{}, err
			}
			return Latency{Shape: LatencyNormal, Mean: m, StdDev: d}, nil
		}
	}
	d, err := parseNonNegative(s)
	if err != nil {
		return Latency{}, fmt.Errorf("%w (want 100ms, 50ms..150ms or 100ms±20ms)", err)
	}
	return FixedLatency(d), nil
}

func parseNonNegative(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return d, nil
}

// IsZero reports whether the latency adds no delay at all.
func (l Latency) IsZero() bool { return l == Latency{} || l == FixedLatency(0) }

// Sample draws one delay.
func (l Latency) Sample(r *rand.Rand) time.Duration {
	switch l.Shape {
	case LatencyUniform:
		if l.High <= l.Low {
			return l.Low
		}
		return l.Low + time.Duration(r.Int64N(int64(l.High-l.Low)+1))
	case LatencyNormal:
		d := l.Mean + time.Duration(r.NormFloat64()*float64(l.StdDev))
		return max(d, 0)
	default:
		return l.Low
	}
}

// String writes the latency back in the --latency syntax.
func (l Latency) String() string {
	switch l.Shape {
	case LatencyUniform:
		return l.Low.String() + ".." + l.High.String()
	case LatencyNormal:
		return l.Mean.String() + "±" + l.StdDev.String()
	default:
		return l.Low.String()
	}
}
