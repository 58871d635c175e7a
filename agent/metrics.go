package agent

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// agentMetrics are one agent's Prometheus figures, in a registry of its own.
type agentMetrics struct {
	registry        *prometheus.Registry
	reconciles      prometheus.Counter
	reconcileErrors prometheus.Counter
}

func newAgentMetrics(a *Agent) *agentMetrics {
	m := &agentMetrics{
		registry: prometheus.NewRegistry(),
		reconciles: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flotilla_agent_reconciles_total", Help: "Allocation reconciliations run.",
		}),
		reconcileErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flotilla_agent_reconcile_errors_total", Help: "Reconciliations that failed and were retried.",
		}),
	}
	desired := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "flotilla_agent_allocations_desired", Help: "Allocations the servers place on this node.",
	}, func() float64 {
		a.mu.Lock()
		defer a.mu.Unlock()
		return float64(len(a.desired))
	})
	queue := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "flotilla_agent_queue_depth", Help: "Allocations waiting to be reconciled.",
	}, func() float64 { return float64(a.queue.Len()) })
	m.registry.MustRegister(m.reconciles, m.reconcileErrors, desired, queue)
	if a.cfg.HTTP != "" {
		// Only an agent serving /metrics describes its process; fake
		// nodes (no API) held 17 KB each of collectors nobody reads.
		m.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return m
}

func (m *agentMetrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}
