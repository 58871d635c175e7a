package autoscale

import (
	"fmt"
	"time"

	"flotilla/api"
)

// MinIdleWindow is the shortest idle window: a service with min 0 goes to
// zero replicas only after this long without a request, however short its
// stabilizationWindow, so that a pause between two bursts does not cost a
// cold start.
const MinIdleWindow = 30 * time.Second

// ScalesToZero reports whether cfg lets the service go to zero replicas:
// min 0 with a metric the proxies measure (in-flight requests or requests
// per second), since only the proxy can hold a request and wake a service
// that has no replica.
func ScalesToZero(cfg api.Autoscale) bool {
	return cfg.Min == 0 && (cfg.Metric == api.MetricInflight || cfg.Metric == api.MetricRPS)
}

// IdleWindow is how long a service that scales to zero must see no
// request before it goes to zero: its stabilizationWindow, at least
// MinIdleWindow (also with a stabilizationWindow of 0).
func IdleWindow(cfg api.Autoscale) time.Duration {
	return max(cfg.StabilizationWindowOrDefault().Std(), MinIdleWindow)
}

// idle applies the scale-to-zero rule to one look: it notes activity (a
// request in the panic window or in flight, a count of zero, which a wake
// ends, or the first look at the service) and reports whether the service
// has been idle for its whole idle window. Only the idle rule takes a
// service to zero; the ratio formula stops at one.
//
// The look that takes the service to zero also restarts the idle clock,
// as a look at zero does: a wake may come before the next look, and the
// requests it was for reach the leader's figures up to a report later, so
// an idle clock left running from before would take the woken replica
// away at once, with the request still held for it.
func idle(in Input, st *State) (bool, string) {
	window := IdleWindow(in.Config)
	if st.activeAt.IsZero() || in.Current == 0 || in.Recent > 0 {
		st.activeAt = in.Now
		return false, ""
	}
	quiet := in.Now.Sub(st.activeAt)
	if quiet < window || in.Now.Before(st.panicUntil) {
		return false, ""
	}
	st.activeAt = in.Now
	return true, fmt.Sprintf("no request for %s (idle window %s): scaled to zero", quiet.Round(time.Second), window)
}
