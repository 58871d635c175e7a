package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"flotilla/api"
)

func registerWithSecret(h *harness, name, hash string) any {
	h.t.Helper()
	return h.apply(CmdRegisterNode, &RegisterNode{Name: name, SecretHash: hash, Time: h.next(),
		Registration: api.NodeRegistration{Address: "10.0.0.1", Capacity: nodeCapacity, Heartbeat: true}})
}

// A node's secret is the first its agent registered with; another is
// refused while the node is up or still runs something, and taken once
// it is down and its allocations are replaced (an agent that lost its
// data directory). The hash survives a snapshot and is in no answer.
func TestANodeKeepsTheSecretItRegisteredWith(t *testing.T) {
	h := newHarness(t)
	first, second := api.HashNodeSecret("first-secret-of-n1-0123456789abcdef"), api.HashNodeSecret("another-secret-0123456789abcdef0123")
	if res := registerWithSecret(h, "n1", first); res != nil {
		t.Fatalf("first registration: %v", res)
	}
	if got := h.node("n1").SecretHash; got != first {
		t.Fatalf("secret hash = %q, want the first registration's", got)
	}
	if res := registerWithSecret(h, "n1", first); res != nil {
		t.Fatalf("registration again under the same secret: %v", res)
	}

	h.upsert(decodeSpec(t, webYAML))
	h.place("web", "e1", "a1@n1")
	for hash, want := range map[string]string{second: "it is up", "": "this registration carries none"} {
		err, _ := registerWithSecret(h, "n1", hash).(error)
		if !errors.Is(err, api.ErrPermissionDenied) || !strings.Contains(err.Error(), want) {
			t.Fatalf("registration under %q while up = %v, want a permission error saying %q", hash, err, want)
		}
		if refusal := h.snap().NodeSecretRefusal("n1", hash); refusal == nil || refusal.Error() != err.Error() {
			t.Errorf("the servers' check before writing = %v, want the FSM's %v", refusal, err)
		}
	}

	h.nodeStatus("n1", api.NodeDown)
	err, _ := registerWithSecret(h, "n1", second).(error)
	if !errors.Is(err, api.ErrPermissionDenied) || !strings.Contains(err.Error(), "1 live allocation") {
		t.Fatalf("registration under another secret while down with a1 = %v, want a permission error naming its live allocation", err)
	}
	if n := h.node("n1"); n.SecretHash != first || n.Status != api.NodeDown {
		t.Fatalf("a refused registration changed the node: %s, hash %q", n.Status, n.SecretHash)
	}

	h.stop("web", Stop{ID: "a1", Reason: "node down", Lost: true})
	// Without a secret, never: that would open the node to anyone.
	if err, _ := registerWithSecret(h, "n1", "").(error); !errors.Is(err, api.ErrPermissionDenied) {
		t.Fatalf("registration without a secret of a down node that ran nothing = %v, want refused", err)
	}
	if res := registerWithSecret(h, "n1", second); res != nil {
		t.Fatalf("registration under a new secret once down and replaced: %v", res)
	}
	if n := h.node("n1"); n.SecretHash != second || n.Status != api.NodeReady {
		t.Fatalf("node = %s with hash %q, want ready under the new secret", n.Status, n.SecretHash)
	}
	evs := h.eventsSince(h.lastEventID() - 2)
	var said bool
	for _, e := range evs {
		said = said || (e.Type == api.EventNodeRegistered && strings.Contains(e.Message, "new node secret"))
	}
	if !said {
		t.Errorf("events %v: none says the node took a new secret", eventTypes(evs))
	}

	js, err := json.Marshal(h.node("n1"))
	if err != nil || bytes.Contains(js, []byte(second)) || bytes.Contains(js, []byte("ecret")) {
		t.Errorf("the node's JSON carries its secret hash: %s", js)
	}
	restored := newHarness(t)
	if err := restored.fsm.Restore(io.NopCloser(bytes.NewReader(h.writeSnapshot()))); err != nil {
		t.Fatal(err)
	}
	if got := restored.node("n1").SecretHash; got != second {
		t.Errorf("after a snapshot's restore the hash is %q, want the new one", got)
	}
}

// A node registered without a secret (before agents had one, or a
// benchmark's) takes the first it is registered with.
func TestANodeWithoutASecretTakesTheFirst(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	hash := api.HashNodeSecret("late-secret-0123456789abcdef0123456789")
	if res := registerWithSecret(h, "n1", hash); res != nil {
		t.Fatal(res)
	}
	if got := h.node("n1").SecretHash; got != hash {
		t.Errorf("hash = %q, want the first secret's", got)
	}
}
