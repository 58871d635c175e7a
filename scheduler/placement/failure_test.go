package placement

import (
	"maps"
	"strings"
	"testing"

	"flotilla/api"
)

func TestFailureExplainsWhyNothingFits(t *testing.T) {
	req := Request{Resources: api.Resources{CPU: 250, Memory: 2 * gi}, Constraints: constraints(t, "zone != b")}
	mixed := func() []*Node {
		nodes := equalNodes(7, 4*core, 1*gi) // too small in memory
		nodes[0].Status = api.NodeDown
		nodes[1].Status = api.NodeDraining
		nodes[2].Labels = map[string]string{"zone": "b"}
		nodes[3].Labels = map[string]string{"zone": "b"}
		return nodes
	}
	tests := []struct {
		name  string
		nodes []*Node
		want  string
		count map[string]int
	}{
		{
			name:  "five nodes too small in memory",
			nodes: equalNodes(5, 4*core, 1*gi),
			want:  "no node fits: insufficient memory on 5 nodes",
			count: map[string]int{ReasonMemory: 5},
		},
		{
			name:  "mixed reasons by count, then by name",
			nodes: mixed(),
			want:  `no node fits: insufficient memory on 3 nodes, constraint "zone != b" on 2 nodes, node down on 1 node, node draining on 1 node`,
			count: map[string]int{ReasonMemory: 3, `constraint "zone != b"`: 2, ReasonDown: 1, ReasonDraining: 1},
		},
		{
			name:  "no nodes at all",
			nodes: nil,
			want:  "no node fits: there are no nodes",
			count: map[string]int{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New(tt.nodes, req, 1)
			if n, ok := p.Place(""); ok {
				t.Fatalf("placed on %s", n.Name)
			}
			f := p.Failure()
			if got := f.String(); got != tt.want {
				t.Errorf("Failure() = %q\nwant        %q", got, tt.want)
			}
			if f.Evaluated != len(tt.nodes) {
				t.Errorf("Evaluated = %d, want %d", f.Evaluated, len(tt.nodes))
			}
			if !maps.Equal(f.Reasons, tt.count) {
				t.Errorf("Reasons = %v, want %v", f.Reasons, tt.count)
			}
		})
	}
}

func TestFailureString(t *testing.T) {
	tests := []struct {
		name    string
		reasons map[string]int
		want    string
	}{
		{"one node is singular", map[string]int{ReasonCPU: 1}, "no node fits: insufficient cpu on 1 node"},
		{"equal counts sort by name", map[string]int{"port 8080 in use": 2, ReasonCPU: 2, ReasonIneligible: 2}, "no node fits: insufficient cpu on 2 nodes, node ineligible on 2 nodes, port 8080 in use on 2 nodes"},
		{"larger counts first", map[string]int{ReasonDown: 1, ReasonMemory: 12}, "no node fits: insufficient memory on 12 nodes, node down on 1 node"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Failure{Reasons: tt.reasons}).String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPlaceFailsOnceTheClusterIsFullAndKeepsFailing(t *testing.T) {
	nodes := equalNodes(3, 1*core, 4*gi)
	p := New(nodes, Request{Resources: api.Resources{CPU: 500, Memory: mi}}, 1)
	placeAll(t, p, 6)
	for range 2 {
		if n, ok := p.Place(""); ok {
			t.Fatalf("seventh replica placed on %s", n.Name)
		}
		if got := p.Failure().String(); got != "no node fits: insufficient cpu on 3 nodes" {
			t.Errorf("Failure() = %q", got)
		}
	}
	for _, n := range nodes {
		if n.ServiceReplicas != 2 {
			t.Errorf("%s holds %d replicas, want 2", n.Name, n.ServiceReplicas)
		}
	}
}

func TestFailureOnALargeClusterCountsEveryNode(t *testing.T) {
	nodes := equalNodes(500, 4*core, 4*gi)
	for i, n := range nodes {
		if i%5 == 0 {
			n.Eligible = false
		}
	}
	p := New(nodes, Request{Resources: api.Resources{CPU: 3 * core}}, 7)
	placeAll(t, p, 400) // one on every eligible node
	if _, ok := p.Place(""); ok {
		t.Fatal("placed a replica on a full cluster")
	}
	f := p.Failure()
	if f.Evaluated != 500 || !maps.Equal(f.Reasons, map[string]int{ReasonCPU: 400, ReasonIneligible: 100}) {
		t.Errorf("Failure = %+v", f)
	}
	if !strings.HasPrefix(f.String(), "no node fits: insufficient cpu on 400 nodes, node ineligible on 100 nodes") {
		t.Errorf("Failure() = %q", f)
	}
}
