package scheduler

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestHeartbeatTTLKeepsTheMinimumInSmallClustersAndGrowsToCapTheRate(t *testing.T) {
	for _, tc := range []struct {
		nodes        int
		minTTL       time.Duration
		ttl, every   time.Duration
		perSecondMax float64
	}{
		{nodes: 1, minTTL: 10 * time.Second, ttl: 10 * time.Second, every: 10 * time.Second / 3},
		{nodes: 3, minTTL: 5 * time.Second, ttl: 5 * time.Second, every: 5 * time.Second / 3}, // a lab
		{nodes: 166, minTTL: 10 * time.Second, ttl: 10 * time.Second, every: 10 * time.Second / 3},
		{nodes: 200, minTTL: 10 * time.Second, ttl: 12 * time.Second, every: 4 * time.Second},
		{nodes: 2000, minTTL: 10 * time.Second, ttl: 120 * time.Second, every: 40 * time.Second},
		{nodes: 10000, minTTL: 10 * time.Second, ttl: 600 * time.Second, every: 200 * time.Second},
		{nodes: 10000, minTTL: 5 * time.Second, ttl: 600 * time.Second, every: 200 * time.Second},
	} {
		ttl, every := heartbeatTiming(tc.nodes, tc.minTTL, DefaultMaxHeartbeatsPerSecond)
		if ttl != tc.ttl || every != tc.every {
			t.Errorf("%d nodes, minimum %s: TTL %s every %s, want %s every %s", tc.nodes, tc.minTTL, ttl, every, tc.ttl, tc.every)
		}
		if rate := float64(tc.nodes) / every.Seconds(); rate > DefaultMaxHeartbeatsPerSecond+0.001 {
			t.Errorf("%d nodes heartbeating every %s make %.1f a second, more than %d", tc.nodes, every, rate, DefaultMaxHeartbeatsPerSecond)
		}
	}
}

func TestEachGrantCountsTheNodesHeartbeatingThen(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	h := newHeartbeats(fake, 10*time.Second, 50, discard)
	var ttl, every time.Duration
	for i := 1; i <= 200; i++ {
		ttl, every = h.grant(fmt.Sprintf("n%d", i))
	}
	if ttl != 12*time.Second || every != 4*time.Second {
		t.Fatalf("the 200th node got TTL %s every %s, want 12s every 4s", ttl, every)
	}
	if ttl, _ = h.grant("n1"); ttl != 12*time.Second {
		t.Fatalf("a node heartbeating again counts twice: TTL %s", ttl)
	}
	// The first 166 were granted the minimum 10s (n1 12s since), the
	// later ones a little more each; the cluster grants 12s now, and
	// holds every node to that from its last heartbeat.
	fake.Advance(10 * time.Second)
	if h.silentCount() != 0 {
		t.Fatalf("%d silent at 10s, want none: the cluster grants 12s now", h.silentCount())
	}
	fake.Advance(2 * time.Second)
	if h.silentCount() != 200 {
		t.Fatalf("%d silent at 12s, want all", h.silentCount())
	}
}

// A node that registered while the cluster was small, and so was granted
// a short TTL, is not marked down sooner than the TTL the cluster grants
// once it has grown, counted from the node's last heartbeat.
func TestANodeGrantedASmallClustersTTLIsHeldToTheGrownClustersTTL(t *testing.T) {
	fake := clock.NewFake(t0)
	h := newHeartbeats(fake, 10*time.Second, 50, discard)
	if ttl, _ := h.grant("first"); ttl != 10*time.Second {
		t.Fatalf("the first node got TTL %s, want 10s", ttl)
	}
	fake.Advance(5 * time.Second)
	for i := 1; i < 10000; i++ {
		h.grant(fmt.Sprintf("n%d", i))
	}
	fake.Advance(6 * time.Second) // 11s: past the first node's 10s
	if h.silentCount() != 0 || h.armed() != 10000 {
		t.Fatalf("at 11s: %d silent, %d armed; want none silent: the cluster grants 600s now", h.silentCount(), h.armed())
	}
	fake.Advance(589 * time.Second) // 600s after the first node's heartbeat
	if got := h.takeSilent(10); len(got) != 1 || got[0].name != "first" || got[0].ttl != 600*time.Second || !got[0].since.Equal(t0.Add(600*time.Second)) {
		t.Fatalf("at 600s silent %+v, want the first node alone, silent since 600s", got)
	}
	fake.Advance(5 * time.Second)
	if h.silentCount() != 9999 {
		t.Fatalf("at 605s %d silent, want the 9,999 others", h.silentCount())
	}
}

// manualClock records AfterFunc callbacks so that a test can fire them in
// any order, including after they were stopped, as a racing timer does,
// and at any time it sets.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
	fns []func()
}

type manualTimer struct{}

func (manualTimer) Stop() bool                 { return true }
func (manualTimer) Reset(d time.Duration) bool { return true }

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *manualClock) After(d time.Duration) <-chan time.Time { return make(chan time.Time) }

func (c *manualClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fns = append(c.fns, f)
	return manualTimer{}
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestAHeartbeatTimerThatFiredLateDoesNotExpireARearmedNode(t *testing.T) {
	c := &manualClock{now: t0}
	h := newHeartbeats(c, time.Second, 50, discard)
	h.reset("n1", time.Second) // first arming
	h.reset("n1", time.Second) // a heartbeat re-arms it
	c.set(t0.Add(time.Second))
	c.fns[0]() // the first timer fires anyway (it raced the heartbeat)
	if h.silentCount() != 0 {
		t.Fatal("a timer the heartbeat replaced made the node silent")
	}
	if h.armed() != 1 {
		t.Fatalf("%d timers armed, want the heartbeat's", h.armed())
	}
	c.fns[1]()
	if got := h.takeSilent(10); len(got) != 1 || got[0].name != "n1" || got[0].ttl != time.Second {
		t.Fatalf("silent %+v, want n1 once", got)
	}
	c.fns[1]() // a timer never expires twice
	if h.silentCount() != 0 {
		t.Fatalf("%d silent", h.silentCount())
	}
}

func TestStoppedHeartbeatTimersNeverExpire(t *testing.T) {
	c := &manualClock{now: t0}
	h := newHeartbeats(c, time.Second, 50, discard)
	h.reset("n1", time.Second)
	h.reset("n2", time.Second)
	h.stop("n1")
	h.stopAll()
	c.set(t0.Add(time.Second))
	for _, f := range c.fns {
		f()
	}
	if h.silentCount() != 0 || h.armed() != 0 {
		t.Fatalf("%d silent, %d armed", h.silentCount(), h.armed())
	}
}

// A leader that was stopped (SIGSTOP, a debugger, no CPU) heard no
// heartbeats either: its timers, firing late, grant a fresh TTL once.
func TestATimerFiringLateGrantsOneFreshTTLInsteadOfSilence(t *testing.T) {
	c := &manualClock{now: t0}
	h := newHeartbeats(c, 10*time.Second, 50, discard)
	h.reset("n1", 10*time.Second)
	c.set(t0.Add(10*time.Second + lateFiring(10*time.Second) + time.Millisecond))
	c.fns[0]()
	if h.silentCount() != 0 || h.armed() != 1 || len(c.fns) != 2 {
		t.Fatalf("after a late firing: %d silent, %d armed, %d timers; want a fresh one", h.silentCount(), h.armed(), len(c.fns))
	}
	// Late again with no heartbeat between: the node is silent.
	c.set(c.Now().Add(20 * time.Second))
	c.fns[1]()
	if h.silentCount() != 1 {
		t.Fatal("a second late firing without a heartbeat between did not count")
	}
	// On time it counts at once.
	h.reset("n2", 10*time.Second)
	c.set(c.Now().Add(10 * time.Second))
	c.fns[2]()
	if h.silentCount() != 2 {
		t.Fatal("a timer firing on time did not make its node silent")
	}
}

func TestDownLimiterAllowsWholeBatchesAtARateAndAShareOfTheClusterPerWindow(t *testing.T) {
	window := 600 * time.Second
	l := newDownLimiter(10, 0.1)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	// 1000 nodes, all silent: 10 a second, 100 (a tenth of the 1000)
	// per window. live is how many are not marked down yet.
	live := 1000
	allow := func(when time.Duration, wanted int) (int, time.Time) {
		n, retry := l.allow(at(when), min(wanted, live), live, window)
		l.took(at(when), n)
		live -= n
		return n, retry
	}
	if n, _ := allow(0, 1000); n != 10 {
		t.Fatalf("first: %d, want the burst of 10", n)
	}
	// Half a second later 5 would be allowed: it waits for a whole batch.
	if n, retry := allow(500*time.Millisecond, 1000); n != 0 || !retry.Equal(at(time.Second)) {
		t.Fatalf("half a second on: %d, retry at %v; want none until 1s", n, retry.Sub(t0))
	}
	// Fewer wanted than a batch: as soon as that many are allowed.
	if n, _ := allow(700*time.Millisecond, 7); n != 7 {
		t.Fatalf("7 wanted with 7 allowed: %d", n)
	}
	marked := 0
	for i := 2; i <= 30; i++ { // once a second for 29 s, 10 at a time, up to the share
		n, _ := allow(time.Duration(i)*time.Second, 1000)
		marked += n
	}
	if marked != 83 {
		t.Fatalf("%d marked over the next 29 s, want the 83 left of the window's 100", marked)
	}
	n, retry := allow(40*time.Second, 1000)
	if n != 0 || !retry.Equal(at(window)) {
		t.Fatalf("with 100 marked in the window: %d, retry at %v; want none until the first mark leaves it at %v", n, retry.Sub(t0), window)
	}
	// The first 10 leave the window, and the cluster: a tenth of the 990
	// left when the window began is 99, 90 of them taken.
	if n, _ = allow(window+time.Millisecond, 1000); n != 9 {
		t.Fatalf("once the first 10 left the window: %d, want 9", n)
	}

	// A small cluster may lose every node within a window.
	small := newDownLimiter(10, 0.1)
	if n, _ := small.allow(t0, 3, 3, 10*time.Second); n != 3 {
		t.Fatalf("3 of 3 nodes silent: %d may go down, want 3", n)
	}
}

func TestSilentNodesAreMarkedDownInRateLimitedBatchesUnlessTheyHeartbeat(t *testing.T) {
	fake := clock.NewFake(t0)
	c := startCluster(t, 1, func(cfg *Config) {
		cfg.Clock, cfg.HeartbeatTTL = fake, 10*time.Second
		cfg.MaxNodesDownPerSecond, cfg.MaxNodesDownFraction = 10, 1
	})
	leader := waitLeader(t, c)
	client := clientFor(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const nodes = 30
	name := func(i int) string { return fmt.Sprintf("n%02d", i) }
	for i := 1; i <= nodes; i++ {
		if _, err := client.RegisterNode(ctx, name(i), api.NodeRegistration{Capacity: api.Resources{CPU: 1000, Memory: 1 << 30}, Heartbeat: true}); err != nil {
			t.Fatal(err)
		}
	}
	down := func() (names []string, indexes map[uint64]int) {
		indexes = map[uint64]int{}
		for _, n := range leader.Store().Snapshot().NodesWithoutUsage(nil) {
			if n.Status == api.NodeDown {
				names = append(names, n.Name)
				indexes[n.ModifyIndex]++
			}
		}
		return names, indexes
	}

	fake.Advance(10 * time.Second) // every TTL lapses together
	// The longest silent go first, at most 10 now: n11..n15 heartbeat
	// before their turn.
	for i := 11; i <= 15; i++ {
		if _, err := client.Heartbeat(ctx, name(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Time moves on in small steps (the marker may be between two
	// batches when it does): never more than 10 a second go down.
	start := fake.Now()
	deadline := time.Now().Add(20 * time.Second)
	for {
		d, _ := down()
		elapsed := fake.Now().Sub(start)
		if limit := 10 + int(elapsed.Seconds()*10); len(d) > limit {
			t.Fatalf("%d down %s after the TTLs lapsed, more than %d", len(d), elapsed, limit)
		}
		if len(d) == 25 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of 25 silent nodes marked down", len(d))
		}
		fake.Advance(100 * time.Millisecond)
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
	got, indexes := down()
	for i, n := range got[:10] {
		if n != name(i+1) {
			t.Fatalf("marked %v, want the longest silent (n01..n10) among them", got)
		}
	}
	// Batches: the first burst (in one or two entries, as the timers fired
	// while the marker woke), then a second's worth at a time.
	if len(indexes) > 4 {
		t.Fatalf("25 nodes marked down in %d Raft entries, want whole batches (at most 4)", len(indexes))
	}
	for i := 11; i <= 15; i++ {
		if n := leader.Store().Snapshot().NodeWithoutUsage(name(i)); n.Status != api.NodeReady {
			t.Errorf("%s heartbeated while it waited, yet is %s", name(i), n.Status)
		}
	}
	if n := leader.Store().Snapshot().NodeWithoutUsage(name(1)); n.StatusMessage != "no heartbeat for 10s" {
		t.Errorf("reason %q", n.StatusMessage)
	}
}

// A new leader knows nothing of the heartbeats the old one heard: it grants
// every node twice the TTL for the cluster's size before any can be found
// silent. With 100 nodes at 10 heartbeats a second the TTL is 30s, so a
// grant of twice the configured 10s (the old rule) would mark them all
// down while they heartbeat every 10s.
func TestANewLeaderGrantsEveryNodeAFreshTTLForTheClusterSize(t *testing.T) {
	fake := clock.NewFake(t0)
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.Clock, cfg.HeartbeatTTL, cfg.MaxHeartbeatsPerSecond = fake, 10*time.Second, 10
	})
	old := waitLeader(t, c)
	client := clientFor(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const nodes = 100
	for i := 1; i <= nodes; i++ {
		if _, err := client.RegisterNode(ctx, fmt.Sprintf("n%03d", i), api.NodeRegistration{Capacity: api.Resources{CPU: 1000, Memory: 1 << 30}, Heartbeat: true}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= nodes; i++ { // the first ones registered got less
		resp, err := client.Heartbeat(ctx, fmt.Sprintf("n%03d", i))
		if err != nil {
			t.Fatal(err)
		}
		if resp.TTL.Std() != 30*time.Second || resp.Interval.Std() != 10*time.Second {
			t.Fatalf("heartbeat answered TTL %s every %s, want 30s every 10s", resp.TTL, resp.Interval)
		}
	}
	fake.Advance(25 * time.Second) // the nodes last heard of 25s ago
	if err := c.Kill(old.Name()); err != nil {
		t.Fatal(err)
	}
	leader := waitLeader(t, c)
	if leader.Name() == old.Name() {
		t.Fatal("the killed server still leads")
	}
	if leader.heartbeats.armed() != nodes {
		t.Fatalf("the new leader armed %d timers, want %d", leader.heartbeats.armed(), nodes)
	}
	down := func() int {
		n := 0
		for _, node := range leader.Store().Snapshot().NodesWithoutUsage(nil) {
			if node.Status == api.NodeDown {
				n++
			}
		}
		return n
	}
	fake.Advance(59 * time.Second) // 84s since the old leader heard them
	if leader.heartbeats.silentCount() != 0 || down() != 0 {
		t.Fatalf("%d silent, %d down within the new leader's 60s grant", leader.heartbeats.silentCount(), down())
	}
	if _, err := client.Heartbeat(ctx, "n001"); err != nil {
		t.Fatal(err)
	}
	fake.Advance(time.Second) // the grant ends for the 99 others
	eventually(t, 10*time.Second, "the silent nodes marked down, at the rate", func() bool { return down() == DefaultMaxNodesDownPerSecond })
	if leader.heartbeats.silentCount() != nodes-1-DefaultMaxNodesDownPerSecond {
		t.Fatalf("%d silent waiting", leader.heartbeats.silentCount())
	}
	if n := leader.Store().Snapshot().NodeWithoutUsage("n001"); n.Status != api.NodeReady {
		t.Fatalf("n001 heartbeated to the new leader, yet is %s", n.Status)
	}
}
