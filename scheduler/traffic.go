package scheduler

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"flotilla/api"
)

const (
	// trafficReportInterval is how often agents report (agent's
	// trafficInterval); the book's ageing is counted in it.
	trafficReportInterval = time.Second
	// trafficStaleMargin: a node whose newest report is older than the
	// window plus this much stopped reporting and counts for nothing.
	trafficStaleMargin = 2 * trafficReportInterval
	// trafficMaxWindow is the longest window the book keeps samples for.
	trafficMaxWindow = time.Minute
	// trafficMinSpacing: while the newest sample is closer than this to
	// the one before, the next report replaces it rather than adding one,
	// which bounds the samples per series to about
	// trafficMaxWindow/trafficMinSpacing however often a node reports.
	trafficMinSpacing = trafficReportInterval / 2
)

// trafficWindows are the windows GET .../traffic and /metrics show.
var trafficWindows = []time.Duration{10 * time.Second, time.Minute}

// trafficBook keeps, on the leader only, a short history of every node's
// cumulative proxy figures per service revision, from which it reads the
// figures over a window: they change every few seconds and are worth
// nothing after a failover, so they stay out of Raft.
//
// A window's figures for one node are its newest sample minus the newest
// sample at or before the window's start. When the book holds no sample
// that old (the node, or this leader, started reporting within the window)
// the oldest sample acts as the baseline: what happened before it is not
// counted, so figures of a young book undercount rather than guess. A
// counter that went down between two samples means the node's proxy
// restarted; that step then counts the new cumulative values whole (the
// stored samples are kept monotonic by carrying the values before the
// reset forward).
type trafficBook struct {
	mu    sync.Mutex
	nodes map[string]*nodeTraffic
	order []string  // node names, sorted: sums do not depend on map order
	swept time.Time // when nodes that stopped reporting were last dropped
}

// nodeTraffic is one node's history.
type nodeTraffic struct {
	last     time.Time // of the newest report
	services map[serviceKey]map[int]*trafficHistory
}

type serviceKey struct{ namespace, name string }

// trafficHistory is one series (node, service, revision): samples oldest
// first, and the newest report as received, to tell a reset.
type trafficHistory struct {
	samples []trafficSample
	raw     trafficCounters // newest report's counters, as the proxy sent them
	carried trafficCounters // counts before the resets seen, added to raw
}

type trafficSample struct {
	at       time.Time       // received, on the leader's clock
	read     time.Time       // when the proxy read it, on its node's clock (zero: not said)
	counters trafficCounters // cumulative, never going down
	inFlight int64
}

type trafficCounters struct {
	requests, errors, mirrored, differences uint64
	latency                                 api.Histogram
}

func countersOf(r api.TrafficReport) trafficCounters {
	var h api.Histogram
	h.Add(r.Latency) // a copy, folded into the bucket range
	return trafficCounters{requests: r.Requests, errors: r.Errors, mirrored: r.Mirrored,
		differences: r.Differences, latency: h}
}

// covers reports whether no counter of c is below o's: c can be a later
// reading of the same proxy than o.
func (c trafficCounters) covers(o trafficCounters) bool {
	if c.requests < o.requests || c.errors < o.errors || c.mirrored < o.mirrored || c.differences < o.differences {
		return false
	}
	for k, n := range o.latency.Counts {
		if n == 0 {
			continue
		}
		i := o.latency.Offset + k - c.latency.Offset
		if i < 0 || i >= len(c.latency.Counts) || c.latency.Counts[i] < n {
			return false
		}
	}
	return true
}

func (c trafficCounters) plus(o trafficCounters) trafficCounters {
	var h api.Histogram
	h.Add(c.latency)
	h.Add(o.latency)
	return trafficCounters{requests: c.requests + o.requests, errors: c.errors + o.errors,
		mirrored: c.mirrored + o.mirrored, differences: c.differences + o.differences, latency: h}
}

// minus is c-o, or c whole when o is no earlier reading (which the book's
// monotonic samples rule out; kept as the reset rule all the same).
func (c trafficCounters) minus(o trafficCounters) trafficCounters {
	h, ok := c.latency.Sub(o.latency)
	if !ok || !c.covers(o) {
		return c
	}
	return trafficCounters{requests: c.requests - o.requests, errors: c.errors - o.errors,
		mirrored: c.mirrored - o.mirrored, differences: c.differences - o.differences, latency: h}
}

func newTrafficBook() *trafficBook { return &trafficBook{nodes: map[string]*nodeTraffic{}} }

// record adds one report of node, made at now.
func (b *trafficBook) record(node string, reports []api.TrafficReport, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.nodes[node]
	if n == nil {
		n = &nodeTraffic{services: map[serviceKey]map[int]*trafficHistory{}}
		b.nodes[node] = n
		i, _ := slices.BinarySearch(b.order, node)
		b.order = slices.Insert(b.order, i, node)
	}
	n.last = now
	for _, r := range reports {
		sk := serviceKey{r.Namespace, r.Service}
		revs := n.services[sk]
		if revs == nil {
			revs = map[int]*trafficHistory{}
			n.services[sk] = revs
		}
		h := revs[r.Revision]
		if h == nil {
			h = &trafficHistory{}
			revs[r.Revision] = h
		}
		h.add(countersOf(r), r.InFlight, now, r.At)
	}
	// Series the node no longer reports (its proxy restarted and has not
	// seen them since) go once no window can reach them.
	for sk, revs := range n.services {
		for rev, h := range revs {
			if now.Sub(h.newest().at) > trafficMaxWindow+trafficStaleMargin {
				delete(revs, rev)
			}
		}
		if len(revs) == 0 {
			delete(n.services, sk)
		}
	}
	b.sweep(now)
}

// sweep drops, about once a window, the nodes that stopped reporting.
func (b *trafficBook) sweep(now time.Time) {
	if now.Sub(b.swept) < trafficMaxWindow {
		return
	}
	b.swept = now
	b.order = slices.DeleteFunc(b.order, func(name string) bool {
		if now.Sub(b.nodes[name].last) > trafficMaxWindow+trafficStaleMargin {
			delete(b.nodes, name)
			return true
		}
		return false
	})
}

func (h *trafficHistory) newest() trafficSample { return h.samples[len(h.samples)-1] }

func (h *trafficHistory) add(raw trafficCounters, inFlight int64, now, read time.Time) {
	if len(h.samples) > 0 && !raw.covers(h.raw) {
		// A reset: what was counted before it stays counted.
		h.carried = h.carried.plus(h.raw)
	}
	h.raw = raw
	counters := raw
	if h.carried.requests != 0 || h.carried.errors != 0 || h.carried.mirrored != 0 ||
		h.carried.differences != 0 || len(h.carried.latency.Counts) != 0 {
		counters = h.carried.plus(raw)
	}
	s := trafficSample{at: now, read: read, counters: counters, inFlight: inFlight}
	// The newest sample is provisional while it is closer than
	// trafficMinSpacing to the one before: a newer report replaces it.
	if n := len(h.samples); n >= 2 && h.samples[n-1].at.Sub(h.samples[n-2].at) < trafficMinSpacing {
		h.samples[n-1] = s
	} else {
		h.samples = append(h.samples, s)
	}
	// Keep the newest sample at or before now-trafficMaxWindow: the
	// baseline of the longest window, now and at any later time.
	cut := 0
	for cut+1 < len(h.samples) && !h.samples[cut+1].at.After(now.Add(-trafficMaxWindow)) {
		cut++
	}
	if cut > 0 {
		h.samples = slices.Delete(h.samples, 0, cut)
	}
}

// delta is what the series counted over [now-window, now], and the time
// between the two samples it took the difference of: between the proxy's
// readings when both say when (a report delayed by a failover arrives
// close to the next one, which would make the rate look higher), else
// between their arrivals.
func (h *trafficHistory) delta(window time.Duration, now time.Time) (trafficCounters, time.Duration) {
	latest := h.newest()
	start := now.Add(-window)
	base := h.samples[0]
	for i := len(h.samples) - 1; i >= 0; i-- {
		if !h.samples[i].at.After(start) {
			base = h.samples[i]
			break
		}
	}
	span := latest.at.Sub(base.at)
	if !latest.read.IsZero() && !base.read.IsZero() && latest.read.After(base.read) {
		span = latest.read.Sub(base.read)
	}
	return latest.counters.minus(base.counters), span
}

// aliasesOf are the series names whose figures count towards service name:
// its own, and NAME-preview and NAME-canary (the entries a rollout gives
// the new revision in the proxies, with the same revision numbers) unless
// a service of that very name exists. isService says which do; nil means
// none does.
func aliasesOf(namespace, name string, isService func(namespace, name string) bool) []string {
	names := []string{name}
	for _, suffix := range []string{"-preview", "-canary"} {
		if alias := name + suffix; isService == nil || !isService(namespace, alias) {
			names = append(names, alias)
		}
	}
	return names
}

// window sums, per revision sorted by revision, the figures of one
// service over [now-window, now] across the nodes that reported within
// window plus trafficStaleMargin. The request, error and mirror counts and
// the latency histogram are differences of cumulative samples (see
// trafficBook); quantiles are read from the histogram merged over the
// nodes; RPS adds each node's count divided by the time between its two
// samples; InFlight adds the newest reports' of the nodes that reported
// within trafficStaleMargin (it is a figure of now, not of the window).
// isService: see aliasesOf.
func (b *trafficBook) window(namespace, name string, window time.Duration, now time.Time,
	isService func(namespace, name string) bool) []api.TrafficFigures {
	names := aliasesOf(namespace, name, isService)
	freshAfter := now.Add(-window - trafficStaleMargin)
	inFlightAfter := now.Add(-trafficStaleMargin)
	byRevision := map[int]*api.TrafficFigures{}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, node := range b.order {
		n := b.nodes[node]
		if n.last.Before(freshAfter) {
			continue
		}
		counted := map[int]bool{} // revisions this node counts towards
		for _, svc := range names {
			revs := n.services[serviceKey{namespace, svc}]
			for _, rev := range sortedRevisions(revs) {
				h := revs[rev]
				latest := h.newest()
				if latest.at.Before(freshAfter) {
					continue
				}
				f := byRevision[rev]
				if f == nil {
					f = &api.TrafficFigures{Revision: rev}
					byRevision[rev] = f
				}
				d, span := h.delta(window, now)
				f.Requests += d.requests
				f.Errors += d.errors
				f.Mirrored += d.mirrored
				f.Differences += d.differences
				f.Latency.Add(d.latency)
				if span > 0 {
					f.RPS += float64(d.requests) / span.Seconds()
				}
				// In flight is now, whatever the window: from the node's
				// newest report if the series is in it and it is recent.
				if latest.at.Equal(n.last) && !n.last.Before(inFlightAfter) {
					f.InFlight += latest.inFlight
				}
				if !counted[rev] {
					counted[rev] = true
					f.Nodes++
				}
			}
		}
	}
	out := make([]api.TrafficFigures, 0, len(byRevision))
	for _, f := range byRevision {
		if f.Requests > 0 {
			f.ErrorRate = float64(f.Errors) / float64(f.Requests)
		}
		f.P50Ms, f.P90Ms, f.P99Ms = f.Latency.Quantile(0.50), f.Latency.Quantile(0.90), f.Latency.Quantile(0.99)
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Revision < out[j].Revision })
	return out
}

func sortedRevisions(revs map[int]*trafficHistory) []int {
	out := make([]int, 0, len(revs))
	for rev := range revs {
		out = append(out, rev)
	}
	slices.Sort(out)
	return out
}

// services lists the services the book holds figures of, sorted, with
// NAME-preview and NAME-canary folded into NAME unless isService says a
// service of that very name exists.
func (b *trafficBook) services(isService func(namespace, name string) bool) []serviceKey {
	b.mu.Lock()
	seen := map[serviceKey]bool{}
	for _, n := range b.nodes {
		for sk := range n.services {
			seen[sk] = true
		}
	}
	b.mu.Unlock()
	folded := map[serviceKey]bool{}
	for sk := range seen {
		for _, suffix := range []string{"-preview", "-canary"} {
			if base, ok := strings.CutSuffix(sk.name, suffix); ok && base != "" && (isService == nil || !isService(sk.namespace, sk.name)) {
				sk.name = base
				break
			}
		}
		folded[sk] = true
	}
	out := make([]serviceKey, 0, len(folded))
	for sk := range folded {
		out = append(out, sk)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].namespace != out[j].namespace {
			return out[i].namespace < out[j].namespace
		}
		return out[i].name < out[j].name
	})
	return out
}

// isService tells, from one snapshot of the state, whether a service
// exists.
func (s *Server) isService() func(namespace, name string) bool {
	snap := s.store.Snapshot()
	return func(namespace, name string) bool { return snap.Service(nil, namespace, name) != nil }
}

func (s *Server) ReportTraffic(ctx context.Context, node string, reports []api.TrafficReport) error {
	if !s.IsLeader() {
		return fmt.Errorf("traffic of %s: %w", node, api.ErrNoLeader)
	}
	if err := nodeSecretError(ctx, s.store.Snapshot().NodeWithoutUsage(node)); err != nil {
		return err
	}
	s.traffic.record(node, reports, s.cfg.Clock.Now())
	s.shadows.record(node, reports, s.cfg.Clock.Now())
	if n := s.abs.record(reports, s.cfg.Clock.Now()); n > 0 {
		s.cfg.Logger.Debug("A/B sketches that do not decode left out", "node", node, "count", n)
	}
	return nil
}

// Traffic is one service's figures per revision over the last 10s and 1m.
func (s *Server) Traffic(ctx context.Context, namespace, name string) (*api.ServiceTraffic, error) {
	isService := s.isService()
	if !isService(namespace, name) {
		return nil, fmt.Errorf("service %s/%s: %w", namespace, name, api.ErrNotFound)
	}
	now := s.cfg.Clock.Now()
	out := &api.ServiceTraffic{Namespace: namespace, Service: name}
	for _, w := range trafficWindows {
		out.Windows = append(out.Windows, api.TrafficWindow{Window: api.Duration(w),
			Revisions: s.traffic.window(namespace, name, w, now, isService)})
	}
	return out, nil
}

// trafficWindow is one service's figures per revision over the last
// window, as the leader knows them now: what canary analysis reads.
func (s *Server) trafficWindow(namespace, name string, window time.Duration) []api.TrafficFigures {
	return s.traffic.window(namespace, name, window, s.cfg.Clock.Now(), s.isService())
}

// trafficCollector exposes the windowed figures per service revision to
// Prometheus, computed when scraped, on the leader only (followers hold
// none). Error ratio and latency are left out while a revision had no
// requests in the window: there is nothing to measure, and 0 would read as
// perfect.
type trafficCollector struct {
	s                                  *Server
	rps, errorRatio, inFlight          *prometheus.Desc
	latencyP50, latencyP90, latencyP99 *prometheus.Desc
}

func newTrafficCollector(s *Server) *trafficCollector {
	labels := []string{"namespace", "service", "revision", "window"}
	desc := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, labels, nil) }
	return &trafficCollector{
		s:          s,
		rps:        desc("flotilla_service_requests_per_second", "Requests per second over the window, summed over the nodes' proxies."),
		errorRatio: desc("flotilla_service_error_ratio", "Errors (5xx, failed connections) per request over the window."),
		latencyP50: desc("flotilla_service_latency_p50_seconds", "Median request latency over the window, from the merged histograms."),
		latencyP90: desc("flotilla_service_latency_p90_seconds", "90th percentile request latency over the window, from the merged histograms."),
		latencyP99: desc("flotilla_service_latency_p99_seconds", "99th percentile request latency over the window, from the merged histograms."),
		inFlight: prometheus.NewDesc("flotilla_service_in_flight_requests", "Requests in flight in the nodes' newest reports.",
			[]string{"namespace", "service", "revision"}, nil),
	}
}

func (c *trafficCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.rps, c.errorRatio, c.latencyP50, c.latencyP90, c.latencyP99, c.inFlight} {
		ch <- d
	}
}

func (c *trafficCollector) Collect(ch chan<- prometheus.Metric) {
	if !c.s.IsLeader() {
		return
	}
	now := c.s.cfg.Clock.Now()
	isService := c.s.isService()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, sk := range c.s.traffic.services(isService) {
		for i, w := range trafficWindows {
			window := api.Duration(w).String()
			for _, f := range c.s.traffic.window(sk.namespace, sk.name, w, now, isService) {
				rev := strconv.Itoa(f.Revision)
				if i == 0 { // in flight is now, whatever the window
					gauge(c.inFlight, float64(f.InFlight), sk.namespace, sk.name, rev)
				}
				gauge(c.rps, f.RPS, sk.namespace, sk.name, rev, window)
				if f.Requests == 0 {
					continue
				}
				gauge(c.errorRatio, f.ErrorRate, sk.namespace, sk.name, rev, window)
				gauge(c.latencyP50, f.P50Ms/1000, sk.namespace, sk.name, rev, window)
				gauge(c.latencyP90, f.P90Ms/1000, sk.namespace, sk.name, rev, window)
				gauge(c.latencyP99, f.P99Ms/1000, sk.namespace, sk.name, rev, window)
			}
		}
	}
}
