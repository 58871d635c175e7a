package placement

import (
	"maps"
	"slices"
	"testing"

	"flotilla/api"
)

func TestBinpack(t *testing.T) {
	replica := api.Resources{CPU: 1 * core, Memory: 256 * mi} // four per node
	tests := []struct {
		name     string
		nodes    func() []*Node
		replicas int
		want     []string // placements in order
	}{
		{
			name:     "fills nodes in order",
			nodes:    func() []*Node { return equalNodes(5, 4*core, 4*gi) },
			replicas: 10,
			want:     []string{"n1", "n1", "n1", "n1", "n2", "n2", "n2", "n2", "n3", "n3"},
		},
		{
			name: "starts on the busiest node",
			nodes: func() []*Node {
				nodes := equalNodes(3, 4*core, 4*gi)
				nodes[2].Allocated = api.Resources{CPU: 2 * core, Memory: 2 * gi}
				return nodes
			},
			replicas: 4,
			want:     []string{"n3", "n3", "n1", "n1"},
		},
		{
			name: "moves to the next node when memory runs out",
			nodes: func() []*Node {
				nodes := equalNodes(3, 8*core, 1*gi)
				return nodes
			},
			replicas: 6,
			want:     []string{"n1", "n1", "n1", "n1", "n2", "n2"},
		},
		{
			name: "replicas of the service only break ties",
			nodes: func() []*Node {
				nodes := equalNodes(2, 4*core, 4*gi)
				// Equally full, but n1 already holds one of ours.
				nodes[0].Allocated, nodes[0].ServiceReplicas = replica, 1
				nodes[1].Allocated = replica
				return nodes
			},
			replicas: 1,
			want:     []string{"n2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := placeAll(t, New(tt.nodes(), Request{Resources: replica, Strategy: api.StrategyBinpack}, 1), tt.replicas)
			if !slices.Equal(got, tt.want) {
				t.Errorf("placements = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBinpackSkipsNodesThatCannotFit(t *testing.T) {
	nodes := equalNodes(3, 4*core, 4*gi)
	nodes[0].Status = api.NodeDown
	nodes[1].HostPorts = map[int]bool{8080: true}
	p := New(nodes, Request{Resources: api.Resources{CPU: core}, HostPorts: []int{8080}, Strategy: api.StrategyBinpack}, 1)
	placeAll(t, p, 1)
	if got, want := replicasByNode(nodes), map[string]int{"n3": 1}; !maps.Equal(got, want) {
		t.Errorf("replicas per node = %v, want %v", got, want)
	}
	if _, ok := p.Place(""); ok {
		t.Error("a second replica needing host port 8080 was placed")
	}
}
