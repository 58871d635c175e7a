package scenario

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"flotilla/api"
	"flotilla/internal/vnet"
)

// Reader is what the runner reads of a cluster (api.Client has it).
type Reader interface {
	Leader(ctx context.Context) (api.Leader, error)
	Service(ctx context.Context, namespace, name string, q api.QueryOptions) (*api.Service, uint64, error)
	Allocations(ctx context.Context, f api.AllocFilter, q api.QueryOptions) ([]*api.Allocation, uint64, error)
	Rollout(ctx context.Context, namespace, name string, q api.QueryOptions) (*api.Rollout, uint64, error)
	Nodes(ctx context.Context, q api.QueryOptions) ([]*api.Node, uint64, error)
	Events(ctx context.Context, f api.EventFilter, q api.QueryOptions) ([]*api.Event, uint64, error)
}

// Writer is what the runner changes in a cluster (api.Client has it).
type Writer interface {
	ApplyService(ctx context.Context, spec api.ServiceSpec) (api.ApplyResponse, error)
	DeleteService(ctx context.Context, namespace, name string) (api.WriteResponse, error)
	ScaleService(ctx context.Context, namespace, name string, replicas int) (api.WriteResponse, error)
	RolloutAction(ctx context.Context, namespace, name, action string, body api.RolloutAction) (api.WriteResponse, error)
	UndoRollout(ctx context.Context, namespace, name string, req api.UndoRequest) (api.ApplyResponse, error)
	DrainNode(ctx context.Context, name string, enable bool) (api.WriteResponse, error)
}

// Cluster is a cluster the runner plays a scenario on.
type Cluster interface {
	Reader
	Writer
}

// DefaultPoll is how often a wait looks again.
const DefaultPoll = 200 * time.Millisecond

// Runner plays scenarios on a cluster.
type Runner struct {
	Cluster Cluster
	// Lab is the lab the run started, for node faults; nil when the run
	// plays on a cluster it did not start (node faults are then refused
	// before anything runs).
	Lab Lab
	// DNS is a cluster DNS server, HOST:PORT, for dns conditions.
	DNS string
	// Shared says the run plays on a cluster it did not start (run
	// --address): it then acts only on services it creates (shared.go):
	// it is refused before anything changes when a service it would apply
	// exists already, or when a step would delete, scale, roll out or
	// crash a service it does not apply; and at the end, unless Keep, it
	// deletes the services it created, and only those.
	Shared bool
	// Keep, on a shared cluster, leaves the services the run created.
	Keep bool
	// Where says what the cluster is, for the report's introduction.
	Where  string
	Report Reporter
	// Poll is how often waits look again (DefaultPoll when 0).
	Poll time.Duration
	// HTTP sends the demo app's admin requests (a plain client when nil,
	// on Net).
	HTTP *http.Client
	// Net is the network loads, admin requests and DNS questions go
	// through: nil for the machine's, a simulated one in virtual time.
	Net vnet.Net
	// Virtual says the run is in virtual time: steps limited to live
	// runs are left out, and events are shown at the cluster time they
	// happened (live, when the runner saw them).
	Virtual bool
	// Seed, when non-zero, replays who a load's users are and which of
	// them check out in loads whose step sets no seed (--seed in virtual
	// time).
	Seed uint64
	// Settle, in virtual time, returns once everything the run started
	// waits for a later instant (synctest.Wait). With it, events are held
	// and printed with the next step's line (after a step that acts,
	// before one that waits or checks), in the order the leader recorded
	// them, so that what is printed at one instant does not depend on
	// which goroutine ran first.
	Settle func()
}

// StepError is a step that failed: its index (from 0, as in the file's
// steps[N]), its kind, and why.
type StepError struct {
	Index int
	Kind  string
	Err   error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("step %d (steps[%d], %s): %v", e.Index+1, e.Index, e.Kind, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// CheckError is a wait or an expectation that did not hold.
type CheckError struct {
	Want, Seen string
	// Timeout is set for a wait that ran out of time.
	Timeout time.Duration
}

func (e *CheckError) Error() string {
	if e.Timeout > 0 {
		return fmt.Sprintf("not after %s: want %s; saw %s", api.Duration(e.Timeout), e.Want, e.Seen)
	}
	return fmt.Sprintf("want %s; saw %s", e.Want, e.Seen)
}

// world is what conditions read: the cluster, where its events began for
// the run, the loads, the DNS server, and the leader a fault took out.
type world struct {
	cluster    Reader
	since      uint64
	loads      map[string]*backgroundLoad
	dns        string
	net        vnet.Net
	lostLeader string
}

// run is one play of a scenario.
type run struct {
	sc      *Scenario
	cluster Cluster
	lab     Lab
	http    *http.Client
	report  Reporter
	poll    time.Duration
	world   *world
	virtual bool
	seed    uint64
	start   time.Time
	// settle and held: Runner.Settle, and the events it holds until a
	// step is printed (held.flush).
	settle   func()
	held     heldEvents
	lastNode string
	// created are the services the run's applies created, in order.
	created []createdService
}

// Check refuses a scenario this runner cannot play: node faults without
// a lab, DNS conditions without a DNS server, and on a shared cluster a
// step that changes a service the scenario does not apply.
func (r *Runner) Check(sc *Scenario) error {
	applied := map[string]bool{}
	for _, key := range sc.Services() {
		applied[key] = true
	}
	for i := range sc.Steps {
		s := &sc.Steps[i]
		if r.Shared && s.Only != OnlyVirtual {
			if err := r.checkShared(s, applied); err != nil {
				return &StepError{Index: i, Kind: s.Kind(), Err: err}
			}
		}
		if r.Virtual && s.Only != OnlyLive && s.Fault != nil && (s.Fault.Pause != "" || s.Fault.Resume != "") {
			return &StepError{Index: i, Kind: KindFault, Err: errors.New("pause and resume are not simulated in virtual time (kill and restart are): run the scenario live")}
		}
		if r.Lab == nil && s.Fault != nil && s.Fault.nodeTarget() != "" {
			return &StepError{Index: i, Kind: KindFault, Err: errors.New("node faults need the lab the run starts (run it without --address)")}
		}
		if err := r.checkPartition(sc, s); err != nil {
			return &StepError{Index: i, Kind: KindFault, Err: err}
		}
		var c *Condition
		switch {
		case s.Wait != nil:
			c = &s.Wait.Condition
		case s.Expect != nil:
			c = s.Expect
		}
		if c != nil && c.DNS != nil && r.DNS == "" {
			return &StepError{Index: i, Kind: s.Kind(), Err: errors.New("dns conditions need the cluster's DNS server (a lab's own is known; with --address, give --dns)")}
		}
	}
	return nil
}

// checkPartition refuses a partition or heal step that the run's lab
// cannot play: live, only a containerd lab has links to cut.
func (r *Runner) checkPartition(sc *Scenario, s *Step) error {
	if s.Fault == nil || (s.Fault.Partition == "" && s.Fault.Heal == "") {
		return nil
	}
	if (r.Virtual && s.Only == OnlyLive) || (!r.Virtual && s.Only == OnlyVirtual) {
		return nil
	}
	if _, ok := r.Lab.(Partitioner); !ok {
		return errors.New("partitions need a lab whose links can be cut: a containerd lab, or --virtual")
	}
	if !r.Virtual && sc.Lab.Runtime != RuntimeContainerd {
		return fmt.Errorf("partitions need a containerd lab (lab: {runtime: containerd}, as root) or --virtual; this lab runs %s", sc.Lab.Runtime)
	}
	return nil
}

// CheckOwnLab refuses, before its lab starts, a scenario whose own live
// lab cannot play it: a partition (or heal) in a sim lab, whose nodes
// have no links to cut.
func (sc *Scenario) CheckOwnLab() error {
	if sc.Lab.Runtime == RuntimeContainerd {
		return nil
	}
	for i := range sc.Steps {
		s := &sc.Steps[i]
		if s.Only == OnlyVirtual || s.Fault == nil || (s.Fault.Partition == "" && s.Fault.Heal == "") {
			continue
		}
		return fmt.Errorf("step %d (steps[%d], fault): partitions need a containerd lab (lab: {runtime: containerd}, as root) or --virtual; this lab runs %s",
			i+1, i, sc.Lab.Runtime)
	}
	return nil
}

// Run plays the scenario, reporting every step and event, and returns
// the first step that failed as a *StepError. Loads it started are
// stopped before it returns. On a shared cluster it first makes sure the
// services it applies do not exist yet (changing nothing when one does),
// and at the end deletes those it created (unless Keep).
func (r *Runner) Run(ctx context.Context, sc *Scenario) (err error) {
	if err := r.Check(sc); err != nil {
		return err
	}
	ru := &run{sc: sc, cluster: r.Cluster, lab: r.Lab, http: r.HTTP, report: r.Report, poll: r.Poll, virtual: r.Virtual, seed: r.Seed, settle: r.Settle,
		world: &world{cluster: r.Cluster, loads: map[string]*backgroundLoad{}, dns: r.DNS, net: vnet.Or(r.Net)}}
	if ru.http == nil {
		ru.http = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true, DialContext: ru.world.net.DialContext}}
	}
	if ru.poll <= 0 {
		ru.poll = DefaultPoll
	}
	if r.Shared {
		if err := ru.checkNew(ctx); err != nil {
			return err
		}
		if !r.Keep {
			// After the loads stop (deferred below, so run before).
			defer func() {
				if cerr := ru.removeCreated(ctx); cerr != nil {
					err = errors.Join(err, cerr)
				}
			}()
		}
	}
	after, err := newestEventID(ctx, r.Cluster)
	if err != nil {
		return fmt.Errorf("read the cluster's events: %w", err)
	}
	ru.world.since = after
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		for _, l := range ru.world.loads {
			l.stop(ctx) // cancelled: at once
		}
	}()
	ru.start = time.Now()
	r.Report.Start(StartReport{Scenario: sc.Name, Title: sc.Title, Teaches: sc.Teaches, Cluster: r.Where, Steps: len(sc.Steps)})
	shown := sc.shownServices()
	// The events are shown until the run ends, not after its last line.
	ectx, stopEvents := context.WithCancel(ctx)
	var following sync.WaitGroup
	endEvents := func() {
		stopEvents()
		following.Wait()
	}
	defer endEvents()
	following.Go(func() {
		followEvents(ectx, r.Cluster, after, func(e *api.Event) {
			if !shownEvent(e, shown) {
				return
			}
			at := ru.elapsed()
			if r.Virtual {
				at = e.Time.Sub(ru.start)
			}
			if ru.settle != nil {
				ru.held.add(at, e)
				return
			}
			r.Report.Event(at, e)
		})
	})
	for i := range sc.Steps {
		if !ru.plays(&sc.Steps[i]) {
			continue
		}
		if err := ru.step(ctx, i); err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("interrupted: %w", ctx.Err())
			}
			serr := &StepError{Index: i, Kind: sc.Steps[i].Kind(), Err: err}
			endEvents()
			ru.held.flush(r.Report, -1)
			r.Report.End(EndReport{Scenario: sc.Name, Steps: i + 1, Of: len(sc.Steps), Elapsed: ru.elapsed(), Failure: serr.Error()})
			return serr
		}
	}
	endEvents()
	ru.held.flush(r.Report, -1)
	r.Report.End(EndReport{Scenario: sc.Name, Passed: true, Steps: len(sc.Steps), Of: len(sc.Steps), Elapsed: ru.elapsed()})
	return nil
}

func (r *run) elapsed() time.Duration { return time.Since(r.start) }

// plays says whether the run plays a step: all but those limited to the
// other mode.
func (r *run) plays(s *Step) bool {
	switch s.Only {
	case OnlyLive:
		return !r.virtual
	case OnlyVirtual:
		return r.virtual
	}
	return true
}

// shownServices are the services whose events a run shows.
func (sc *Scenario) shownServices() map[string]bool {
	m := map[string]bool{}
	for _, s := range sc.Services() {
		m[s] = true
	}
	return m
}

// shownEvent: the events of the scenario's services and of nodes, but
// for probe successes (every replica's first one would drown the rest).
func shownEvent(e *api.Event, services map[string]bool) bool {
	if e.Type == api.EventProbeSucceeded {
		return false
	}
	if e.Service != "" {
		return services[e.Namespace+"/"+e.Service]
	}
	return true
}

// step plays one step and reports it.
func (r *run) step(ctx context.Context, i int) error {
	s := &r.sc.Steps[i]
	rep := StepReport{Index: i + 1, Of: len(r.sc.Steps), Kind: s.Kind(), OK: true}
	began := time.Now()
	var err error
	switch rep.Kind {
	case KindSay:
		rep.Text = strings.TrimSpace(s.Say)
	case KindApply:
		rep.Text, err = r.apply(ctx, i)
	case KindDelete:
		_, err = r.cluster.DeleteService(ctx, namespaceOr(s.Delete.Namespace), s.Delete.Service)
		rep.Text = "deleted service " + s.Delete.Service
	case KindWait:
		rep.Check = true
		var v verdict
		v, err = r.wait(ctx, &s.Wait.Condition, s.Wait.Timeout.Std())
		rep.Text, rep.Figures = v.text(), v.figures
	case KindExpect:
		rep.Check = true
		var v verdict
		v, err = r.expect(ctx, s.Expect)
		rep.Text, rep.Figures = v.text(), v.figures
	case KindLoad:
		rep.Check = s.Load.Expect != nil
		rep.Text, rep.Figures, err = r.load(ctx, s.Load)
	case KindFault:
		if s.Fault.nodeTarget() != "" {
			rep.Text, err = r.nodeFault(ctx, s.Fault)
		} else {
			rep.Text, err = r.appFault(ctx, s.Fault)
		}
	case KindRollout:
		rep.Text, err = r.rollout(ctx, s.Rollout)
	case KindScale:
		n := *s.Scale.Replicas
		_, err = r.cluster.ScaleService(ctx, namespaceOr(s.Scale.Namespace), s.Scale.Service, n)
		rep.Text = fmt.Sprintf("scaled %s to %d", s.Scale.Service, n)
	case KindDrain:
		_, err = r.cluster.DrainNode(ctx, s.Drain.Node, !s.Drain.Cancel)
		rep.Text = "draining " + s.Drain.Node + ": its allocations move to other nodes"
		if s.Drain.Cancel {
			rep.Text = "drain of " + s.Drain.Node + " cancelled: it takes new allocations again"
		}
	case KindSleep:
		d := s.Sleep.Std()
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-t.C:
		}
		t.Stop()
		rep.Text = "slept " + s.Sleep.String()
	}
	rep.At, rep.Took = r.elapsed(), time.Since(began)
	if err != nil {
		rep.OK, rep.Error = false, err.Error()
	}
	if r.settle == nil {
		r.report.Step(rep)
		return err
	}
	// The events of the instant a step ends go after a step that acts
	// (they are what it caused), before one that waits, checks or tells
	// (what it saw); earlier ones before either.
	r.settle()
	switch rep.Kind {
	case KindApply, KindDelete, KindLoad, KindFault, KindRollout, KindScale, KindDrain:
		r.held.flush(r.report, rep.At)
		r.report.Step(rep)
	default:
		r.held.flush(r.report, -1)
		r.report.Step(rep)
	}
	r.held.flush(r.report, -1)
	return err
}

// heldEvents are events waiting to be printed (Runner.Settle).
type heldEvents struct {
	mu     sync.Mutex
	events []heldEvent
}

type heldEvent struct {
	at time.Duration
	e  *api.Event
}

func (h *heldEvents) add(at time.Duration, e *api.Event) {
	h.mu.Lock()
	h.events = append(h.events, heldEvent{at, e})
	h.mu.Unlock()
}

// flush prints the events held from before the cluster time until (all
// of them when until < 0), in the order they came.
func (h *heldEvents) flush(r Reporter, until time.Duration) {
	h.mu.Lock()
	var now, later []heldEvent
	for _, he := range h.events {
		if until < 0 || he.at < until {
			now = append(now, he)
		} else {
			later = append(later, he)
		}
	}
	h.events = later
	h.mu.Unlock()
	for _, he := range now {
		r.Event(he.at, he.e)
	}
}

func (r *run) apply(ctx context.Context, i int) (string, error) {
	var done []string
	for _, spec := range r.sc.Specs(i) {
		res, err := r.cluster.ApplyService(ctx, spec)
		if err != nil {
			return "", fmt.Errorf("apply service %s: %w", spec.Name, err)
		}
		if res.Created {
			r.recordCreated(spec, res.Index)
		}
		switch {
		case res.Created:
			done = append(done, fmt.Sprintf("service %s created (revision %d)", spec.Name, res.Revision))
		case res.Changed:
			done = append(done, fmt.Sprintf("service %s updated to revision %d", spec.Name, res.Revision))
		default:
			done = append(done, fmt.Sprintf("service %s unchanged (revision %d)", spec.Name, res.Revision))
		}
	}
	return strings.Join(done, "; "), nil
}

// wait polls the condition until it holds or the timeout passes. An API
// error while waiting (a leader election, a server that died) is waited
// out like a condition that does not hold yet.
func (r *run) wait(ctx context.Context, c *Condition, timeout time.Duration) (verdict, error) {
	if timeout <= 0 {
		timeout = DefaultWaitTimeout
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(r.poll)
	defer tick.Stop()
	var last verdict
	for {
		v, err := c.check(ctx, r.world)
		switch {
		case err == nil && v.ok:
			return v, nil
		case err == nil:
			last = v
		case ctx.Err() != nil:
			return verdict{}, ctx.Err()
		default:
			last.seen = err.Error()
		}
		select {
		case <-ctx.Done():
			return verdict{}, ctx.Err()
		case <-deadline.C:
			if last.want == "" {
				last.want = "the condition"
			}
			return last, &CheckError{Want: last.want, Seen: last.seen, Timeout: timeout}
		case <-tick.C:
		}
	}
}

// expect checks the condition once.
func (r *run) expect(ctx context.Context, c *Condition) (verdict, error) {
	v, err := c.check(ctx, r.world)
	if err != nil {
		return verdict{}, err
	}
	if !v.ok {
		return v, &CheckError{Want: v.want, Seen: v.seen}
	}
	return v, nil
}

func (r *run) load(ctx context.Context, s *LoadStep) (string, map[string]any, error) {
	if s.Start != "" {
		l, err := startLoad(ctx, r.cluster, r.world.net, s, r.seed)
		if err != nil {
			return "", nil, err
		}
		r.world.loads[s.Start] = l
		unit := "requests/s"
		if s.Users > 0 {
			unit = "visits/s"
		}
		what := fmt.Sprintf("%g %s", s.Rate, unit)
		if s.Profile != "" {
			what = fmt.Sprintf("%s wave %g to %g %s every %s", s.Profile, s.MinRate, s.Rate, unit, s.Period)
		}
		if s.Users > 0 {
			what += fmt.Sprintf(" by %d visitors with cookie jars, %g%% of the visits checking out", s.Users, 100*s.checkoutRatio())
		}
		if s.Duration > 0 {
			what += " for " + s.Duration.String()
		}
		return fmt.Sprintf("load %s started: %s at %s", s.Start, what, l.target), nil, nil
	}
	l := r.world.loads[s.Stop]
	if l == nil {
		// Parse refuses this; a runner must not crash on it either.
		return "", nil, fmt.Errorf("no load %q is running", s.Stop)
	}
	f, err := l.stop(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("load %s: %w", s.Stop, err)
	}
	text := fmt.Sprintf("load %s stopped: %s", s.Stop, f)
	if t := f.visitorsTable(); t != "" {
		text += "\n" + t
	}
	if s.Expect != nil {
		v := s.Expect.judge(f)
		if !v.ok {
			return text, f.figures(), &CheckError{Want: v.want, Seen: v.seen}
		}
	}
	return text, f.figures(), nil
}

func (r *run) rollout(ctx context.Context, s *RolloutStep) (string, error) {
	ns := namespaceOr(s.Namespace)
	if s.Action == ActionUndo {
		res, err := r.cluster.UndoRollout(ctx, ns, s.Service, api.UndoRequest{ToRevision: s.ToRevision})
		if err != nil {
			return "", fmt.Errorf("undo the rollout of %s: %w", s.Service, err)
		}
		return fmt.Sprintf("undo: %s rolls an old spec out again as revision %d", s.Service, res.Revision), nil
	}
	if _, err := r.cluster.RolloutAction(ctx, ns, s.Service, s.Action, api.RolloutAction{Full: s.Full}); err != nil {
		return "", fmt.Errorf("%s the rollout of %s: %w", s.Action, s.Service, err)
	}
	return fmt.Sprintf("rollout of %s: %s", s.Service, s.Action), nil
}
