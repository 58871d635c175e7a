package state

import (
	"sync"

	"flotilla/api"
)

// Usage is what the allocations on a node hold.
type Usage struct {
	Resources api.Resources
	Count     int
	HostPorts map[int]bool
}

// Add counts one allocation's resources and host ports.
func (u *Usage) Add(a *api.Allocation) {
	u.Resources = u.Resources.Add(a.Resources)
	u.Count++
	for _, p := range a.HostPorts {
		if u.HostPorts == nil {
			u.HostPorts = map[int]bool{}
		}
		u.HostPorts[p] = true
	}
}

// usageIndex is every node's usage, kept up to date by the FSM as it
// applies allocation changes. Summing a node's allocations from memdb
// costs an index walk per node, and the scheduler needs the usage of
// thousands of nodes per evaluation; the alternative, rewriting the node
// object on every placement, doubles the cost of applying a plan on every
// server. The index always reflects the newest applied entry, not a
// snapshot's: the plan applier, which runs after every commit it made,
// reads it as the newest state.
type usageIndex struct {
	mu    sync.RWMutex
	nodes map[string]*nodeUsage
}

type nodeUsage struct {
	resources api.Resources
	count     int
	ports     map[int]int
}

func newUsageIndex() *usageIndex { return &usageIndex{nodes: map[string]*nodeUsage{}} }

// usageDelta is one allocation taking (+1) or releasing (-1) resources.
type usageDelta struct {
	alloc *api.Allocation
	sign  int
}

func (x *usageIndex) apply(deltas []usageDelta) {
	if len(deltas) == 0 {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, d := range deltas {
		x.applyLocked(d.alloc, d.sign)
	}
}

func (x *usageIndex) applyLocked(a *api.Allocation, sign int) {
	n := x.nodes[a.Node]
	if n == nil {
		n = &nodeUsage{}
		x.nodes[a.Node] = n
	}
	if sign > 0 {
		n.resources = n.resources.Add(a.Resources)
	} else {
		n.resources = n.resources.Sub(a.Resources)
	}
	n.count += sign
	for _, p := range a.HostPorts {
		if n.ports == nil {
			n.ports = map[int]int{}
		}
		if n.ports[p] += sign; n.ports[p] <= 0 {
			delete(n.ports, p)
		}
	}
	if n.count == 0 {
		delete(x.nodes, a.Node)
	}
}

// get returns a copy of a node's usage.
func (x *usageIndex) get(node string) Usage {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := x.nodes[node]
	if n == nil {
		return Usage{}
	}
	u := Usage{Resources: n.resources, Count: n.count}
	if len(n.ports) > 0 {
		u.HostPorts = make(map[int]bool, len(n.ports))
		for p := range n.ports {
			u.HostPorts[p] = true
		}
	}
	return u
}

// each calls f with every node's resources and count (HostPorts left
// out), holding the read lock.
func (x *usageIndex) each(f func(node string, u Usage)) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for name, n := range x.nodes {
		f(name, Usage{Resources: n.resources, Count: n.count})
	}
}

// rebuild recomputes every node's usage from the allocations of a freshly
// restored state.
func (x *usageIndex) rebuild(snap *Snapshot) {
	nodes := map[string]*nodeUsage{}
	fresh := &usageIndex{nodes: nodes}
	it, err := snap.txn.Get(tableAllocs, "id")
	if err == nil {
		for raw := it.Next(); raw != nil; raw = it.Next() {
			if a := raw.(*api.Allocation); !a.Terminal() {
				fresh.applyLocked(a, 1)
			}
		}
	}
	x.mu.Lock()
	x.nodes = nodes
	x.mu.Unlock()
}
