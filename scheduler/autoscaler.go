package scheduler

import (
	"context"
	"sort"
	"sync"
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
	models := map[string]*forecastModel{}
	defer s.forecasts.reset() // a former leader's forecasts go stale
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
			if f := a.Forecast; f != nil {
				m := models[key]
				if m == nil || m.season != f.Season {
					m = &forecastModel{season: f.Season, Forecaster: autoscale.NewForecaster(f.Season.Std())}
					models[key] = m
				}
				// The model reads the short window: the stable one would
				// smooth a peak's edge by a minute. cpu and memory have
				// only the stable figure.
				observed := in.Panic
				if a.Metric == api.MetricCPU || a.Metric == api.MetricMemory {
					observed = in.Stable
				}
				m.Observe(now, observed)
				in.Forecast, in.HaveForecast = m.Forecast(f.Lookahead.Std())
				if in.HaveForecast {
					s.forecasts.set(api.ServiceForecast{Namespace: svc.Namespace, Service: svc.Name, Metric: a.Metric,
						Observed: observed, Forecast: in.Forecast, Lookahead: f.Lookahead, At: now.UTC()})
				}
			} else if models[key] != nil {
				delete(models, key)
				s.forecasts.remove(key)
			}
			d := autoscale.Decide(in, st)
			if !d.Changed {
				continue
			}
			// From: a wake or a person's scale since this look stands.
			_, _, err := s.apply(state.CmdScaleService, &state.ScaleService{Namespace: svc.Namespace, Name: svc.Name,
				Replicas: d.Desired, Reason: d.Reason, From: new(in.Current), Time: s.now()})
			if err != nil && ctx.Err() == nil {
				s.cfg.Logger.Warn("autoscale", "service", key, "to", d.Desired, "err", err)
			}
		}
		for key := range states {
			if !seen[key] {
				delete(states, key)
			}
		}
		for key := range models {
			if !seen[key] {
				delete(models, key)
				s.forecasts.remove(key)
			}
		}
	}
}

// forecastModel is one service's forecaster with the season it was made
// for: a changed season starts a new model.
type forecastModel struct {
	*autoscale.Forecaster
	season api.Duration
}

// forecastBook holds the autoscaler's latest forecast per service for
// GET /v1/top/allocations (`flotilla top services`, `describe service`):
// in memory on the leader only, like the models.
type forecastBook struct {
	mu   sync.Mutex
	byID map[string]api.ServiceForecast
}

func newForecastBook() *forecastBook {
	return &forecastBook{byID: map[string]api.ServiceForecast{}}
}

func (b *forecastBook) set(f api.ServiceForecast) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.byID[f.Namespace+"/"+f.Service] = f
}

func (b *forecastBook) remove(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.byID, key)
}

func (b *forecastBook) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	clear(b.byID)
}

// list returns the forecasts sorted by namespace and service.
func (b *forecastBook) list() []api.ServiceForecast {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]api.ServiceForecast, 0, len(b.byID))
	for _, f := range b.byID {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Service < out[j].Service
	})
	return out
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
