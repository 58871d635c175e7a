package scheduler

import (
	"context"
	"flotilla/internal/clock"
	"testing"
	"time"

	"flotilla/api"
)

func eval(id, service string) *api.Evaluation {
	return &api.Evaluation{ID: id, Namespace: "default", Service: service, Status: api.EvalPending}
}

func dequeueNow(t *testing.T, b *Broker) (*api.Evaluation, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	e, dropped, err := b.Dequeue(ctx)
	if err != nil {
		t.Fatalf("dequeue: %v", err)
	}
	return e, dropped
}

func assertEmpty(t *testing.T, b *Broker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if e, _, err := b.Dequeue(ctx); err == nil {
		t.Fatalf("dequeued %s, want nothing ready", e.ID)
	}
}

func TestBrokerIgnoresEvaluationsWhileDisabled(t *testing.T) {
	b := NewBroker()
	b.Enqueue(eval("e1", "web"))
	b.SetEnabled(true)
	assertEmpty(t, b)
}

func TestBrokerServesServicesInArrivalOrder(t *testing.T) {
	b := NewBroker()
	b.SetEnabled(true)
	b.Enqueue(eval("e1", "web"), eval("e2", "api"))
	if e, _ := dequeueNow(t, b); e.ID != "e1" {
		t.Fatalf("first = %s, want e1", e.ID)
	}
	if e, _ := dequeueNow(t, b); e.ID != "e2" {
		t.Fatalf("second = %s, want e2", e.ID)
	}
}

func TestBrokerRunsOneEvaluationPerServiceAndCoalescesTheRest(t *testing.T) {
	b := NewBroker()
	b.SetEnabled(true)
	b.Enqueue(eval("e1", "web"))
	first, _ := dequeueNow(t, b)
	b.Enqueue(eval("e2", "web"), eval("e3", "web"))
	assertEmpty(t, b) // web is in flight
	b.Done(first)
	next, dropped := dequeueNow(t, b)
	if next.ID != "e3" {
		t.Fatalf("after done got %s, want the newest, e3", next.ID)
	}
	if len(dropped) != 1 || dropped[0] != "e2" {
		t.Fatalf("superseded = %v, want [e2]", dropped)
	}
	if st := b.Stats(); st.Inflight != 1 || st.Ready != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestBrokerEnqueueOfTheSameEvaluationIsIdempotent(t *testing.T) {
	b := NewBroker()
	b.SetEnabled(true)
	b.Enqueue(eval("e1", "web"), eval("e1", "web"))
	e, _ := dequeueNow(t, b)
	b.Enqueue(eval("e1", "web")) // reloaded from state while in flight
	b.Done(e)
	assertEmpty(t, b)
}

func TestBrokerBlockedEvaluationRunsAgainWhenCapacityAppears(t *testing.T) {
	b := NewBroker()
	b.SetEnabled(true)
	b.CapacityChanged(10)
	b.Enqueue(eval("e1", "web"))
	e, _ := dequeueNow(t, b)
	b.Block(e, 10)
	b.Done(e)
	assertEmpty(t, b)
	if b.Stats().Blocked != 1 {
		t.Fatalf("blocked = %d, want 1", b.Stats().Blocked)
	}
	b.CapacityChanged(10) // no change
	assertEmpty(t, b)
	b.CapacityChanged(11)
	if again, _ := dequeueNow(t, b); again.ID != "e1" || again.Status != api.EvalPending {
		t.Fatalf("unblocked %s (%s), want e1 pending", again.ID, again.Status)
	}
}

func TestBrokerBlockingOnAStaleSnapshotRequeuesAtOnce(t *testing.T) {
	b := NewBroker()
	b.SetEnabled(true)
	b.Enqueue(eval("e1", "web"))
	e, _ := dequeueNow(t, b)
	b.CapacityChanged(20) // capacity appeared while e1 was computed at index 15
	b.Block(e, 15)
	b.Done(e)
	if again, _ := dequeueNow(t, b); again.ID != "e1" {
		t.Fatalf("got %s, want e1 requeued", again.ID)
	}
}

func TestBrokerNewEvaluationSupersedesABlockedOne(t *testing.T) {
	b := NewBroker()
	b.SetEnabled(true)
	b.Enqueue(eval("e1", "web"))
	e, _ := dequeueNow(t, b)
	b.Block(e, 0)
	b.Done(e)
	b.Enqueue(eval("e2", "web"))
	next, dropped := dequeueNow(t, b)
	if next.ID != "e2" || len(dropped) != 1 || dropped[0] != "e1" {
		t.Fatalf("got %s superseding %v, want e2 superseding [e1]", next.ID, dropped)
	}
	if b.Stats().Blocked != 0 {
		t.Fatalf("blocked = %d, want 0", b.Stats().Blocked)
	}
}

func TestBrokerDisablingDropsEverythingAndWakesNobody(t *testing.T) {
	b := NewBroker()
	b.SetEnabled(true)
	b.Enqueue(eval("e1", "web"))
	b.SetEnabled(false)
	b.SetEnabled(true)
	assertEmpty(t, b)
}

func TestBrokerDequeueEndsWithItsContext(t *testing.T) {
	b := NewBroker()
	b.SetEnabled(true)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, _, err := b.Dequeue(ctx)
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("dequeue returned no error after cancel")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("dequeue did not return after cancel")
	}
}

func TestBrokerHoldsADelayedEvaluationUntilItsTime(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	b := NewBroker()
	b.SetClock(fake)
	b.SetEnabled(true)
	e := eval("e1", "web")
	e.WaitUntil = fake.Now().Add(10 * time.Second)
	b.Enqueue(e)
	b.Enqueue(e) // leadership reloads it: still one timer
	assertEmpty(t, b)
	if s := b.Stats(); s.Delayed != 1 {
		t.Fatalf("stats %+v, want 1 delayed", s)
	}
	fake.Advance(9 * time.Second)
	assertEmpty(t, b)
	fake.Advance(time.Second)
	if got, _ := dequeueNow(t, b); got.ID != "e1" {
		t.Fatalf("dequeued %s, want e1 once its time came", got.ID)
	}
	// Stepping down drops the timers: a new leader reloads from state.
	late := eval("e2", "api")
	late.WaitUntil = fake.Now().Add(time.Second)
	b.Enqueue(late)
	b.SetEnabled(false)
	b.SetEnabled(true)
	fake.Advance(time.Second)
	assertEmpty(t, b)
}
