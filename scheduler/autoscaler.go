package scheduler

import (
	"context"
	"time"

	"flotilla/api"
	"flotilla/scheduler/autoscale"
	"flotilla/scheduler/state"
)

// autoscaleInterval is how often the leader looks at autoscaled services
// (agents report traffic every second).
const autoscaleInterval = time.Second

// autoscaler runs the autoscaling decisions of every service with an
// autoscale block on the leader: it reads the proxies' figures over the
// stable and panic windows and writes each change through Raft, with the
// figures and the rule that caused it. Its memory (recommendations,
// panics) is the leader's own: a new leader starts afresh and, until its
// figures cover a whole window, only scales up.
func (s *Server) autoscaler(ctx context.Context) {
	states := map[string]*autoscale.State{}
	start := s.cfg.Clock.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.cfg.Clock.After(autoscaleInterval):
		}
		now := s.cfg.Clock.Now()
		snap := s.store.Snapshot()
		seen := map[string]bool{}
		for _, svc := range snap.Services(nil) {
			a := svc.Spec.Autoscale
			if a == nil {
				continue
			}
			key := svc.Key()
			seen[key] = true
			st := states[key]
			if st == nil {
				st = &autoscale.State{}
				states[key] = st
			}
			in := autoscale.Input{
				Config: *a, Current: svc.Replicas, Ready: readyCount(snap, svc),
				HaveData: true, // missing figures read as no load: they never scale up

				CanScaleDown: now.Sub(start) >= autoscale.StableWindow,
				Now:          now,
			}
			if autoscale.ScalesToZero(*a) {
				in.Recent = recentRequests(s.trafficWindow(svc.Namespace, svc.Name, autoscale.PanicWindow))
			}
			switch a.Metric {
			case api.MetricCPU, api.MetricMemory:
				// The runtime's readings (usage.go); no panic mode.
				in.Stable = s.serviceUsage(snap, svc, a, now)
			default:
				in.Stable = serviceLoad(s.trafficWindow(svc.Namespace, svc.Name, autoscale.StableWindow), a.Metric)
				in.Panic = panicLoad(s.trafficWindow(svc.Namespace, svc.Name, autoscale.PanicWindow), a.Metric)
			}
			d := autoscale.Decide(in, st)
			if !d.Changed {
				continue
			}
			_, _, err := s.apply(state.CmdScaleService, &state.ScaleService{Namespace: svc.Namespace, Name: svc.Name,
				Replicas: d.Desired, Reason: d.Reason, Time: s.now()})
			if err != nil && ctx.Err() == nil {
				s.cfg.Logger.Warn("autoscale", "service", key, "to", d.Desired, "err", err)
			}
		}
		for key := range states {
			if !seen[key] {
				delete(states, key)
			}
		}
	}
}

// readyCount counts a service's ready allocations meant to run.
func readyCount(snap *state.Snapshot, svc *api.Service) int {
	n := 0
	for _, a := range snap.AllocationsByService(nil, svc.Namespace, svc.Name) {
		if a.DesiredStatus == api.DesiredRun && a.Status == api.AllocRunning && a.Ready {
			n++
		}
	}
	return n
}

// serviceLoad is a service's total load over a window, summed over its
// revisions: requests per second, or requests in flight on average (by
// Little's law: arrival rate times mean latency, which the merged latency
// histograms give for the whole window rather than one instant).
func serviceLoad(figures []api.TrafficFigures, metric string) float64 {
	total := 0.0
	for _, f := range figures {
		switch metric {
		case api.MetricRPS:
			total += f.RPS
		case api.MetricInflight:
			total += f.RPS * meanLatencySeconds(f.Latency)
		}
	}
	return total
}

// panicLoad is the load the panic mode reads: the panic window's, or for
// in-flight requests the proxies' newest count when it is higher, so that
// a surge shows within one report rather than once it fills the window.
func panicLoad(figures []api.TrafficFigures, metric string) float64 {
	load := serviceLoad(figures, metric)
	if metric == api.MetricInflight {
		var now int64
		for _, f := range figures {
			now += f.InFlight
		}
		load = max(load, float64(now))
	}
	return load
}

// meanLatencySeconds is the mean of a latency histogram, in seconds.
func meanLatencySeconds(h api.Histogram) float64 {
	var n, sum float64
	for i, c := range h.Counts {
		n += float64(c)
		sum += float64(c) * api.LatencyBucketMs(h.Offset+i)
	}
	if n == 0 {
		return 0
	}
	return sum / n / 1000
}
