package placement

import "flotilla/api"

// Node is the scheduler's view of one node while placing. The Placer owns
// the slice it is given and updates Allocated, HostPorts and ServiceReplicas
// as it places; HostPorts is written to, so it must not be shared with the
// state store.
type Node struct {
	Name   string
	Status string // api.NodeReady | api.NodeDown | api.NodeDraining
	// Eligible nodes receive new replicas; a drain clears it.
	Eligible bool
	Labels   map[string]string
	Capacity api.Resources
	// Allocated is everything already placed there, this service included.
	Allocated api.Resources
	// HostPorts are the host ports in use; may be nil.
	HostPorts map[int]bool
	// ServiceReplicas counts the replicas being placed that are already
	// on the node: the scheduler counts those of the same revision of the
	// service, so that each revision of a rollout spreads by itself.
	ServiceReplicas int
}

// Request is one replica's needs; all replicas of an evaluation are alike.
type Request struct {
	Resources   api.Resources
	HostPorts   []int
	Constraints []api.Constraint
	// Strategy is api.StrategySpread (the default, also for any unknown
	// value) or api.StrategyBinpack.
	Strategy string
}

// record takes one replica of req on n.
func (n *Node) record(req *Request) {
	n.Allocated = n.Allocated.Add(req.Resources)
	n.ServiceReplicas++
	if len(req.HostPorts) > 0 && n.HostPorts == nil {
		n.HostPorts = make(map[int]bool, len(req.HostPorts))
	}
	for _, port := range req.HostPorts {
		n.HostPorts[port] = true
	}
}
