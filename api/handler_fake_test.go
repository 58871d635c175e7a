package api_test

import (
	"context"
	"sync"

	"flotilla/api"
)

// fakeBackend is a hand-made api.Backend. It records every call with its
// arguments (the context left out) and answers with the matching XxxFn when
// a test scripts one, else with zero values: this server leads, every list
// is nil and every write succeeds at index 0.
type fakeBackend struct {
	ServicesFn          func(ctx context.Context, q api.QueryOptions) ([]*api.Service, uint64, error)
	ServiceFn           func(ctx context.Context, namespace, name string, q api.QueryOptions) (*api.Service, uint64, error)
	RevisionsFn         func(ctx context.Context, namespace, name string, q api.QueryOptions) ([]*api.Revision, uint64, error)
	RevisionFn          func(ctx context.Context, namespace, name string, revision int) (*api.Revision, error)
	NodesFn             func(ctx context.Context, q api.QueryOptions) ([]*api.Node, uint64, error)
	NodeFn              func(ctx context.Context, name string, q api.QueryOptions) (*api.Node, uint64, error)
	AllocationsFn       func(ctx context.Context, f api.AllocFilter, q api.QueryOptions) ([]*api.Allocation, uint64, error)
	AllocationFn        func(ctx context.Context, id string) (*api.Allocation, uint64, error)
	EvaluationsFn       func(ctx context.Context, namespace, service string, q api.QueryOptions) ([]*api.Evaluation, uint64, error)
	EventsFn            func(ctx context.Context, f api.EventFilter, q api.QueryOptions) ([]*api.Event, uint64, error)
	ApplyServiceFn      func(ctx context.Context, spec api.ServiceSpec) (api.ApplyResponse, error)
	DeleteServiceFn     func(ctx context.Context, namespace, name string) (api.WriteResponse, error)
	ScaleServiceFn      func(ctx context.Context, namespace, name string, replicas int) (api.WriteResponse, error)
	WakeServiceFn       func(ctx context.Context, namespace, name string) (api.WriteResponse, error)
	RegisterNodeFn      func(ctx context.Context, name string, r api.NodeRegistration) (api.WriteResponse, error)
	HeartbeatFn         func(ctx context.Context, name string) (api.HeartbeatResponse, error)
	DrainNodeFn         func(ctx context.Context, name string, enable bool) (api.WriteResponse, error)
	SetEligibilityFn    func(ctx context.Context, name string, eligible bool) (api.WriteResponse, error)
	SetNodeStatusFn     func(ctx context.Context, name, status, message string) (api.WriteResponse, error)
	UpdateAllocationsFn func(ctx context.Context, batch api.AllocStatusBatch) (api.WriteResponse, error)
	RolloutFn           func(ctx context.Context, namespace, name string, q api.QueryOptions) (*api.Rollout, uint64, error)
	RolloutActionFn     func(ctx context.Context, namespace, name, action string, body api.RolloutAction) (api.WriteResponse, error)
	UndoRolloutFn       func(ctx context.Context, namespace, name string, req api.UndoRequest) (api.ApplyResponse, error)
	LeaderFn            func() api.Leader
	PeersFn             func() ([]api.Peer, error)
	WriteTargetFn       func(ctx context.Context) (string, error)

	mu    sync.Mutex
	calls []backendCall
}

var _ api.Backend = (*fakeBackend)(nil)

// backendCall is one recorded call: the method's name and its arguments
// after the context.
type backendCall struct {
	Method string
	Args   []any
}

func (b *fakeBackend) record(method string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, backendCall{Method: method, Args: args})
}

// Calls returns the recorded calls, leaving out the methods named in except.
func (b *fakeBackend) Calls(except ...string) []backendCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []backendCall
next:
	for _, c := range b.calls {
		for _, e := range except {
			if c.Method == e {
				continue next
			}
		}
		out = append(out, c)
	}
	return out
}

// CallsTo returns the recorded calls of one method.
func (b *fakeBackend) CallsTo(method string) []backendCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []backendCall
	for _, c := range b.calls {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// writeMethods are the Writer's methods: what "bad input changes nothing"
// must never reach.
var writeMethods = []string{
	"ApplyService", "DeleteService", "ScaleService", "WakeService", "RegisterNode", "Heartbeat",
	"DrainNode", "SetEligibility", "SetNodeStatus", "UpdateAllocations",
	"RolloutAction", "UndoRollout",
}

// Writes returns the recorded calls of Writer methods.
func (b *fakeBackend) Writes() []backendCall {
	var out []backendCall
	for _, m := range writeMethods {
		out = append(out, b.CallsTo(m)...)
	}
	return out
}

func (b *fakeBackend) Services(ctx context.Context, q api.QueryOptions) ([]*api.Service, uint64, error) {
	b.record("Services", q)
	if b.ServicesFn != nil {
		return b.ServicesFn(ctx, q)
	}
	return nil, 0, nil
}

func (b *fakeBackend) Service(ctx context.Context, namespace, name string, q api.QueryOptions) (*api.Service, uint64, error) {
	b.record("Service", namespace, name, q)
	if b.ServiceFn != nil {
		return b.ServiceFn(ctx, namespace, name, q)
	}
	return &api.Service{Namespace: namespace, Name: name}, 0, nil
}

func (b *fakeBackend) Revisions(ctx context.Context, namespace, name string, q api.QueryOptions) ([]*api.Revision, uint64, error) {
	b.record("Revisions", namespace, name, q)
	if b.RevisionsFn != nil {
		return b.RevisionsFn(ctx, namespace, name, q)
	}
	return nil, 0, nil
}

func (b *fakeBackend) Revision(ctx context.Context, namespace, name string, revision int) (*api.Revision, error) {
	b.record("Revision", namespace, name, revision)
	if b.RevisionFn != nil {
		return b.RevisionFn(ctx, namespace, name, revision)
	}
	return &api.Revision{Namespace: namespace, Name: name, Revision: revision}, nil
}

func (b *fakeBackend) Endpoints(ctx context.Context, q api.QueryOptions) ([]*api.ServiceEndpoints, uint64, error) {
	b.record("Endpoints", q)
	return nil, 0, nil
}

func (b *fakeBackend) ServiceEndpoints(ctx context.Context, namespace, name string, q api.QueryOptions) (*api.ServiceEndpoints, uint64, error) {
	b.record("ServiceEndpoints", namespace, name, q)
	return &api.ServiceEndpoints{Namespace: namespace, Name: name}, 0, nil
}

func (b *fakeBackend) ReportTraffic(ctx context.Context, node string, reports []api.TrafficReport) error {
	b.record("ReportTraffic", node, reports)
	return nil
}

func (b *fakeBackend) Traffic(ctx context.Context, namespace, name string) (*api.ServiceTraffic, error) {
	b.record("Traffic", namespace, name)
	return nil, nil
}

func (b *fakeBackend) RolloutDiffs(ctx context.Context, namespace, name string) (*api.RolloutDiffs, error) {
	b.record("RolloutDiffs", namespace, name)
	return &api.RolloutDiffs{Namespace: namespace, Service: name, Report: api.DiffReport{Endpoints: []api.DiffEndpoint{}}}, nil
}

func (b *fakeBackend) ReportUsage(ctx context.Context, node string, reports []api.AllocUsage) error {
	b.record("ReportUsage", node, reports)
	return nil
}

func (b *fakeBackend) TopAllocations(ctx context.Context) (*api.TopAllocations, error) {
	b.record("TopAllocations")
	return nil, nil
}

func (b *fakeBackend) Nodes(ctx context.Context, q api.QueryOptions) ([]*api.Node, uint64, error) {
	b.record("Nodes", q)
	if b.NodesFn != nil {
		return b.NodesFn(ctx, q)
	}
	return nil, 0, nil
}

func (b *fakeBackend) Node(ctx context.Context, name string, q api.QueryOptions) (*api.Node, uint64, error) {
	b.record("Node", name, q)
	if b.NodeFn != nil {
		return b.NodeFn(ctx, name, q)
	}
	return &api.Node{Name: name}, 0, nil
}

func (b *fakeBackend) Allocations(ctx context.Context, f api.AllocFilter, q api.QueryOptions) ([]*api.Allocation, uint64, error) {
	b.record("Allocations", f, q)
	if b.AllocationsFn != nil {
		return b.AllocationsFn(ctx, f, q)
	}
	return nil, 0, nil
}

func (b *fakeBackend) Allocation(ctx context.Context, id string) (*api.Allocation, uint64, error) {
	b.record("Allocation", id)
	if b.AllocationFn != nil {
		return b.AllocationFn(ctx, id)
	}
	return &api.Allocation{ID: id}, 0, nil
}

func (b *fakeBackend) Evaluations(ctx context.Context, namespace, service string, q api.QueryOptions) ([]*api.Evaluation, uint64, error) {
	b.record("Evaluations", namespace, service, q)
	if b.EvaluationsFn != nil {
		return b.EvaluationsFn(ctx, namespace, service, q)
	}
	return nil, 0, nil
}

func (b *fakeBackend) Events(ctx context.Context, f api.EventFilter, q api.QueryOptions) ([]*api.Event, uint64, error) {
	b.record("Events", f, q)
	if b.EventsFn != nil {
		return b.EventsFn(ctx, f, q)
	}
	return nil, 0, nil
}

func (b *fakeBackend) ApplyService(ctx context.Context, spec api.ServiceSpec) (api.ApplyResponse, error) {
	b.record("ApplyService", spec)
	if b.ApplyServiceFn != nil {
		return b.ApplyServiceFn(ctx, spec)
	}
	return api.ApplyResponse{}, nil
}

func (b *fakeBackend) DeleteService(ctx context.Context, namespace, name string) (api.WriteResponse, error) {
	b.record("DeleteService", namespace, name)
	if b.DeleteServiceFn != nil {
		return b.DeleteServiceFn(ctx, namespace, name)
	}
	return api.WriteResponse{}, nil
}

func (b *fakeBackend) ScaleService(ctx context.Context, namespace, name string, replicas int) (api.WriteResponse, error) {
	b.record("ScaleService", namespace, name, replicas)
	if b.ScaleServiceFn != nil {
		return b.ScaleServiceFn(ctx, namespace, name, replicas)
	}
	return api.WriteResponse{}, nil
}

func (b *fakeBackend) WakeService(ctx context.Context, namespace, name string) (api.WriteResponse, error) {
	b.record("WakeService", namespace, name)
	if b.WakeServiceFn != nil {
		return b.WakeServiceFn(ctx, namespace, name)
	}
	return api.WriteResponse{}, nil
}

func (b *fakeBackend) Rollout(ctx context.Context, namespace, name string, q api.QueryOptions) (*api.Rollout, uint64, error) {
	b.record("Rollout", namespace, name, q)
	if b.RolloutFn != nil {
		return b.RolloutFn(ctx, namespace, name, q)
	}
	return nil, 0, nil
}

func (b *fakeBackend) RolloutAction(ctx context.Context, namespace, name, action string, body api.RolloutAction) (api.WriteResponse, error) {
	b.record("RolloutAction", namespace, name, action, body)
	if b.RolloutActionFn != nil {
		return b.RolloutActionFn(ctx, namespace, name, action, body)
	}
	return api.WriteResponse{}, nil
}

func (b *fakeBackend) UndoRollout(ctx context.Context, namespace, name string, req api.UndoRequest) (api.ApplyResponse, error) {
	b.record("UndoRollout", namespace, name, req)
	if b.UndoRolloutFn != nil {
		return b.UndoRolloutFn(ctx, namespace, name, req)
	}
	return api.ApplyResponse{}, nil
}

func (b *fakeBackend) RegisterNode(ctx context.Context, name string, r api.NodeRegistration) (api.WriteResponse, error) {
	b.record("RegisterNode", name, r)
	if b.RegisterNodeFn != nil {
		return b.RegisterNodeFn(ctx, name, r)
	}
	return api.WriteResponse{}, nil
}

func (b *fakeBackend) Heartbeat(ctx context.Context, name string) (api.HeartbeatResponse, error) {
	b.record("Heartbeat", name)
	if b.HeartbeatFn != nil {
		return b.HeartbeatFn(ctx, name)
	}
	return api.HeartbeatResponse{}, nil
}

func (b *fakeBackend) DrainNode(ctx context.Context, name string, enable bool) (api.WriteResponse, error) {
	b.record("DrainNode", name, enable)
	if b.DrainNodeFn != nil {
		return b.DrainNodeFn(ctx, name, enable)
	}
	return api.WriteResponse{}, nil
}

func (b *fakeBackend) SetEligibility(ctx context.Context, name string, eligible bool) (api.WriteResponse, error) {
	b.record("SetEligibility", name, eligible)
	if b.SetEligibilityFn != nil {
		return b.SetEligibilityFn(ctx, name, eligible)
	}
	return api.WriteResponse{}, nil
}

func (b *fakeBackend) SetNodeStatus(ctx context.Context, name, status, message string) (api.WriteResponse, error) {
	b.record("SetNodeStatus", name, status, message)
	if b.SetNodeStatusFn != nil {
		return b.SetNodeStatusFn(ctx, name, status, message)
	}
	return api.WriteResponse{}, nil
}

func (b *fakeBackend) UpdateAllocations(ctx context.Context, batch api.AllocStatusBatch) (api.WriteResponse, error) {
	b.record("UpdateAllocations", batch)
	if b.UpdateAllocationsFn != nil {
		return b.UpdateAllocationsFn(ctx, batch)
	}
	return api.WriteResponse{}, nil
}

func (b *fakeBackend) Leader() api.Leader {
	b.record("Leader")
	if b.LeaderFn != nil {
		return b.LeaderFn()
	}
	return api.Leader{}
}

func (b *fakeBackend) Peers() ([]api.Peer, error) {
	b.record("Peers")
	if b.PeersFn != nil {
		return b.PeersFn()
	}
	return nil, nil
}

func (b *fakeBackend) WriteTarget(ctx context.Context) (string, error) {
	b.record("WriteTarget")
	if b.WriteTargetFn != nil {
		return b.WriteTargetFn(ctx)
	}
	return "", nil
}
