package scheduler

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"flotilla/api"
	"flotilla/internal/testutil"
	"flotilla/internal/vnet"
	"flotilla/security/pki"
	"flotilla/security/pki/pkitest"
)

// tlsClient is a client of every server of c over HTTPS with cfg.
func tlsClient(t *testing.T, addrs []string, cfg *tls.Config) *api.Client {
	t.Helper()
	client, err := api.NewClient(strings.Join(addrs, ","))
	if err != nil {
		t.Fatal(err)
	}
	client.UseTLS(cfg)
	client.RetryFor = 2 * time.Second
	return client
}

// TestClusterWithTLSElectsForwardsAndRefusesStrangers: three servers with
// mutual TLS elect a leader over TLS Raft, see each other's APIs over
// HTTPS (peer status), and forward writes from a follower to the leader;
// a client without a certificate, with one of another CA, or speaking
// plain HTTP is refused by the API, and the Raft port refuses anyone who
// is not a server of the CA.
func TestClusterWithTLSElectsForwardsAndRefusesStrangers(t *testing.T) {
	ca, other := pkitest.New(t), pkitest.New(t)
	serverTLS := ca.Mutual(pki.RoleServer)
	var logs testutil.SyncBuffer
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.TLS = serverTLS
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	leader := waitLeader(t, c)
	ctx := context.Background()

	cli := ca.Mutual(pki.RoleCLI).ClientConfig("")
	client := tlsClient(t, c.HTTPAddrs(), cli)
	for _, a := range client.Addresses() {
		if !strings.HasPrefix(a, "https://") {
			t.Fatalf("client address %s: UseTLS left it plain", a)
		}
	}
	eventually(t, 10*time.Second, "every peer alive over HTTPS", func() bool {
		peers, err := client.Peers(ctx)
		if err != nil || len(peers) != 3 {
			return false
		}
		for _, p := range peers {
			if p.Status != api.PeerAlive {
				return false
			}
		}
		return true
	})
	for _, s := range c.Servers() {
		if s == leader {
			continue
		}
		eventually(t, 5*time.Second, "the follower to know the leader's address", func() bool {
			target, err := s.WriteTarget(ctx)
			return err == nil && target == leader.HTTPAddr()
		})
		follower := tlsClient(t, []string{"http://" + s.HTTPAddr()}, cli)
		resp, err := follower.ApplyService(ctx, webSpec(t, "via-"+s.Name(), 0, ""))
		if err != nil {
			t.Fatalf("write through follower %s over TLS: %v", s.Name(), err)
		}
		if !resp.Created {
			t.Fatalf("response %+v", resp)
		}
		// Consistent reads on a follower ask the leader for a read index.
		if _, _, err := follower.Services(ctx, api.QueryOptions{}); err != nil {
			t.Fatalf("consistent read on follower %s: %v", s.Name(), err)
		}
	}

	// A fake-node process multiplexes its nodes' requests: over TLS,
	// HTTP/2 by ALPN.
	mux := tlsClient(t, c.HTTPAddrs(), cli)
	mux.Multiplex()
	if _, _, err := mux.Nodes(ctx, api.QueryOptions{}); err != nil {
		t.Fatalf("a multiplexing client over TLS: %v", err)
	}
	h2 := cli.Clone()
	h2.NextProtos = []string{"h2"}
	conn, err := tls.Dial("tcp", c.Servers()[0].HTTPAddr(), h2)
	if err != nil {
		t.Fatal(err)
	}
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Errorf("the API negotiated %q with a client offering h2", p)
	}
	conn.Close()

	s1 := c.Servers()[0]
	refused := map[string]*tls.Config{
		"no certificate":           ca.NoCertificate(),
		"another CA's certificate": other.Mutual(pki.RoleCLI).ClientConfig(""),
	}
	refused["another CA's certificate"].RootCAs = ca.Roots() // it trusts the servers; they must not trust it
	for what, cfg := range refused {
		if err := pkitest.Handshake(ctx, nil, s1.HTTPAddr(), cfg); err == nil {
			t.Errorf("the API accepted a client with %s", what)
		}
		stranger := tlsClient(t, []string{s1.HTTPAddr()}, cfg)
		stranger.RetryFor = 0
		if _, err := stranger.Leader(ctx); err == nil {
			t.Errorf("the API answered a client with %s", what)
		}
		if err := pkitest.Handshake(ctx, nil, s1.RaftAddr(), cfg); err == nil {
			t.Errorf("Raft accepted a client with %s", what)
		}
	}
	// Raft takes servers only: an agent's certificate of the CA is refused
	// there, and accepted by the API.
	agent := ca.Mutual(pki.RoleAgent).ClientConfig("")
	if err := pkitest.Handshake(ctx, nil, s1.RaftAddr(), agent); err == nil {
		t.Error("Raft accepted an agent's certificate")
	}
	if err := pkitest.Handshake(ctx, nil, s1.HTTPAddr(), agent); err != nil {
		t.Errorf("the API refused an agent's certificate: %v", err)
	}
	if err := pkitest.Handshake(ctx, nil, s1.RaftAddr(), serverTLS.ClientConfig(api.ServerTLSName)); err != nil {
		t.Errorf("Raft refused a server's certificate: %v", err)
	}
	// Plain HTTP gets no API.
	resp, err := http.Get("http://" + s1.HTTPAddr() + "/v1/status/leader")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("the API answered plain HTTP")
		}
	}
	// The refused handshakes are in the servers' own logs.
	eventually(t, 5*time.Second, "a refused handshake in the servers' log", func() bool {
		return strings.Contains(logs.String(), "level=WARN msg=\"http: TLS handshake error")
	})
}

// TestAServerOfAnotherCAIsNotMadeAVoter: a process that gossips as a
// server (it has the gossip key, as every agent's machine does) but holds
// another CA's certificate is not added to the Raft configuration, where
// it would count towards the quorum; a server of the CA is.
func TestAServerOfAnotherCAIsNotMadeAVoter(t *testing.T) {
	ca, other := pkitest.New(t), pkitest.New(t)
	var logs testutil.SyncBuffer
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.TLS = ca.Mutual(pki.RoleServer)
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	leader := waitLeader(t, c)
	voters := func() []string {
		var ids []string
		if f := leader.raft.GetConfiguration(); f.Error() == nil {
			for _, srv := range f.Configuration().Servers {
				ids = append(ids, string(srv.ID))
			}
		}
		return ids
	}
	joinServer(t, "rogue", leader.GossipAddr(), other.Mutual(pki.RoleServer))
	eventually(t, 20*time.Second, "the leader to refuse the rogue", func() bool {
		return strings.Contains(logs.String(), `msg="not adding a raft voter: it is not a server of this cluster's CA" server=rogue`)
	})
	if v := voters(); len(v) != 3 {
		t.Fatalf("voters %v, want the three servers", v)
	}
	joinServer(t, "s4", leader.GossipAddr(), ca.Mutual(pki.RoleServer))
	eventually(t, 20*time.Second, "s4 to become a voter", func() bool { return len(voters()) == 4 })
	if v := voters(); strings.Contains(strings.Join(v, ","), "rogue") {
		t.Fatalf("voters %v", v)
	}
}

// TestServersWithTLSOnASimulatedNetwork: mutual TLS wraps the simulated
// network's connections as the host's (Raft, the API, forwarding, read
// indexes and peer probes), inside a synctest bubble.
func TestServersWithTLSOnASimulatedNetwork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca := pkitest.New(t) // inside the bubble: valid at its clock
		n := vnet.NewMemory()
		testutil.LetGossipProbesEnd(t)
		c := startCluster(t, 3, func(cfg *Config) { cfg.Net, cfg.TLS = n, ca.Mutual(pki.RoleServer) })
		leader := waitLeader(t, c)
		var follower *Server
		for _, s := range c.Servers() {
			if s != leader {
				follower = s
			}
		}
		client, err := api.NewClient(follower.HTTPAddr())
		if err != nil {
			t.Fatal(err)
		}
		client.UseNet(n)
		client.UseTLS(ca.Mutual(pki.RoleCLI).ClientConfig(""))
		ctx := context.Background()
		registerNodes(t, ctx, client, 1, api.Resources{CPU: 1000, Memory: 1 << 30})
		nodes, _, err := client.Nodes(ctx, api.QueryOptions{})
		if err != nil || len(nodes) != 1 {
			t.Fatalf("a consistent read on the follower: %d nodes, %v", len(nodes), err)
		}
		peers, err := client.Peers(ctx)
		if err != nil || len(peers) != 3 {
			t.Fatalf("peers %+v, %v", peers, err)
		}
		for _, p := range peers {
			if p.Status != api.PeerAlive {
				t.Errorf("the follower sees peer %s as %s (%s)", p.ID, p.Status, p.Error)
			}
		}
		if err := pkitest.Handshake(ctx, n.DialContext, follower.HTTPAddr(), ca.NoCertificate()); err == nil {
			t.Error("the API on the simulated network accepted a client without a certificate")
		}
	})
}
