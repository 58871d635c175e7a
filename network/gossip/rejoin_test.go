package gossip

import (
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"flotilla/internal/clock"
)

// cutTransport is memberlist's own transport with a switch that cuts the
// member off: nothing it sends arrives, nothing sent to it arrives, no
// stream connects either way. It is how a partition looks from inside.
type cutTransport struct {
	*memberlist.NetTransport
	cut     atomic.Bool
	packets chan *memberlist.Packet
	streams chan net.Conn
	done    chan struct{}
}

func newCutTransport(t *testing.T) *cutTransport {
	t.Helper()
	inner, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{"127.0.0.1"}, BindPort: 0})
	if err != nil {
		t.Fatal(err)
	}
	c := &cutTransport{NetTransport: inner, packets: make(chan *memberlist.Packet), streams: make(chan net.Conn), done: make(chan struct{})}
	go func() {
		for {
			select {
			case p := <-inner.PacketCh():
				if !c.cut.Load() {
					select {
					case c.packets <- p:
					case <-c.done:
						return
					}
				}
			case conn := <-inner.StreamCh():
				if c.cut.Load() {
					conn.Close()
					continue
				}
				select {
				case c.streams <- conn:
				case <-c.done:
					conn.Close()
					return
				}
			case <-c.done:
				return
			}
		}
	}()
	return c
}

var errCut = errors.New("cut off")

func (c *cutTransport) PacketCh() <-chan *memberlist.Packet { return c.packets }
func (c *cutTransport) StreamCh() <-chan net.Conn           { return c.streams }

func (c *cutTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	if c.cut.Load() {
		return time.Now(), nil // lost on the way, as UDP is
	}
	return c.NetTransport.WriteTo(b, addr)
}

func (c *cutTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return c.WriteTo(b, a.Addr)
}

func (c *cutTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if c.cut.Load() {
		return nil, errCut
	}
	return c.NetTransport.DialTimeout(addr, timeout)
}

func (c *cutTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return c.DialTimeout(a.Addr, timeout)
}

func (c *cutTransport) Shutdown() error {
	close(c.done)
	return c.NetTransport.Shutdown()
}

// startTuned starts a member whose memberlist never gossips to the dead,
// so that any partition that lasts until members are declared dead splits
// the pool for good unless someone joins again.
func startTuned(t *testing.T, name string, rejoin time.Duration, clk clock.Clock, tr *cutTransport) *Pool {
	t.Helper()
	cfg := Config{Name: name, Bind: "127.0.0.1:0", Fast: true, RejoinInterval: rejoin, Clock: clk, Meta: Meta{Role: RoleServer, HTTP: name + ":4646"},
		tune: func(mc *memberlist.Config) {
			mc.GossipToTheDeadTime = time.Millisecond
			if tr != nil {
				mc.Transport = tr
				mc.BindPort = tr.GetAutoBindPort()
				mc.AdvertisePort = mc.BindPort
			}
		}}
	p, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Shutdown() })
	return p
}

// partitionAndHeal runs three members, cuts a off until the others see it
// dead (and it them), then heals the cut. It returns the members.
func partitionAndHeal(t *testing.T, rejoin time.Duration, clk clock.Clock) (a, b, c *Pool) {
	tr := newCutTransport(t)
	a = startTuned(t, "a", rejoin, clk, tr)
	b = startTuned(t, "b", rejoin, clk, nil)
	c = startTuned(t, "c", rejoin, clk, nil)
	if _, err := b.Join([]string{a.Addr()}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Join([]string{a.Addr()}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Join([]string{b.Addr(), c.Addr()}); err != nil {
		t.Fatal(err)
	}
	waitMember(t, a, "b", StatusAlive, 5*time.Second)
	waitMember(t, a, "c", StatusAlive, 5*time.Second)
	waitMember(t, b, "a", StatusAlive, 5*time.Second)

	tr.cut.Store(true)
	waitMember(t, a, "b", StatusDead, 10*time.Second)
	waitMember(t, a, "c", StatusDead, 10*time.Second)
	waitMember(t, b, "a", StatusDead, 10*time.Second)
	waitMember(t, c, "a", StatusDead, 10*time.Second)
	tr.cut.Store(false)
	return a, b, c
}

func TestAMemberCutOffFromEveryPeerRejoinsByItselfAfterTheCutHeals(t *testing.T) {
	a, b, c := partitionAndHeal(t, 200*time.Millisecond, nil)
	healed := time.Now()
	waitMember(t, a, "b", StatusAlive, 10*time.Second)
	waitMember(t, a, "c", StatusAlive, 10*time.Second)
	waitMember(t, b, "a", StatusAlive, 10*time.Second)
	waitMember(t, c, "a", StatusAlive, 10*time.Second)
	t.Logf("pool whole again %s after the heal", time.Since(healed).Round(time.Millisecond))
}

// TestRejoinsAndChangesAreOnThePoolsClock: with a fake clock, the halves
// of a healed partition stay apart until it has moved a rejoin interval,
// and members' changes are dated by it.
func TestRejoinsAndChangesAreOnThePoolsClock(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fake := clock.NewFake(start)
	a, b, c := partitionAndHeal(t, 200*time.Millisecond, fake)
	// Ten rejoin intervals of the wall clock: had the rejoins followed it,
	// the pool would be whole again by now (the test above, about 0.3 s).
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range a.Members() {
			if m.Name != "a" && m.Status != StatusDead {
				t.Fatalf("a sees %s %s before the clock moved", m.Name, m.Status)
			}
		}
		select {
		case <-a.Changed():
		case <-time.After(time.Until(deadline)):
		}
	}
	dead := waitMember(t, a, "b", StatusDead, time.Second)
	if !dead.Since.Equal(start) {
		t.Errorf("b dead since %s, want the fake clock's %s", dead.Since, start)
	}
	fake.Advance(200 * time.Millisecond)
	if alive := waitMember(t, a, "b", StatusAlive, 10*time.Second); alive.Change == dead.Change {
		t.Errorf("b's death and return share Change %d", alive.Change)
	}
	waitMember(t, a, "c", StatusAlive, 10*time.Second)
	waitMember(t, b, "a", StatusAlive, 10*time.Second)
	waitMember(t, c, "a", StatusAlive, 10*time.Second)
}

func TestRejoinTargetsAreLostSeedsAndFailedMembersButNotLeftOnes(t *testing.T) {
	p := startTuned(t, "a", time.Hour, nil, nil)
	now := time.Now()
	p.mu.Lock()
	p.seeds = []string{"127.0.0.1:7001", "127.0.0.1:7002", p.Addr()}
	p.members = map[string]Member{
		"b": {Name: "b", Addr: "127.0.0.1:7001", Status: StatusAlive},
		"c": {Name: "c", Addr: "127.0.0.1:7003", Status: StatusDead, Since: now.Add(-time.Minute)},
		"d": {Name: "d", Addr: "127.0.0.1:7004", Status: StatusLeft, Since: now.Add(-time.Minute)},
		"e": {Name: "e", Addr: "127.0.0.1:7005", Status: StatusDead, Since: now.Add(-RejoinDeadFor - time.Minute)},
	}
	p.mu.Unlock()
	got := p.rejoinTargets(now)
	want := []string{"127.0.0.1:7002", "127.0.0.1:7003"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("rejoin targets = %v, want %v (the lost seed and the failed member; not alive b, left d, long-dead e or itself)", got, want)
	}
}

func TestAFailedMemberKeepsItsLastAnnouncedAddresses(t *testing.T) {
	a, b := start(t, "a", RoleServer), start(t, "b", RoleServer)
	defer a.Shutdown()
	if _, err := b.Join([]string{a.Addr()}); err != nil {
		t.Fatal(err)
	}
	waitMember(t, a, "b", StatusAlive, 5*time.Second)
	b.Shutdown()
	m := waitMember(t, a, "b", StatusDead, 10*time.Second)
	if m.Meta.HTTP != "b:4646" {
		t.Fatalf("dead b is remembered as %+v, want its HTTP address kept", m)
	}
}
