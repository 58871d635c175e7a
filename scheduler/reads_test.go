package scheduler

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
)

// TestReadsShareAReadIndexRequestOnlyIfItLeftAfterThem: reads that arrive
// while a read-index request is on its way wait for the next one (the
// answer in flight may predate writes they must see), and share it.
func TestReadsShareAReadIndexRequestOnlyIfItLeftAfterThem(t *testing.T) {
	var sent atomic.Int32
	first := make(chan struct{})
	leader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := sent.Add(1)
		if n == 1 {
			<-first
		}
		fmt.Fprintf(w, `{"index": %d}`, n)
	}))
	defer leader.Close()
	addr := strings.TrimPrefix(leader.URL, "http://")
	r := &readIndexes{client: leader.Client()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	type answer struct {
		index uint64
		err   error
	}
	early := make(chan answer, 1)
	go func() { i, err := r.get(ctx, addr); early <- answer{i, err} }()
	eventually(t, 5*time.Second, "the first request to be sent", func() bool { return sent.Load() == 1 })

	var wg sync.WaitGroup
	late := make(chan answer, 5)
	for range 5 {
		wg.Go(func() { i, err := r.get(ctx, addr); late <- answer{i, err} })
	}
	eventually(t, 5*time.Second, "the later reads to queue", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.next != nil && r.next.waiters == 5
	})
	close(first)
	if a := <-early; a.err != nil || a.index != 1 {
		t.Fatalf("first read got %+v, want index 1", a)
	}
	wg.Wait()
	close(late)
	for a := range late {
		if a.err != nil || a.index != 2 {
			t.Fatalf("a read that came while request 1 was out got %+v, want the answer of request 2", a)
		}
	}
	if n := sent.Load(); n != 2 {
		t.Fatalf("%d requests sent for 6 reads, want 2", n)
	}
}

func TestAReadIndexFromALeaderThatServesNoneSaysSo(t *testing.T) {
	old := httptest.NewServer(http.NotFoundHandler())
	defer old.Close()
	r := &readIndexes{client: old.Client()}
	if _, err := r.get(context.Background(), strings.TrimPrefix(old.URL, "http://")); !errors.Is(err, errNoReadIndex) {
		t.Fatalf("err = %v, want errNoReadIndex", err)
	}
}

// TestAConsistentReadWaitsForALeaderOnTheServersClock: a read on a server
// that has lost its quorum gives up (503) once readBarrierTimeout has
// passed on the server's clock, as soon as a fake one is advanced that far
// and not on the wall clock's schedule.
func TestAConsistentReadWaitsForALeaderOnTheServersClock(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	survivor := lastOfThree(t, fake)
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- survivor.ReadBarrier(context.Background()) }()
	select {
	case err := <-done:
		t.Fatalf("the read ended before the clock moved: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	fake.Advance(readBarrierTimeout)
	select {
	case err := <-done:
		if !errors.Is(err, api.ErrNoLeader) {
			t.Fatalf("err = %v, want errors.Is ErrNoLeader", err)
		}
		// The wall clock's 5 s would have ended it later: 3 s is
		// generous for a read that only had to notice the advance.
		if took := time.Since(start); took >= 3*time.Second {
			t.Errorf("the read gave up %s after it began, want soon after the advance", took)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the read went on after readBarrierTimeout of the server's clock")
	}
}

// A server that knows no leader at all (a majority of the servers down)
// answers reads and writes with "no cluster leader" once noLeaderWait has
// passed on its clock: before a client's 5 s attempt gives up on it and
// takes it for a dead server.
func TestAServerWithoutALeaderSaysSoBeforeAClientGivesUp(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	survivor := lastOfThree(t, fake)
	// Raft's own timers run on the wall clock: wait until the survivor
	// has let go of the old leader.
	eventually(t, 20*time.Second, "the survivor knows no leader", func() bool {
		name, _, _ := survivor.leaderHTTP()
		return name == "" && !survivor.IsLeader()
	})
	done := make(chan error, 2)
	go func() { _, err := survivor.WriteTarget(context.Background()); done <- err }()
	go func() { done <- survivor.ReadBarrier(context.Background()) }()
	select {
	case err := <-done:
		t.Fatalf("a request ended before the clock moved: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	fake.Advance(noLeaderWait)
	for range 2 {
		select {
		case err := <-done:
			var nl *api.NoLeaderError
			// Counted from the leader's loss, not from the server's start
			// an hour before.
			if !errors.Is(err, api.ErrNoLeader) || !errors.As(err, &nl) || nl.For < noLeaderWait || nl.For >= time.Hour || nl.Server != survivor.cfg.Name {
				t.Fatalf("err = %v, want an api.NoLeaderError of %s for at least %s, counted from the leader's loss", err, survivor.cfg.Name, noLeaderWait)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a request went on after noLeaderWait of the server's clock")
		}
	}
	if noLeaderWait >= 5*time.Second {
		t.Errorf("noLeaderWait %s: want less than the CLI's 5 s attempt", noLeaderWait)
	}
	// A minute later on its clock, it says it has known no leader for
	// that long: clients stop asking it (api.LeaderlessGiveUp).
	fake.Advance(time.Minute)
	go func() { _, err := survivor.WriteTarget(context.Background()); done <- err }()
	eventually(t, 10*time.Second, "the write waits for a leader", func() bool {
		fake.Advance(noLeaderWait)
		return len(done) > 0
	})
	var nl *api.NoLeaderError
	if err := <-done; !errors.As(err, &nl) || nl.For < time.Minute+noLeaderWait {
		t.Fatalf("err = %v, want an api.NoLeaderError for at least %s", err, time.Minute+noLeaderWait)
	}
}

// lastOfThree starts three servers on clk, lets an hour pass on it once
// they all know the leader, and kills the leader and another: the one it
// returns has lost its quorum.
func lastOfThree(t *testing.T, clk *clock.Fake) *Server {
	t.Helper()
	c := startCluster(t, 3, func(cfg *Config) { cfg.Clock = clk })
	leader := waitLeader(t, c)
	eventually(t, 20*time.Second, "every server knows the leader", func() bool {
		for _, s := range c.Servers() {
			if s.leaderless.Load() != 0 {
				return false
			}
		}
		return true
	})
	clk.Advance(time.Hour)
	var survivor *Server
	for _, s := range c.Servers() {
		if s != leader {
			survivor = s
		}
	}
	for _, s := range c.Servers() {
		if s != survivor {
			if err := c.Kill(s.cfg.Name); err != nil {
				t.Fatal(err)
			}
		}
	}
	return survivor
}

// A voter that says it cannot reach the leader's API (a server outside
// the gossip pool) is reported so in status's peers.
func TestAPeerThatCannotReachTheLeadersAPIIsReportedSo(t *testing.T) {
	voter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(api.KnownLeaderHeader, "true")
		w.Header().Set(api.LeaderAPIHeader, "unknown")
		w.Write([]byte(`{}`))
	}))
	defer voter.Close()
	s := &Server{peerHTTP: voter.Client()}
	p := &api.Peer{ID: "s2", HTTP: strings.TrimPrefix(voter.URL, "http://")}
	s.probePeer(context.Background(), p)
	if p.Status != api.PeerAlive || !p.KnownLeader || !p.LeaderAPIUnknown {
		t.Fatalf("peer %+v, want alive, knowing the leader, not its API", p)
	}
}
