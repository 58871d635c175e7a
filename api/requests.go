package api

import "time"

// ErrorResponse is the body of every failed request.
type ErrorResponse struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

// WriteResponse answers writes with the Raft index that committed them.
type WriteResponse struct {
	Index uint64 `json:"index"`
}

// ApplyResponse answers PUT /v1/services/{ns}/{name}.
type ApplyResponse struct {
	Index    uint64 `json:"index"`
	Revision int    `json:"revision"`
	// Created is set for a new service; Changed when the spec differed
	// (an unchanged spec is a no-op and keeps its revision).
	Created bool   `json:"created"`
	Changed bool   `json:"changed"`
	EvalID  string `json:"evalID,omitempty"`
}

// ScaleRequest is the body of POST /v1/services/{ns}/{name}/scale.
type ScaleRequest struct {
	Replicas int `json:"replicas"`
}

// NodeRegistration is the body of PUT /v1/nodes/{name}.
type NodeRegistration struct {
	Address     string            `json:"address,omitempty"`
	HTTPAddress string            `json:"httpAddress,omitempty"`
	Capacity    Resources         `json:"capacity"`
	Labels      map[string]string `json:"labels,omitempty"`
	Heartbeat   bool              `json:"heartbeat,omitempty"`
	// Runtime is sim, containerd or fake; sim and containerd nodes get a
	// subnet.
	Runtime string `json:"runtime,omitempty"`
}

// HeartbeatResponse tells a node how soon it must heartbeat again.
type HeartbeatResponse struct {
	TTL Duration `json:"ttl"`
	// Interval is how often the leader asks the node to heartbeat (a
	// third of the TTL; both grow with the cluster so that the leader
	// takes a bounded number of heartbeats a second). Servers before it
	// leave it out: the agent then heartbeats at TTL/3.
	Interval Duration `json:"interval,omitempty"`
}

// DrainRequest is the body of POST /v1/nodes/{name}/drain; Enable false
// cancels a drain and makes the node eligible again.
type DrainRequest struct {
	Enable bool `json:"enable"`
}

// EligibilityRequest is the body of POST /v1/nodes/{name}/eligibility.
type EligibilityRequest struct {
	Eligible bool `json:"eligible"`
}

// NodeStatusRequest is the body of POST /v1/nodes/{name}/status: an
// operator marks a node down (its allocations are replaced) or ready.
type NodeStatusRequest struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// AllocStatusUpdate is what an agent reports about one allocation.
type AllocStatusUpdate struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Message  string `json:"message,omitempty"`
	Ready    bool   `json:"ready"`
	Address  string `json:"address,omitempty"`
	Restarts int    `json:"restarts"`
}

// AllocStatusBatch is the body of POST /v1/allocations/status.
type AllocStatusBatch struct {
	Node    string              `json:"node"`
	Updates []AllocStatusUpdate `json:"updates"`
	// Events are what happened to the node's allocations since the last
	// batch (probe verdicts, restarts); the servers keep them as events.
	Events []AllocEvent `json:"events,omitempty"`
}

// AllocEvent is one thing that happened to an allocation on its node.
type AllocEvent struct {
	Allocation string    `json:"allocation"`
	Type       string    `json:"type"`
	Message    string    `json:"message"`
	Time       time.Time `json:"time"`
}

// Leader answers GET /v1/status/leader; Leader is empty while there is none.
type Leader struct {
	Leader  string `json:"leader"`
	Address string `json:"address"`
}

// Peer is one Raft voter in GET /v1/status/peers, as the server that
// answers sees it: it asks every other voter's API (GET /v1/status/leader,
// within PeerProbeTimeout) what that voter knows of the leader.
type Peer struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Leader  bool   `json:"leader"`
	// HTTP is the voter's API address as it last announced it ("" when
	// unknown).
	HTTP string `json:"http,omitempty"`
	// Status is PeerAlive (it answered), PeerUnreachable (it did not) or
	// PeerUnknown (its API address is not known).
	Status string `json:"status"`
	// LastContact is how long ago the voter last heard from the leader, as
	// the voter says: 0 for the leader, nil when it never has or did not
	// answer.
	LastContact *Duration `json:"lastContact,omitempty"`
	// KnownLeader is whether the voter knows a leader.
	KnownLeader bool `json:"knownLeader"`
	// LeaderAPIUnknown: the voter knows the leader from Raft but not its
	// API address (gossip never told it: a server outside the gossip
	// pool, another gossip key), so it serves no consistent read or write.
	LeaderAPIUnknown bool `json:"leaderAPIUnknown,omitempty"`
	// Error says why a voter is unreachable.
	Error string `json:"error,omitempty"`
}

// Peer states.
const (
	PeerAlive       = "alive"
	PeerUnreachable = "unreachable"
	PeerUnknown     = "unknown"
)

// PeerProbeTimeout bounds the probe of each voter behind /v1/status/peers.
const PeerProbeTimeout = time.Second

// TrafficBatch is the body of POST /v1/nodes/{name}/traffic.
type TrafficBatch struct {
	Reports []TrafficReport `json:"reports"`
}

// UsageBatch is the body of POST /v1/nodes/{name}/usage: what the node's
// runtime measured of each of its running allocations.
type UsageBatch struct {
	Reports []AllocUsage `json:"reports"`
}

// AllocUsage is one allocation's resource use at one reading.
type AllocUsage struct {
	ID string `json:"id"`
	// CPU is the recent use in millicores, Memory the resident memory.
	CPU    CPU    `json:"cpu"`
	Memory Memory `json:"memory"`
}

// AllocationUsage is one allocation's figures in GET /v1/top/allocations,
// as the leader holds them (in memory, not in Raft): the averages of its
// node's readings over the last 6 s and 1 m, and what it reserves.
type AllocationUsage struct {
	ID        string `json:"id"`
	Namespace string `json:"namespace"`
	Service   string `json:"service"`
	Revision  int    `json:"revision"`
	Node      string `json:"node"`
	Ready     bool   `json:"ready"`
	// CPU and Memory average the readings of the last 6 s; CPU1m and
	// Memory1m those of the last minute.
	CPU      CPU       `json:"cpu"`
	Memory   Memory    `json:"memory"`
	CPU1m    CPU       `json:"cpu1m"`
	Memory1m Memory    `json:"memory1m"`
	Reserved Resources `json:"reserved"`
	// At is when the newest reading arrived.
	At time.Time `json:"at"`
}

// TopAllocations answers GET /v1/top/allocations: every allocation meant
// to run whose node reported its usage recently, sorted by namespace,
// service and ID.
type TopAllocations struct {
	Allocations []AllocationUsage `json:"allocations"`
	// Forecasts are the leader's current forecasts of the services with
	// autoscale.forecast whose model has seen a whole season.
	Forecasts []ServiceForecast `json:"forecasts,omitempty"`
}

// ServiceForecast is the autoscaler's forecast of one service's total
// metric Lookahead after At, next to the value it observed then.
type ServiceForecast struct {
	Namespace string    `json:"namespace"`
	Service   string    `json:"service"`
	Metric    string    `json:"metric"`
	Observed  float64   `json:"observed"`
	Forecast  float64   `json:"forecast"`
	Lookahead Duration  `json:"lookahead"`
	At        time.Time `json:"at"`
}
