package api

import "time"

// TrafficReport is what one node's proxy counted for one service revision
// since it started; agents send them to the servers every few seconds, and
// the leader turns successive reports into figures over a window
// (TrafficFigures).
type TrafficReport struct {
	Namespace string `json:"namespace"`
	Service   string `json:"service"`
	Revision  int    `json:"revision"`
	// At is when the proxy read its counters, on its node's clock: rates
	// are counted over the time between two of one node's readings, not
	// between their arrivals (a report held up by a failover arrives
	// close to the next one). Zero from agents older than it.
	At       time.Time `json:"at,omitzero"`
	Requests uint64    `json:"requests"`
	Errors   uint64    `json:"errors"` // 5xx answers and failed connections
	InFlight int64     `json:"inFlight"`
	// Latency quantiles over the proxy's last latency window, in
	// milliseconds (kept for older readers; Latency is what servers use).
	P50Ms float64 `json:"p50Ms"`
	P99Ms float64 `json:"p99Ms"`
	// Latency is the cumulative latency histogram since the proxy started.
	Latency Histogram `json:"latency,omitzero"`
	// Mirror comparisons (shadow rollouts).
	Mirrored    uint64 `json:"mirrored,omitempty"`
	Differences uint64 `json:"differences,omitempty"`
	// Shadow is the proxy's comparison figures of the shadow rollout
	// whose candidate this revision is, cumulative since the proxy began
	// mirroring to it; nil when there is none.
	Shadow *DiffReport `json:"shadow,omitempty"`
	// ShadowRollout is the StartIndex of the rollout Shadow counts
	// (Mirror.Rollout).
	ShadowRollout uint64 `json:"shadowRollout,omitempty"`
	// AB is what the proxy counted of this revision as a variant of an
	// A/B experiment (ab.go); nil when it is none.
	AB *ABReport `json:"ab,omitempty"`
}

// TrafficFigures are one service revision's figures over a window, summed
// over the nodes whose proxies reported them.
type TrafficFigures struct {
	Revision  int     `json:"revision"`
	Requests  uint64  `json:"requests"`
	Errors    uint64  `json:"errors"`
	InFlight  int64   `json:"inFlight"` // now, not over the window
	RPS       float64 `json:"rps"`
	ErrorRate float64 `json:"errorRate"` // Errors/Requests, 0..1; 0 without requests
	// Latency quantiles read from Latency, in milliseconds; 0 without
	// requests.
	P50Ms   float64   `json:"p50Ms"`
	P90Ms   float64   `json:"p90Ms"`
	P99Ms   float64   `json:"p99Ms"`
	Latency Histogram `json:"latency"`
	// Mirror comparisons (shadow rollouts).
	Mirrored    uint64 `json:"mirrored,omitempty"`
	Differences uint64 `json:"differences,omitempty"`
	Nodes       int    `json:"nodes"` // nodes whose figures count
}

// TrafficWindow is a service's figures per revision over the last Window.
type TrafficWindow struct {
	Window    Duration         `json:"window"`
	Revisions []TrafficFigures `json:"revisions"`
}

// ServiceTraffic is the answer of GET /v1/services/{ns}/{name}/traffic: the
// figures over a few windows, shortest first.
type ServiceTraffic struct {
	Namespace string          `json:"namespace"`
	Service   string          `json:"service"`
	Windows   []TrafficWindow `json:"windows"`
}
