package proxy

import (
	"math"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"flotilla/api"
)

// metrics holds the proxy's figures per service revision, both as
// Prometheus collectors and as the cumulative counters, cumulative latency
// histogram and recent latency quantiles that Traffic reports.
type metrics struct {
	requests        *prometheus.CounterVec
	errors          *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	inflight        *prometheus.GaugeVec
	connectFailures *prometheus.CounterVec
	ejections       *prometheus.CounterVec
	mirrored        *prometheus.CounterVec
	differences     *prometheus.CounterVec
	mirrorsDropped  prometheus.Counter

	window time.Duration

	mu     sync.Mutex
	byKey  map[seriesKey]*series
	sorted []*series // in report order
}

type seriesKey struct {
	namespace, service string
	revision           int
}

// series is one service revision's figures. Requests are counted against
// the revision of the endpoint that served them (or, when none could, the
// revision the route table chose; 0 when it chose none). A TCP connection
// counts as one request lasting as long as the connection. Mirrored copies
// count as requests of the revision they were mirrored to.
type series struct {
	key seriesKey

	requests    atomic.Uint64
	errors      atomic.Uint64
	inflight    atomic.Int64
	mirrored    atomic.Uint64
	differences atomic.Uint64
	latency     latencyWindow // recent, for P50Ms/P99Ms
	// cumulative counts latencies since the proxy started, without a lock:
	// the servers subtract two reports to get a window's histogram.
	cumulative [api.LatencyBuckets]atomic.Uint64

	promRequests, promErrors, promConnectFailures, promEjections prometheus.Counter
	promMirrored, promDifferences                                prometheus.Counter
	promDuration                                                 prometheus.Observer
	promInflight                                                 prometheus.Gauge
}

var seriesLabels = []string{"namespace", "service", "revision"}

func newMetrics(window time.Duration) *metrics {
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, seriesLabels)
	}
	return &metrics{
		requests: counter("flotilla_proxy_requests_total",
			"Requests (HTTP) and connections (TCP) the proxy handled, by the revision that served them."),
		errors: counter("flotilla_proxy_errors_total",
			"Requests answered 5xx (by an endpoint or the proxy) and connections that failed."),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "flotilla_proxy_request_duration_seconds",
			Help:    "Time from receiving a request to the end of its response (TCP: the connection's life).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, seriesLabels),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flotilla_proxy_in_flight_requests",
			Help: "Requests (HTTP) and connections (TCP) in flight to endpoints.",
		}, seriesLabels),
		connectFailures: counter("flotilla_proxy_connect_failures_total",
			"Failed connections to endpoints, retried or not."),
		ejections: counter("flotilla_proxy_ejections_total",
			"Endpoints ejected by passive outlier detection."),
		mirrored: counter("flotilla_proxy_mirrored_total",
			"Mirrored requests whose answer was compared with the primary's, by the mirror's revision."),
		differences: counter("flotilla_proxy_mirror_differences_total",
			"Mirrored requests whose answer differed from the primary's in a field that is not noise."),
		mirrorsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flotilla_proxy_mirrors_dropped_total",
			Help: "Requests not mirrored because too many mirrors were in flight or the body was too large.",
		}),
		window: window,
		byKey:  map[seriesKey]*series{},
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.errors, m.duration, m.inflight,
		m.connectFailures, m.ejections, m.mirrored, m.differences, m.mirrorsDropped}
}

// series returns the figures of one service revision, creating them.
func (m *metrics) series(namespace, service string, revision int) *series {
	k := seriesKey{namespace, service, revision}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.byKey[k]; s != nil {
		return s
	}
	l := prometheus.Labels{"namespace": namespace, "service": service, "revision": strconv.Itoa(revision)}
	s := &series{
		key:                 k,
		latency:             latencyWindow{span: m.window},
		promRequests:        m.requests.With(l),
		promErrors:          m.errors.With(l),
		promConnectFailures: m.connectFailures.With(l),
		promEjections:       m.ejections.With(l),
		promMirrored:        m.mirrored.With(l),
		promDifferences:     m.differences.With(l),
		promDuration:        m.duration.With(l),
		promInflight:        m.inflight.With(l),
	}
	m.byKey[k] = s
	m.sorted = append(m.sorted, s)
	sort.Slice(m.sorted, func(i, j int) bool {
		a, b := m.sorted[i].key, m.sorted[j].key
		if a.namespace != b.namespace {
			return a.namespace < b.namespace
		}
		if a.service != b.service {
			return a.service < b.service
		}
		return a.revision < b.revision
	})
	return s
}

func (m *metrics) all() []*series {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*series(nil), m.sorted...)
}

func (s *series) begin() {
	s.inflight.Add(1)
	s.promInflight.Inc()
}

func (s *series) end() {
	s.inflight.Add(-1)
	s.promInflight.Dec()
}

// done counts one finished request.
func (s *series) done(now time.Time, took time.Duration, failed bool) {
	s.requests.Add(1)
	s.promRequests.Inc()
	if failed {
		s.errors.Add(1)
		s.promErrors.Inc()
	}
	s.promDuration.Observe(took.Seconds())
	i := api.LatencyBucket(took)
	s.cumulative[i].Add(1)
	s.latency.observe(now, i)
}

func (s *series) connectFailed() { s.promConnectFailures.Inc() }
func (s *series) ejected()       { s.promEjections.Inc() }

func (s *series) compared(differ bool) {
	s.mirrored.Add(1)
	s.promMirrored.Inc()
	if differ {
		s.differences.Add(1)
		s.promDifferences.Inc()
	}
}

func (s *series) report(now time.Time) api.TrafficReport {
	p50, p99 := s.latency.quantiles(now)
	return api.TrafficReport{
		Namespace:   s.key.namespace,
		Service:     s.key.service,
		Revision:    s.key.revision,
		Requests:    s.requests.Load(),
		Errors:      s.errors.Load(),
		InFlight:    s.inflight.Load(),
		P50Ms:       p50,
		P99Ms:       p99,
		Latency:     s.histogram(),
		Mirrored:    s.mirrored.Load(),
		Differences: s.differences.Load(),
	}
}

// histogram reads the cumulative latency histogram, trimmed to its
// non-zero buckets. Buckets are read one by one while requests go on, so
// it may be a request or two off the request counter; both only grow.
func (s *series) histogram() api.Histogram {
	var counts [api.LatencyBuckets]uint64
	lo, hi := -1, -1
	for i := range s.cumulative {
		if c := s.cumulative[i].Load(); c != 0 {
			counts[i] = c
			if lo < 0 {
				lo = i
			}
			hi = i
		}
	}
	if lo < 0 {
		return api.Histogram{}
	}
	return api.Histogram{Offset: lo, Counts: append([]uint64(nil), counts[lo:hi+1]...)}
}

// latencyWindow keeps latencies of the last one to two spans in
// api.Histogram's logarithmic buckets, 5% wide, from which quantiles are read with about 2.5%
// error. Two sets of buckets rotate: the current span and the one before.
type latencyWindow struct {
	span time.Duration

	mu          sync.Mutex
	start       time.Time // of the current span
	cur, prev   [api.LatencyBuckets]uint32
	curN, prevN uint64
}

// rotate moves the window on to now; the caller holds mu.
func (w *latencyWindow) rotate(now time.Time) {
	switch elapsed := now.Sub(w.start); {
	case w.start.IsZero() || elapsed >= 2*w.span:
		w.cur, w.prev = [api.LatencyBuckets]uint32{}, [api.LatencyBuckets]uint32{}
		w.curN, w.prevN = 0, 0
		w.start = now
	case elapsed >= w.span:
		w.prev, w.prevN = w.cur, w.curN
		w.cur, w.curN = [api.LatencyBuckets]uint32{}, 0
		w.start = w.start.Add(w.span)
	}
}

// observe counts one latency, in api.LatencyBucket i.
func (w *latencyWindow) observe(now time.Time, i int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.rotate(now)
	w.cur[i]++
	w.curN++
}

// quantiles returns the p50 and p99 latencies in milliseconds; zero when
// nothing was observed in the window.
func (w *latencyWindow) quantiles(now time.Time) (p50, p99 float64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.rotate(now)
	total := w.curN + w.prevN
	if total == 0 {
		return 0, 0
	}
	rank50 := uint64(math.Ceil(0.50 * float64(total)))
	rank99 := uint64(math.Ceil(0.99 * float64(total)))
	var seen uint64
	for i := range api.LatencyBuckets {
		seen += uint64(w.cur[i]) + uint64(w.prev[i])
		if p50 == 0 && seen >= rank50 {
			p50 = api.LatencyBucketMs(i)
		}
		if seen >= rank99 {
			return p50, api.LatencyBucketMs(i)
		}
	}
	return p50, api.LatencyBucketMs(api.LatencyBuckets - 1)
}
