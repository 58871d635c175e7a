package placement

import (
	"fmt"
	"testing"

	"flotilla/api"
)

// benchNodes is a 10,000-node cluster in three zones, a tenth of it busy
// with other services, as the scheduler worker would build it.
func benchNodes() []*Node {
	nodes := make([]*Node, 10_000)
	for i := range nodes {
		n := readyNode(fmt.Sprintf("node-%05d", i), 16*core, 64*gi)
		n.Labels = map[string]string{"zone": string(rune('a' + i%3))}
		if i%10 == 0 {
			n.Allocated = api.Resources{CPU: 4 * core, Memory: 8 * gi}
		}
		nodes[i] = n
	}
	return nodes
}

// benchPlace measures one Place; it rebuilds the cluster (untimed) every
// 100,000 placements, before it fills up.
func benchPlace(b *testing.B, req Request) {
	var p *Placer
	for i := 0; b.Loop(); i++ {
		if i%100_000 == 0 {
			b.StopTimer()
			p = New(benchNodes(), req, uint64(i))
			b.StartTimer()
		}
		if _, ok := p.Place(""); !ok {
			b.Fatal(p.Failure())
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/placement")
}

func BenchmarkPlaceSpread10kNodes(b *testing.B) {
	benchPlace(b, Request{Resources: api.Resources{CPU: 100, Memory: 128 * mi}, Strategy: api.StrategySpread})
}

func BenchmarkPlaceSpread10kNodesConstrained(b *testing.B) {
	benchPlace(b, Request{Resources: api.Resources{CPU: 100, Memory: 128 * mi}, HostPorts: nil, Constraints: constraints(b, "zone != c")})
}

func BenchmarkPlaceBinpack10kNodes(b *testing.B) {
	benchPlace(b, Request{Resources: api.Resources{CPU: 100, Memory: 128 * mi}, Strategy: api.StrategyBinpack})
}

func BenchmarkNew10kNodes(b *testing.B) {
	nodes := benchNodes()
	req := Request{Resources: api.Resources{CPU: 100, Memory: 128 * mi}}
	b.ReportAllocs()
	for i := uint64(0); b.Loop(); i++ {
		New(nodes, req, i)
	}
}

// BenchmarkEvaluation10kNodes is one evaluation as the worker runs it: a
// new Placer and ten replicas of a fresh service on 10,000 nodes.
func BenchmarkEvaluation10kNodes(b *testing.B) {
	nodes := benchNodes()
	req := Request{Resources: api.Resources{CPU: 1}}
	b.ReportAllocs()
	for i := uint64(0); b.Loop(); i++ {
		p := New(nodes, req, i)
		for range 10 {
			if _, ok := p.Place(""); !ok {
				b.Fatal(p.Failure())
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10), "ns/placement")
}
