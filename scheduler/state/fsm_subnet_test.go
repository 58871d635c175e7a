package state

import (
	"testing"

	"flotilla/api"
)

func registerIn(h *harness, name, pool string) *api.Node {
	h.t.Helper()
	h.ok(CmdRegisterNode, &RegisterNode{Name: name, SubnetPool: pool, Time: h.next(),
		Registration: api.NodeRegistration{Capacity: nodeCapacity, Runtime: "sim"}})
	return h.node(name)
}

func TestNodesGetDistinctSubnetsThatSurviveReRegistration(t *testing.T) {
	h := newHarness(t)
	const pool = "127.128.0.0/10"
	n1 := registerIn(h, "n1", pool)
	n2 := registerIn(h, "n2", pool)
	if n1.Subnet != "127.128.0.0/24" || n2.Subnet != "127.128.1.0/24" {
		t.Fatalf("subnets %q and %q, want the pool's first two /24s", n1.Subnet, n2.Subnet)
	}
	if again := registerIn(h, "n1", pool); again.Subnet != n1.Subnet {
		t.Fatalf("re-registration moved n1 from %s to %s", n1.Subnet, again.Subnet)
	}
	h.nodeStatus("n1", api.NodeDown)
	if back := registerIn(h, "n1", pool); back.Subnet != n1.Subnet {
		t.Fatalf("a node back from down got %s, want its own %s", back.Subnet, n1.Subnet)
	}
	if n3 := registerIn(h, "n3", pool); n3.Subnet != "127.128.2.0/24" {
		t.Fatalf("n3 got %s", n3.Subnet)
	}
}

func TestSubnetsSpanTheSecondOctetOfALargePool(t *testing.T) {
	h := newHarness(t)
	var last *api.Node
	for i := 0; i < 257; i++ {
		last = registerIn(h, "n"+string(rune('a'+i/26))+string(rune('a'+i%26)), "127.128.0.0/10")
	}
	if last.Subnet != "127.129.0.0/24" {
		t.Fatalf("the 257th node got %s, want 127.129.0.0/24", last.Subnet)
	}
	small := newHarness(t)
	registerIn(small, "a", "10.9.8.0/24")
	if b := registerIn(small, "b", "10.9.8.0/24"); b.Subnet != "" {
		t.Fatalf("an exhausted pool gave %q", b.Subnet)
	}
}

func TestNodesWithoutAPoolGetNoSubnet(t *testing.T) {
	h := newHarness(t)
	if n := registerIn(h, "fake", ""); n.Subnet != "" {
		t.Fatalf("subnet %q without a pool", n.Subnet)
	}
}

func TestRevisionsStillRunningAreNotPruned(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	spec := decodeSpec(t, webYAML) // revisionHistory 3
	h.upsert(spec)
	h.place("web", "e1", "r1@n1") // an allocation of revision 1 keeps running
	for v := 2; v <= 5; v++ {
		spec.Args = []string{"--version", "v" + string(rune('0'+v))}
		h.upsert(spec)
	}
	var kept []int
	for _, r := range h.snap().Revisions(nil, "default", "web") {
		kept = append(kept, r.Revision)
	}
	if len(kept) != 4 || kept[0] != 1 || kept[1] != 3 {
		t.Fatalf("kept revisions %v, want [1 3 4 5]: 1 still runs", kept)
	}
}
