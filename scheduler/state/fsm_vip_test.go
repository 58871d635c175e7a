package state

import (
	"testing"
)

const vipPool = "127.64.0.0/16"

func (h *harness) upsertIn(yaml string) *UpsertServiceResult {
	h.t.Helper()
	return h.ok(CmdUpsertService, &UpsertService{Spec: decodeSpec(h.t, yaml), VIPPool: vipPool, Time: h.next()}).(*UpsertServiceResult)
}

func TestServicesGetStableDistinctVIPs(t *testing.T) {
	h := newHarness(t)
	h.upsertIn("kind: Service\nname: a\nimage: demo\n")
	h.upsertIn("kind: Service\nname: b\nimage: demo\n")
	h.upsertIn("kind: Service\nname: headless\nimage: demo\nclusterIP: none\n")
	vip := func(name string) string { return h.snap().Service(nil, "default", name).VIP }
	if vip("a") != "127.64.0.1" || vip("b") != "127.64.0.2" {
		t.Fatalf("VIPs %q %q, want the pool's first two usable addresses", vip("a"), vip("b"))
	}
	if vip("headless") != "" {
		t.Fatalf("a headless service got VIP %q", vip("headless"))
	}
	h.upsertIn("kind: Service\nname: a\nimage: demo\nargs: [--version, v2]\nreplicas: 4\n")
	if vip("a") != "127.64.0.1" {
		t.Fatalf("an update moved a's VIP to %s", vip("a"))
	}
	// The address a deleted service gave back is not the next one given:
	// clients that still send to it would reach the new service.
	h.ok(CmdDeleteService, &DeleteService{Namespace: "default", Name: "a", Time: h.next()})
	h.upsertIn("kind: Service\nname: c\nimage: demo\n")
	if vip("c") != "127.64.0.3" {
		t.Fatalf("c got %s, want the next address, not the one the deleted a gave back", vip("c"))
	}
	h.upsertIn("kind: Service\nname: headless\nimage: demo\n")
	if vip("headless") != "127.64.0.4" {
		t.Fatalf("a service that stopped being headless got %q", vip("headless"))
	}
}

// Once the pool has gone round, the addresses deleted services gave back
// are given again; a full pool gives none.
func TestVIPsGoRoundThePool(t *testing.T) {
	h := newHarness(t)
	vip := func(name string) string { return h.snap().Service(nil, "default", name).VIP }
	small := "127.64.0.0/29" // .1 to .7 usable
	upsert := func(name string) {
		h.ok(CmdUpsertService, &UpsertService{Spec: decodeSpec(t, "kind: Service\nname: "+name+"\nimage: demo\n"), VIPPool: small, Time: h.next()})
	}
	for _, n := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		upsert(n)
	}
	if vip("g") != "127.64.0.7" {
		t.Fatalf("g got %s", vip("g"))
	}
	h.ok(CmdDeleteService, &DeleteService{Namespace: "default", Name: "c", Time: h.next()})
	upsert("h")
	if vip("h") != "127.64.0.3" {
		t.Fatalf("h got %q, want c's address once the pool went round", vip("h"))
	}
	upsert("i")
	if vip("i") != "" {
		t.Fatalf("i got %q from a full pool", vip("i"))
	}
	if l := h.snap().LatestIndex(); l != h.index {
		t.Fatalf("latest index %d, want %d: the cursor is not a Raft index", l, h.index)
	}
}

func TestVIPsSkipNetworkAndBroadcastLookingAddresses(t *testing.T) {
	h := newHarness(t)
	var last string
	for i := 0; i < 255; i++ {
		h.upsertIn("kind: Service\nname: s" + string(rune('a'+i/26)) + string(rune('a'+i%26)) + "\nimage: demo\n")
	}
	for _, s := range h.snap().Services(nil) {
		if s.VIP == "127.64.0.255" || s.VIP == "127.64.1.0" || s.VIP == "127.64.0.0" {
			t.Fatalf("service %s got %s", s.Name, s.VIP)
		}
		last = max(last, s.VIP)
	}
	if last != "127.64.1.1" {
		t.Fatalf("the 255th VIP is %s, want 127.64.1.1", last)
	}
}
