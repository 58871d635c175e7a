package agent

import (
	"testing"
	"time"
)

func (f *fakeServers) heartbeats() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.beats
}

// The leader grows the interval with the cluster; the agent follows it,
// within its jitter, and retries a failed heartbeat well within the TTL.
func TestAgentHeartbeatsAtTheIntervalTheLeaderAsksWithJitter(t *testing.T) {
	servers := newFakeServers()
	servers.beatTTL, servers.beatInterval = 600*time.Second, 200*time.Second
	ta := startAgent(t, t.TempDir(), servers, NewNullRuntime())
	ta.until("the first heartbeat", func() bool { return servers.heartbeats() >= 1 })
	start := ta.clock.Now()
	step := time.Second
	for servers.heartbeats() < 2 {
		if ta.clock.Now().Sub(start) > 300*time.Second {
			t.Fatal("no second heartbeat within 300s of fake time")
		}
		ta.clock.Advance(step)
		time.Sleep(time.Millisecond) // let the agent's goroutines run between steps; not synchronisation
	}
	if gap := ta.clock.Now().Sub(start); gap < 170*time.Second || gap > 240*time.Second { // 230s, and steps the agent lagged
		t.Fatalf("second heartbeat %s after the first, want 200s ±15%%", gap)
	}

	// The next three fail: retries back off from 200ms but never wait
	// more than a quarter of the interval, nor stop.
	servers.mu.Lock()
	servers.failBeats = 3
	servers.mu.Unlock()
	before := servers.heartbeats()
	for servers.heartbeats() < before+4 {
		if ta.clock.Now().Sub(start) > 600*time.Second {
			t.Fatalf("%d heartbeats in %s", servers.heartbeats()-before, ta.clock.Now().Sub(start))
		}
		ta.clock.Advance(step)
		time.Sleep(time.Millisecond) // not synchronisation
	}
	// The failing one is due ~200s later; the three retries take about
	// 0.2 + 0.4 + 0.8 s.
	if gap := ta.clock.Now().Sub(start); gap > 2*231*time.Second {
		t.Fatalf("the heartbeat after three failures came %s after the first", gap)
	}
}
