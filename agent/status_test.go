package agent

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
	"flotilla/internal/testutil"
)

// waitUntil polls cond (the reporter runs on its own goroutine) for up to
// 10 s of wall time.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, what, func() error {
		if !cond() {
			return errors.New("not yet")
		}
		return nil
	})
}

// A change after a quiet interval is sent at once, the changes that follow
// within the interval together when it ends; a failed send is tried again
// after a longer wait, counted from its answer; an idle reporter arms no
// timer.
func TestStatusReporterSendsAtMostOnceAnIntervalAndSleepsWhileIdle(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	var mu sync.Mutex
	var batches []api.AllocStatusBatch
	fail := true
	r := newStatusReporter("n1", clk, time.Second, func(_ context.Context, b api.AllocStatusBatch) error {
		mu.Lock()
		defer mu.Unlock()
		batches = append(batches, b)
		if fail {
			fail = false
			clk.Advance(10 * time.Second) // the answer took the report's timeout
			return errors.New("context deadline exceeded")
		}
		return nil
	})
	sent := func() int { mu.Lock(); defer mu.Unlock(); return len(batches) }
	batch := func(i int) []api.AllocStatusUpdate { mu.Lock(); defer mu.Unlock(); return batches[i].Updates }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx, func(error) {}) }()
	defer func() { cancel(); <-done }()

	r.Set(api.AllocStatusUpdate{ID: "a1", Status: api.AllocRunning})
	waitUntil(t, "the first change to go at once", func() bool { return sent() == 1 })
	// It failed: tried again twice the interval after the answer, not at
	// once.
	waitUntil(t, "the retry's timer", func() bool { return clk.Waiters() == 1 })
	clk.Advance(time.Second)
	if n := sent(); n != 1 {
		t.Fatalf("retried after one interval (%d sends), want two", n)
	}
	clk.Advance(time.Second)
	waitUntil(t, "the retry", func() bool { return sent() == 2 })
	if u := batch(1); len(u) != 1 || u[0].ID != "a1" {
		t.Fatalf("the retry sent %+v, want a1", u)
	}
	// Two changes right after a send wait for the interval, and go together.
	r.Set(api.AllocStatusUpdate{ID: "a2", Status: api.AllocRunning})
	r.Set(api.AllocStatusUpdate{ID: "a3", Status: api.AllocRunning})
	waitUntil(t, "the interval's timer", func() bool { return clk.Waiters() == 1 })
	clk.Advance(999 * time.Millisecond)
	if n := sent(); n != 2 {
		t.Fatalf("%d batches sent before the interval ended", n-2)
	}
	clk.Advance(time.Millisecond)
	waitUntil(t, "the batch", func() bool { return sent() == 3 })
	if u := batch(2); len(u) != 2 {
		t.Fatalf("batch %+v, want a2 and a3 together", u)
	}
	// Nothing pending: no timer armed, nothing sent.
	waitUntil(t, "the reporter to go idle", func() bool { return clk.Waiters() == 0 })
	clk.Advance(time.Hour)
	if n := sent(); n != 3 {
		t.Fatalf("%d sends while idle", n-3)
	}
	// The servers have it: the same status again sends nothing; a new one
	// goes at once.
	r.Set(api.AllocStatusUpdate{ID: "a2", Status: api.AllocRunning})
	r.Set(api.AllocStatusUpdate{ID: "a1", Status: api.AllocFailed})
	waitUntil(t, "the next change", func() bool { return sent() == 4 })
	if u := batch(3); len(u) != 1 || u[0].ID != "a1" || u[0].Status != api.AllocFailed {
		t.Fatalf("fourth batch %+v, want a1 failed alone", u)
	}
}

// A status set again while the batch that carries it is being sent is not
// sent twice; one that changed is, after; a send that fails puts back what
// it carried, repeated or not; an allocation forgotten meanwhile is not
// remembered as sent.
func TestStatusReporterSendsAStatusSetDuringItsSendOnce(t *testing.T) {
	running := api.AllocStatusUpdate{ID: "a1", Status: api.AllocRunning, Ready: true}
	sending, answer := make(chan api.AllocStatusBatch), make(chan error)
	r := newStatusReporter("n1", clock.NewFake(time.Unix(0, 0)), time.Second, func(_ context.Context, b api.AllocStatusBatch) error {
		sending <- b
		return <-answer
	})
	// flushing sends what is pending and, while the send waits for its
	// answer, runs during; it returns what the send carried.
	flushing := func(during func(), err error) []api.AllocStatusUpdate {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- r.flush(context.Background()) }()
		b := <-sending
		during()
		answer <- err
		if got := <-done; !errors.Is(got, err) {
			t.Fatalf("flush returned %v, want %v", got, err)
		}
		return b.Updates
	}
	pending := func() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.pending) }

	r.Set(running)
	if u := flushing(func() { r.Set(running) }, nil); len(u) != 1 || u[0] != running {
		t.Fatalf("sent %+v, want %+v", u, running)
	}
	if n := pending(); n != 0 {
		t.Fatalf("%d statuses pending after the send carried the one set again during it", n)
	}
	// Changed during the send: sent after it.
	r.Set(api.AllocStatusUpdate{ID: "a2", Status: api.AllocStarting})
	notReady := running
	notReady.Ready = false
	flushing(func() { r.Set(notReady) }, nil)
	if u, _ := r.Last("a1"); u != notReady || pending() != 1 {
		t.Fatalf("last %+v with %d pending, want %+v pending", u, pending(), notReady)
	}
	// A send that fails puts back what it carried, set again or not.
	failed := errors.New("context deadline exceeded")
	flushing(func() { r.Set(notReady) }, failed)
	if u, ok := r.Last("a1"); !ok || u != notReady || pending() != 1 {
		t.Fatalf("after a failed send: last %+v with %d pending, want %+v pending again", u, pending(), notReady)
	}
	// Forgotten during its send: nothing remembered.
	flushing(func() { r.Forget("a1") }, nil)
	if u, ok := r.Last("a1"); ok {
		t.Fatalf("a1 forgotten during its send is remembered as %+v", u)
	}
}

// A report the servers do not answer is given up after reportTimeout on
// the reporter's clock (virtual time, in a scenario), not the machine's.
func TestStatusReporterGivesUpAReportAfterItsTimeoutOnItsClock(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	calls := make(chan context.Context, 1)
	var sends atomic.Int32
	r := newStatusReporter("n1", clk, time.Second, func(ctx context.Context, _ api.AllocStatusBatch) error {
		if sends.Add(1) > 1 {
			return nil // the retry, and the last flush on the way out
		}
		calls <- ctx
		<-ctx.Done()
		return context.Cause(ctx)
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx, func(error) {}) }()
	defer func() { cancel(); <-done }()

	r.Set(api.AllocStatusUpdate{ID: "a1", Status: api.AllocRunning})
	var call context.Context
	select {
	case call = <-calls:
	case <-time.After(10 * time.Second):
		t.Fatal("no report sent")
	}
	waitUntil(t, "the report's timer", func() bool { return clk.Waiters() == 1 })
	clk.Advance(reportTimeout - time.Millisecond)
	if call.Err() != nil {
		t.Fatalf("the report was given up before its timeout: %v", context.Cause(call))
	}
	clk.Advance(time.Millisecond)
	waitUntil(t, "the report to be given up", func() bool { return call.Err() != nil })
	if !errors.Is(context.Cause(call), context.DeadlineExceeded) {
		t.Fatalf("the report ended with %v, want its deadline", context.Cause(call))
	}
}
