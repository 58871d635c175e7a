package probe

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
)

func spec(success, failure int) api.Probe {
	return api.Probe{Period: api.Duration(time.Second), Timeout: api.Duration(time.Second), SuccessThreshold: success, FailureThreshold: failure}
}

func TestTrackerThresholds(t *testing.T) {
	tests := []struct {
		name    string
		kind    Kind
		spec    api.Probe
		results []bool
		// verdict after each result, and where it flipped
		want    []bool
		changes []int
	}{
		{"readiness needs one success", Readiness, spec(1, 3), []bool{false, true}, []bool{false, true}, []int{1}},
		{"readiness needs two successes in a row", Readiness, spec(2, 3), []bool{true, false, true, true}, []bool{false, false, false, true}, []int{3}},
		{"readiness fails on the third failure in a row", Readiness, spec(1, 3),
			[]bool{true, false, false, true, false, false, false}, []bool{true, true, true, true, true, true, false}, []int{0, 6}},
		{"liveness starts alive", Liveness, spec(1, 3), []bool{false, false}, []bool{true, true}, nil},
		{"liveness dies at exactly the threshold", Liveness, spec(1, 3), []bool{false, false, false}, []bool{true, true, false}, []int{2}},
		{"a success resets the failure count", Liveness, spec(1, 2), []bool{false, true, false, true, false, false}, []bool{true, true, true, true, true, false}, []int{5}},
		{"threshold 1 flips at once", Liveness, spec(1, 1), []bool{false}, []bool{false}, []int{0}},
		{"zero thresholds count as 1", Readiness, spec(0, 0), []bool{true, false}, []bool{true, false}, []int{0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(tt.kind, tt.spec)
			var changes []int
			for i, ok := range tt.results {
				passing, changed := tr.Observe(ok)
				if passing != tt.want[i] {
					t.Fatalf("after result %d (%v): passing %v, want %v", i, ok, passing, tt.want[i])
				}
				if changed {
					changes = append(changes, i)
				}
			}
			if len(changes) != len(tt.changes) {
				t.Fatalf("changes at %v, want %v", changes, tt.changes)
			}
			for i := range changes {
				if changes[i] != tt.changes[i] {
					t.Fatalf("changes at %v, want %v", changes, tt.changes)
				}
			}
		})
	}
}

func TestStartupGivesUpAfterItsThreshold(t *testing.T) {
	tr := NewTracker(Startup, spec(1, 3))
	for i := 0; i < 2; i++ {
		tr.Observe(false)
		if tr.GivenUp() {
			t.Fatalf("gave up after %d failures", i+1)
		}
	}
	tr.Observe(false)
	if !tr.GivenUp() {
		t.Fatal("did not give up after 3 failures")
	}
}

// script is a check whose results a test sets per probe kind.
type script struct {
	mu     sync.Mutex
	ok     map[Kind]bool
	counts map[Kind]int
}

func (s *script) set(k Kind, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ok[k] = ok
}

func (s *script) count(k Kind) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[k]
}

// newRunner starts a runner of probes whose checks fail, but for the kinds
// in passing, until the test says otherwise.
func newRunner(t *testing.T, probes api.Probes, passing ...Kind) (*clock.Fake, *script, chan Event, chan Event, context.CancelFunc) {
	t.Helper()
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := &script{ok: map[Kind]bool{}, counts: map[Kind]int{}}
	for _, k := range passing {
		s.ok[k] = true // before the runner's first check, which comes at once
	}
	kindOf := map[*api.Probe]Kind{probes.Startup: Startup, probes.Readiness: Readiness, probes.Liveness: Liveness}
	events := make(chan Event, 16)
	done := make(chan Event, 1)
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{Probes: probes, Clock: fake, Events: events, Check: func(ctx context.Context, p *api.Probe) error {
		k := kindOf[p]
		s.mu.Lock()
		defer s.mu.Unlock()
		s.counts[k]++
		if s.ok[k] {
			return nil
		}
		return errors.New("connection refused")
	}}
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(cancel)
	return fake, s, events, done, cancel
}

// step advances the fake clock once the runner has armed its timers.
func step(t *testing.T, fake *clock.Fake, d time.Duration, waiters int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for fake.Waiters() < waiters {
		if time.Now().After(deadline) {
			t.Fatalf("the runner did not arm %d timers", waiters)
		}
		time.Sleep(time.Millisecond) // polling for the goroutine to reach its timer
	}
	fake.Advance(d)
}

func next(t *testing.T, events chan Event) Event {
	t.Helper()
	select {
	case e := <-events:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no probe event")
		return Event{}
	}
}

func TestStartupHoldsTheOthersOffUntilItPasses(t *testing.T) {
	start, ready, live := spec(1, 30), spec(1, 3), spec(1, 3)
	fake, s, events, _, _ := newRunner(t, api.Probes{Startup: &start, Readiness: &ready, Liveness: &live})
	s.set(Readiness, true)
	// The workload takes 5 periods to start; liveness would fail meanwhile.
	for i := 0; i < 5; i++ {
		step(t, fake, time.Second, 1)
	}
	if s.count(Readiness)+s.count(Liveness) != 0 {
		t.Fatalf("readiness and liveness ran %d times while starting", s.count(Readiness)+s.count(Liveness))
	}
	s.set(Startup, true)
	s.set(Liveness, true)
	step(t, fake, time.Second, 1)
	if e := next(t, events); e.Kind != Startup || !e.Passing {
		t.Fatalf("event %+v, want startup passed", e)
	}
	if e := next(t, events); e.Kind != Readiness || !e.Passing {
		t.Fatalf("event %+v, want ready", e)
	}
}

func TestStartupThatNeverPassesKillsTheContainer(t *testing.T) {
	start := spec(1, 3)
	fake, _, events, done, _ := newRunner(t, api.Probes{Startup: &start})
	step(t, fake, time.Second, 1)
	step(t, fake, time.Second, 1)
	e := next(t, events)
	if e.Kind != Startup || e.Passing || e.Failures != 3 || e.Message != "startup probe failed 3 times: connection refused" {
		t.Fatalf("event %+v", e)
	}
	select {
	case v := <-done:
		if v.Kind != Startup || v.Passing || v.Message != "startup probe failed 3 times: connection refused" {
			t.Fatalf("runner returned %+v, want the startup verdict", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the runner did not stop")
	}
}

func TestReadinessComesAndGoesWithoutKilling(t *testing.T) {
	ready := spec(1, 2)
	fake, s, events, done, _ := newRunner(t, api.Probes{Readiness: &ready}, Readiness)
	if e := next(t, events); e.Kind != Readiness || !e.Passing {
		t.Fatalf("event %+v, want ready at once", e)
	}
	s.set(Readiness, false)
	step(t, fake, time.Second, 1)
	step(t, fake, time.Second, 1)
	if e := next(t, events); e.Passing || e.Failures != 2 {
		t.Fatalf("event %+v, want unready after 2 failures", e)
	}
	s.set(Readiness, true)
	step(t, fake, time.Second, 1)
	if e := next(t, events); !e.Passing {
		t.Fatalf("event %+v, want ready again", e)
	}
	select {
	case v := <-done:
		t.Fatalf("a readiness probe stopped the runner (%+v)", v)
	default:
	}
}

func TestLivenessFailureEndsTheRunner(t *testing.T) {
	live := spec(1, 3)
	live.InitialDelay = api.Duration(10 * time.Second)
	fake, s, events, done, _ := newRunner(t, api.Probes{Liveness: &live})
	if e := next(t, events); e.Kind != Readiness || !e.Passing {
		t.Fatalf("event %+v, want ready (no readiness probe)", e)
	}
	step(t, fake, 9*time.Second, 1)
	if s.count(Liveness) != 0 {
		t.Fatal("liveness ran during its initial delay")
	}
	step(t, fake, time.Second, 1)
	step(t, fake, time.Second, 1)
	step(t, fake, time.Second, 1)
	if e := next(t, events); e.Kind != Liveness || e.Passing || e.Failures != 3 {
		t.Fatalf("event %+v", e)
	}
	select {
	case v := <-done:
		if v.Kind != Liveness || v.Failures != 3 {
			t.Fatalf("runner returned %+v", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the runner did not stop after liveness failed")
	}
}

// The timeout is on the runner's clock: a check outlasts an hour's
// timeout when the fake clock says so, not before.
func TestASlowCheckTimesOut(t *testing.T) {
	fake := clock.NewFake(time.Now())
	p := spec(1, 1)
	p.Timeout = api.Duration(time.Hour)
	events := make(chan Event, 4)
	started := make(chan struct{})
	r := &Runner{Probes: api.Probes{Readiness: &p}, Clock: fake, Events: events,
		Check: func(ctx context.Context, _ *api.Probe) error { close(started); <-ctx.Done(); return ctx.Err() }}
	tr := NewTracker(Readiness, p)
	done := make(chan error, 1)
	go func() { done <- r.check(context.Background(), &p) }()
	<-started
	select {
	case err := <-done:
		t.Fatalf("check ended before the clock moved: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	fake.Advance(time.Hour)
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the check went on after an hour of the clock")
	}
	if err == nil || err.Error() != "timed out after 1h" {
		t.Fatalf("check = %v", err)
	}
	if passing, _ := tr.Observe(err == nil); passing {
		t.Fatal("a timed-out check passed")
	}
}
