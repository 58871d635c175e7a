package gossip

import (
	"testing"
	"testing/synctest"
	"time"

	"flotilla/internal/vnet"
)

// startOn starts a member gossiping on n at bind. The caller shuts it
// down (inside a synctest bubble, before the bubble ends).
func startOn(t *testing.T, n vnet.Net, name, bind string) *Pool {
	t.Helper()
	p, err := Start(Config{Name: name, Bind: bind, Fast: true, Net: n, Meta: Meta{Role: RoleServer, HTTP: name + ":4646"}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitAlive waits on Changed until p sees exactly the named members alive.
func waitAlive(t *testing.T, p *Pool, within time.Duration, names ...string) {
	t.Helper()
	deadline := time.After(within)
	for {
		changed := p.Changed()
		alive := map[string]bool{}
		for _, m := range p.Members() {
			if m.Status == StatusAlive {
				alive[m.Name] = true
			}
		}
		all := len(alive) == len(names)
		for _, name := range names {
			all = all && alive[name]
		}
		if all {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("alive members are not %v within %s: %+v", names, within, p.Members())
		}
	}
}

// joinThree starts a, b and c on n, one per IP, joins b and c to a, and
// waits until each sees all three alive.
func joinThree(t *testing.T, n vnet.Net) (a, b, c *Pool) {
	t.Helper()
	a = startOn(t, n, "a", "10.0.0.1:7946")
	b = startOn(t, n, "b", "10.0.0.2:7946")
	c = startOn(t, n, "c", "10.0.0.3:0")
	if a.Addr() != "10.0.0.1:7946" || b.Addr() != "10.0.0.2:7946" {
		t.Fatalf("members at %s and %s, want the addresses bound", a.Addr(), b.Addr())
	}
	for _, p := range []*Pool{b, c} {
		if n, err := p.Join([]string{a.Addr()}); err != nil || n != 1 {
			t.Fatalf("join: %d, %v", n, err)
		}
	}
	for _, p := range []*Pool{a, b, c} {
		waitAlive(t, p, 10*time.Second, "a", "b", "c")
	}
	return a, b, c
}

func TestPoolsGossipOverAMemoryNetwork(t *testing.T) {
	a, b, c := joinThree(t, vnet.NewMemory())
	defer a.Shutdown()
	defer b.Shutdown()
	if m := waitMember(t, a, "c", StatusAlive, time.Second); m.Addr != c.Addr() || m.Meta.HTTP != "c:4646" {
		t.Fatalf("a sees c as %+v, want it at %s with its meta", m, c.Addr())
	}
	c.Shutdown() // no goodbye: the others must detect it
	waitMember(t, a, "c", StatusDead, 10*time.Second)
	waitMember(t, b, "c", StatusDead, 10*time.Second)
}

func TestPoolsGossipInVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, c := joinThree(t, vnet.NewMemory())
		defer func() {
			c.Shutdown()
			b.Shutdown()
			a.Shutdown()
			// memberlist's Shutdown does not wait for a probe in flight,
			// which ends when its ack timer fires, and time stops once the
			// bubble's root returns: let (virtual) time run past every
			// memberlist timeout, so the bubble ends with no goroutine left.
			time.Sleep(time.Minute)
		}()

		// Failure detection takes its (virtual) seconds.
		c.Shutdown()
		killed := time.Now()
		waitMember(t, a, "c", StatusDead, time.Minute)
		waitMember(t, b, "c", StatusDead, time.Minute)
		took := time.Since(killed)
		t.Logf("c declared dead after %s of virtual time", took)
		if took < 100*time.Millisecond || took > 10*time.Second {
			t.Fatalf("c declared dead after %s of virtual time, want a Fast pool's second or so", took)
		}

		// A graceful leave is seen as one.
		if err := b.Leave(time.Second); err != nil {
			t.Fatal(err)
		}
		waitMember(t, a, "b", StatusLeft, time.Minute)
	})
}
