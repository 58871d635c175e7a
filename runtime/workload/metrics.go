package workload

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics is the app's own Prometheus registry: several apps share one
// process under the sim runtime, so nothing goes to the default registry.
type metrics struct {
	registry  *prometheus.Registry
	requests  *prometheus.CounterVec
	inFlight  prometheus.Gauge
	duration  *prometheus.HistogramVec
	checkouts *prometheus.CounterVec
}

func newMetrics(cfg Config) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_workload_requests_total",
			Help: "Requests served, by path and status code.",
		}, []string{"path", "code"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flotilla_workload_in_flight_requests",
			Help: "Requests being served.",
		}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "flotilla_workload_request_duration_seconds",
			Help:    "Time to answer a request, latency injection included.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"path"}),
		checkouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_workload_checkouts_total",
			Help: "POST /checkout answered, by whether the visitor converted.",
		}, []string{"converted"}),
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "flotilla_workload_info",
		Help:        "Always 1; the labels say which version runs where.",
		ConstLabels: prometheus.Labels{"version": cfg.Version, "node": cfg.Node, "allocation": cfg.Allocation},
	})
	info.Set(1)
	m.registry.MustRegister(m.requests, m.inFlight, m.duration, m.checkouts, info)
	return m
}

func (m *metrics) observe(path string, code int, d time.Duration) {
	label := pathLabel(path)
	m.requests.WithLabelValues(label, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(label).Observe(d.Seconds())
}

func (m *metrics) checkout(converted bool) {
	m.checkouts.WithLabelValues(strconv.FormatBool(converted)).Inc()
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// pathLabel keeps the label set small: a scanner asking for a thousand
// paths must not make a thousand series.
func pathLabel(path string) string {
	switch path {
	case "/", "/checkout", "/healthz", "/ready", "/metrics", "/admin",
		"/admin/readiness", "/admin/liveness", "/admin/errors", "/admin/latency", "/admin/crash":
		return path
	}
	return "other"
}
