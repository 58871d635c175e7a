package placement

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"flotilla/api"
)

func TestAvoid(t *testing.T) {
	replica := api.Resources{CPU: 500, Memory: 64 * mi}
	tests := []struct {
		name     string
		nodes    func() []*Node
		strategy string
		avoid    string
		want     string
	}{
		{"spread places elsewhere", func() []*Node { return equalNodes(3, 4*core, 4*gi) }, api.StrategySpread, "n1", "n2"},
		{"binpack places elsewhere even on a busier avoided node", func() []*Node {
			nodes := equalNodes(3, 4*core, 4*gi)
			nodes[0].Allocated = api.Resources{CPU: 2 * core, Memory: 2 * gi}
			return nodes
		}, api.StrategyBinpack, "n1", "n2"},
		{"falls back to the avoided node when it is the only one", func() []*Node { return equalNodes(1, 4*core, 4*gi) }, api.StrategySpread, "n1", "n1"},
		{"falls back to the avoided node when the others are full", func() []*Node {
			nodes := equalNodes(3, 4*core, 4*gi)
			nodes[1].Allocated.CPU = 4 * core
			nodes[2].Status = api.NodeDown
			return nodes
		}, api.StrategySpread, "n1", "n1"},
		{"an unknown name changes nothing", func() []*Node { return equalNodes(3, 4*core, 4*gi) }, api.StrategySpread, "n9", "n1"},
		{"avoiding on a large cluster", func() []*Node {
			nodes := equalNodes(300, 4*core, 4*gi)
			for _, n := range nodes[2:] {
				n.Eligible = false
			}
			return nodes
		}, api.StrategySpread, "n1", "n2"},
		{"falling back on a large cluster", func() []*Node {
			nodes := equalNodes(300, 4*core, 4*gi)
			for _, n := range nodes[1:] {
				n.Status = api.NodeDraining
			}
			return nodes
		}, api.StrategyBinpack, "n1", "n1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, ok := New(tt.nodes(), Request{Resources: replica, Strategy: tt.strategy}, 1).Place(tt.avoid)
			if !ok {
				t.Fatal("nothing placed")
			}
			if n.Name != tt.want {
				t.Errorf("placed on %s, want %s", n.Name, tt.want)
			}
		})
	}
}

func TestAvoidedNodeThatDoesNotFitFails(t *testing.T) {
	nodes := equalNodes(2, 1*core, gi)
	nodes[1].Status = api.NodeDown
	p := New(nodes, Request{Resources: api.Resources{CPU: 2 * core}}, 1)
	if _, ok := p.Place("n1"); ok {
		t.Fatal("placed a replica that fits nowhere")
	}
	if got, want := p.Failure().String(), "no node fits: insufficient cpu on 1 node, node down on 1 node"; got != want {
		t.Errorf("Failure() = %q, want %q", got, want)
	}
}

func TestSameSeedSameChoices(t *testing.T) {
	for _, strategy := range []string{api.StrategySpread, api.StrategyBinpack} {
		t.Run(strategy, func(t *testing.T) {
			run := func(seed uint64) []string {
				nodes := equalNodes(1000, 4*core, 4*gi)
				for i, n := range nodes {
					n.Allocated.CPU = api.CPU(i % 7 * 100) // other services
				}
				return placeAll(t, New(nodes, Request{Resources: api.Resources{CPU: 250, Memory: 64 * mi}, Strategy: strategy}, seed), 500)
			}
			first := run(42)
			if again := run(42); !slices.Equal(first, again) {
				t.Error("the same seed gave different placements")
			}
			if other := run(43); slices.Equal(first, other) {
				t.Error("seeds 42 and 43 gave the same 500 placements")
			}
		})
	}
}

func TestSmallClustersIgnoreTheSeed(t *testing.T) {
	run := func(seed uint64) []string {
		return placeAll(t, New(equalNodes(exactUpTo, 4*core, 4*gi), Request{Resources: api.Resources{CPU: 250}}, seed), 300)
	}
	if !slices.Equal(run(1), run(2)) {
		t.Error("exact placement on a small cluster depends on the seed")
	}
}

func TestOrderIsAPermutation(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 5, 101, 1000, 1025, 10_000} {
		o := newOrder(n, uint64(n))
		seen := make([]bool, n)
		for pos := range n {
			i := o.at(pos)
			if i < 0 || i >= n || seen[i] {
				t.Fatalf("n=%d: position %d gives %d twice or out of range", n, pos, i)
			}
			seen[i] = true
		}
		// Another order of the same seed is the same permutation.
		again := newOrder(n, uint64(n))
		for pos := range n {
			if o.at(pos) != again.at(pos) {
				t.Fatalf("n=%d: position %d differs for the same seed", n, pos)
			}
		}
	}
}

func TestSampleLimit(t *testing.T) {
	for _, tt := range []struct{ nodes, want int }{{1, 4}, {16, 4}, {17, 5}, {101, 7}, {1024, 10}, {1025, 11}, {10_000, 14}, {100_000, 17}} {
		if got := sampleLimit(tt.nodes); got != tt.want {
			t.Errorf("sampleLimit(%d) = %d, want %d", tt.nodes, got, tt.want)
		}
	}
}

func TestLoaderFillsUsageOnlyForNodesLookedAt(t *testing.T) {
	var nodes []*Node
	for i := 0; i < 1000; i++ {
		nodes = append(nodes, &Node{Name: fmt.Sprintf("n%04d", i), Status: api.NodeReady, Eligible: true,
			Capacity: api.Resources{CPU: 1000, Memory: 1 << 30}, Labels: map[string]string{"zone": fmt.Sprint(i % 2)}})
	}
	req := Request{Resources: api.Resources{CPU: 600, Memory: 1 << 20},
		Constraints: []api.Constraint{{Key: "zone", Op: api.OpEqual, Values: []string{"0"}}}}
	p := New(nodes, req, 42)
	loads := map[string]int{}
	p.SetLoader(func(n *Node) {
		loads[n.Name]++
		n.Allocated = api.Resources{CPU: 500} // every node is half full
	})
	if _, ok := p.Place(""); ok {
		t.Fatal("placed 600m on nodes with 500m free")
	}
	if len(loads) != 500 {
		t.Fatalf("loaded %d nodes, want the 500 that pass the constraint", len(loads))
	}
	for name, n := range loads {
		if n != 1 {
			t.Fatalf("%s loaded %d times", name, n)
		}
	}
	if got := p.Failure().String(); !strings.Contains(got, "insufficient cpu on 500 nodes") {
		t.Fatalf("failure = %q", got)
	}

	// With room everywhere a placement loads only the nodes it samples.
	q := New(nodes, Request{Resources: api.Resources{CPU: 100, Memory: 1 << 20}}, 42)
	sampled := 0
	q.SetLoader(func(n *Node) { sampled++ })
	if _, ok := q.Place(""); !ok {
		t.Fatal("no placement")
	}
	if sampled == 0 || sampled > 2*sampleLimit(len(nodes)) {
		t.Fatalf("loaded %d nodes for one placement, want about %d", sampled, sampleLimit(len(nodes)))
	}
}
