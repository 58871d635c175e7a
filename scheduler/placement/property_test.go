package placement

import (
	"fmt"
	"maps"
	"testing"

	"pgregory.net/rapid"

	"flotilla/api"
)

// TestPlaceInvariants: Place never puts a node over its capacity or reuses
// a host port, changes only the node it returns, places on the avoided node
// only when no other fits, and fails only when Check refuses every node,
// with a Failure that counts each node's reason. On small clusters, where
// every node is scored, it also picks the best node by the strategy.
func TestPlaceInvariants(t *testing.T) {
	statuses := []string{api.NodeReady, api.NodeReady, api.NodeReady, api.NodeDown, api.NodeDraining}
	constraintPool := constraints(t, "zone != b", "zone in (a, c)", "zone == a", "node.name != n1", "zone not in (c)")
	rapid.Check(t, func(t *rapid.T) {
		sampled := rapid.Bool().Draw(t, "sampled")
		nodes := make([]*Node, rapid.IntRange(0, 12).Draw(t, "nodes"))
		for i := range nodes {
			capacity := api.Resources{
				CPU:    api.CPU(rapid.IntRange(0, 8).Draw(t, "cores") * 500),
				Memory: api.Memory(rapid.IntRange(0, 8).Draw(t, "memory") * 256 * int(mi)),
			}
			n := &Node{
				Name:     fmt.Sprintf("n%d", i+1),
				Status:   rapid.SampledFrom(statuses).Draw(t, "status"),
				Eligible: rapid.IntRange(0, 5).Draw(t, "eligible") > 0,
				Capacity: capacity,
				Allocated: api.Resources{
					CPU:    api.CPU(rapid.Int64Range(0, int64(capacity.CPU)).Draw(t, "cpu used")),
					Memory: api.Memory(rapid.Int64Range(0, int64(capacity.Memory)).Draw(t, "memory used")),
				},
				ServiceReplicas: rapid.IntRange(0, 3).Draw(t, "replicas"),
			}
			if zone := rapid.SampledFrom([]string{"", "a", "b", "c"}).Draw(t, "zone"); zone != "" {
				n.Labels = map[string]string{"zone": zone}
			}
			if rapid.Bool().Draw(t, "port 8080 taken") {
				n.HostPorts = map[int]bool{8080: true}
			}
			nodes[i] = n
		}
		req := Request{
			Resources: api.Resources{
				CPU:    api.CPU(rapid.IntRange(0, 4).Draw(t, "request cpu") * 250),
				Memory: api.Memory(rapid.IntRange(0, 4).Draw(t, "request memory") * 128 * int(mi)),
			},
			HostPorts: rapid.SampledFrom([][]int{nil, {8080}, {9090}, {9090, 8080}}).Draw(t, "host ports"),
			Strategy:  rapid.SampledFrom([]string{"", api.StrategySpread, api.StrategyBinpack}).Draw(t, "strategy"),
		}
		for range rapid.IntRange(0, 2).Draw(t, "constraints") {
			req.Constraints = append(req.Constraints, rapid.SampledFrom(constraintPool).Draw(t, "constraint"))
		}
		exactMax := exactUpTo
		if sampled {
			exactMax = 0
		}
		p := newPlacer(nodes, req, rapid.Uint64().Draw(t, "seed"), exactMax)

		for step := range rapid.IntRange(1, 25).Draw(t, "steps") {
			avoid := ""
			if len(nodes) > 0 && rapid.Bool().Draw(t, "avoid one") {
				avoid = rapid.SampledFrom(nodes).Draw(t, "avoid").Name
			}
			before := make([]Node, len(nodes))
			refusals := make(map[string]int)
			best := -1
			var bestRank rank
			for i, n := range nodes {
				before[i] = *n
				before[i].HostPorts = maps.Clone(n.HostPorts)
				if reason := Check(n, &req); reason != "" {
					refusals[reason]++
				} else if n.Name != avoid {
					if r := rankOf(i, n, &req); best < 0 || better(req.Strategy == api.StrategyBinpack, &r, &bestRank) {
						best, bestRank = i, r
					}
				}
			}

			chosen, ok := p.Place(avoid)
			if !ok {
				if len(refusals) == 0 && len(nodes) > 0 || sumOf(refusals) != len(nodes) {
					t.Fatalf("step %d: failed while Check accepts a node (refusals %v)", step, refusals)
				}
				if f := p.Failure(); f.Evaluated != len(nodes) || !maps.Equal(f.Reasons, refusals) {
					t.Fatalf("step %d: Failure %+v, want %d evaluated with %v", step, f, len(nodes), refusals)
				}
				continue
			}
			for i, n := range nodes {
				if n != chosen {
					if n.Allocated != before[i].Allocated || n.ServiceReplicas != before[i].ServiceReplicas || !maps.Equal(n.HostPorts, before[i].HostPorts) {
						t.Fatalf("step %d: %s changed but %s was chosen", step, n.Name, chosen.Name)
					}
					continue
				}
				if reason := Check(&before[i], &req); reason != "" {
					t.Fatalf("step %d: placed on %s, which Check refused: %s", step, n.Name, reason)
				}
				if !n.Allocated.Fits(n.Capacity) {
					t.Fatalf("step %d: %s over capacity: %+v of %+v", step, n.Name, n.Allocated, n.Capacity)
				}
				for _, port := range req.HostPorts {
					if before[i].HostPorts[port] || !n.HostPorts[port] {
						t.Fatalf("step %d: host port %d on %s reused or not recorded", step, port, n.Name)
					}
				}
				if n.Allocated != before[i].Allocated.Add(req.Resources) || n.ServiceReplicas != before[i].ServiceReplicas+1 {
					t.Fatalf("step %d: %s did not record the replica", step, n.Name)
				}
				if n.Name == avoid && best >= 0 {
					t.Fatalf("step %d: placed on avoided %s while %s fits", step, avoid, nodes[best].Name)
				}
				if !sampled && n.Name != avoid && i != best {
					t.Fatalf("step %d: placed on %s, the best by %q is %s", step, n.Name, req.Strategy, nodes[best].Name)
				}
			}
		}
	})
}

func sumOf(m map[string]int) int {
	total := 0
	for _, v := range m {
		total += v
	}
	return total
}
