package placement

import (
	"maps"
	"slices"
	"testing"

	"flotilla/api"
)

func TestSpread(t *testing.T) {
	replica := api.Resources{CPU: 250, Memory: 64 * mi}
	zoned := func() []*Node {
		nodes := equalNodes(5, 4*core, 4*gi)
		for i, z := range []string{"a", "b", "a", "b", "c"} {
			nodes[i].Labels = map[string]string{"zone": z}
		}
		return nodes
	}
	withReplicas := func(counts ...int) []*Node {
		nodes := equalNodes(len(counts), 4*core, 4*gi)
		for i, c := range counts {
			nodes[i].ServiceReplicas = c
			nodes[i].Allocated = api.Resources{CPU: api.CPU(c) * replica.CPU, Memory: api.Memory(c) * replica.Memory}
		}
		return nodes
	}
	tests := []struct {
		name     string
		nodes    []*Node
		req      Request
		replicas int
		want     map[string]int // replicas per node afterwards
	}{
		{
			name:     "ten replicas on five equal nodes go two on each",
			nodes:    equalNodes(5, 4*core, 4*gi),
			req:      Request{Resources: replica},
			replicas: 10,
			want:     map[string]int{"n1": 2, "n2": 2, "n3": 2, "n4": 2, "n5": 2},
		},
		{
			name:     "an empty strategy is spread",
			nodes:    equalNodes(3, 4*core, 4*gi),
			req:      Request{Resources: replica, Strategy: ""},
			replicas: 3,
			want:     map[string]int{"n1": 1, "n2": 1, "n3": 1},
		},
		{
			name:     "a constraint excluding two nodes spreads over the other three",
			nodes:    zoned(),
			req:      Request{Resources: replica, Strategy: api.StrategySpread, Constraints: constraints(t, "zone != b")},
			replicas: 6,
			want:     map[string]int{"n1": 2, "n3": 2, "n5": 2},
		},
		{
			name:     "existing replicas count, so new ones go elsewhere first",
			nodes:    withReplicas(3, 1, 0),
			req:      Request{Resources: replica},
			replicas: 5,
			want:     map[string]int{"n1": 3, "n2": 3, "n3": 3},
		},
		{
			name: "nodes that cannot take one more are left out",
			nodes: func() []*Node {
				nodes := equalNodes(3, 4*core, 4*gi)
				nodes[1].Allocated.Memory = 4 * gi
				return nodes
			}(),
			req:      Request{Resources: replica},
			replicas: 4,
			want:     map[string]int{"n1": 2, "n3": 2},
		},
		{
			name: "host ports keep replicas on separate nodes",
			nodes: func() []*Node {
				nodes := equalNodes(3, 4*core, 4*gi)
				nodes[0].HostPorts = map[int]bool{8080: true}
				return nodes
			}(),
			req:      Request{Resources: replica, HostPorts: []int{8080}},
			replicas: 2,
			want:     map[string]int{"n2": 1, "n3": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			placeAll(t, New(tt.nodes, tt.req, 1), tt.replicas)
			if got := replicasByNode(tt.nodes); !maps.Equal(got, tt.want) {
				t.Errorf("replicas per node = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSpreadFillsUnequalNodesByUtilisation(t *testing.T) {
	// Equal replica counts leave the choice to utilisation: the big node
	// first, then the medium, then the small; once the small one is full
	// (it takes two) the others go on alternating by utilisation.
	nodes := []*Node{
		readyNode("small", 1*core, 4*gi),
		readyNode("medium", 2*core, 4*gi),
		readyNode("big", 4*core, 4*gi),
	}
	got := placeAll(t, New(nodes, Request{Resources: api.Resources{CPU: 500, Memory: 64 * mi}}, 1), 9)
	want := []string{"big", "medium", "small", "big", "medium", "small", "big", "medium", "big"}
	if !slices.Equal(got, want) {
		t.Errorf("placements = %v, want %v", got, want)
	}
}

func TestSpreadPrefersTheLeastUtilisedNode(t *testing.T) {
	// Other services' allocations make n2 the emptiest node, by the mean of
	// its cpu and memory fractions.
	nodes := equalNodes(3, 4*core, 4*gi)
	nodes[0].Allocated = api.Resources{CPU: 2 * core, Memory: 1 * gi} // 0.375
	nodes[1].Allocated = api.Resources{CPU: 1 * core, Memory: 1 * gi} // 0.25
	nodes[2].Allocated = api.Resources{CPU: 0, Memory: 3 * gi}        // 0.375
	n, ok := New(nodes, Request{Resources: api.Resources{CPU: 100, Memory: mi}}, 1).Place("")
	if !ok || n.Name != "n2" {
		t.Fatalf("placed on %v (ok %v), want n2", n, ok)
	}
}

func TestPlaceRecordsThePlacementOnTheNode(t *testing.T) {
	nodes := equalNodes(1, 4*core, 4*gi)
	nodes[0].Allocated = api.Resources{CPU: 100, Memory: mi}
	req := Request{Resources: api.Resources{CPU: 250, Memory: 64 * mi}, HostPorts: []int{8080, 9090}}
	n, ok := New(nodes, req, 1).Place("")
	if !ok || n != nodes[0] {
		t.Fatalf("Place = %v, %v; want the only node", n, ok)
	}
	if want := (api.Resources{CPU: 350, Memory: 65 * mi}); n.Allocated != want {
		t.Errorf("Allocated = %+v, want %+v", n.Allocated, want)
	}
	if !n.HostPorts[8080] || !n.HostPorts[9090] || len(n.HostPorts) != 2 {
		t.Errorf("HostPorts = %v, want 8080 and 9090", n.HostPorts)
	}
	if n.ServiceReplicas != 1 {
		t.Errorf("ServiceReplicas = %d, want 1", n.ServiceReplicas)
	}
}
