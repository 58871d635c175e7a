package gossip

import (
	"testing"
	"time"
)

func start(t *testing.T, name, role string) *Pool {
	t.Helper()
	p, err := Start(Config{Name: name, Bind: "127.0.0.1:0", Fast: true, Meta: Meta{Role: role, HTTP: name + ":4646"}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitMember waits on Changed until name has the wanted status.
func waitMember(t *testing.T, p *Pool, name, status string, within time.Duration) Member {
	t.Helper()
	deadline := time.After(within)
	for {
		changed := p.Changed()
		for _, m := range p.Members() {
			if m.Name == name && m.Status == status {
				return m
			}
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("%s did not become %s within %s: %+v", name, status, within, p.Members())
		}
	}
}

func TestMembersSeeEachOtherWithTheirMeta(t *testing.T) {
	a, b := start(t, "a", RoleServer), start(t, "b", RoleAgent)
	defer a.Shutdown()
	defer b.Shutdown()
	if n, err := b.Join([]string{a.Addr()}); err != nil || n != 1 {
		t.Fatalf("join: %d, %v", n, err)
	}
	m := waitMember(t, a, "b", StatusAlive, 5*time.Second)
	if m.Meta.Role != RoleAgent || m.Meta.HTTP != "b:4646" || m.Addr != b.Addr() {
		t.Fatalf("a sees b as %+v", m)
	}
}

func TestAFailedMemberIsDeclaredDeadQuickly(t *testing.T) {
	a, b := start(t, "a", RoleServer), start(t, "b", RoleAgent)
	defer a.Shutdown()
	if _, err := b.Join([]string{a.Addr()}); err != nil {
		t.Fatal(err)
	}
	waitMember(t, a, "b", StatusAlive, 5*time.Second)
	b.Shutdown() // no goodbye: a must detect it
	killed := time.Now()
	waitMember(t, a, "b", StatusDead, 10*time.Second)
	t.Logf("declared dead after %s", time.Since(killed))
}

func TestALeavingMemberIsMarkedLeftAndCanBeForgotten(t *testing.T) {
	a, b := start(t, "a", RoleServer), start(t, "b", RoleAgent)
	defer a.Shutdown()
	if _, err := b.Join([]string{a.Addr()}); err != nil {
		t.Fatal(err)
	}
	waitMember(t, a, "b", StatusAlive, 5*time.Second)
	if err := b.Leave(time.Second); err != nil {
		t.Fatal(err)
	}
	waitMember(t, a, "b", StatusLeft, 5*time.Second)
	a.Forget("b")
	for _, m := range a.Members() {
		if m.Name == "b" {
			t.Fatalf("b still listed after Forget: %+v", m)
		}
	}
}

// TestAnswersAsksTheMemberItself: a live member answers a ping, one that
// stopped does not, and one never heard of does not either.
func TestAnswersAsksTheMemberItself(t *testing.T) {
	a, b := start(t, "a", RoleServer), start(t, "b", RoleAgent)
	defer a.Shutdown()
	if _, err := b.Join([]string{a.Addr()}); err != nil {
		t.Fatal(err)
	}
	waitMember(t, a, "b", StatusAlive, 5*time.Second)
	if !a.Answers("b") {
		t.Fatal("a live member does not answer a ping")
	}
	if a.Answers("nobody") {
		t.Fatal("a member never heard of answers a ping")
	}
	b.Shutdown()
	if a.Answers("b") {
		t.Fatal("a stopped member answers a ping")
	}
}
