package api

import "time"

// DefaultNamespace is used when a spec or a request names none.
const DefaultNamespace = "default"

// A service's health, computed when it is read (Service.Health).
const (
	HealthHealthy      = "healthy"
	HealthCrashLooping = "crash-looping"
	HealthDegraded     = "degraded"
)

// Service is a service as the cluster keeps it: the current spec, its
// revision, the desired replica count (which scaling changes without making
// a new revision) and what the scheduler last said about placing it.
type Service struct {
	Name          string `json:"name"`
	Namespace     string `json:"namespace"`
	Revision      int    `json:"revision"`
	Replicas      int    `json:"replicas"`
	ReadyReplicas int    `json:"readyReplicas"`
	// ReadyReplicas and RunningReplicas count the allocations of the
	// revisions that serve: the current one, and during a rollout every
	// revision it gives traffic (so they may exceed Replicas for a while).
	RunningReplicas int    `json:"runningReplicas"`
	Strategy        string `json:"strategy"`
	// VIP is the service's virtual IP (empty for a headless service); DNS
	// answers it for NAME.NAMESPACE.svc.flotilla.
	VIP string `json:"vip,omitempty"`
	// Unplaced replicas and why, from the newest evaluation that could not
	// place everything; empty when all replicas are placed.
	Unplaced         int    `json:"unplaced,omitempty"`
	PlacementFailure string `json:"placementFailure,omitempty"`
	// Autoscaled is the autoscaler's last change: when, and the figures
	// and rule behind it.
	Autoscaled *AutoscaleChange `json:"autoscaled,omitempty"`
	// Health is "healthy"; "crash-looping" while allocations keep failing,
	// or "degraded" while replicas cannot be placed or the newest
	// revision's rollout failed or was aborted (HealthMessage says how);
	// computed when read.
	Health        string      `json:"health"`
	HealthMessage string      `json:"healthMessage,omitempty"`
	Spec          ServiceSpec `json:"spec"`
	CreateTime    time.Time   `json:"createTime"`
	ModifyTime    time.Time   `json:"modifyTime"`
	CreateIndex   uint64      `json:"createIndex"`
	ModifyIndex   uint64      `json:"modifyIndex"`
}

// ServiceDocument is a service as the CLI prints it (get -o yaml|json):
// the spec as apply takes it, replicas being the desired count, then the
// cluster's read-only status, which apply accepts and ignores, so that what
// get prints can be applied again unchanged, as in kubectl. Both are
// embedded, so a reader writes doc.Image and doc.VIP; the status's JSON
// tag keeps it a section of its own.
type ServiceDocument struct {
	ServiceSpec
	ServiceStatus `json:"status"`
}

// ServiceStatus is what the cluster says of a service beside its spec (see
// Service for what each field means).
type ServiceStatus struct {
	Revision         int              `json:"revision"`
	RunningReplicas  int              `json:"runningReplicas"`
	ReadyReplicas    int              `json:"readyReplicas"`
	VIP              string           `json:"vip,omitempty"`
	Health           string           `json:"health,omitempty"`
	HealthMessage    string           `json:"healthMessage,omitempty"`
	Unplaced         int              `json:"unplaced,omitempty"`
	PlacementFailure string           `json:"placementFailure,omitempty"`
	Autoscaled       *AutoscaleChange `json:"autoscaled,omitempty"`
	CreateTime       time.Time        `json:"createTime"`
	ModifyTime       time.Time        `json:"modifyTime"`
	CreateIndex      uint64           `json:"createIndex"`
	ModifyIndex      uint64           `json:"modifyIndex"`
}

// Document is the service as get prints it. Its spec's replicas is the
// desired count (which scale and the autoscaler change in place), so that
// applying the document again changes nothing.
func (s *Service) Document() ServiceDocument {
	spec := s.Spec
	replicas := s.Replicas
	spec.Replicas = &replicas
	return ServiceDocument{ServiceSpec: spec, ServiceStatus: ServiceStatus{
		Revision: s.Revision, RunningReplicas: s.RunningReplicas, ReadyReplicas: s.ReadyReplicas,
		VIP: s.VIP, Health: s.Health, HealthMessage: s.HealthMessage,
		Unplaced: s.Unplaced, PlacementFailure: s.PlacementFailure, Autoscaled: s.Autoscaled,
		CreateTime: s.CreateTime, ModifyTime: s.ModifyTime, CreateIndex: s.CreateIndex, ModifyIndex: s.ModifyIndex,
	}}
}

// AutoscaleChange is one replica count change the autoscaler made.
type AutoscaleChange struct {
	Time   time.Time `json:"time"`
	From   int       `json:"from"`
	To     int       `json:"to"`
	Reason string    `json:"reason"`
}

// Key is "namespace/name".
func (s *Service) Key() string { return s.Namespace + "/" + s.Name }

// Revision is one stored version of a service's spec.
type Revision struct {
	Namespace string      `json:"namespace"`
	Name      string      `json:"name"`
	Revision  int         `json:"revision"`
	Spec      ServiceSpec `json:"spec"`
	// Files are the versions of the configs and secrets its replicas
	// read (files.go): a change of one is a new revision.
	Files       []FileVersion `json:"files,omitempty"`
	CreateTime  time.Time     `json:"createTime"`
	CreateIndex uint64        `json:"createIndex"`
}

// Node states.
const (
	NodeReady    = "ready"
	NodeDown     = "down"
	NodeDraining = "draining"
)

// Node is a machine (or a simulated one) that runs allocations.
type Node struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Address string `json:"address"`
	// Eligible nodes receive new allocations; drain clears it.
	Eligible  bool              `json:"eligible"`
	Capacity  Resources         `json:"capacity"`
	Allocated Resources         `json:"allocated"`
	Labels    map[string]string `json:"labels,omitempty"`
	// Heartbeat is set by agents: such a node is marked down when its
	// heartbeats stop. Nodes registered without it (tests, benchmarks,
	// static inventories) stay as they are until told otherwise.
	Heartbeat bool   `json:"heartbeat,omitempty"`
	Runtime   string `json:"runtime,omitempty"`
	// Subnet is the node's own address block, which the leader allocates
	// (sim: a /24 of loopback; real nodes: a /24 of the cluster CIDR) and
	// which stays the node's across re-registrations.
	Subnet string `json:"subnet,omitempty"`
	// HTTPAddress is where the node's agent serves logs, exec and metrics.
	HTTPAddress string `json:"httpAddress,omitempty"`
	// Allocations counts the allocations placed on the node that are still
	// meant to run.
	Allocations   int       `json:"allocations"`
	StatusMessage string    `json:"statusMessage,omitempty"`
	StatusTime    time.Time `json:"statusTime"`
	// Unreachable: gossip declared its agent dead while its containers
	// may still run (containerd): it stays ready until its heartbeat TTL
	// decides, but its endpoints leave every proxy's rotation at once.
	Unreachable bool `json:"unreachable,omitempty"`
	// OperatorDown: an operator marked the node down; heartbeats and
	// registrations do not make it ready again, only an operator does.
	OperatorDown bool `json:"operatorDown,omitempty"`
	// SecretHash is the hash of the node secret its agent registered
	// with (HashNodeSecret; "" for a node registered without one). It is
	// never in an answer: snapshots carry it apart from the node's JSON.
	SecretHash  string `json:"-"`
	CreateIndex uint64 `json:"createIndex"`
	ModifyIndex uint64 `json:"modifyIndex"`
}

// Free is what is left of the node's capacity.
func (n *Node) Free() Resources { return n.Capacity.Sub(n.Allocated) }

// Desired states of an allocation.
const (
	DesiredRun  = "run"
	DesiredStop = "stop"
)

// Observed states of an allocation; they only move forward, and failed,
// lost and complete are terminal.
const (
	AllocPending  = "pending"
	AllocStarting = "starting"
	AllocRunning  = "running"
	AllocFailed   = "failed"
	AllocLost     = "lost"
	AllocComplete = "complete"
)

// Allocation is one replica of one revision of a service, placed on a node.
type Allocation struct {
	ID        string `json:"id"`
	Service   string `json:"service"`
	Namespace string `json:"namespace"`
	Revision  int    `json:"revision"`
	// RevisionIndex is its revision's CreateIndex: revision numbers start
	// again at 1 when a deleted service is created anew, this does not.
	RevisionIndex uint64 `json:"revisionIndex,omitempty"`
	Node          string `json:"node"`
	DesiredStatus string `json:"desiredStatus"`
	// DesiredReason says why the scheduler stopped it ("node down", ...).
	DesiredReason string `json:"desiredReason,omitempty"`
	Status        string `json:"status"`
	StatusMessage string `json:"statusMessage,omitempty"`
	Ready         bool   `json:"ready"`
	// ReadyTime is when it last became ready (zero while not ready): a
	// rollout counts it as available minReady after that.
	ReadyTime time.Time `json:"readyTime,omitzero"`
	Address   string    `json:"address,omitempty"`
	Restarts  int       `json:"restarts"`
	Resources Resources `json:"resources"`
	HostPorts []int     `json:"hostPorts,omitempty"`
	EvalID    string    `json:"evalID"`
	// PreviousAllocation is the allocation this one replaces.
	PreviousAllocation string `json:"previousAllocation,omitempty"`
	// FailuresBefore counts the failed allocations in a row this one
	// replaces (0 when it replaces none, or one that did not fail): the
	// crash-loop backoff of its own replacement grows with it.
	FailuresBefore int `json:"failuresBefore,omitempty"`
	// FilesIndex is the index of the newest change to a config it
	// reloads by signal (configs[].reload: signal): its agent rewrites
	// the files and signals the container when it moves.
	FilesIndex uint64 `json:"filesIndex,omitempty"`
	// FinishTime is when it reached a terminal status.
	FinishTime  time.Time `json:"finishTime,omitzero"`
	CreateTime  time.Time `json:"createTime"`
	ModifyTime  time.Time `json:"modifyTime"`
	CreateIndex uint64    `json:"createIndex"`
	ModifyIndex uint64    `json:"modifyIndex"`
	// AllocModifyIndex is the index of the servers' newest change to it
	// (placement, stop, a file to reload...), which its agent acts on;
	// ModifyIndex moves with the agent's own status reports too.
	AllocModifyIndex uint64 `json:"allocModifyIndex,omitempty"`
}

// ServiceKey is "namespace/service".
func (a *Allocation) ServiceKey() string { return a.Namespace + "/" + a.Service }

// TerminalStatus reports whether the allocation has stopped for good.
func (a *Allocation) TerminalStatus() bool {
	switch a.Status {
	case AllocFailed, AllocLost, AllocComplete:
		return true
	}
	return false
}

// Terminal reports whether the allocation no longer holds resources on its
// node: it stopped, or the scheduler told it to stop.
func (a *Allocation) Terminal() bool {
	return a.DesiredStatus == DesiredStop || a.TerminalStatus()
}

// Evaluation states.
const (
	EvalPending  = "pending"
	EvalComplete = "complete"
	// EvalBlocked waits for capacity: it runs again when nodes join or
	// allocations stop.
	EvalBlocked  = "blocked"
	EvalFailed   = "failed"
	EvalCanceled = "canceled"
)

// What made an evaluation.
const (
	TriggerServiceRegister = "service-register"
	TriggerServiceUpdate   = "service-update"
	TriggerServiceDelete   = "service-delete"
	TriggerScale           = "scale"
	TriggerNodeUpdate      = "node-update"
	TriggerNodeDrain       = "node-drain"
	TriggerAllocFailure    = "alloc-failure"
	TriggerCapacity        = "capacity-available"
	TriggerRetry           = "retry"
	// A person acted on a rollout, a rollout's timer came due, or an
	// allocation's health changed while a rollout runs.
	TriggerRollout      = "rollout"
	TriggerRolloutTimer = "rollout-timer"
	TriggerAllocHealth  = "alloc-health"
	// A failed allocation's replacement waited out its reschedule delay.
	TriggerRescheduleDelay = "reschedule-delay"
)

// Evaluation is a request to bring one service's allocations in line with
// its spec and the cluster; scheduler workers process them.
type Evaluation struct {
	ID          string `json:"id"`
	Namespace   string `json:"namespace"`
	Service     string `json:"service"`
	TriggeredBy string `json:"triggeredBy"`
	// Node is set when a node's change triggered the evaluation.
	Node              string `json:"node,omitempty"`
	Status            string `json:"status"`
	StatusDescription string `json:"statusDescription,omitempty"`
	Placed            int    `json:"placed,omitempty"`
	Stopped           int    `json:"stopped,omitempty"`
	Unplaced          int    `json:"unplaced,omitempty"`
	// PlacementFailure explains Unplaced ("insufficient memory on 5 nodes").
	PlacementFailure string `json:"placementFailure,omitempty"`
	// WaitUntil holds a follow-up evaluation back until then (the delayed
	// replacement of a crash-looping allocation).
	WaitUntil   time.Time `json:"waitUntil,omitzero"`
	CreateTime  time.Time `json:"createTime"`
	ModifyTime  time.Time `json:"modifyTime"`
	CreateIndex uint64    `json:"createIndex"`
	ModifyIndex uint64    `json:"modifyIndex"`
}

// ServiceKey is "namespace/service".
func (e *Evaluation) ServiceKey() string { return e.Namespace + "/" + e.Service }

// Terminal reports whether the evaluation will not run again.
func (e *Evaluation) Terminal() bool {
	switch e.Status {
	case EvalComplete, EvalFailed, EvalCanceled:
		return true
	}
	return false
}

// Event is one thing that happened, with its reason, for people to read.
type Event struct {
	// ID numbers events in the order they happened, from 1; Index is the
	// Raft index of the write that produced it.
	ID         uint64    `json:"id"`
	Index      uint64    `json:"index"`
	Time       time.Time `json:"time"`
	Type       string    `json:"type"`
	Namespace  string    `json:"namespace,omitempty"`
	Service    string    `json:"service,omitempty"`
	Node       string    `json:"node,omitempty"`
	Allocation string    `json:"allocation,omitempty"`
	Message    string    `json:"message"`
}

// Event types.
const (
	EventServiceRegistered = "ServiceRegistered"
	EventServiceUpdated    = "ServiceUpdated"
	EventServiceScaled     = "ServiceScaled"
	EventServiceDeleted    = "ServiceDeleted"
	EventPlacementFailed   = "PlacementFailed"
	EventAllocationsPlaced = "AllocationsPlaced"
	EventAllocationsLost   = "AllocationsLost"
	EventAllocationStopped = "AllocationsStopped"
	EventAllocationFailed  = "AllocationFailed"
	EventNodeRegistered    = "NodeRegistered"
	EventNodeStatus        = "NodeStatusChanged"
	EventNodeEligibility   = "NodeEligibilityChanged"
	EventNodeDrained       = "NodeDrained"
	// Reported by agents.
	EventProbeFailed       = "ProbeFailed"
	EventProbeSucceeded    = "ProbeSucceeded"
	EventAllocationRestart = "AllocationRestarted"
	EventLivenessKilled    = "LivenessFailed"
	EventStartupKilled     = "StartupFailed"
	EventServiceUnhealthy  = "ServiceUnhealthy"
)

// AgentEventTypes are the event types agents may report.
var AgentEventTypes = map[string]bool{
	EventProbeFailed: true, EventProbeSucceeded: true, EventAllocationRestart: true,
	EventLivenessKilled: true, EventStartupKilled: true, EventConfigReloaded: true,
	EventCertificateRenewed: true, EventCertificateRenewFailed: true, // certs.go
}
