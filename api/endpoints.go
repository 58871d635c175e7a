package api

// Endpoint is one replica that can take traffic: a running allocation
// with an address.
type Endpoint struct {
	// ID is the allocation ID.
	ID       string `json:"id"`
	Node     string `json:"node"`
	Revision int    `json:"revision"`
	// IP is the replica's own address; it listens there on the service's
	// port numbers.
	IP    string `json:"ip"`
	Ready bool   `json:"ready"`
}

// ServiceEndpoints is everything a node's DNS server and proxy need about
// one service: its virtual IP, ports, ready endpoints and route table.
type ServiceEndpoints struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// VIP is the service's virtual IP; empty for a headless service, whose
	// DNS name answers the ready endpoints' addresses instead.
	VIP      string `json:"vip,omitempty"`
	Headless bool   `json:"headless,omitempty"`
	Ports    []Port `json:"ports"`
	// LoadBalancing is the proxy's policy: round-robin, least-request or
	// p2c (power of two choices).
	LoadBalancing string `json:"loadBalancing"`
	// Endpoints lists every running replica; only Ready ones get traffic.
	Endpoints []Endpoint `json:"endpoints"`
	Routes    RouteTable `json:"routes"`
	// ScaleToZero is set for a service that may have no replica (autoscale
	// min 0): a proxy then holds its requests while none is ready and asks
	// the cluster to wake it, instead of answering 503 at once.
	ScaleToZero bool `json:"scaleToZero,omitempty"`
	// ModifyIndex moves whenever any of the above changes.
	ModifyIndex uint64 `json:"modifyIndex"`
}

// Load-balancing policies.
const (
	BalanceRoundRobin   = "round-robin"
	BalanceLeastRequest = "least-request"
	BalanceP2C          = "p2c"
)

// RouteTable says which revision (backend) a request goes to. Rules are
// tried in order and the first match wins; otherwise Split shares requests
// between revisions by weight. With Sticky set, a client keeps the revision
// it was first given, by cookie. Mirrors copy a share of requests to
// another revision; their answers are compared and discarded, never sent
// to the client. The control plane computes it (one revision with weight
// 100 until rollouts arrive); every node's proxy evaluates it.
type RouteTable struct {
	Rules   []RouteRule       `json:"rules,omitempty"`
	Split   []WeightedBackend `json:"split"`
	Sticky  *StickyRoute      `json:"sticky,omitempty"`
	Mirrors []Mirror          `json:"mirrors,omitempty"`
	// AB, when set, gives requests no rule matched a variant by user
	// (ab.go) instead of drawing from Split, which older proxies use.
	AB *ABRoute `json:"ab,omitempty"`
}

// RouteRule sends requests that match to one revision.
type RouteRule struct {
	Match   Match `json:"match"`
	Backend int   `json:"backend"`
}

// WeightedBackend is one revision's share of the default split.
type WeightedBackend struct {
	Backend int `json:"backend"`
	Weight  int `json:"weight"`
}

// StickyRoute names the cookie that keeps a client on its revision.
type StickyRoute struct {
	Cookie string `json:"cookie"`
}

// Mirror copies Percent of requests to Backend. Compare says which
// differences between the two answers count. Only requests of Methods
// are copied (empty: DefaultShadowMethods); Baseline of the copies also
// go to a second replica of the revision that served the request, to
// learn which differences are noise.
type Mirror struct {
	Backend int `json:"backend"`
	// Rollout is the shadow rollout's StartIndex: the proxies count a new
	// rollout of a revision of the same number afresh, and say which one
	// their figures are of (TrafficReport.ShadowRollout).
	Rollout  uint64        `json:"rollout,omitempty"`
	Percent  Percent       `json:"percent"`
	Methods  []string      `json:"methods,omitempty"`
	Baseline Percent       `json:"baseline,omitempty"`
	Compare  ShadowCompare `json:"compare"`
}
