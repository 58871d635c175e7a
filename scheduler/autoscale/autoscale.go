package autoscale

import (
	"fmt"
	"math"
	"time"

	"flotilla/api"
)

// Windows and limits. The stable window is what the decision normally
// reads; the panic window reacts to a surge.
const (
	StableWindow = 60 * time.Second
	PanicWindow  = 6 * time.Second
	// PanicThreshold: the panic window asking for this many times the
	// current count starts a panic.
	PanicThreshold = 2.0
	// A panic lasts StableWindow after the surge was last seen.
	panicHold = StableWindow
	// Scaling up is limited per upPeriod to the larger of doubling and
	// adding upStep replicas (Kubernetes HPA's default policy).
	upPeriod = 15 * time.Second
	upStep   = 4
)

// Input is one look at a service.
type Input struct {
	Config api.Autoscale
	// Current is the replica count now; Ready how many of them serve.
	Current int
	Ready   int
	// Stable and Panic are the service's total metric over StableWindow
	// and PanicWindow (in-flight requests on average, or requests per
	// second); HaveData is false when no figures arrived (a new leader).
	Stable, Panic float64
	HaveData      bool
	// CanScaleDown is false until the figures cover a whole stable window
	// (a new leader): missing figures never remove replicas.
	CanScaleDown bool
	// Recent is the requests counted over PanicWindow plus those in
	// flight now (held ones included): above 0, the service is not idle.
	// Only the scale-to-zero rule reads it.
	Recent float64
	// Forecast is the model's forecast of the total metric
	// Config.Forecast.Lookahead from now (forecast.go); HaveForecast is
	// false without a forecast block or during the model's warm-up.
	Forecast     float64
	HaveForecast bool
	Now          time.Time
}

// Decision is the count the autoscaler wants and why.
type Decision struct {
	Desired int
	// Changed is set when Desired differs from the current count.
	Changed bool
	Panic   bool
	Reason  string
}

// State is what the autoscaler remembers of one service between looks.
type State struct {
	// recommendations within the stabilisation window, oldest first.
	recommendations []point
	// replica counts seen within the rate limit's period, oldest first.
	counts     []point
	panicUntil time.Time
	// activeAt is when the service was last seen busy, at zero, or for
	// the first time: the idle window counts from it.
	activeAt time.Time
}

type point struct {
	at    time.Time
	count int
}

// Decide applies the rules to one look at a service and updates st.
func Decide(in Input, st *State) Decision {
	cfg := in.Config
	d := Decision{Desired: in.Current}
	if !in.HaveData {
		d.Reason = "no traffic figures yet"
		return d
	}
	// Scale to zero: only the idle rule goes to zero, and only a proxy
	// holding a request brings a service back from it (the wake write):
	// the figures reach the leader up to a report late, and an in-flight
	// count from before a scale to zero must not undo it. Once woken, the
	// held requests count as in flight and the panic mode takes over.
	floor := cfg.Min
	zero := ScalesToZero(cfg)
	if zero {
		if ok, why := idle(in, st); ok {
			st.recommendations = nil
			d.Desired, d.Changed, d.Reason = 0, in.Current != 0, why
			return d
		}
		if in.Current == 0 {
			d.Reason = "at zero replicas until a proxy holding a request wakes the service"
			return d
		}
		floor = 1
	}
	target := cfg.Target
	perReplica := func(total float64) float64 {
		if in.Current == 0 {
			return total
		}
		return total / float64(in.Current)
	}
	stableWant := int(math.Ceil(in.Stable / target))
	panicWant := int(math.Ceil(in.Panic / target))
	desired := stableWant
	rule := fmt.Sprintf("%s %.1f per replica over %s, target %g", cfg.Metric, perReplica(in.Stable), StableWindow, target)

	// Within tolerance of the target: no change (a tolerance of 0 leaves
	// alone only an exact match). The panic window's figure too.
	tolerance := cfg.ToleranceOrDefault()
	within := func(total float64) bool {
		return in.Current > 0 && math.Abs(total/(float64(in.Current)*target)-1) <= tolerance.Fraction()
	}
	if within(in.Stable) {
		desired = in.Current
		rule = fmt.Sprintf("%s %.1f per replica is within %s of target %g", cfg.Metric, perReplica(in.Stable), tolerance, target)
	}

	// Panic: the short window asks for at least twice the count.
	if float64(panicWant) >= PanicThreshold*float64(max(in.Current, 1)) && panicWant > in.Current {
		if !in.Now.Before(st.panicUntil) {
			d.Panic = true
		}
		st.panicUntil = in.Now.Add(panicHold)
	}
	if in.Now.Before(st.panicUntil) {
		d.Panic = true
		if panicWant > desired && !within(in.Panic) {
			desired = panicWant
			rule = fmt.Sprintf("%s %.1f per replica over %s, target %g", cfg.Metric, perReplica(in.Panic), PanicWindow, target)
		}
		desired = max(desired, in.Current) // no scale down in a panic
	}
	// The short window still asks for the current count (a rise the stable
	// window's average of a quieter minute does not show yet): a scale
	// down now would be undone within seconds, short of replicas meanwhile.
	if desired < in.Current && in.Current > 0 && panicWant >= in.Current {
		desired = in.Current
		rule = fmt.Sprintf("%s %.1f per replica over %s, target %g (no scale down while the last %s asks for %d)",
			cfg.Metric, perReplica(in.Stable), StableWindow, target, PanicWindow, panicWant)
	}

	// The forecast only adds replicas ahead of a peak: below the reactive
	// count it changes nothing, and the stabilisation window below holds
	// what it asked for like any other recommendation.
	if in.HaveForecast && cfg.Forecast != nil {
		if want := int(math.Ceil(in.Forecast / target)); want > desired {
			desired = want
			rule += fmt.Sprintf(" (forecast %.1f in %s: %d replicas)", in.Forecast, cfg.Forecast.Lookahead, want)
		}
	}

	if clamped := min(max(desired, floor), cfg.Max); clamped != desired {
		switch {
		case clamped == cfg.Max:
			rule += fmt.Sprintf(" (capped at max %d)", cfg.Max)
		case floor > cfg.Min:
			rule += fmt.Sprintf(" (at least %d: min 0 goes to zero only after the %s idle window)", floor, IdleWindow(cfg))
		default:
			rule += fmt.Sprintf(" (at least min %d)", cfg.Min)
		}
		desired = clamped
	}
	if desired < in.Current && !in.CanScaleDown {
		desired = in.Current
		rule += fmt.Sprintf(" (no scale down before the figures cover %s)", StableWindow)
	}

	// Scale down only to the highest recommendation within the
	// stabilisation window, so that a dip removes nothing at once.
	st.recommendations = append(st.recommendations, point{in.Now, desired})
	// With a window of 0 only this look's recommendation is kept: a scale
	// down happens at once.
	window := cfg.StabilizationWindowOrDefault()
	for len(st.recommendations) > 0 && in.Now.Sub(st.recommendations[0].at) > window.Std() {
		st.recommendations = st.recommendations[1:]
	}
	if desired < in.Current {
		highest := desired
		for _, r := range st.recommendations {
			highest = max(highest, r.count)
		}
		if highest > desired {
			desired = min(highest, in.Current)
			rule += fmt.Sprintf(" (held at %d by the %s stabilization window)", desired, window)
		}
	}

	// Scale up at most to the larger of double and +4 of the fewest
	// replicas seen within the last upPeriod.
	st.counts = append(st.counts, point{in.Now, in.Current})
	for len(st.counts) > 0 && in.Now.Sub(st.counts[0].at) > upPeriod {
		st.counts = st.counts[1:]
	}
	base := in.Current
	for _, c := range st.counts {
		base = min(base, c.count)
	}
	if limit := max(2*base, base+upStep); desired > limit && desired > in.Current {
		desired = max(limit, in.Current)
		rule += fmt.Sprintf(" (limited to %d: at most double or +%d per %s)", desired, upStep, upPeriod)
	}

	desired = min(max(desired, floor), cfg.Max)
	d.Desired, d.Changed = desired, desired != in.Current
	if d.Panic {
		rule += " (panic)"
	}
	d.Reason = rule
	return d
}
