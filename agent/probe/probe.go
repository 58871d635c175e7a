// Package probe runs an allocation's health checks with Kubernetes'
// semantics: a startup probe holds the others off until it succeeds (and
// kills the container when it gives up); readiness only decides whether the
// replica gets traffic; liveness failures restart it. Timing is on the
// injected clock; the checks themselves (HTTP, TCP, exec) are functions the
// agent provides, so that the same code runs against any runtime.
package probe

import (
	"context"
	"fmt"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
)

// Kind names a probe.
type Kind string

// The three probes.
const (
	Startup   Kind = "startup"
	Readiness Kind = "readiness"
	Liveness  Kind = "liveness"
)

// Tracker counts one probe's consecutive results against its thresholds.
// It is pure: Observe says what the probe concludes after each result.
type Tracker struct {
	spec      api.Probe
	successes int
	failures  int
	passing   bool
}

// NewTracker starts a probe's count. A readiness probe starts failing (not
// ready until it succeeds); liveness and startup start passing for
// liveness (alive until proven otherwise), and startup's verdict is read
// from Observe.
func NewTracker(kind Kind, spec api.Probe) *Tracker {
	return &Tracker{spec: spec, passing: kind == Liveness}
}

// Observe records one check. passing is the probe's verdict after it;
// changed reports whether the verdict flipped: after SuccessThreshold
// consecutive successes a failing probe passes, after FailureThreshold
// consecutive failures a passing one fails.
func (t *Tracker) Observe(ok bool) (passing, changed bool) {
	if ok {
		t.successes++
		t.failures = 0
		if !t.passing && t.successes >= max(1, t.spec.SuccessThreshold) {
			t.passing = true
			return true, true
		}
		return t.passing, false
	}
	t.failures++
	t.successes = 0
	if t.passing && t.failures >= max(1, t.spec.FailureThreshold) {
		t.passing = false
		return false, true
	}
	return t.passing, false
}

// Failures is the number of consecutive failures so far.
func (t *Tracker) Failures() int { return t.failures }

// GivenUp reports whether a startup probe failed FailureThreshold times in
// a row without ever passing.
func (t *Tracker) GivenUp() bool {
	return !t.passing && t.failures >= max(1, t.spec.FailureThreshold)
}

// Check runs one check of a probe; nil is success.
type Check func(ctx context.Context, p *api.Probe) error

// Event is a probe's verdict changing, for the agent to act on and report.
type Event struct {
	Kind Kind
	// Passing is the new verdict: ready / alive / started.
	Passing bool
	// Failures in a row, and the last check's error, when failing.
	Failures int
	Message  string
	Time     time.Time
}

// Runner probes one allocation until its context ends or it concludes the
// container must die (startup gave up, liveness failed).
type Runner struct {
	Probes api.Probes
	Check  Check
	Clock  clock.Clock
	// Events receives every verdict change; the Runner blocks on it, so
	// the agent must keep reading while the Runner runs.
	Events chan<- Event
}

// Run probes until ctx ends or a probe says the container must be killed;
// it then returns that verdict (a failing Startup or Liveness event), else
// an event without a Kind.
func (r *Runner) Run(ctx context.Context) Event {
	if p := r.Probes.Startup; p != nil {
		if verdict, ok := r.runStartup(ctx, p); !ok {
			if ctx.Err() != nil {
				return Event{}
			}
			return verdict
		}
	} else if r.Probes.Readiness == nil {
		// No readiness probe: ready as soon as it runs.
		r.emit(ctx, Event{Kind: Readiness, Passing: true, Message: "no readiness probe", Time: r.Clock.Now()})
	}
	if r.Probes.Readiness == nil && r.Probes.Startup != nil {
		r.emit(ctx, Event{Kind: Readiness, Passing: true, Message: "started; no readiness probe", Time: r.Clock.Now()})
	}
	killed := make(chan Event, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{}, 2)
	started := 0
	if p := r.Probes.Readiness; p != nil {
		started++
		go func() { r.loop(ctx, Readiness, p, killed); done <- struct{}{} }()
	}
	if p := r.Probes.Liveness; p != nil {
		started++
		go func() { r.loop(ctx, Liveness, p, killed); done <- struct{}{} }()
	}
	if started == 0 {
		<-ctx.Done()
		return Event{}
	}
	select {
	case verdict := <-killed:
		cancel()
		for i := 0; i < started; i++ {
			<-done
		}
		return verdict
	case <-ctx.Done():
		for i := 0; i < started; i++ {
			<-done
		}
		return Event{}
	}
}

func (r *Runner) emit(ctx context.Context, e Event) {
	select {
	case r.Events <- e:
	case <-ctx.Done():
	}
}

// check runs one check within the probe's timeout.
func (r *Runner) check(ctx context.Context, p *api.Probe) error {
	timeout := p.Timeout.Std()
	if timeout <= 0 {
		timeout = time.Second
	}
	// The timeout is on the clock, as the probe's periods are: in virtual
	// time a workload that answers late is late on that clock.
	cctx, cancel := clock.WithTimeout(ctx, r.Clock, timeout)
	defer cancel()
	err := r.Check(cctx, p)
	if err != nil && cctx.Err() != nil && ctx.Err() == nil {
		return fmt.Errorf("timed out after %s", api.Duration(timeout))
	}
	return err
}

// wait sleeps d on the clock; false when ctx ended first.
func (r *Runner) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	select {
	case <-ctx.Done():
		return false
	case <-r.Clock.After(d):
		return true
	}
}

func period(p *api.Probe) time.Duration {
	if d := p.Period.Std(); d > 0 {
		return d
	}
	return 10 * time.Second
}

// runStartup checks until the probe passes (true) or gives up (false, with
// the failing verdict).
func (r *Runner) runStartup(ctx context.Context, p *api.Probe) (Event, bool) {
	t := NewTracker(Startup, *p)
	if !r.wait(ctx, p.InitialDelay.Std()) {
		return Event{}, false
	}
	for {
		err := r.check(ctx, p)
		if ctx.Err() != nil {
			return Event{}, false
		}
		if passing, _ := t.Observe(err == nil); passing {
			r.emit(ctx, Event{Kind: Startup, Passing: true, Message: "startup probe succeeded", Time: r.Clock.Now()})
			return Event{}, true
		}
		if t.GivenUp() {
			verdict := Event{Kind: Startup, Failures: t.Failures(), Time: r.Clock.Now(),
				Message: fmt.Sprintf("startup probe failed %d times: %v", t.Failures(), err)}
			r.emit(ctx, verdict)
			return verdict, false
		}
		if !r.wait(ctx, period(p)) {
			return Event{}, false
		}
	}
}

// loop runs a readiness or liveness probe, emitting every verdict change;
// a liveness probe that fails signals killed and returns.
func (r *Runner) loop(ctx context.Context, kind Kind, p *api.Probe, killed chan<- Event) {
	t := NewTracker(kind, *p)
	if !r.wait(ctx, p.InitialDelay.Std()) {
		return
	}
	for {
		err := r.check(ctx, p)
		if ctx.Err() != nil {
			return
		}
		passing, changed := t.Observe(err == nil)
		if changed {
			e := Event{Kind: kind, Passing: passing, Time: r.Clock.Now()}
			if passing {
				e.Message = fmt.Sprintf("%s probe succeeded", kind)
			} else {
				e.Failures = t.Failures()
				e.Message = fmt.Sprintf("%s probe failed %d times: %v", kind, t.Failures(), err)
			}
			r.emit(ctx, e)
			if kind == Liveness && !passing {
				killed <- e
				return
			}
		}
		if !r.wait(ctx, period(p)) {
			return
		}
	}
}
