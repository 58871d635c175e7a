package scheduler

import (
	"context"
	"io"
	"net/netip"
	"testing"
	"testing/synctest"

	"flotilla/api"
	"flotilla/internal/testutil"
	"flotilla/internal/vnet"
)

// TestServersOnASimulatedNetwork runs three servers on a vnet.Memory
// inside a synctest bubble, where a socket of the host's would block
// virtual time and hang the test: they gossip, elect a leader over Raft,
// and a follower forwards a write to the leader, asks it for a read index
// and probes its peers, all on the simulated network.
func TestServersOnASimulatedNetwork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		testutil.LetGossipProbesEnd(t)
		n := vnet.NewMemory()
		c := startCluster(t, 3, func(cfg *Config) { cfg.Net = n })
		leader := waitLeader(t, c)
		var follower *Server
		for _, s := range c.Servers() {
			if s != leader {
				follower = s
			}
			if ap, err := netip.ParseAddrPort(s.RaftAddr()); err != nil || ap.Addr().IsUnspecified() {
				t.Errorf("%s announces Raft at %q", s.Name(), s.RaftAddr())
			}
		}
		client, err := api.NewClient("http://" + follower.HTTPAddr())
		if err != nil {
			t.Fatal(err)
		}
		client.UseNet(n)
		ctx := context.Background()
		registerNodes(t, ctx, client, 1, api.Resources{CPU: 1000, Memory: 1 << 30})
		nodes, _, err := client.Nodes(ctx, api.QueryOptions{})
		if err != nil || len(nodes) != 1 {
			t.Fatalf("a consistent read on the follower: %d nodes, %v", len(nodes), err)
		}
		peers, err := client.Peers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range peers {
			if p.Status != api.PeerAlive {
				t.Errorf("the follower sees peer %s as %s (%s)", p.ID, p.Status, p.Error)
			}
		}
		if len(peers) != 3 {
			t.Errorf("%d peers, want 3", len(peers))
		}
	})
}

// TestRaftOnASimulatedNetworkNeedsADialableAddress: as raft's TCP
// transport does, the simulated one refuses to announce an unspecified
// address, which no other server could dial.
func TestRaftOnASimulatedNetworkNeedsADialableAddress(t *testing.T) {
	n := vnet.NewMemory()
	if tr, err := newRaftTransport(n, "0.0.0.0:0", io.Discard, nil); err == nil {
		tr.Close()
		t.Fatal("a Raft transport on 0.0.0.0 was made")
	}
	tr, err := newRaftTransport(n, "127.0.0.1:0", io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	// It listens on the simulated network, not the host's.
	if _, err := n.Listen("tcp", string(tr.LocalAddr())); err == nil {
		t.Errorf("the transport's address %s is not taken on the simulated network", tr.LocalAddr())
	}
}
