package api

import (
	"context"
	"time"
)

// QueryOptions make a read a blocking query: it returns once the answer's
// index passes Index, or after Wait.
type QueryOptions struct {
	Index uint64
	Wait  time.Duration
	// Stale lets any server answer from its own state, without asking the
	// leader (?stale): faster and available without a leader, but possibly
	// behind. Reads are consistent by default. The client sends every
	// blocking query (Index > 0) stale: its index already keeps the answer
	// from going back (a server waits until its state reaches the index),
	// and long polls then stay off the leader.
	Stale bool
}

// AllocFilter narrows an allocation list; empty fields match everything.
type AllocFilter struct {
	Namespace string
	Service   string
	Node      string
	// ToRun, with Node, is the node's agent asking what to run: a blocking
	// query wakes for the servers' changes to them (AllocModifyIndex),
	// not for the agent's own status reports.
	ToRun bool
}

// EventFilter narrows the event stream; empty fields match everything.
type EventFilter struct {
	Namespace string
	Service   string
	Node      string
}

// Reader answers the API's reads. Every list also returns the index it
// reflects, for blocking queries.
type Reader interface {
	Services(ctx context.Context, q QueryOptions) ([]*Service, uint64, error)
	Service(ctx context.Context, namespace, name string, q QueryOptions) (*Service, uint64, error)
	Revisions(ctx context.Context, namespace, name string, q QueryOptions) ([]*Revision, uint64, error)
	// Revision is one stored revision; agents fetch the spec they run.
	Revision(ctx context.Context, namespace, name string, revision int) (*Revision, error)
	Nodes(ctx context.Context, q QueryOptions) ([]*Node, uint64, error)
	Node(ctx context.Context, name string, q QueryOptions) (*Node, uint64, error)
	Allocations(ctx context.Context, f AllocFilter, q QueryOptions) ([]*Allocation, uint64, error)
	// Allocation finds one allocation by ID or unique ID prefix.
	Allocation(ctx context.Context, id string) (*Allocation, uint64, error)
	Evaluations(ctx context.Context, namespace, service string, q QueryOptions) ([]*Evaluation, uint64, error)
	// Events returns events with an ID above q.Index, oldest first; the
	// index returned is the newest event's ID.
	Events(ctx context.Context, f EventFilter, q QueryOptions) ([]*Event, uint64, error)
	// Endpoints is every service's VIP, ports, endpoints and routes, as
	// agents watch them; ServiceEndpoints is one service's.
	Endpoints(ctx context.Context, q QueryOptions) ([]*ServiceEndpoints, uint64, error)
	ServiceEndpoints(ctx context.Context, namespace, name string, q QueryOptions) (*ServiceEndpoints, uint64, error)
	// Rollout is the state of a service's newest rollout.
	Rollout(ctx context.Context, namespace, name string, q QueryOptions) (*Rollout, uint64, error)
}

// Writer changes the cluster; only the leader runs these (the handler
// forwards from followers).
type Writer interface {
	ApplyService(ctx context.Context, spec ServiceSpec) (ApplyResponse, error)
	DeleteService(ctx context.Context, namespace, name string) (WriteResponse, error)
	ScaleService(ctx context.Context, namespace, name string, replicas int) (WriteResponse, error)
	// WakeService scales a service that scaled to zero (autoscale min 0)
	// back to max(1, min) because a proxy holds a request for it. It is
	// idempotent: a service with replicas writes nothing (Index 0).
	WakeService(ctx context.Context, namespace, name string) (WriteResponse, error)
	RegisterNode(ctx context.Context, name string, r NodeRegistration) (WriteResponse, error)
	Heartbeat(ctx context.Context, name string) (HeartbeatResponse, error)
	DrainNode(ctx context.Context, name string, enable bool) (WriteResponse, error)
	SetEligibility(ctx context.Context, name string, eligible bool) (WriteResponse, error)
	SetNodeStatus(ctx context.Context, name, status, message string) (WriteResponse, error)
	UpdateAllocations(ctx context.Context, batch AllocStatusBatch) (WriteResponse, error)
	// RolloutAction promotes, pauses, resumes or aborts a rollout;
	// UndoRollout rolls an older revision out again.
	RolloutAction(ctx context.Context, namespace, name, action string, body RolloutAction) (WriteResponse, error)
	UndoRollout(ctx context.Context, namespace, name string, req UndoRequest) (ApplyResponse, error)
	// ReportTraffic records a node's proxy figures; Traffic is one
	// service's figures per revision over a few windows, summed over the
	// nodes. Both live on the leader, not in Raft.
	ReportTraffic(ctx context.Context, node string, reports []TrafficReport) error
	Traffic(ctx context.Context, namespace, name string) (*ServiceTraffic, error)
	// RolloutDiffs is the comparison figures of a service's shadow
	// rollout, merged over the proxies that reported them; on the leader,
	// not in Raft.
	RolloutDiffs(ctx context.Context, namespace, name string) (*RolloutDiffs, error)
	// ReportUsage records what a node's runtime measured of its
	// allocations; TopAllocations is the leader's book of those figures.
	// Both live on the leader, not in Raft.
	ReportUsage(ctx context.Context, node string, reports []AllocUsage) error
	TopAllocations(ctx context.Context) (*TopAllocations, error)
}

// Cluster says who leads.
type Cluster interface {
	Leader() Leader
	Peers() ([]Peer, error)
	// WriteTarget is where writes go: "" when this server leads, else the
	// leader's HTTP address. It waits a little for an election in progress
	// and returns ErrNoLeader when none ends.
	WriteTarget(ctx context.Context) (string, error)
}

// Backend is everything the HTTP handlers need from a server.
type Backend interface {
	Reader
	Writer
	Cluster
}
