package scheduler

import (
	"sync"
	"testing"
	"time"

	"flotilla/internal/clock"
)

// manualClock records AfterFunc callbacks so that a test can fire them in
// any order, including after they were stopped, as a racing timer does.
type manualClock struct {
	clock.Real
	mu  sync.Mutex
	fns []func()
}

type manualTimer struct{}

func (manualTimer) Stop() bool                 { return true }
func (manualTimer) Reset(d time.Duration) bool { return true }

func (c *manualClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fns = append(c.fns, f)
	return manualTimer{}
}

func TestAHeartbeatTimerThatFiredLateDoesNotExpireARearmedNode(t *testing.T) {
	c := &manualClock{}
	var expired []string
	h := newHeartbeats(c, func(node string) { expired = append(expired, node) })
	h.reset("n1", time.Second) // first arming
	h.reset("n1", time.Second) // a heartbeat re-arms it
	c.fns[0]()                 // the first timer fires anyway (it raced the heartbeat)
	if len(expired) != 0 {
		t.Fatalf("expired %v by a timer the heartbeat replaced", expired)
	}
	if h.armed() != 1 {
		t.Fatalf("%d timers armed, want the heartbeat's", h.armed())
	}
	c.fns[1]()
	if len(expired) != 1 || expired[0] != "n1" {
		t.Fatalf("expired %v, want n1 once", expired)
	}
	c.fns[1]() // a timer never expires twice
	if len(expired) != 1 {
		t.Fatalf("expired %v", expired)
	}
}

func TestStoppedHeartbeatTimersNeverExpire(t *testing.T) {
	c := &manualClock{}
	var expired []string
	h := newHeartbeats(c, func(node string) { expired = append(expired, node) })
	h.reset("n1", time.Second)
	h.reset("n2", time.Second)
	h.stop("n1")
	h.stopAll()
	for _, f := range c.fns {
		f()
	}
	if len(expired) != 0 || h.armed() != 0 {
		t.Fatalf("expired %v, %d armed", expired, h.armed())
	}
}
