package placement

import (
	"fmt"
	"testing"

	"flotilla/api"
)

const (
	core = api.CPU(1000)
	gi   = api.Memory(1 << 30)
	mi   = api.Memory(1 << 20)
)

// readyNode is a ready, eligible, empty node.
func readyNode(name string, cpu api.CPU, memory api.Memory) *Node {
	return &Node{
		Name:     name,
		Status:   api.NodeReady,
		Eligible: true,
		Capacity: api.Resources{CPU: cpu, Memory: memory},
	}
}

// equalNodes is count ready nodes n1..nN (in that order) of one size.
func equalNodes(count int, cpu api.CPU, memory api.Memory) []*Node {
	nodes := make([]*Node, count)
	for i := range nodes {
		nodes[i] = readyNode(fmt.Sprintf("n%d", i+1), cpu, memory)
	}
	return nodes
}

func constraints(t testing.TB, texts ...string) []api.Constraint {
	t.Helper()
	var cs []api.Constraint
	for _, text := range texts {
		c, err := api.ParseConstraint(text)
		if err != nil {
			t.Fatalf("parse constraint %q: %v", text, err)
		}
		cs = append(cs, c)
	}
	return cs
}

// placeAll places count replicas and returns the chosen node names in
// order; it fails the test when one cannot be placed.
func placeAll(t testing.TB, p *Placer, count int) []string {
	t.Helper()
	var names []string
	for i := range count {
		n, ok := p.Place("")
		if !ok {
			t.Fatalf("replica %d: %s", i, p.Failure())
		}
		names = append(names, n.Name)
	}
	return names
}

// replicasByNode counts ServiceReplicas per node name, leaving out empty
// nodes.
func replicasByNode(nodes []*Node) map[string]int {
	counts := make(map[string]int)
	for _, n := range nodes {
		if n.ServiceReplicas > 0 {
			counts[n.Name] = n.ServiceReplicas
		}
	}
	return counts
}
