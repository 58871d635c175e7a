package scenario

import (
	"context"
	"fmt"
	"sync"
	"time"

	"flotilla/api"
)

// fakeCluster is a cluster held in memory: what the runner reads is what
// the test put there; what it writes is recorded. AllocationsFn, when
// set, answers allocation reads instead (to script a change over time).
type fakeCluster struct {
	mu       sync.Mutex
	leader   string
	services map[string]*api.Service // by namespace/name
	allocs   []*api.Allocation
	rollouts map[string]*api.Rollout
	nodes    []*api.Node
	events   []*api.Event
	newEvent chan struct{} // closed and replaced when an event is added
	writes   []string
	index    uint64 // the last write's, as a Raft index

	AllocationsFn func() []*api.Allocation
}

func newFakeCluster() *fakeCluster {
	return &fakeCluster{leader: "s1", services: map[string]*api.Service{}, rollouts: map[string]*api.Rollout{}, newEvent: make(chan struct{})}
}

var _ Cluster = (*fakeCluster)(nil)

func (f *fakeCluster) addEvent(e api.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e.ID = uint64(len(f.events) + 1)
	f.events = append(f.events, &e)
	close(f.newEvent)
	f.newEvent = make(chan struct{})
}

func (f *fakeCluster) record(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes = append(f.writes, fmt.Sprintf(format, args...))
}

func (f *fakeCluster) recorded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.writes...)
}

func (f *fakeCluster) Leader(context.Context) (api.Leader, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return api.Leader{Leader: f.leader}, nil
}

func (f *fakeCluster) Service(_ context.Context, ns, name string, _ api.QueryOptions) (*api.Service, uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.services[ns+"/"+name]
	if s == nil {
		return nil, 0, &api.Error{Status: 404, Message: "no service " + name}
	}
	c := *s
	return &c, 1, nil
}

func (f *fakeCluster) Allocations(_ context.Context, filter api.AllocFilter, _ api.QueryOptions) ([]*api.Allocation, uint64, error) {
	all := f.allocs
	if f.AllocationsFn != nil {
		all = f.AllocationsFn()
	}
	var out []*api.Allocation
	for _, a := range all {
		if (filter.Service == "" || a.Service == filter.Service) && (filter.Namespace == "" || a.Namespace == filter.Namespace) {
			out = append(out, a)
		}
	}
	return out, 1, nil
}

func (f *fakeCluster) Rollout(_ context.Context, ns, name string, _ api.QueryOptions) (*api.Rollout, uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.rollouts[ns+"/"+name]
	if r == nil {
		return nil, 0, &api.Error{Status: 404, Message: "no rollout"}
	}
	return r, 1, nil
}

func (f *fakeCluster) Nodes(context.Context, api.QueryOptions) ([]*api.Node, uint64, error) {
	return f.nodes, 1, nil
}

// Events answers like the servers: events after q.Index, blocking up to
// q.Wait for one when there are none.
func (f *fakeCluster) Events(ctx context.Context, filter api.EventFilter, q api.QueryOptions) ([]*api.Event, uint64, error) {
	for {
		f.mu.Lock()
		var out []*api.Event
		var last uint64
		for _, e := range f.events {
			if e.ID <= q.Index {
				continue
			}
			last = e.ID
			if (filter.Service == "" || e.Service == filter.Service) && (filter.Node == "" || e.Node == filter.Node) {
				out = append(out, e)
			}
		}
		wake := f.newEvent
		f.mu.Unlock()
		if len(out) > 0 || q.Wait <= 0 {
			return out, max(last, q.Index), nil
		}
		t := time.NewTimer(q.Wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, q.Index, ctx.Err()
		case <-t.C:
			return nil, q.Index, nil
		case <-wake:
			t.Stop()
		}
	}
}

func (f *fakeCluster) ApplyService(_ context.Context, spec api.ServiceSpec) (api.ApplyResponse, error) {
	f.record("apply %s", spec.Name)
	f.mu.Lock()
	defer f.mu.Unlock()
	key := spec.Namespace + "/" + spec.Name
	f.index++
	old := f.services[key]
	if old == nil {
		f.services[key] = &api.Service{Name: spec.Name, Namespace: spec.Namespace, Revision: 1, Replicas: spec.ReplicaCount(), Spec: spec,
			CreateIndex: f.index, ModifyIndex: f.index}
		return api.ApplyResponse{Index: f.index, Revision: 1, Created: true, Changed: true}, nil
	}
	old.Revision++
	old.Spec = spec
	old.ModifyIndex = f.index
	return api.ApplyResponse{Index: f.index, Revision: old.Revision, Changed: true}, nil
}

// DeleteService removes a service the fake holds (a name it does not
// hold is recorded too, and is not an error).
func (f *fakeCluster) DeleteService(_ context.Context, ns, name string) (api.WriteResponse, error) {
	f.record("delete %s/%s", ns, name)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.index++
	delete(f.services, ns+"/"+name)
	return api.WriteResponse{Index: f.index}, nil
}

func (f *fakeCluster) ScaleService(_ context.Context, ns, name string, n int) (api.WriteResponse, error) {
	f.record("scale %s/%s %d", ns, name, n)
	return api.WriteResponse{}, nil
}

func (f *fakeCluster) RolloutAction(_ context.Context, ns, name, action string, body api.RolloutAction) (api.WriteResponse, error) {
	f.record("rollout %s %s/%s full=%t", action, ns, name, body.Full)
	return api.WriteResponse{}, nil
}

func (f *fakeCluster) UndoRollout(_ context.Context, ns, name string, req api.UndoRequest) (api.ApplyResponse, error) {
	f.record("undo %s/%s to %d", ns, name, req.ToRevision)
	return api.ApplyResponse{Revision: 3}, nil
}

func (f *fakeCluster) DrainNode(_ context.Context, name string, enable bool) (api.WriteResponse, error) {
	f.record("drain %s %t", name, enable)
	return api.WriteResponse{}, nil
}

// fakeLab records node faults; KillFn, when set, is what a kill does to
// the cluster.
type fakeLab struct {
	mu     sync.Mutex
	calls  []string
	KillFn func(name string)
}

func (l *fakeLab) do(what, name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, what+" "+name)
	return nil
}

func (l *fakeLab) Kill(name string) error {
	if l.KillFn != nil {
		l.KillFn(name)
	}
	return l.do("kill", name)
}
func (l *fakeLab) Pause(name string) error   { return l.do("pause", name) }
func (l *fakeLab) Resume(name string) error  { return l.do("resume", name) }
func (l *fakeLab) Restart(name string) error { return l.do("restart", name) }
func (l *fakeLab) WaitReady(_ context.Context, name string, _ time.Duration) error {
	return l.do("ready", name)
}
func (l *fakeLab) Servers() []string { return []string{"s1", "s2", "s3"} }

// recorder keeps what a run reported.
type recorder struct {
	mu     sync.Mutex
	start  StartReport
	steps  []StepReport
	events []*api.Event
	end    EndReport
}

func (r *recorder) Start(s StartReport) { r.mu.Lock(); r.start = s; r.mu.Unlock() }
func (r *recorder) Step(s StepReport)   { r.mu.Lock(); r.steps = append(r.steps, s); r.mu.Unlock() }
func (r *recorder) Event(_ time.Duration, e *api.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}
func (r *recorder) End(e EndReport) { r.mu.Lock(); r.end = e; r.mu.Unlock() }

// alloc is a running allocation of web.
func alloc(id, node string, ready bool) *api.Allocation {
	return &api.Allocation{ID: id, Service: "web", Namespace: "default", Revision: 1, Node: node,
		DesiredStatus: api.DesiredRun, Status: api.AllocRunning, Ready: ready}
}

// partitionLab is a fakeLab whose links can be cut; PartitionFn, when
// set, is what a partition does to the cluster.
type partitionLab struct {
	fakeLab
	PartitionFn func(name string)
}

func (l *partitionLab) Partition(names ...string) error {
	for _, name := range names {
		if l.PartitionFn != nil {
			l.PartitionFn(name)
		}
		l.do("partition", name)
	}
	return nil
}

func (l *partitionLab) Heal(names ...string) error {
	if len(names) == 0 {
		return l.do("heal", NodeAll)
	}
	for _, name := range names {
		l.do("heal", name)
	}
	return nil
}
