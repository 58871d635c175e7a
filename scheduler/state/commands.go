package state

import (
	"encoding/json"
	"fmt"
	"time"

	"flotilla/api"
)

// CommandType is the first byte of every Raft entry.
type CommandType byte

// Commands the FSM applies. Their numbers are stored in Raft logs: append
// new ones, never renumber.
const (
	CmdUpsertService CommandType = iota + 1
	CmdDeleteService
	CmdScaleService
	CmdRegisterNode
	CmdNodeStatus
	CmdNodeEligibility
	CmdNodeDrain
	CmdApplyPlans
	CmdAllocStatus
	CmdGC
)

// IgnoreUnknownTypeFlag marks a command type that a server which does not
// know it may skip with a warning instead of stopping, as Nomad's flag of
// the same name does: during a rolling upgrade, older servers then keep
// running while the newer leader writes new commands. Every command added
// after CmdGC carries it.
const IgnoreUnknownTypeFlag CommandType = 0x80

// Commands added with the flag.
const (
	// CmdRolloutAction is a person's promote, pause, resume or abort.
	CmdRolloutAction = IgnoreUnknownTypeFlag | (iota + 11)
	// CmdEvaluate asks for an evaluation of one service (a rollout's
	// timer came due).
	CmdEvaluate
	// CmdSetClusterID records the cluster's ID, once.
	CmdSetClusterID
	// CmdNodeReachability records gossip's verdict on a node's agent.
	CmdNodeReachability
	// CmdNodeStatusBatch sets several nodes' status in one entry (the
	// leader marks silent nodes down in batches).
	CmdNodeStatusBatch
	// CmdAllocStatusBatch records several agents' status reports in one
	// entry (the leader coalesces the reports that arrive together).
	CmdAllocStatusBatch
)

func (t CommandType) String() string {
	names := map[CommandType]string{
		CmdUpsertService: "upsert-service", CmdDeleteService: "delete-service",
		CmdScaleService: "scale-service", CmdRegisterNode: "register-node",
		CmdNodeStatus: "node-status", CmdNodeEligibility: "node-eligibility",
		CmdNodeDrain: "node-drain", CmdApplyPlans: "apply-plans",
		CmdAllocStatus: "alloc-status", CmdGC: "gc",
		CmdRolloutAction: "rollout-action", CmdEvaluate: "evaluate", CmdSetClusterID: "set-cluster-id",
		CmdNodeReachability: "node-reachability", CmdNodeStatusBatch: "node-status-batch",
		CmdAllocStatusBatch: "alloc-status-batch",

		CmdUpsertConfig: "upsert-config", CmdDeleteConfig: "delete-config", CmdUpsertSecret: "upsert-secret",
		CmdDeleteSecret: "delete-secret", CmdKeyringAdd: "keyring-add", CmdReencryptSecrets: "reencrypt-secrets",
		CmdACLUpsertPolicy: "acl-upsert-policy", CmdACLDeletePolicy: "acl-delete-policy",
		CmdACLCreateToken: "acl-create-token", CmdACLDeleteToken: "acl-delete-token", CmdACLBootstrap: "acl-bootstrap",

		CmdSetWorkloadCA: "set-workload-ca", CmdResealWorkloadCA: "reseal-workload-ca",
	}
	if n, ok := names[t]; ok {
		return n
	}
	return fmt.Sprintf("command-%d", byte(t))
}

// Every command carries the leader's time so that applying it is
// deterministic on every server.

// Requests: the writes a client may send again (after a timeout, through
// another server) carry the request ID the client chose. The FSM remembers
// the IDs it applied, with their results, for RequestMemory (and the last
// RequestWindow log entries at most); a command whose ID it remembers is
// not applied again and answers the first result (as a *Replayed). The ID
// is an optional JSON field, so that a server that predates it applies the
// command as before.

// UpsertService creates a service or updates its spec.
type UpsertService struct {
	Spec api.ServiceSpec
	// VIPPool is the CIDR the leader hands virtual IPs out of.
	VIPPool string
	Time    time.Time
	// RequestID names the client's write (see Requests).
	RequestID string `json:",omitempty"`
}

// UpsertServiceResult says what an upsert did.
type UpsertServiceResult struct {
	Revision int
	Created  bool
	Changed  bool
	EvalID   string
}

// DeleteService removes a service; its allocations are stopped.
type DeleteService struct {
	Namespace, Name string
	Time            time.Time
	// RequestID names the client's write (see Requests).
	RequestID string `json:",omitempty"`
}

// ScaleService changes the replica count without a new revision.
type ScaleService struct {
	Namespace, Name string
	Replicas        int
	// Reason is set by the autoscaler: the figures and the rule behind
	// the change.
	Reason string `json:",omitempty"`
	// From, when set, is the count the change was computed from: the
	// write changes nothing when the count moved since (a person's scale
	// or a wake between the autoscaler's look and its write).
	From *int `json:",omitempty"`
	Time time.Time
	// RequestID names the client's write (see Requests).
	RequestID string `json:",omitempty"`
}

// RegisterNode adds a node or updates its description.
type RegisterNode struct {
	Name         string
	Registration api.NodeRegistration
	// SubnetPool is the CIDR the leader hands node subnets out of for this
	// node's runtime ("" for none); the FSM picks the first free /24.
	SubnetPool string
	// SecretHash is the hash of the node secret the agent registered
	// with ("" for none): see NodeSecretRefusal.
	SecretHash string `json:",omitempty"`
	Time       time.Time
	// RequestID names the client's write (see Requests).
	RequestID string `json:",omitempty"`
}

// NodeStatus marks a node ready or down. Operator is set when a person
// did: their down holds until they say ready.
type NodeStatus struct {
	Name, Status, Message string
	Operator              bool `json:",omitempty"`
	Time                  time.Time
	// RequestID names the client's write (see Requests).
	RequestID string `json:",omitempty"`
}

// NodeStatusBatch sets several nodes' status. Each applies as its own
// NodeStatus would, in the order given, except that a service on several
// of the nodes is evaluated once; a node that is gone is skipped. The
// result is the names of the nodes whose status changed.
type NodeStatusBatch struct {
	Statuses []NodeStatus
	Time     time.Time
}

// NodeEligibility makes a node eligible for new allocations or not.
type NodeEligibility struct {
	Name     string
	Eligible bool
	Time     time.Time
	// RequestID names the client's write (see Requests).
	RequestID string `json:",omitempty"`
}

// NodeDrain starts (Enable) or cancels a drain.
type NodeDrain struct {
	Name   string
	Enable bool
	Time   time.Time
	// RequestID names the client's write (see Requests).
	RequestID string `json:",omitempty"`
}

// ApplyPlans commits plans the leader's plan applier accepted.
type ApplyPlans struct {
	Plans []*Plan
	Time  time.Time
}

// AllocStatus records a batch of agent reports.
type AllocStatus struct {
	Node    string
	Updates []api.AllocStatusUpdate
	Events  []api.AllocEvent
	Time    time.Time
	// RequestID names the client's write (see Requests).
	RequestID string `json:",omitempty"`
}

// AllocStatusBatch is several agents' reports in one entry, each applied
// in order as its own AllocStatus would be (its request ID included: one
// applied before is skipped).
type AllocStatusBatch struct {
	Batches []AllocStatus
	Time    time.Time
}

// RolloutAction is a person's action on a service's rollout.
type RolloutAction struct {
	Namespace, Name string
	// Action is one of api.ActionPromote, ActionPause, ActionResume,
	// ActionAbort, ActionRetry.
	Action string
	Full   bool
	// VIPPool is where a retried rollout's preview address comes from.
	VIPPool string `json:",omitempty"`
	Time    time.Time
	// RequestID names the client's write (see Requests).
	RequestID string `json:",omitempty"`
}

// Evaluate creates an evaluation of one service.
type Evaluate struct {
	Namespace, Name string
	Trigger         string
	Time            time.Time
}

// NodeReachability says whether gossip reaches a node's agent.
type NodeReachability struct {
	Name      string
	Reachable bool
	Message   string
	Time      time.Time
}

// SetClusterID records the cluster's random ID; the first one stays.
type SetClusterID struct {
	ID uint64
}

// GC forgets stopped allocations and finished evaluations.
type GC struct {
	Allocations []string
	Evaluations []string
}

// MaxWritesPerEntry is how many allocations one Raft entry should write
// at most. Within it a memdb transaction remembers which watch channels
// it touched (go-immutable-radix tracks up to 8,192 per index); past it,
// committing walks every index's whole tree to find them, which at
// 100,000 allocations cost more than the writes: 100,000 status updates
// applied in 3.1 s in entries of 1,000 and in 11.6 s in entries of 2,000.
const MaxWritesPerEntry = 1_000

// Plan is what a scheduler worker decided for one evaluation of one service;
// after the plan applier has checked it, exactly what the FSM applies.
// Placements share the service's revision and resources, so that a plan of
// thousands of replicas stays small in the log.
type Plan struct {
	EvalID    string
	Namespace string
	Service   string
	Revision  int
	Resources api.Resources
	HostPorts []int
	Place     []Placement
	Stop      []Stop
	// Eval is the evaluation's outcome; nil leaves it pending (the worker
	// retries after a partly refused plan).
	Eval *EvalOutcome
	// Canceled evaluations were superseded by this one.
	Canceled []string
	// Others are the other revisions this plan places (a rollout runs
	// several at once); placements name theirs.
	Others []PlanRevision `json:",omitempty"`
	// Rollout is the service's rollout state to store with the plan, and
	// RolloutIndex the ModifyIndex of the state it was computed from: a
	// plan whose rollout changed meanwhile (a person aborted it) is
	// dropped whole and the service evaluated again.
	Rollout       *api.Rollout   `json:",omitempty"`
	RolloutIndex  uint64         `json:",omitempty"`
	RolloutEvents []RolloutEvent `json:",omitempty"`
}

// PlanRevision is what the placements of one revision share.
type PlanRevision struct {
	Revision  int
	Resources api.Resources
	HostPorts []int `json:",omitempty"`
}

// RolloutEvent is a rollout transition to record as an event.
type RolloutEvent struct {
	Type    string
	Message string
}

// PlacementRevision returns the revision, resources and host ports of a
// placement of this plan.
func (p *Plan) PlacementRevision(pl Placement) (int, api.Resources, []int) {
	if pl.Revision == 0 || pl.Revision == p.Revision {
		return p.Revision, p.Resources, p.HostPorts
	}
	for _, o := range p.Others {
		if o.Revision == pl.Revision {
			return o.Revision, o.Resources, o.HostPorts
		}
	}
	return pl.Revision, p.Resources, p.HostPorts
}

// Placement puts a new allocation on a node.
type Placement struct {
	ID   string
	Node string
	// Previous is the allocation this one replaces.
	Previous string
	// Revision is set when it is not the plan's Revision.
	Revision int `json:",omitempty"`
}

// Stop tells an allocation to stop.
type Stop struct {
	ID     string
	Reason string
	// Lost marks it lost: its node is down and nobody will report on it.
	Lost bool
}

// EvalOutcome is how an evaluation ended.
type EvalOutcome struct {
	Status           string
	Description      string
	Placed           int
	Stopped          int
	Unplaced         int
	PlacementFailure string
	// FollowUpAt asks for another evaluation then (a replacement waiting
	// out its reschedule delay).
	FollowUpAt time.Time `json:",omitzero"`
}

// Replayed is what the FSM answers to a command whose request ID it had
// already applied: the first application's result and log index.
type Replayed struct {
	Index  uint64
	Result any
}

// Encode prefixes the JSON body with the command type.
func Encode(t CommandType, body any) ([]byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", t, err)
	}
	return append([]byte{byte(t)}, b...), nil
}
