package scheduler

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"flotilla/api"
	"flotilla/scheduler/autoscale"
	"flotilla/scheduler/state"
)

const (
	// usageReportInterval is how often agents report their allocations'
	// CPU and memory (agent's usageInterval).
	usageReportInterval = time.Second
	// usageStale: an allocation whose newest reading is older than this
	// has no figure (it stopped, or its node stopped reporting); the
	// autoscaler then treats it as HPA treats a missing metric.
	usageStale = 3 * usageReportInterval
	// usageMaxWindow is the longest window the book keeps readings for.
	usageMaxWindow = autoscale.StableWindow
	// usageMinSpacing: a reading closer than this to the one before
	// replaces it, which bounds the readings per allocation.
	usageMinSpacing = usageReportInterval / 2
	// usageShortWindow is the short window top shows.
	usageShortWindow = autoscale.PanicWindow
)

// usageBook keeps, on the leader only, the recent CPU and memory readings
// of every allocation as its node's runtime measured them. Like the
// traffic figures they change every second and are worth nothing after a
// failover, so they stay out of Raft: a new leader starts with an empty
// book, and the autoscaler treats what is missing conservatively.
type usageBook struct {
	mu     sync.Mutex
	allocs map[string]*allocUsage
	swept  time.Time // when allocations that stopped reporting were last dropped
}

// allocUsage is one allocation's readings, oldest first.
type allocUsage struct {
	node     string
	readings []usageReading
}

type usageReading struct {
	at     time.Time
	cpu    api.CPU
	memory api.Memory
}

// usageFigure is an allocation's average use over a window.
type usageFigure struct {
	cpu    float64 // millicores
	memory float64 // bytes
	at     time.Time
}

func newUsageBook() *usageBook { return &usageBook{allocs: map[string]*allocUsage{}} }

// record adds one report of node, received at now.
func (b *usageBook) record(node string, reports []api.AllocUsage, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range reports {
		u := b.allocs[r.ID]
		if u == nil || u.node != node {
			// An allocation ID lives on one node; another node reporting it
			// is a new container whose history starts now.
			u = &allocUsage{node: node}
			b.allocs[r.ID] = u
		}
		reading := usageReading{at: now, cpu: r.CPU, memory: r.Memory}
		if n := len(u.readings); n > 0 && now.Sub(u.readings[n-1].at) < usageMinSpacing {
			u.readings[n-1] = reading
		} else {
			u.readings = append(u.readings, reading)
		}
		cut := 0
		for cut < len(u.readings) && !u.readings[cut].at.After(now.Add(-usageMaxWindow)) {
			cut++
		}
		u.readings = slices.Delete(u.readings, 0, cut)
	}
	if now.Sub(b.swept) >= usageMaxWindow {
		b.swept = now
		for id, u := range b.allocs {
			if len(u.readings) == 0 || now.Sub(u.readings[len(u.readings)-1].at) > usageMaxWindow {
				delete(b.allocs, id)
			}
		}
	}
}

// average is an allocation's mean use over the readings of (now-window,
// now]; false when it has no reading newer than usageStale.
func (b *usageBook) average(id string, window time.Duration, now time.Time) (usageFigure, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	u := b.allocs[id]
	if u == nil || len(u.readings) == 0 {
		return usageFigure{}, false
	}
	newest := u.readings[len(u.readings)-1]
	if now.Sub(newest.at) > usageStale {
		return usageFigure{}, false
	}
	var f usageFigure
	n := 0
	for i := len(u.readings) - 1; i >= 0 && u.readings[i].at.After(now.Add(-window)); i-- {
		f.cpu += float64(u.readings[i].cpu)
		f.memory += float64(u.readings[i].memory)
		n++
	}
	f.cpu /= float64(n) // n ≥ 1: the newest reading is within usageStale < any window
	f.memory /= float64(n)
	f.at = newest.at
	return f, true
}

// usageLoad is the autoscaler's total for the cpu and memory metrics: the
// sum over the service's replicas of each one's use as a percentage of
// what it reserves, which autoscale.Decide compares with target per
// replica. Figures that are missing (a replica not ready yet, or without a
// fresh reading) are handled as Kubernetes' HPA does: they count as 0 when
// the known figures ask for more replicas and as 100% of the target when
// they ask for fewer; when the two disagree the count stays (the total is
// then exactly replicas × target).
func usageLoad(b *usageBook, allocs []*api.Allocation, replicas int, metric string, target float64,
	window time.Duration, now time.Time) float64 {
	known, n := 0.0, 0
	for _, a := range allocs {
		if a.DesiredStatus != api.DesiredRun || a.Status != api.AllocRunning || !a.Ready {
			continue
		}
		f, ok := b.average(a.ID, window, now)
		if !ok {
			continue
		}
		used, reserved := f.cpu, float64(a.Resources.CPU)
		if metric == api.MetricMemory {
			used, reserved = f.memory, float64(a.Resources.Memory)
		}
		if reserved <= 0 {
			continue
		}
		known += 100 * used / reserved
		n++
	}
	current := float64(replicas) * target
	up := known                                        // the rest at 0
	down := known + float64(max(replicas-n, 0))*target // the rest at the target
	switch {
	case up > current:
		return up
	case down < current:
		return down
	}
	return current
}

// serviceUsage is the autoscaler's input for a cpu or memory metric over
// the stable window. Panic mode stays with inflight and rps (Knative's):
// CPU readings already average a few seconds, and memory does not fall
// when replicas are added, so a panic on it would only double the count.
func (s *Server) serviceUsage(snap *state.Snapshot, svc *api.Service, a *api.Autoscale, now time.Time) float64 {
	allocs := snap.AllocationsByService(nil, svc.Namespace, svc.Name)
	return usageLoad(s.usage, allocs, svc.Replicas, a.Metric, a.Target, autoscale.StableWindow, now)
}

// ReportUsage records a node's readings of its allocations.
func (s *Server) ReportUsage(ctx context.Context, node string, reports []api.AllocUsage) error {
	if !s.IsLeader() {
		return fmt.Errorf("usage of %s: %w", node, api.ErrNoLeader)
	}
	if err := nodeSecretError(ctx, s.store.Snapshot().NodeWithoutUsage(node)); err != nil {
		return err
	}
	s.usage.record(node, reports, s.cfg.Clock.Now())
	return nil
}

// TopAllocations lists every running allocation with its use over the
// short window and the last minute; one without a fresh reading shows
// zeros and no time.
func (s *Server) TopAllocations(ctx context.Context) (*api.TopAllocations, error) {
	if !s.IsLeader() {
		return nil, fmt.Errorf("allocation usage: %w", api.ErrNoLeader)
	}
	now := s.cfg.Clock.Now()
	out := &api.TopAllocations{Allocations: []api.AllocationUsage{}}
	for _, a := range s.store.Snapshot().Allocations(nil) {
		if a.DesiredStatus != api.DesiredRun || a.Status != api.AllocRunning {
			continue
		}
		u := api.AllocationUsage{ID: a.ID, Namespace: a.Namespace, Service: a.Service, Revision: a.Revision,
			Node: a.Node, Ready: a.Ready, Reserved: a.Resources}
		if f, ok := s.usage.average(a.ID, usageShortWindow, now); ok {
			u.CPU, u.Memory, u.At = api.CPU(f.cpu+0.5), api.Memory(f.memory+0.5), f.at.UTC()
		}
		if f, ok := s.usage.average(a.ID, usageMaxWindow, now); ok {
			u.CPU1m, u.Memory1m = api.CPU(f.cpu+0.5), api.Memory(f.memory+0.5)
		}
		out.Allocations = append(out.Allocations, u)
	}
	out.Forecasts = s.forecasts.list()
	sort.Slice(out.Allocations, func(i, j int) bool {
		x, y := out.Allocations[i], out.Allocations[j]
		if x.Namespace != y.Namespace {
			return x.Namespace < y.Namespace
		}
		if x.Service != y.Service {
			return x.Service < y.Service
		}
		return x.ID < y.ID
	})
	return out, nil
}
