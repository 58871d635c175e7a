package scheduler

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"flotilla/api"
)

// trafficStaleAfter: a node that stopped reporting no longer counts.
const trafficStaleAfter = 30 * time.Second

// trafficBook keeps the newest proxy figures of every node, on the leader
// only: they change every few seconds and are worth nothing after a
// failover, so they stay out of Raft.
type trafficBook struct {
	mu    sync.Mutex
	nodes map[string]nodeTraffic
}

type nodeTraffic struct {
	at      time.Time
	reports []api.TrafficReport
}

func newTrafficBook() *trafficBook { return &trafficBook{nodes: map[string]nodeTraffic{}} }

func (b *trafficBook) record(node string, reports []api.TrafficReport, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.nodes[node] = nodeTraffic{at: now, reports: reports}
}

// service sums one service's figures per revision over the nodes that
// reported recently. Latency quantiles cannot be summed: the worst node's
// stands (an upper bound, which is what analysis wants).
func (b *trafficBook) service(namespace, name string, now time.Time) []api.TrafficReport {
	b.mu.Lock()
	defer b.mu.Unlock()
	byRevision := map[int]*api.TrafficReport{}
	for _, n := range b.nodes {
		if now.Sub(n.at) > trafficStaleAfter {
			continue
		}
		for _, r := range n.reports {
			if r.Namespace != namespace || r.Service != name {
				continue
			}
			sum := byRevision[r.Revision]
			if sum == nil {
				sum = &api.TrafficReport{Namespace: namespace, Service: name, Revision: r.Revision}
				byRevision[r.Revision] = sum
			}
			sum.Requests += r.Requests
			sum.Errors += r.Errors
			sum.InFlight += r.InFlight
			sum.Mirrored += r.Mirrored
			sum.Differences += r.Differences
			sum.P50Ms = max(sum.P50Ms, r.P50Ms)
			sum.P99Ms = max(sum.P99Ms, r.P99Ms)
		}
	}
	out := make([]api.TrafficReport, 0, len(byRevision))
	for _, r := range byRevision {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Revision < out[j].Revision })
	return out
}

func (s *Server) ReportTraffic(ctx context.Context, node string, reports []api.TrafficReport) error {
	if !s.IsLeader() {
		return fmt.Errorf("traffic of %s: %w", node, api.ErrNoLeader)
	}
	s.traffic.record(node, reports, s.cfg.Clock.Now())
	return nil
}

func (s *Server) Traffic(ctx context.Context, namespace, name string) ([]api.TrafficReport, error) {
	if s.store.Snapshot().Service(nil, namespace, name) == nil {
		return nil, fmt.Errorf("service %s/%s: %w", namespace, name, api.ErrNotFound)
	}
	return s.traffic.service(namespace, name, s.cfg.Clock.Now()), nil
}
