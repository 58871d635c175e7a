package placement

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"flotilla/api"
)

func TestSpreadLargeClusterStaysEven(t *testing.T) {
	if testing.Short() {
		t.Skip("places 100,000 replicas")
	}
	tests := []struct {
		name  string
		setup func(rng *rand.Rand, n *Node)
	}{
		{"equal empty nodes", func(*rand.Rand, *Node) {}},
		{"nodes of three sizes, partly used by other services", func(rng *rand.Rand, n *Node) {
			n.Capacity.CPU = 2 * core << rng.IntN(3)
			n.Allocated.CPU = api.CPU(rng.Int64N(int64(n.Capacity.CPU) / 2))
		}},
		{"replicas already running on most nodes", func(rng *rand.Rand, n *Node) {
			n.ServiceReplicas = rng.IntN(6)
		}},
	}
	const nodeCount, replicas = 10_000, 100_000
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			nodes := equalNodes(nodeCount, 8*core, 16*gi)
			existing := 0
			for _, n := range nodes {
				tt.setup(rng, n)
				existing += n.ServiceReplicas
			}
			placeAll(t, New(nodes, Request{Resources: api.Resources{CPU: 100, Memory: 128 * mi}}, 7), replicas)

			low, high := nodes[0].ServiceReplicas, 0
			for _, n := range nodes {
				if !n.Allocated.Fits(n.Capacity) {
					t.Fatalf("%s is over capacity: %+v of %+v", n.Name, n.Allocated, n.Capacity)
				}
				low, high = min(low, n.ServiceReplicas), max(high, n.ServiceReplicas)
			}
			mean := float64(existing+replicas) / nodeCount
			t.Logf("replicas per node: min %d, max %d, mean %.1f", low, high, mean)
			if float64(high) > 2*mean || high-low > 3 {
				t.Errorf("uneven spread: min %d, max %d, mean %.1f", low, high, mean)
			}
		})
	}
}

func TestBinpackLargeClusterFillsFewNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("places 20,000 replicas")
	}
	nodes := equalNodes(10_000, 8*core, 16*gi)
	req := Request{Resources: api.Resources{CPU: core, Memory: 128 * mi}, Strategy: api.StrategyBinpack}
	placeAll(t, New(nodes, req, 7), 20_000) // eight per node: 2,500 nodes at best
	used := 0
	for _, n := range nodes {
		if n.ServiceReplicas > 0 {
			used++
		}
		if !n.Allocated.Fits(n.Capacity) {
			t.Fatalf("%s is over capacity", n.Name)
		}
	}
	if used > 2_500*105/100 {
		t.Errorf("binpack used %d nodes, want about 2,500", used)
	}
}

func TestLargeClusterPlacesOnTheFewNodesThatMatch(t *testing.T) {
	nodes := equalNodes(10_000, 8*core, 16*gi)
	for i, n := range nodes {
		n.Labels = map[string]string{"gpu": "no"}
		if i%100 == 0 {
			n.Labels["gpu"] = "yes"
		}
	}
	p := New(nodes, Request{Resources: api.Resources{CPU: 100}, Constraints: constraints(t, "gpu == yes")}, 3)
	placeAll(t, p, 1_000)
	for i, n := range nodes {
		if want := 0; i%100 != 0 && n.ServiceReplicas != want {
			t.Fatalf("%s does not match and holds %d replicas", n.Name, n.ServiceReplicas)
		}
		if i%100 == 0 && (n.ServiceReplicas < 9 || n.ServiceReplicas > 11) {
			t.Errorf("%s holds %d replicas, want about 10", n.Name, n.ServiceReplicas)
		}
	}
}

func TestPlacementLooksAtFewNodesWhenManyFit(t *testing.T) {
	nodes := equalNodes(10_000, 8*core, 16*gi)
	p := New(nodes, Request{Resources: api.Resources{CPU: 100}}, 3)
	for i := 1; i <= 3; i++ {
		placeAll(t, p, 1)
		if want := i * sampleLimit(len(nodes)); p.cursor != want {
			t.Errorf("after %d placements the walk is at %d, want %d", i, p.cursor, want)
		}
	}
}

func ExampleFailure_String() {
	nodes := equalNodes(6, 4*core, 1*gi)
	nodes[5].Status = api.NodeDown
	p := New(nodes, Request{Resources: api.Resources{CPU: 250, Memory: 2 * gi}}, 1)
	if _, ok := p.Place(""); !ok {
		fmt.Println(p.Failure())
	}
	// Output: no node fits: insufficient memory on 5 nodes, node down on 1 node
}
