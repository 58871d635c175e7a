package state

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"flotilla/api"
)

// TestAWriteRetriedWithItsRequestIDAppliesOnceAndAnswersTheFirstResult is
// a write whose answer was lost (the client timed out) sent again through
// another server: the log then holds it twice, and the second entry must
// change nothing and answer what the first did.
func TestAWriteRetriedWithItsRequestIDAppliesOnceAndAnswersTheFirstResult(t *testing.T) {
	h := newHarness(t)
	spec := decodeSpec(t, webYAML)
	first := h.ok(CmdUpsertService, &UpsertService{Spec: spec, Time: h.next(), RequestID: "req-1"}).(*UpsertServiceResult)
	firstIndex := h.index
	events := len(h.events())

	again := h.ok(CmdUpsertService, &UpsertService{Spec: spec, Time: h.next(), RequestID: "req-1"})
	rep, ok := again.(*Replayed)
	if !ok {
		t.Fatalf("the retried upsert answered %#v, want the first answer replayed", again)
	}
	if rep.Index != firstIndex || *rep.Result.(*UpsertServiceResult) != *first {
		t.Fatalf("replayed %d %+v, want the first answer: index %d %+v", rep.Index, rep.Result, firstIndex, first)
	}
	if !first.Created || !first.Changed {
		t.Fatalf("first = %+v, want created and changed", first)
	}
	svc := h.snap().Service(nil, "default", "web")
	if svc.ModifyIndex != firstIndex || svc.Revision != 1 {
		t.Fatalf("the retry changed the service: revision %d, modify index %d", svc.Revision, svc.ModifyIndex)
	}
	if n := len(h.events()); n != events {
		t.Fatalf("the retry recorded %d more events", n-events)
	}
	if len(h.evals) != 1 {
		t.Fatalf("the retry made another evaluation: %d", len(h.evals))
	}

	// Without the ID, the same write is a second write (a no-op upsert).
	plain := h.ok(CmdUpsertService, &UpsertService{Spec: spec, Time: h.next()}).(*UpsertServiceResult)
	if plain.Created {
		t.Fatalf("a second upsert without an ID answered %+v", plain)
	}
}

func TestARetriedDeleteDoesNotAnswerNotFound(t *testing.T) {
	h := newHarness(t)
	h.upsert(decodeSpec(t, webYAML))
	h.ok(CmdDeleteService, &DeleteService{Namespace: "default", Name: "web", Time: h.next(), RequestID: "del-1"})
	res := h.apply(CmdDeleteService, &DeleteService{Namespace: "default", Name: "web", Time: h.next(), RequestID: "del-1"})
	if _, ok := res.(*Replayed); !ok {
		t.Fatalf("the retried delete answered %#v, want the first (successful) answer", res)
	}
	// A new delete (another ID) of what is gone is a 404, as before.
	if err := h.fails(CmdDeleteService, &DeleteService{Namespace: "default", Name: "web", Time: h.next(), RequestID: "del-2"}); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("delete of a deleted service: %v, want not found", err)
	}
}

func TestARequestIDThatFailedIsNotRemembered(t *testing.T) {
	h := newHarness(t)
	if err := h.fails(CmdScaleService, &ScaleService{Namespace: "default", Name: "web", Replicas: 2, Time: h.next(), RequestID: "s-1"}); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("scale of a missing service: %v", err)
	}
	h.upsert(decodeSpec(t, webYAML))
	// The failed attempt changed nothing: trying it again really applies.
	h.ok(CmdScaleService, &ScaleService{Namespace: "default", Name: "web", Replicas: 2, Time: h.next(), RequestID: "s-1"})
	if svc := h.snap().Service(nil, "default", "web"); svc.Replicas != 2 {
		t.Fatalf("replicas = %d, want 2", svc.Replicas)
	}
}

func TestARequestIDReusedForAnotherWriteIsAConflict(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	h.ok(CmdNodeDrain, &NodeDrain{Name: "n1", Enable: true, Time: h.next(), RequestID: "x"})
	res := h.apply(CmdNodeEligibility, &NodeEligibility{Name: "n1", Eligible: true, Time: h.next(), RequestID: "x"})
	if err, ok := res.(error); !ok || !errors.Is(err, api.ErrConflict) {
		t.Fatalf("reused ID answered %#v, want a conflict", res)
	}
	if n := h.node("n1"); n.Eligible {
		t.Fatal("the conflicting write applied")
	}
}

func TestRequestIDsSurviveASnapshot(t *testing.T) {
	h := newHarness(t)
	h.ok(CmdUpsertService, &UpsertService{Spec: decodeSpec(t, webYAML), Time: h.next(), RequestID: "req-1"})
	restored := newHarness(t)
	if err := restored.fsm.Restore(io.NopCloser(bytes.NewReader(h.writeSnapshot()))); err != nil {
		t.Fatal(err)
	}
	restored.index = h.index
	res := restored.apply(CmdUpsertService, &UpsertService{Spec: decodeSpec(t, webYAML), Time: restored.next(), RequestID: "req-1"})
	if rep, ok := res.(*Replayed); !ok || rep.Index != 1 || !rep.Result.(*UpsertServiceResult).Created {
		t.Fatalf("after a restore the retry answered %#v, want the first answer replayed", res)
	}
}

func TestRequestIDsAreForgottenAfterAWhile(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	h.ok(CmdNodeDrain, &NodeDrain{Name: "n1", Enable: true, Time: h.next(), RequestID: "old"})
	if h.snap().Request("old") == nil {
		t.Fatal("request not remembered")
	}
	// Another request long after: the old one falls out of memory.
	h.index += 10
	h.ok(CmdNodeDrain, &NodeDrain{Name: "n1", Enable: false, Time: h.next().Add(RequestMemory + time.Minute), RequestID: "new"})
	if h.snap().Request("old") != nil {
		t.Fatal("a request older than RequestMemory is still remembered")
	}
	// And past the window of log entries, however recent.
	h.index += RequestWindow
	h.ok(CmdNodeDrain, &NodeDrain{Name: "n1", Enable: true, Time: h.next().Add(RequestMemory + time.Minute), RequestID: "newer"})
	if h.snap().Request("new") != nil || h.snap().Request("newer") == nil {
		t.Fatal("the table keeps requests beyond RequestWindow entries")
	}
}

func TestWaitForIndexReturnsOnceTheStateReachesIt(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	done := make(chan error, 1)
	go func() { done <- h.fsm.WaitForIndex(t.Context(), 3) }()
	h.registerNode("n2", nil)
	select {
	case err := <-done:
		t.Fatalf("returned at index 2: %v", err)
	default:
	}
	h.registerNode("n3", nil)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitForIndex did not return once index 3 applied")
	}
}
