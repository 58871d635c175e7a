package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
	"flotilla/runtime"
)

// fakeServers is a hand-made control plane: tests set the node's
// allocations and read the batches the agent reports.
type fakeServers struct {
	mu        sync.Mutex
	allocs    []*api.Allocation
	version   uint64
	changed   chan struct{}
	revisions map[string]*api.Revision
	batches   []api.AllocStatusBatch
	latest    map[string]api.AllocStatusUpdate
	regs      int
	// regSecrets are the node secrets the registrations carried.
	regSecrets []string
	beats      int
	nodes      []*api.Node
	usage      []api.UsageBatch
	// beatTTL and beatInterval are what heartbeats answer (3s and none
	// unless set); failBeats heartbeats fail first.
	beatTTL, beatInterval time.Duration
	failBeats             int
}

func newFakeServers() *fakeServers {
	return &fakeServers{changed: make(chan struct{}), revisions: map[string]*api.Revision{}, latest: map[string]api.AllocStatusUpdate{}, version: 1}
}

func (f *fakeServers) setAllocs(allocs ...*api.Allocation) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version++
	for _, a := range allocs {
		a.ModifyIndex = f.version
	}
	f.allocs = allocs
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeServers) setRevision(ns, name string, rev int, spec api.ServiceSpec) {
	f.setRevisionAt(ns, name, rev, 0, spec)
}

// setRevisionAt sets a revision created at a Raft index (a service
// deleted and created again has its revision 1 at a later index).
func (f *fakeServers) setRevisionAt(ns, name string, rev int, index uint64, spec api.ServiceSpec) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revisions[fmt.Sprintf("%s/%s/%d", ns, name, rev)] = &api.Revision{Namespace: ns, Name: name, Revision: rev, Spec: spec, CreateIndex: index}
}

func (f *fakeServers) RegisterNode(ctx context.Context, name string, r api.NodeRegistration) (api.WriteResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.regs++
	f.regSecrets = append(f.regSecrets, api.NodeSecretFrom(ctx))
	return api.WriteResponse{Index: 1}, nil
}

func (f *fakeServers) Node(ctx context.Context, name string) (*api.Node, error) {
	return &api.Node{Name: name, Status: api.NodeReady, Subnet: "127.128.7.0/24"}, nil
}

func (f *fakeServers) Heartbeat(ctx context.Context, name string) (api.HeartbeatResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.beats++
	if f.failBeats > 0 {
		f.failBeats--
		return api.HeartbeatResponse{}, fmt.Errorf("heartbeat: %w", api.ErrNoLeader)
	}
	if f.beatTTL == 0 {
		return api.HeartbeatResponse{TTL: api.Duration(3 * time.Second)}, nil
	}
	return api.HeartbeatResponse{TTL: api.Duration(f.beatTTL), Interval: api.Duration(f.beatInterval)}, nil
}

func (f *fakeServers) NodeAllocations(ctx context.Context, node string, q api.QueryOptions) ([]*api.Allocation, uint64, error) {
	for {
		f.mu.Lock()
		version, allocs, changed := f.version, f.allocs, f.changed
		f.mu.Unlock()
		if version > q.Index {
			out := make([]*api.Allocation, len(allocs))
			for i, a := range allocs {
				c := *a
				out[i] = &c
			}
			return out, version, nil
		}
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-changed:
		}
	}
}

func (f *fakeServers) Revision(ctx context.Context, ns, name string, rev int) (*api.Revision, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.revisions[fmt.Sprintf("%s/%s/%d", ns, name, rev)]
	if !ok {
		return nil, fmt.Errorf("revision: %w", api.ErrNotFound)
	}
	return r, nil
}

func (f *fakeServers) UpdateAllocations(ctx context.Context, b api.AllocStatusBatch) (api.WriteResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, b)
	for _, u := range b.Updates {
		f.latest[u.ID] = u
	}
	return api.WriteResponse{Index: 1}, nil
}

func (f *fakeServers) Endpoints(ctx context.Context, q api.QueryOptions) ([]*api.ServiceEndpoints, uint64, error) {
	<-ctx.Done()
	return nil, 0, ctx.Err()
}

// setNodes replaces the node list that Nodes answers.
func (f *fakeServers) setNodes(nodes ...*api.Node) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version++
	f.nodes = nodes
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeServers) Nodes(ctx context.Context, q api.QueryOptions) ([]*api.Node, uint64, error) {
	for {
		f.mu.Lock()
		version, nodes, changed := f.version, f.nodes, f.changed
		f.mu.Unlock()
		if version > q.Index {
			return nodes, version, nil
		}
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-changed:
		}
	}
}

func (f *fakeServers) ReportTraffic(ctx context.Context, node string, reports []api.TrafficReport) error {
	return nil
}

func (f *fakeServers) ReportUsage(ctx context.Context, node string, reports []api.AllocUsage) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.usage = append(f.usage, api.UsageBatch{Reports: reports})
	return nil
}

func (f *fakeServers) status(id string) api.AllocStatusUpdate {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.latest[id]
}

func specFor(t *testing.T, extra string) api.ServiceSpec {
	t.Helper()
	specs, err := api.DecodeServices("test", []byte("kind: Service\nname: web\nimage: demo\nports: [{name: http, port: 8080}]\n"+extra))
	if err != nil {
		t.Fatal(err)
	}
	return specs[0]
}

func desired(id string) *api.Allocation {
	return &api.Allocation{ID: id, Namespace: "default", Service: "web", Revision: 1, Node: "n1",
		DesiredStatus: api.DesiredRun, Status: api.AllocPending}
}

type testAgent struct {
	t       *testing.T
	agent   *Agent
	servers *fakeServers
	rt      *NullRuntime
	clock   *clock.Fake
	cancel  context.CancelFunc
	done    chan error
}

func startAgent(t *testing.T, dataDir string, servers *fakeServers, rt *NullRuntime) *testAgent {
	t.Helper()
	return runTestAgent(t, Config{DataDir: dataDir, Clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))},
		servers, servers, rt, rt).registered()
}

// runTestAgent runs an agent of cfg (named n1, on sim, with 4 CPUs and
// 4 GiB; cfg.Clock is a *clock.Fake) against servers until the test ends.
// fake is the fake servers underneath servers; the agent's runtime is rt,
// whose NullRuntime is null.
func runTestAgent(t *testing.T, cfg Config, servers Servers, fake *fakeServers, rt Runtime, null *NullRuntime) *testAgent {
	t.Helper()
	cfg.Name, cfg.Runtime, cfg.Capacity = "n1", "sim", api.Resources{CPU: 4000, Memory: 4 << 30}
	a, err := New(cfg, servers, func(*api.Node) (Runtime, error) { return rt, nil })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ta := &testAgent{t: t, agent: a, servers: fake, rt: null, clock: cfg.Clock.(*clock.Fake), cancel: cancel, done: make(chan error, 1)}
	go func() { ta.done <- a.Run(ctx) }()
	t.Cleanup(ta.stop)
	return ta
}

// registered waits until the agent has registered its node.
func (ta *testAgent) registered() *testAgent {
	ta.t.Helper()
	select {
	case <-ta.agent.Registered():
	case <-time.After(10 * time.Second):
		ta.t.Fatal("agent did not register")
	}
	return ta
}

func (ta *testAgent) stop() {
	if ta.cancel != nil {
		ta.cancel()
		<-ta.done
		ta.cancel = nil
	}
}

// until advances the fake clock in small steps until cond holds: batches
// are flushed and backoffs elapse on that clock.
func (ta *testAgent) until(what string, cond func() bool) {
	ta.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			ta.t.Fatalf("timed out waiting for %s", what)
		}
		ta.clock.Advance(50 * time.Millisecond)
		time.Sleep(time.Millisecond) // let the agent's goroutines run between steps; not synchronisation
	}
}

func (ta *testAgent) reported(id, status string) func() bool {
	return func() bool { return ta.servers.status(id).Status == status }
}

func TestAgentRunsItsAllocationsAndReportsThemInOneBatch(t *testing.T) {
	servers, rt := newFakeServers(), NewNullRuntime()
	servers.setRevision("default", "web", 1, specFor(t, ""))
	servers.setAllocs(desired("a1"), desired("a2"), desired("a3"))
	ta := startAgent(t, t.TempDir(), servers, rt)
	ta.until("three running", func() bool {
		for _, id := range []string{"a1", "a2", "a3"} {
			if u := servers.status(id); u.Status != api.AllocRunning || !u.Ready {
				return false
			}
		}
		return true
	})
	servers.mu.Lock()
	defer servers.mu.Unlock()
	maxBatch := 0
	for _, b := range servers.batches {
		maxBatch = max(maxBatch, len(b.Updates))
		if b.Node != "n1" {
			t.Fatalf("batch for node %q", b.Node)
		}
	}
	if maxBatch < 2 {
		t.Fatalf("reports went one per request (%d batches), want them batched", len(servers.batches))
	}
	if rt.Calls("Create") != 3 || rt.Calls("Start") != 3 {
		t.Fatalf("runtime calls: %d creates, %d starts", rt.Calls("Create"), rt.Calls("Start"))
	}
}

func TestAgentStopsWhatTheServersNoLongerWant(t *testing.T) {
	servers, rt := newFakeServers(), NewNullRuntime()
	servers.setRevision("default", "web", 1, specFor(t, ""))
	servers.setAllocs(desired("keep"), desired("stop"), desired("vanish"))
	ta := startAgent(t, t.TempDir(), servers, rt)
	ta.until("all running", func() bool {
		return ta.reported("vanish", api.AllocRunning)() && ta.reported("stop", api.AllocRunning)()
	})

	stop := desired("stop")
	stop.DesiredStatus, stop.DesiredReason, stop.Status = api.DesiredStop, "scaled down to 1", api.AllocRunning
	servers.setAllocs(desired("keep"), stop)
	ta.until("stop reported complete", ta.reported("stop", api.AllocComplete))
	if got := servers.status("stop").Message; got != "stopped: scaled down to 1" {
		t.Fatalf("message %q", got)
	}
	ta.until("both containers gone", func() bool {
		_, e1 := rt.Status(context.Background(), "stop")
		_, e2 := rt.Status(context.Background(), "vanish")
		return errors.Is(e1, runtime.ErrNotFound) && errors.Is(e2, runtime.ErrNotFound)
	})
	if st, err := rt.Status(context.Background(), "keep"); err != nil || st.State != runtime.StateRunning {
		t.Fatalf("keep: %+v %v", st, err)
	}
}

func TestAgentRestartsWithBackoffThenGivesUp(t *testing.T) {
	servers, rt := newFakeServers(), NewNullRuntime()
	servers.setRevision("default", "web", 1, specFor(t, "restart: {policy: always, maxRestarts: 2, backoff: 1s, maxBackoff: 10s, window: 5m}\n"))
	servers.setAllocs(desired("a1"))
	ta := startAgent(t, t.TempDir(), servers, rt)
	ta.until("running", ta.reported("a1", api.AllocRunning))

	rt.Exit("a1", 1, "boom")
	ta.until("waiting to restart", ta.reported("a1", api.AllocStarting))
	if msg := servers.status("a1").Message; msg != "exited with code 1; restarting in 1s (boom)" {
		t.Fatalf("message %q", msg)
	}
	ta.until("restarted once", func() bool { u := servers.status("a1"); return u.Status == api.AllocRunning && u.Restarts == 1 })

	rt.Exit("a1", 1, "boom")
	ta.until("waiting 2s", func() bool { return servers.status("a1").Message == "exited with code 1; restarting in 2s (boom)" })
	ta.until("restarted twice", func() bool { u := servers.status("a1"); return u.Status == api.AllocRunning && u.Restarts == 2 })

	rt.Exit("a1", 1, "boom")
	ta.until("failed", ta.reported("a1", api.AllocFailed))
	if u := servers.status("a1"); u.Restarts != 2 || u.Message != "exited with code 1; restarted 2 times in 5m, the limit (boom)" {
		t.Fatalf("final report %+v", u)
	}
}

func TestAgentCompletesACleanExitUnderOnFailure(t *testing.T) {
	servers, rt := newFakeServers(), NewNullRuntime()
	servers.setRevision("default", "web", 1, specFor(t, "restart: {policy: on-failure}\n"))
	servers.setAllocs(desired("a1"))
	ta := startAgent(t, t.TempDir(), servers, rt)
	ta.until("running", ta.reported("a1", api.AllocRunning))
	rt.Exit("a1", 0, "")
	ta.until("complete", ta.reported("a1", api.AllocComplete))
	if rt.Calls("Start") != 1 {
		t.Fatalf("started %d times, want once", rt.Calls("Start"))
	}
}

func TestAgentFailsAnAllocationThatCannotRun(t *testing.T) {
	servers, rt := newFakeServers(), NewNullRuntime()
	rt.CreateFn = func(spec runtime.ContainerSpec) error {
		return fmt.Errorf("--latency: bad value: %w", runtime.ErrInvalidSpec)
	}
	servers.setRevision("default", "web", 1, specFor(t, ""))
	servers.setAllocs(desired("a1"), func() *api.Allocation { a := desired("gone"); a.Revision = 9; return a }())
	ta := startAgent(t, t.TempDir(), servers, rt)
	ta.until("a1 failed", ta.reported("a1", api.AllocFailed))
	ta.until("gone failed", ta.reported("gone", api.AllocFailed))
	if msg := servers.status("gone").Message; msg != "revision 9 of default/web is gone: invalid container spec" {
		t.Fatalf("message %q", msg)
	}
}

func TestAContainerThatCannotBeCreatedYetSaysWhyOnItsAllocation(t *testing.T) {
	servers, rt := newFakeServers(), NewNullRuntime()
	var pulls atomic.Int32
	rt.CreateFn = func(spec runtime.ContainerSpec) error {
		if pulls.Add(1) <= 2 {
			return errors.New("pull image docker.io/library/web:v1: dial tcp: connect: network is unreachable")
		}
		return nil
	}
	servers.setRevision("default", "web", 1, specFor(t, ""))
	servers.setAllocs(desired("a1"))
	ta := startAgent(t, t.TempDir(), servers, rt)
	want := "create a1: pull image docker.io/library/web:v1: dial tcp: connect: network is unreachable (retrying)"
	ta.until("the pull's error on a1", func() bool { return servers.status("a1").Message == want })
	if u := servers.status("a1"); u.Status != api.AllocStarting {
		t.Fatalf("while it cannot be created: %+v", u)
	}
	ta.until("running once the image is there", ta.reported("a1", api.AllocRunning))
	if u := servers.status("a1"); u.Message != "" || pulls.Load() != 3 {
		t.Fatalf("after %d creates: %+v", pulls.Load(), u)
	}
}

func TestRestartedAgentRecreatesLostContainersAndRemovesOrphans(t *testing.T) {
	dir := t.TempDir()
	servers := newFakeServers()
	servers.setRevision("default", "web", 1, specFor(t, ""))
	servers.setAllocs(desired("a1"), desired("a2"))
	first := startAgent(t, dir, servers, NewNullRuntime())
	first.until("running", func() bool {
		return first.reported("a1", api.AllocRunning)() && first.reported("a2", api.AllocRunning)()
	})
	first.stop()

	// A sim node loses its containers with the agent; meanwhile a2 was
	// replaced elsewhere, and a stray container nobody wants is present.
	servers.setAllocs(desired("a1"))
	rt := NewNullRuntime()
	if err := rt.Create(context.Background(), runtime.ContainerSpec{ID: "orphan"}); err != nil {
		t.Fatal(err)
	}
	rt.Start(context.Background(), "orphan")
	second := startAgent(t, dir, servers, rt)
	second.until("a1 running again, counted as a restart", func() bool {
		u := servers.status("a1")
		return u.Status == api.AllocRunning && u.Restarts == 1
	})
	second.until("the orphan removed", func() bool {
		_, err := rt.Status(context.Background(), "orphan")
		return errors.Is(err, runtime.ErrNotFound)
	})
	if _, err := rt.Status(context.Background(), "a2"); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("a2 runs again after the restart: %v", err)
	}
}

func TestRestartedAgentAdoptsContainersThatKeptRunning(t *testing.T) {
	dir := t.TempDir()
	servers := newFakeServers()
	servers.setRevision("default", "web", 1, specFor(t, ""))
	servers.setAllocs(desired("a1"))
	rt := NewNullRuntime() // like containerd: containers outlive the agent
	first := startAgent(t, dir, servers, rt)
	first.until("running", first.reported("a1", api.AllocRunning))
	first.stop()
	second := startAgent(t, dir, servers, rt)
	second.until("reconciled after restart", func() bool { return second.agent.queue.Len() == 0 && second.agent.metrics != nil })
	second.until("a1 still running", second.reported("a1", api.AllocRunning))
	if rt.Calls("Create") != 1 || rt.Calls("Start") != 1 {
		t.Fatalf("%d creates, %d starts: a running container was recreated", rt.Calls("Create"), rt.Calls("Start"))
	}
	if u := servers.status("a1"); u.Restarts != 0 {
		t.Fatalf("restarts %d after adoption, want 0", u.Restarts)
	}
}

// A container found under an allocation's ID but made for another service
// (a cluster built again on this machine, whose IDs once repeated) is not
// adopted: it is removed and the allocation's own container made.
func TestAgentDoesNotAdoptAContainerOfAnotherService(t *testing.T) {
	servers := newFakeServers()
	servers.setRevision("default", "web", 1, specFor(t, ""))
	servers.setAllocs(desired("a1"))
	rt := NewNullRuntime()
	stale := runtime.ContainerSpec{ID: "a1", Namespace: "default", Service: "db", Revision: 4, Image: "postgres"}
	if err := rt.Create(context.Background(), stale); err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(context.Background(), "a1"); err != nil {
		t.Fatal(err)
	}
	ta := startAgent(t, t.TempDir(), servers, rt)
	ta.until("a1 running", ta.reported("a1", api.AllocRunning))
	st, err := rt.Status(context.Background(), "a1")
	if err != nil || st.Service != "web" || st.Revision != 1 {
		t.Fatalf("container a1 is %+v (%v), want one made for web revision 1", st, err)
	}
	if rt.Calls("Remove") != 1 || rt.Calls("Create") != 2 {
		t.Fatalf("%d removes, %d creates: want the stale container removed and a new one made", rt.Calls("Remove"), rt.Calls("Create"))
	}
}

func TestDecideRestart(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	policy := api.RestartPolicy{Policy: api.RestartAlways, MaxRestarts: new(3), Window: api.Duration(time.Minute),
		Backoff: api.Duration(time.Second), MaxBackoff: api.Duration(5 * time.Second)}
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	tests := []struct {
		name   string
		policy string
		code   int
		recent []time.Time
		want   restartDecision
	}{
		{"never, clean exit", api.RestartNever, 0, nil, restartDecision{Status: api.AllocComplete}},
		{"never, failure", api.RestartNever, 2, nil, restartDecision{Status: api.AllocFailed}},
		{"on-failure, clean exit", api.RestartOnFailure, 0, nil, restartDecision{Status: api.AllocComplete}},
		{"on-failure, failure", api.RestartOnFailure, 1, nil, restartDecision{Restart: true, Wait: time.Second}},
		{"always, clean exit", api.RestartAlways, 0, nil, restartDecision{Restart: true, Wait: time.Second}},
		{"backoff doubles", api.RestartAlways, 1, []time.Time{ago(time.Second), ago(2 * time.Second)}, restartDecision{Restart: true, Wait: 4 * time.Second}},
		{"old restarts do not count", api.RestartAlways, 1, []time.Time{ago(2 * time.Minute), ago(3 * time.Minute), ago(4 * time.Minute)}, restartDecision{Restart: true, Wait: time.Second}},
		{"limit reached", api.RestartAlways, 1, []time.Time{ago(time.Second), ago(2 * time.Second), ago(3 * time.Second)}, restartDecision{Status: api.AllocFailed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := policy
			p.Policy = tt.policy
			got := decideRestart(p, tt.code, tt.recent, now)
			if got.Restart != tt.want.Restart || got.Wait != tt.want.Wait || got.Status != tt.want.Status || got.Reason == "" {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	capped := policy
	capped.MaxRestarts = new(10)
	var recent []time.Time
	for i := 0; i < 6; i++ {
		recent = append(recent, ago(time.Duration(i+1)*time.Second))
	}
	if got := decideRestart(capped, 1, recent, now); got.Wait != 5*time.Second {
		t.Fatalf("backoff %s, want the 5s cap", got.Wait)
	}
}

// The agent acts on what the servers changed: its own status reports move
// ModifyIndex alone and give it nothing to redo; a server that predates
// AllocModifyIndex (0) has every change count.
func TestServersChangedIgnoresTheAgentsOwnReports(t *testing.T) {
	for _, tt := range []struct {
		name      string
		prev, cur api.Allocation
		want      bool
	}{
		{"own report", api.Allocation{AllocModifyIndex: 5, ModifyIndex: 5}, api.Allocation{AllocModifyIndex: 5, ModifyIndex: 9}, false},
		{"servers' change", api.Allocation{AllocModifyIndex: 5, ModifyIndex: 9}, api.Allocation{AllocModifyIndex: 12, ModifyIndex: 12}, true},
		{"old server, any change", api.Allocation{ModifyIndex: 5}, api.Allocation{ModifyIndex: 9}, true},
		{"old server, none", api.Allocation{ModifyIndex: 5}, api.Allocation{ModifyIndex: 5}, false},
	} {
		if got := serversChanged(&tt.prev, &tt.cur); got != tt.want {
			t.Errorf("%s: serversChanged = %v, want %v", tt.name, got, tt.want)
		}
	}
}
