package dns

import (
	miekg "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Query types and response codes the counters tell apart; the others are
// counted as "other" so that a stream of odd queries cannot make series.
var (
	countedTypes  = []uint16{miekg.TypeA, miekg.TypeAAAA, miekg.TypeSRV, miekg.TypeSOA, miekg.TypePTR, miekg.TypeANY}
	countedRcodes = []int{miekg.RcodeSuccess, miekg.RcodeFormatError, miekg.RcodeServerFailure,
		miekg.RcodeNameError, miekg.RcodeNotImplemented, miekg.RcodeRefused}
)

const otherLabel = "other"

// metrics are the server's counters. The query counters are resolved once,
// here, so that the query path does one atomic add and no label lookup.
type metrics struct {
	queries    [][]prometheus.Counter // [type][rcode], "other" last in both
	forwardOK  prometheus.Counter
	forwardKO  prometheus.Counter
	truncated  prometheus.Counter
	collectors []prometheus.Collector
}

func newMetrics(names func() float64) *metrics {
	queries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "flotilla_dns_queries_total",
		Help: "DNS queries answered, by query type and response code (forwarded ones included).",
	}, []string{"type", "rcode"})
	forwarded := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "flotilla_dns_forwarded_total",
		Help: "Queries for names outside the zone sent upstream, by result (answered, failed: no upstream answered).",
	}, []string{"result"})
	m := &metrics{
		forwardOK: forwarded.WithLabelValues("answered"),
		forwardKO: forwarded.WithLabelValues("failed"),
		truncated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flotilla_dns_truncated_total",
			Help: "UDP answers cut to the client's buffer size, with the TC bit set.",
		}),
	}
	namesGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "flotilla_dns_names",
		Help: "Names of the zone in the current record set.",
	}, names)
	typeLabels := make([]string, 0, len(countedTypes)+1)
	for _, t := range countedTypes {
		typeLabels = append(typeLabels, miekg.TypeToString[t])
	}
	rcodeLabels := make([]string, 0, len(countedRcodes)+1)
	for _, r := range countedRcodes {
		rcodeLabels = append(rcodeLabels, miekg.RcodeToString[r])
	}
	for _, t := range append(typeLabels, otherLabel) {
		row := make([]prometheus.Counter, 0, len(rcodeLabels)+1)
		for _, r := range append(rcodeLabels, otherLabel) {
			row = append(row, queries.WithLabelValues(t, r))
		}
		m.queries = append(m.queries, row)
	}
	m.collectors = []prometheus.Collector{queries, forwarded, m.truncated, namesGauge}
	return m
}

// count records one answer to a query of qtype.
func (m *metrics) count(qtype uint16, rcode int) {
	t := len(countedTypes)
	for i, ct := range countedTypes {
		if ct == qtype {
			t = i
			break
		}
	}
	r := len(countedRcodes)
	for i, cr := range countedRcodes {
		if cr == rcode {
			r = i
			break
		}
	}
	m.queries[t][r].Inc()
}
