package scheduler

import (
	"net/http"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"flotilla/api"
	"flotilla/scheduler/state"
)

// metrics are one server's Prometheus figures, in a registry of its own so
// that several servers can share a process (tests, the benchmark).
type metrics struct {
	registry       *prometheus.Registry
	applies        *prometheus.CounterVec
	applyLatency   prometheus.Histogram
	planLatency    prometheus.Histogram
	planPlacements prometheus.Counter
	planRefused    prometheus.Counter
	evalLatency    prometheus.Histogram
	// nodesMarkedDown counts nodes marked down for silence (nodedown.go).
	nodesMarkedDown prometheus.Counter
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		applies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_raft_applies_total", Help: "Raft entries this server committed as leader, by command.",
		}, []string{"command"}),
		applyLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "flotilla_raft_apply_seconds", Help: "Time from Raft apply to commit.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		planLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "flotilla_plan_apply_seconds", Help: "Time from a plan's submission to its commit.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		planPlacements: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flotilla_plan_placements_total", Help: "Placements the plan applier accepted.",
		}),
		planRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flotilla_plan_refused_total", Help: "Placements the plan applier refused because they no longer fit.",
		}),
		evalLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "flotilla_eval_seconds", Help: "Time from an evaluation's creation to its completion.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		nodesMarkedDown: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flotilla_nodes_marked_down_total", Help: "Nodes this server, as leader, marked down because their heartbeat TTL lapsed.",
		}),
	}
	heartbeatTTL := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "flotilla_heartbeat_ttl_seconds", Help: "The heartbeat TTL the leader grants for the cluster's size (leader only).",
	}, func() float64 {
		ttl, _ := s.heartbeats.timing()
		return ttl.Seconds()
	})
	raftState := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "flotilla_raft_state", Help: "Raft state: 0 follower, 1 candidate, 2 leader, 3 shutdown.",
	}, func() float64 {
		if s.raft == nil {
			return 3
		}
		switch s.raft.State() {
		case raft.Follower:
			return 0
		case raft.Candidate:
			return 1
		case raft.Leader:
			return 2
		}
		return 3
	})
	leader := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "flotilla_leader", Help: "1 while this server leads and schedules.",
	}, func() float64 {
		if s.IsLeader() {
			return 1
		}
		return 0
	})
	lastIndex := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "flotilla_raft_applied_index", Help: "Last Raft index applied to this server's state.",
	}, func() float64 {
		if s.raft == nil {
			return 0
		}
		return float64(s.raft.AppliedIndex())
	})
	queue := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "flotilla_eval_queue_depth", Help: "Evaluations in the broker, by state (leader only).",
	}, []string{"state"})
	nodes := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "flotilla_nodes", Help: "Nodes by status.",
	}, []string{"status"})
	m.registry.MustRegister(m.applies, m.applyLatency, m.planLatency, m.planPlacements, m.planRefused, m.evalLatency,
		m.nodesMarkedDown, heartbeatTTL, raftState, leader, lastIndex, &collectOnScrape{s: s, queue: queue, nodes: nodes}, newTrafficCollector(s),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observeApply(t state.CommandType, d time.Duration) {
	m.applies.WithLabelValues(t.String()).Inc()
	m.applyLatency.Observe(d.Seconds())
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// collectOnScrape computes queue depths and node counts when scraped.
type collectOnScrape struct {
	s            *Server
	queue, nodes *prometheus.GaugeVec
}

func (c *collectOnScrape) Describe(ch chan<- *prometheus.Desc) {
	c.queue.Describe(ch)
	c.nodes.Describe(ch)
}

func (c *collectOnScrape) Collect(ch chan<- prometheus.Metric) {
	st := c.s.broker.Stats()
	c.queue.WithLabelValues("ready").Set(float64(st.Ready))
	c.queue.WithLabelValues("inflight").Set(float64(st.Inflight))
	c.queue.WithLabelValues("blocked").Set(float64(st.Blocked))
	counts := map[string]int{api.NodeReady: 0, api.NodeDown: 0, api.NodeDraining: 0}
	for _, n := range c.s.store.Snapshot().Nodes(nil) {
		counts[n.Status]++
	}
	for status, n := range counts {
		c.nodes.WithLabelValues(status).Set(float64(n))
	}
	c.queue.Collect(ch)
	c.nodes.Collect(ch)
}
