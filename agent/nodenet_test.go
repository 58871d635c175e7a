package agent

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
)

// fakeNodeNetwork records what the agent asked of the node's network;
// SetRoutesFn scripts failures.
type fakeNodeNetwork struct {
	mu          sync.Mutex
	routes      [][]PeerRoute
	vips        [][]netip.Addr
	SetRoutesFn func([]PeerRoute) error
}

func (f *fakeNodeNetwork) SetVIPs(vips []netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.vips = append(f.vips, vips)
	return nil
}

func (f *fakeNodeNetwork) SetRoutes(routes []PeerRoute) error {
	if f.SetRoutesFn != nil {
		if err := f.SetRoutesFn(routes); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes = append(f.routes, routes)
	return nil
}

func (f *fakeNodeNetwork) lastRoutes() ([]PeerRoute, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.routes) == 0 {
		return nil, 0
	}
	return f.routes[len(f.routes)-1], len(f.routes)
}

func route(subnet, via string) PeerRoute {
	return PeerRoute{Subnet: netip.MustParsePrefix(subnet), Via: netip.MustParseAddr(via)}
}

func TestPeerRoutesLeaveOutSelfLoopbackAndNodesWithoutSubnets(t *testing.T) {
	nodes := []*api.Node{
		{Name: "n3", Address: "10.199.0.103", Subnet: "10.200.3.0/24"},
		{Name: "n1", Address: "10.199.0.101", Subnet: "10.200.1.0/24"},
		{Name: "n2", Address: "10.199.0.102", Subnet: "10.200.2.0/24"},
		{Name: "sim", Address: "127.0.0.1", Subnet: "127.128.0.0/24"},
		{Name: "new", Address: "10.199.0.104"},
		{Name: "odd", Address: "not-an-ip", Subnet: "10.200.5.0/24"},
	}
	got := peerRoutes("n1", nodes)
	want := []PeerRoute{route("10.200.2.0/24", "10.199.0.102"), route("10.200.3.0/24", "10.199.0.103")}
	if !slices.Equal(got, want) {
		t.Fatalf("routes %v, want %v", got, want)
	}
}

func TestServiceVIPsAreSortedUniqueAndSkipHeadlessServices(t *testing.T) {
	got := serviceVIPs([]api.ServiceEndpoints{
		{Name: "b", VIP: "10.201.0.9"}, {Name: "a", VIP: "10.201.0.2"},
		{Name: "h", Headless: true}, {Name: "dup", VIP: "10.201.0.2"}, {Name: "none"},
	})
	want := []netip.Addr{netip.MustParseAddr("10.201.0.2"), netip.MustParseAddr("10.201.0.9")}
	if !slices.Equal(got, want) {
		t.Fatalf("VIPs %v, want %v", got, want)
	}
}

func TestAgentKeepsPeerRoutesInStepWithTheNodeList(t *testing.T) {
	servers, nn := newFakeServers(), &fakeNodeNetwork{}
	failures := 1
	var mu sync.Mutex
	nn.SetRoutesFn = func([]PeerRoute) error {
		mu.Lock()
		defer mu.Unlock()
		if failures > 0 {
			failures--
			return errors.New("netlink: busy")
		}
		return nil
	}
	servers.setNodes(&api.Node{Name: "n1", Address: "10.199.0.101", Subnet: "10.200.1.0/24"},
		&api.Node{Name: "n2", Address: "10.199.0.102", Subnet: "10.200.2.0/24"})
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	a, err := New(Config{Name: "n1", Runtime: "containerd", Network: nn, Capacity: api.Resources{CPU: 1000, Memory: 1 << 30}, Clock: fake},
		servers, func(*api.Node) (Runtime, error) { return NewNullRuntime(), nil })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	ta := &testAgent{t: t, clock: fake}

	// The first attempt fails and is retried a second later.
	ta.until("routes to n2", func() bool {
		r, _ := nn.lastRoutes()
		return slices.Equal(r, []PeerRoute{route("10.200.2.0/24", "10.199.0.102")})
	})
	servers.setNodes(&api.Node{Name: "n1", Address: "10.199.0.101", Subnet: "10.200.1.0/24"},
		&api.Node{Name: "n3", Address: "10.199.0.103", Subnet: "10.200.3.0/24"})
	ta.until("n2's route replaced by n3's", func() bool {
		r, _ := nn.lastRoutes()
		return slices.Equal(r, []PeerRoute{route("10.200.3.0/24", "10.199.0.103")})
	})
	_, calls := nn.lastRoutes()
	// A change elsewhere in the node list (n3 re-registers) that leaves
	// the routes alone does not touch them.
	servers.setNodes(&api.Node{Name: "n1", Address: "10.199.0.101", Subnet: "10.200.1.0/24", Status: api.NodeDown},
		&api.Node{Name: "n3", Address: "10.199.0.103", Subnet: "10.200.3.0/24"})
	servers.setNodes(&api.Node{Name: "n1", Address: "10.199.0.101", Subnet: "10.200.1.0/24"},
		&api.Node{Name: "n3", Address: "10.199.0.103", Subnet: "10.200.3.0/24"}, &api.Node{Name: "n4", Address: "10.199.0.104", Subnet: "10.200.4.0/24"})
	ta.until("n4's route", func() bool {
		r, _ := nn.lastRoutes()
		return len(r) == 2
	})
	if _, now := nn.lastRoutes(); now != calls+1 {
		t.Fatalf("SetRoutes called %d times after the unchanged update, want %d", now, calls+1)
	}
}
