package scheduler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
	"flotilla/internal/testutil"
	"flotilla/network/gossip"
)

func startCluster(t *testing.T, n int, tweak func(*Config)) *LocalCluster {
	t.Helper()
	c, err := StartLocalCluster(t.TempDir(), n, tweak)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func waitLeader(t *testing.T, c *LocalCluster) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := c.WaitForLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func clientFor(t *testing.T, c *LocalCluster) *api.Client {
	t.Helper()
	client, err := api.NewClient(strings.Join(c.HTTPAddrs(), ","))
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

func mustSpec(t *testing.T, doc string) api.ServiceSpec {
	t.Helper()
	specs, err := api.DecodeServices("test", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return specs[0]
}

func webSpec(t *testing.T, name string, replicas int, extra string) api.ServiceSpec {
	return mustSpec(t, fmt.Sprintf("kind: Service\nname: %s\nimage: demo\nreplicas: %d\nresources: {cpu: 250m, memory: 64Mi}\n%s", name, replicas, extra))
}

func registerNodes(t *testing.T, ctx context.Context, client *api.Client, n int, capacity api.Resources) {
	t.Helper()
	for i := 1; i <= n; i++ {
		_, err := client.RegisterNode(ctx, fmt.Sprintf("n%d", i), api.NodeRegistration{
			Capacity: capacity, Labels: map[string]string{"rack": fmt.Sprintf("r%d", i)},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// placedOn counts the allocations meant to run, per node.
func placedOn(t *testing.T, ctx context.Context, client *api.Client, service string) map[string]int {
	t.Helper()
	allocs, _, err := client.Allocations(ctx, api.AllocFilter{Namespace: "default", Service: service}, api.QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, a := range allocs {
		if a.DesiredStatus == api.DesiredRun {
			out[a.Node]++
		}
	}
	return out
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func TestThreeServersFormAClusterAndAgreeOnTheLeader(t *testing.T) {
	c := startCluster(t, 3, nil)
	leader := waitLeader(t, c)
	client := clientFor(t, c)
	ctx := context.Background()
	peers, err := client.Peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(peers) != 3 {
		t.Fatalf("peers = %+v, want 3 voters", peers)
	}
	for _, addr := range c.HTTPAddrs() {
		one, err := api.NewClient(addr)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, "every server to name the leader", func() bool {
			l, err := one.Leader(ctx)
			return err == nil && l.Leader == leader.Name() && l.Address == leader.RaftAddr()
		})
	}
}

func TestFollowersForwardWritesToTheLeader(t *testing.T) {
	c := startCluster(t, 3, nil)
	leader := waitLeader(t, c)
	ctx := context.Background()
	for _, s := range c.Servers() {
		if s == leader {
			continue
		}
		follower, err := api.NewClient("http://" + s.HTTPAddr())
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, "the follower to know the leader's address", func() bool {
			target, err := s.WriteTarget(ctx)
			return err == nil && target == leader.HTTPAddr()
		})
		resp, err := follower.ApplyService(ctx, webSpec(t, "via-"+s.Name(), 0, ""))
		if err != nil {
			t.Fatalf("write through follower %s: %v", s.Name(), err)
		}
		if !resp.Created || resp.Index == 0 {
			t.Fatalf("response %+v", resp)
		}
		eventually(t, 5*time.Second, "the write to reach the follower's state", func() bool {
			return s.Store().Snapshot().Service(nil, "default", "via-"+s.Name()) != nil
		})
	}
}

// TestLeaderFailoverLosesNoAcknowledgedWrite kills the leader between
// writes: every write acknowledged before is on the new leader, writes are
// accepted again quickly, and the killed server rejoins with its data.
func TestLeaderFailoverLosesNoAcknowledgedWrite(t *testing.T) {
	c := startCluster(t, 3, nil)
	old := waitLeader(t, c)
	client := clientFor(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var acked []string
	for i := 0; i < 20; i++ {
		name := fmt.Sprintf("before-%d", i)
		if _, err := client.ApplyService(ctx, webSpec(t, name, 0, "")); err != nil {
			t.Fatal(err)
		}
		acked = append(acked, name)
	}
	if err := c.Kill(old.Name()); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if _, err := client.ApplyService(ctx, webSpec(t, "after-failover", 0, "")); err != nil {
		t.Fatalf("write after failover: %v", err)
	}
	recovered := time.Since(killed)
	t.Logf("a write was accepted %s after the leader was killed", recovered)
	// The goal is 2s on an idle machine; CI machines are shared, so
	// the test bound is generous and the figure is in docs/BENCHMARKS.md.
	if recovered > 10*time.Second {
		t.Fatalf("write accepted only %s after the leader died", recovered)
	}
	acked = append(acked, "after-failover")
	leader := waitLeader(t, c)
	if leader.Name() == old.Name() {
		t.Fatal("the killed server still leads")
	}
	for _, name := range acked {
		if leader.Store().Snapshot().Service(nil, "default", name) == nil {
			t.Fatalf("acknowledged write %s lost after failover", name)
		}
	}
	if err := c.Restart(old.Name()); err != nil {
		t.Fatal(err)
	}
	var restarted *Server
	for _, s := range c.Servers() {
		if s.Name() == old.Name() {
			restarted = s
		}
	}
	eventually(t, 20*time.Second, "the restarted server to catch up", func() bool {
		for _, name := range acked {
			if restarted.Store().Snapshot().Service(nil, "default", name) == nil {
				return false
			}
		}
		return true
	})
	peers, err := client.Peers(ctx)
	if err != nil || len(peers) != 3 {
		t.Fatalf("peers after rejoin = %+v, %v", peers, err)
	}
}

func TestServerRestartedAloneComesBackWithItsState(t *testing.T) {
	c := startCluster(t, 1, nil)
	waitLeader(t, c)
	client := clientFor(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	registerNodes(t, ctx, client, 2, api.Resources{CPU: 4000, Memory: 4 << 30})
	if _, err := client.ApplyService(ctx, webSpec(t, "web", 4, "")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "4 placements", func() bool { return total(placedOn(t, ctx, client, "web")) == 4 })
	if err := c.Kill("s1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart("s1"); err != nil {
		t.Fatal(err)
	}
	waitLeader(t, c)
	if got := placedOn(t, ctx, client, "web"); total(got) != 4 {
		t.Fatalf("after restart: %v", got)
	}
	svc, _, err := client.Service(ctx, "default", "web", api.QueryOptions{})
	if err != nil || svc.Revision != 1 || svc.Replicas != 4 {
		t.Fatalf("service after restart: %+v, %v", svc, err)
	}
}

// TestSchedulingThroughTheAPI is the placement checklist against a
// real server.
func TestSchedulingThroughTheAPI(t *testing.T) {
	c := startCluster(t, 1, nil)
	waitLeader(t, c)
	client := clientFor(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	registerNodes(t, ctx, client, 5, api.Resources{CPU: 2000, Memory: 1 << 30})

	t.Run("spread places 2 per node", func(t *testing.T) {
		if _, err := client.ApplyService(ctx, webSpec(t, "spread", 10, "")); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "10 placements", func() bool { return total(placedOn(t, ctx, client, "spread")) == 10 })
		for node, n := range placedOn(t, ctx, client, "spread") {
			if n != 2 {
				t.Fatalf("%s has %d replicas, want 2 on every node", node, n)
			}
		}
	})

	t.Run("unchanged apply keeps the revision, a change makes a new one", func(t *testing.T) {
		r, err := client.ApplyService(ctx, webSpec(t, "spread", 10, ""))
		if err != nil || r.Changed || r.Revision != 1 {
			t.Fatalf("re-apply: %+v, %v", r, err)
		}
		r, err = client.ApplyService(ctx, webSpec(t, "spread", 10, "args: [--version, v2]\n"))
		if err != nil || !r.Changed || r.Revision != 2 {
			t.Fatalf("changed apply: %+v, %v", r, err)
		}
		eventually(t, 10*time.Second, "revision 2 everywhere", func() bool {
			allocs, _, _ := client.Allocations(ctx, api.AllocFilter{Namespace: "default", Service: "spread"}, api.QueryOptions{})
			live := 0
			for _, a := range allocs {
				if a.DesiredStatus == api.DesiredRun {
					if a.Revision != 2 {
						return false
					}
					live++
				}
			}
			return live == 10
		})
		svcs, _, err := client.Services(ctx, api.QueryOptions{})
		if err != nil || len(svcs) == 0 || svcs[0].Revision != 2 {
			t.Fatalf("services: %+v %v", svcs, err)
		}
	})

	t.Run("a constraint excluding two nodes is honoured", func(t *testing.T) {
		if _, err := client.ApplyService(ctx, webSpec(t, "constrained", 6, "placement: {constraints: [\"rack not in (r1, r2)\"]}\n")); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "6 placements", func() bool { return total(placedOn(t, ctx, client, "constrained")) == 6 })
		got := placedOn(t, ctx, client, "constrained")
		if got["n1"]+got["n2"] != 0 {
			t.Fatalf("placed on excluded nodes: %v", got)
		}
	})

	t.Run("what does not fit is explained and placed once room appears", func(t *testing.T) {
		if _, err := client.ApplyService(ctx, webSpec(t, "huge", 1, "")); err != nil {
			t.Fatal(err)
		}
		huge := webSpec(t, "huge", 1, "")
		huge.Resources.Memory = 2 << 30
		if _, err := client.ApplyService(ctx, huge); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "the placement failure on the service", func() bool {
			s, _, err := client.Service(ctx, "default", "huge", api.QueryOptions{})
			return err == nil && s.Unplaced == 1 && strings.Contains(s.PlacementFailure, "insufficient memory on 5 nodes") &&
				s.Health == api.HealthDegraded && strings.HasPrefix(s.HealthMessage, "1 replica not placed: ")
		})
		if _, err := client.RegisterNode(ctx, "big", api.NodeRegistration{Capacity: api.Resources{CPU: 4000, Memory: 8 << 30}}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "huge placed on the new node", func() bool { return placedOn(t, ctx, client, "huge")["big"] == 1 })
		eventually(t, 10*time.Second, "the failure to clear", func() bool {
			s, _, err := client.Service(ctx, "default", "huge", api.QueryOptions{})
			return err == nil && s.Unplaced == 0 && s.PlacementFailure == "" && s.Health == api.HealthHealthy
		})
	})

	t.Run("a node marked down has its allocations replaced", func(t *testing.T) {
		before := placedOn(t, ctx, client, "spread")
		if _, err := client.SetNodeStatus(ctx, "n3", api.NodeDown, ""); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "replacements off n3", func() bool {
			got := placedOn(t, ctx, client, "spread")
			return got["n3"] == 0 && total(got) == total(before)
		})
		allocs, _, _ := client.Allocations(ctx, api.AllocFilter{Node: "n3"}, api.QueryOptions{})
		for _, a := range allocs {
			if a.Service == "spread" && a.Status != api.AllocLost {
				t.Fatalf("allocation %s on the down node is %s, want lost", a.ID, a.Status)
			}
		}
	})

	t.Run("drain moves allocations off and makes the node ineligible", func(t *testing.T) {
		if _, err := client.DrainNode(ctx, "n4", true); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "nothing meant to run on n4", func() bool {
			allocs, _, _ := client.Allocations(ctx, api.AllocFilter{Node: "n4"}, api.QueryOptions{})
			for _, a := range allocs {
				if a.DesiredStatus == api.DesiredRun {
					return false
				}
			}
			return true
		})
		n, err := client.Node(ctx, "n4")
		if err != nil || n.Eligible {
			t.Fatalf("n4 after drain: %+v %v", n, err)
		}
		if total(placedOn(t, ctx, client, "spread")) != 10 {
			t.Fatalf("spread lost replicas in the drain: %v", placedOn(t, ctx, client, "spread"))
		}
	})

	t.Run("binpack fills nodes in order", func(t *testing.T) {
		if _, err := client.ApplyService(ctx, webSpec(t, "packed", 3, "placement: {strategy: binpack, constraints: [\"node.name in (big, n5)\"]}\n")); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "3 placements", func() bool { return total(placedOn(t, ctx, client, "packed")) == 3 })
		got := placedOn(t, ctx, client, "packed")
		if len(got) != 1 {
			t.Fatalf("binpack spread replicas over %v, want them on one node", got)
		}
	})

	t.Run("scale and delete", func(t *testing.T) {
		if _, err := client.ScaleService(ctx, "default", "constrained", 2); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "2 replicas", func() bool { return total(placedOn(t, ctx, client, "constrained")) == 2 })
		s, _, err := client.Service(ctx, "default", "constrained", api.QueryOptions{})
		if err != nil || s.Revision != 1 || s.Replicas != 2 {
			t.Fatalf("after scale: %+v %v", s, err)
		}
		if _, err := client.DeleteService(ctx, "default", "constrained"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "nothing left running", func() bool { return total(placedOn(t, ctx, client, "constrained")) == 0 })
		if _, _, err := client.Service(ctx, "default", "constrained", api.QueryOptions{}); !errors.Is(err, api.ErrNotFound) {
			t.Fatalf("deleted service: %v, want not found", err)
		}
	})
}

// TestBlockingQueryWakesOnlyForItsNode watches one node's allocations the
// way agents do.
func TestBlockingQueryWakesOnlyForItsNode(t *testing.T) {
	c := startCluster(t, 1, nil)
	waitLeader(t, c)
	client := clientFor(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	registerNodes(t, ctx, client, 2, api.Resources{CPU: 4000, Memory: 4 << 30})
	_, index, err := client.NodeAllocations(ctx, "n1", api.QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		allocs []*api.Allocation
		index  uint64
		err    error
	}
	woke := make(chan answer, 1)
	go func() {
		a, i, err := client.NodeAllocations(ctx, "n1", api.QueryOptions{Index: index, Wait: 30 * time.Second})
		woke <- answer{a, i, err}
	}()
	// A service that can only go to n2 must not wake n1's watcher.
	if _, err := client.ApplyService(ctx, webSpec(t, "only-n2", 1, "placement: {constraints: [\"node.name == n2\"]}\n")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "only-n2 placed", func() bool { return placedOn(t, ctx, client, "only-n2")["n2"] == 1 })
	select {
	case a := <-woke:
		t.Fatalf("n1's watch woke for n2's allocation: %+v", a)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := client.ApplyService(ctx, webSpec(t, "only-n1", 1, "placement: {constraints: [\"node.name == n1\"]}\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-woke:
		if a.err != nil || len(a.allocs) != 1 || a.allocs[0].Service != "only-n1" || a.index <= index {
			t.Fatalf("woke with %+v", a)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("n1's watch did not wake for its new allocation")
	}
}

func TestHeartbeatingNodeIsMarkedDownWhenItFallsSilent(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := startCluster(t, 1, func(cfg *Config) { cfg.Clock = fake; cfg.HeartbeatTTL = 10 * time.Second })
	leader := waitLeader(t, c)
	client := clientFor(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	capacity := api.Resources{CPU: 1000, Memory: 1 << 30}
	if _, err := client.RegisterNode(ctx, "agent", api.NodeRegistration{Capacity: capacity, Heartbeat: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.RegisterNode(ctx, "static", api.NodeRegistration{Capacity: capacity}); err != nil {
		t.Fatal(err)
	}
	status := func(name string) string { return leader.Store().Snapshot().Node(nil, name).Status }

	fake.Advance(9 * time.Second)
	if _, err := client.Heartbeat(ctx, "agent"); err != nil {
		t.Fatal(err)
	}
	fake.Advance(9 * time.Second) // 18s since registering, 9s since the heartbeat
	if status("agent") != api.NodeReady {
		t.Fatalf("agent is %s 9s after its heartbeat", status("agent"))
	}
	fake.Advance(2 * time.Second)
	eventually(t, 10*time.Second, "the silent agent to be marked down", func() bool { return status("agent") == api.NodeDown })
	if status("static") != api.NodeReady {
		t.Fatal("a node registered without heartbeats was marked down")
	}
	if _, err := client.Heartbeat(ctx, "agent"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the agent to be ready again after a heartbeat", func() bool { return status("agent") == api.NodeReady })
	if _, err := client.Heartbeat(ctx, "nobody"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("heartbeat of an unknown node: %v, want not found", err)
	}
}

func TestMetricsAreServed(t *testing.T) {
	c := startCluster(t, 1, nil)
	leader := waitLeader(t, c)
	client := clientFor(t, c)
	if _, err := client.RegisterNode(context.Background(), "n1", api.NodeRegistration{Capacity: api.Resources{CPU: 1000, Memory: 1 << 30}}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + leader.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, metric := range []string{"flotilla_raft_state 2", "flotilla_leader 1", `flotilla_eval_queue_depth{state="ready"}`,
		"flotilla_plan_apply_seconds", `flotilla_raft_applies_total{command="register-node"} 1`, `flotilla_nodes{status="ready"} 1`} {
		if !strings.Contains(text, metric) {
			t.Errorf("/metrics lacks %q", metric)
		}
	}
}

// TestLateServerIsAddedAsAVoter starts a fourth server without
// --bootstrap-expect: it joins through gossip and the leader adds it.
// joinServer runs one more server, on loopback with a data dir of its
// own, that joins gossip at join, until the test ends.
func joinServer(t *testing.T, name, join string, mtls *api.MutualTLS) *Server {
	t.Helper()
	s, err := New(Config{Name: name, DataDir: t.TempDir(), HTTP: "127.0.0.1:0", Raft: "127.0.0.1:0", Gossip: "127.0.0.1:0",
		Join: []string{join}, TLS: mtls})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func TestLateServerIsAddedAsAVoter(t *testing.T) {
	c := startCluster(t, 3, nil)
	waitLeader(t, c)
	late := joinServer(t, "s4", c.Servers()[0].GossipAddr(), nil)
	client := clientFor(t, c)
	if _, err := client.ApplyService(context.Background(), webSpec(t, "seen-by-s4", 0, "")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "s4 to become a voter with the cluster's state", func() bool {
		peers, err := client.Peers(context.Background())
		return err == nil && len(peers) == 4 && late.Store().Snapshot().Service(nil, "default", "seen-by-s4") != nil
	})
}

func TestStoppingAServerEndsItsBlockingQueries(t *testing.T) {
	c := startCluster(t, 1, nil)
	leader := waitLeader(t, c)
	client, err := api.NewClient("http://" + leader.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	_, index, err := client.Nodes(context.Background(), api.QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := client.Nodes(context.Background(), api.QueryOptions{Index: index, Wait: 30 * time.Second})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the watch returned before any change: %v", err)
	case <-time.After(300 * time.Millisecond): // it is blocked in the server
	}
	if err := c.Kill("s1"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a blocking query outlived its server by 10s")
	}
}

func TestPlansOfAWorkerThatGaveUpAreNotApplied(t *testing.T) {
	c := startCluster(t, 1, nil)
	leader := waitLeader(t, c)
	client := clientFor(t, c)
	ctx := context.Background()
	if _, err := client.RegisterNode(ctx, "n1", api.NodeRegistration{Capacity: api.Resources{CPU: 100000, Memory: 1 << 40}}); err != nil {
		t.Fatal(err)
	}
	plans := leader.currentPlans()
	gone, cancel := context.WithCancel(ctx)
	cancel()
	for i := 0; i < 20; i++ {
		if r := plans.submit(gone, onePlacement(fmt.Sprintf("stale-%d", i), "n1", 10)); r.Err == nil {
			t.Fatalf("a submit with an ended context succeeded: %+v", r)
		}
	}
	if r := plans.submit(ctx, onePlacement("fresh", "n1", 10)); r.Err != nil || r.Refused != 0 {
		t.Fatalf("fresh plan: %+v", r)
	}
	snap := leader.Store().Snapshot()
	if snap.Allocation(nil, "fresh") == nil {
		t.Fatal("the fresh plan was not applied")
	}
	for i := 0; i < 20; i++ {
		if snap.Allocation(nil, fmt.Sprintf("stale-%d", i)) != nil {
			t.Fatalf("stale-%d was applied after its worker gave up", i)
		}
	}
}

func TestAServerListeningEverywhereAdvertisesAReachableAddress(t *testing.T) {
	c := startCluster(t, 1, func(cfg *Config) { cfg.HTTP = "0.0.0.0:0" })
	leader := waitLeader(t, c)
	adv := leader.advertisedHTTP()
	if !strings.HasPrefix(adv, "127.0.0.1:") {
		t.Fatalf("advertised %s, want the Raft host 127.0.0.1", adv)
	}
}

// TestEndpointsListOnlyRunningReplicasAndWakeWatchers drives the endpoint
// list as agents see it: a replica appears when it runs, carries its
// readiness, and a watcher wakes for it.
func TestEndpointsListOnlyRunningReplicasAndWakeWatchers(t *testing.T) {
	c := startCluster(t, 1, nil)
	waitLeader(t, c)
	client := clientFor(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	registerNodes(t, ctx, client, 1, api.Resources{CPU: 4000, Memory: 4 << 30})
	if _, err := client.ApplyService(ctx, webSpec(t, "web", 2, "ports: [{name: http, port: 8080, protocol: http}]\n")); err != nil {
		t.Fatal(err)
	}
	var allocs []*api.Allocation
	eventually(t, 10*time.Second, "2 placements", func() bool {
		allocs, _, _ = client.Allocations(ctx, api.AllocFilter{Namespace: "default", Service: "web"}, api.QueryOptions{})
		return len(allocs) == 2
	})
	se, err := client.ServiceEndpoints(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if se.VIP == "" || len(se.Endpoints) != 0 || len(se.Routes.Split) != 1 || se.Routes.Split[0].Backend != 1 {
		t.Fatalf("before anything runs: %+v", se)
	}
	_, index, err := client.Endpoints(ctx, api.QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	woke := make(chan []*api.ServiceEndpoints, 1)
	go func() {
		list, _, err := client.Endpoints(ctx, api.QueryOptions{Index: index, Wait: 30 * time.Second})
		if err == nil {
			woke <- list
		}
	}()
	_, err = client.UpdateAllocations(ctx, api.AllocStatusBatch{Node: "n1", Updates: []api.AllocStatusUpdate{
		{ID: allocs[0].ID, Status: api.AllocRunning, Ready: true, Address: "127.128.0.2:8080"},
		{ID: allocs[1].ID, Status: api.AllocStarting},
	}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case list := <-woke:
		if len(list) != 1 || len(list[0].Endpoints) != 1 {
			t.Fatalf("woke with %+v", list)
		}
		e := list[0].Endpoints[0]
		if e.ID != allocs[0].ID || e.IP != "127.128.0.2" || !e.Ready || e.Node != "n1" || e.Revision != 1 {
			t.Fatalf("endpoint %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the endpoints watch did not wake")
	}
}

func TestTrafficReportsAreSummedOverNodesOnTheLeader(t *testing.T) {
	c := startCluster(t, 3, nil)
	waitLeader(t, c)
	client := clientFor(t, c)
	ctx := context.Background()
	if _, err := client.ApplyService(ctx, webSpec(t, "web", 0, "")); err != nil {
		t.Fatal(err)
	}
	// Two reports per node: the leader counts what happened between them.
	for i, node := range []string{"n1", "n2"} {
		for _, r := range []api.TrafficReport{
			{Namespace: "default", Service: "web", Revision: 1},
			{Namespace: "default", Service: "web", Revision: 1, Requests: 100, Errors: uint64(i),
				P99Ms: 999, Latency: api.Histogram{Offset: api.LatencyBucket(time.Duration(10*(i+1)) * time.Millisecond), Counts: []uint64{100}}},
		} {
			if err := client.ReportTraffic(ctx, node, []api.TrafficReport{r}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Any server answers, the followers by asking the leader.
	for _, addr := range c.HTTPAddrs() {
		one, _ := api.NewClient(addr)
		got, err := one.Traffic(ctx, "default", "web")
		if err != nil || len(got.Windows) != 2 || len(got.Windows[0].Revisions) != 1 {
			t.Fatalf("traffic via %s: %+v %v", addr, got, err)
		}
		f := got.Windows[0].Revisions[0]
		// p99 of the merged histogram: 10ms on n1, 20ms on n2.
		if f.Requests != 200 || f.Errors != 1 || f.Nodes != 2 || !near(f.P99Ms, 20, 0.03) || !near(f.P50Ms, 10, 0.03) {
			t.Fatalf("traffic via %s: %+v", addr, f)
		}
	}
}

func TestGossipMarksDownASimNodeAtOnceButAContainerdNodeOnlyByItsTTLWhileRoutingAroundIt(t *testing.T) {
	// A fake clock: heartbeat TTLs never lapse here, so only gossip can
	// mark a node down.
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := startCluster(t, 1, func(cfg *Config) { cfg.Clock = fake; cfg.HeartbeatTTL = 10 * time.Second })
	leader := waitLeader(t, c)
	client := clientFor(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	agents := map[string]*gossip.Pool{}
	for name, rt := range map[string]string{"simnode": "sim", "ctrdnode": "containerd"} {
		pool, err := gossip.Start(gossip.Config{Name: name, Bind: "127.0.0.1:0", Fast: true, Meta: gossip.Meta{Role: gossip.RoleAgent}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pool.Shutdown() })
		if _, err := pool.Join([]string{leader.GossipAddr()}); err != nil {
			t.Fatal(err)
		}
		agents[name] = pool
		if _, err := client.RegisterNode(ctx, name, api.NodeRegistration{Capacity: api.Resources{CPU: 1000, Memory: 1 << 30}, Heartbeat: true, Runtime: rt}); err != nil {
			t.Fatal(err)
		}
	}
	status := func(name string) string { return leader.Store().Snapshot().Node(nil, name).Status }
	gossipStatus := func(name string) string {
		for _, m := range leader.pool.Members() {
			if m.Name == name {
				return m.Status
			}
		}
		return ""
	}
	eventually(t, 10*time.Second, "both agents alive in the server's pool", func() bool {
		return gossipStatus("simnode") == gossip.StatusAlive && gossipStatus("ctrdnode") == gossip.StatusAlive
	})
	// A replica on each node, running and ready.
	if _, err := client.ApplyService(ctx, webSpec(t, "web", 2, "")); err != nil {
		t.Fatal(err)
	}
	var onCtrd string
	eventually(t, 10*time.Second, "a replica on each node", func() bool { return len(placedOn(t, ctx, client, "web")) == 2 })
	allocs, _, err := client.Allocations(ctx, api.AllocFilter{Namespace: "default", Service: "web"}, api.QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range allocs {
		if a.Node == "ctrdnode" {
			onCtrd = a.ID
		}
		if _, err := client.UpdateAllocations(ctx, api.AllocStatusBatch{Node: a.Node, Updates: []api.AllocStatusUpdate{
			{ID: a.ID, Status: api.AllocRunning, Ready: true, Address: fmt.Sprintf("127.0.0.%d:8080", i+2)}}}); err != nil {
			t.Fatal(err)
		}
	}
	endpointReady := func(id string) bool {
		se, err := client.ServiceEndpoints(ctx, "default", "web")
		if err != nil {
			return false
		}
		for _, e := range se.Endpoints {
			if e.ID == id {
				return e.Ready
			}
		}
		return false
	}
	eventually(t, 10*time.Second, "the containerd node's replica in rotation", func() bool { return endpointReady(onCtrd) })
	// The containerd node's agent dies first; once the server's pool knows,
	// the sim node's agent dies. The pass that marks the sim node down sees
	// both deaths.
	agents["ctrdnode"].Shutdown()
	eventually(t, 15*time.Second, "the containerd agent declared dead", func() bool { return gossipStatus("ctrdnode") == gossip.StatusDead })
	agents["simnode"].Shutdown()
	eventually(t, 15*time.Second, "the sim node marked down by gossip", func() bool { return status("simnode") == api.NodeDown })
	if got := status("ctrdnode"); got != api.NodeReady {
		t.Fatalf("the containerd node is %s: its containers outlive its agent, only its TTL may mark it down", got)
	}
	// But gossip's verdict takes its replica out of rotation at once; the
	// allocation itself stays.
	eventually(t, 10*time.Second, "the containerd node's replica out of rotation", func() bool { return !endpointReady(onCtrd) })
	if a, err := client.Allocation(ctx, onCtrd); err != nil || a.DesiredStatus != api.DesiredRun || a.Status != api.AllocRunning {
		t.Fatalf("the containerd node's allocation: %+v, %v; want it kept running", a, err)
	}
	// Its agent back in gossip: back in rotation.
	back, err := gossip.Start(gossip.Config{Name: "ctrdnode", Bind: "127.0.0.1:0", Fast: true, Meta: gossip.Meta{Role: gossip.RoleAgent}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { back.Shutdown() })
	if _, err := back.Join([]string{leader.GossipAddr()}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "the replica back in rotation once its agent is alive", func() bool { return endpointReady(onCtrd) })
	back.Shutdown()
	eventually(t, 15*time.Second, "out of rotation again", func() bool { return !endpointReady(onCtrd) })
	fake.Advance(11 * time.Second)
	eventually(t, 10*time.Second, "the containerd node marked down when its TTL lapsed", func() bool { return status("ctrdnode") == api.NodeDown })
}

// Raft's warnings go to RaftLogOutput (a server's stderr), apart from
// memberlist's debug lines in LogOutput: the election that made the first
// leader is there.
func TestRaftWarningsGoToRaftLogOutput(t *testing.T) {
	logs := map[string]*testutil.SyncBuffer{}
	var discarded testutil.SyncBuffer
	c := startCluster(t, 3, func(cfg *Config) {
		logs[cfg.Name] = &testutil.SyncBuffer{}
		cfg.RaftLogOutput, cfg.LogOutput = logs[cfg.Name], &discarded
	})
	waitLeader(t, c)
	var all string
	for _, b := range logs {
		all += b.String()
	}
	if !strings.Contains(all, "raft: heartbeat timeout reached, starting election") {
		t.Fatalf("no server logged the election to RaftLogOutput:\n%s", all)
	}
	if strings.Contains(discarded.String(), "raft:") {
		t.Fatalf("Raft logged to LogOutput although RaftLogOutput was set:\n%s", discarded.String())
	}
}

// A server with --bootstrap-expect that joins a running cluster (one
// added later, or started again with an empty data directory) does not
// bootstrap a Raft configuration of its own, as Nomad's do not: it finds
// servers that have one, and the leader adds it.
func TestAServerJoiningARunningClusterDoesNotBootstrap(t *testing.T) {
	c := startCluster(t, 3, nil)
	leader := waitLeader(t, c)
	var logs testutil.SyncBuffer
	cfg := Config{Name: "s4", DataDir: filepath.Join(t.TempDir(), "s4"), HTTP: "127.0.0.1:0", Raft: "127.0.0.1:0", Gossip: "127.0.0.1:0",
		BootstrapExpect: 3, Join: []string{leader.GossipAddr()}, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	s4, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s4.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	eventually(t, 20*time.Second, "the leader adds s4", func() bool {
		f := leader.raft.GetConfiguration()
		if f.Error() != nil {
			return false
		}
		for _, srv := range f.Configuration().Servers {
			if srv.ID == "s4" {
				return true
			}
		}
		return false
	})
	eventually(t, 10*time.Second, "s4 decides not to bootstrap", func() bool { return strings.Contains(logs.String(), "not bootstrapping") })
	if strings.Contains(logs.String(), "bootstrapped raft") {
		t.Fatalf("s4 bootstrapped a configuration of its own:\n%s", logs.String())
	}
}

// A leader stopped gracefully (HandOverOnStop, as `flotilla server` sets
// it for SIGTERM) hands leadership to another voter before it goes;
// without it, a stop is a crash to the others.
func TestALeaderStoppingHandsOverLeadership(t *testing.T) {
	for _, handOver := range []bool{true, false} {
		t.Run(fmt.Sprint("handOver=", handOver), func(t *testing.T) {
			logs := map[string]*testutil.SyncBuffer{}
			c := startCluster(t, 3, func(cfg *Config) {
				cfg.HandOverOnStop = handOver
				logs[cfg.Name] = &testutil.SyncBuffer{}
				cfg.Logger = slog.New(slog.NewTextHandler(logs[cfg.Name], nil))
			})
			leader := waitLeader(t, c)
			if err := c.Kill(leader.Name()); err != nil {
				t.Fatal(err)
			}
			handed := strings.Contains(logs[leader.Name()].String(), "handed over leadership before stopping")
			if handed != handOver {
				t.Fatalf("handed over: %v, want %v; log:\n%s", handed, handOver, logs[leader.Name()])
			}
			if next := waitLeader(t, c); next.Name() == leader.Name() {
				t.Fatalf("the stopped server %s still leads", next.Name())
			}
		})
	}
}
