package scheduler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"

	"flotilla/api"
	"flotilla/internal/clock"
	"flotilla/internal/text"
	"flotilla/scheduler/autoscale"
	"flotilla/scheduler/rollout"
	"flotilla/scheduler/state"
)

// The server is the API's backend.
var _ api.Backend = (*Server)(nil)

// blocking runs a read as a blocking query.
func (s *Server) blocking(ctx context.Context, q api.QueryOptions, query state.Query) (uint64, error) {
	return s.store.Blocking(ctx, q.Index, query)
}

// withReadiness fills the counts and health derived from the service's
// allocations, from the counts the FSM keeps of them (ServiceCounts,
// which it watches); only while some of them failed does it list them,
// for the crash loop checks. It returns the index of the newest write to
// them.
func withReadiness(snap *state.Snapshot, ws state.WatchSet, svc *api.Service, now time.Time) (*api.Service, uint64) {
	c := *svc
	c.ReadyReplicas, c.RunningReplicas = 0, 0
	c.Health, c.HealthMessage = api.HealthHealthy, ""
	counts := snap.ServiceCounts(ws, svc.Namespace, svc.Name)
	var allocs []*api.Allocation
	if counts.Failed > 0 {
		allocs = snap.AllocationsByService(nil, svc.Namespace, svc.Name) // the counts move with each of them
	}
	if n := state.CrashLoop(allocs, now); n >= state.CrashLoopCount {
		c.Health = api.HealthCrashLooping
		c.HealthMessage = fmt.Sprintf("%d allocations failed in the last %s", n, api.Duration(state.CrashLoopWindow))
	} else if svc.Unplaced > 0 {
		c.Health = api.HealthDegraded
		c.HealthMessage = fmt.Sprintf("%d replica%s not placed: %s", svc.Unplaced, text.Plural(svc.Unplaced), svc.PlacementFailure)
	}
	// Replicas of the revisions that serve count: the newest one, the
	// revisions a rollout gives traffic (every one while ramping, as a
	// Kubernetes deployment counts), the stable one after an abort.
	serves := func(rev int) bool { return rev == svc.Revision }
	if ro := snap.Rollout(ws, svc.Namespace, svc.Name); ro != nil && ro.Revision == svc.Revision && ro.Phase != api.PhaseCompleted {
		ramping := ro.Strategy == api.RolloutRamped && ro.Active()
		serves = func(rev int) bool { return ramping || ro.Weights[rev] > 0 }
		if !ro.Active() && c.Health == api.HealthHealthy && ro.StableRevision != ro.Revision {
			// As Argo Rollouts' Degraded: the spec is the revision that
			// did not roll out, and another serves.
			what := "failed"
			if ro.Phase == api.PhaseAborted {
				what = "was aborted"
			}
			c.Health = api.HealthDegraded
			c.HealthMessage = fmt.Sprintf("the rollout of revision %d %s; revision %d serves (rollout retry, rollout undo or a new apply)",
				ro.Revision, what, ro.StableRevision)
		}
	}
	for rev, r := range counts.Revisions {
		if serves(rev) {
			c.RunningReplicas += r.Running
			c.ReadyReplicas += r.Ready
		}
	}
	if c.Health == api.HealthHealthy && c.RunningReplicas < c.Replicas {
		// Past the window, a crash loop whose replacements back off for
		// minutes has too few recent failures to count, and nothing runs.
		if n := backingOff(allocs, serves); n > 0 {
			waits := "their replacements wait"
			if n == 1 {
				waits = "its replacement waits"
			}
			c.Health = api.HealthCrashLooping
			c.HealthMessage = fmt.Sprintf("%s failed %d or more times in a row; %s (crash loop backoff)",
				text.Count(n, "replica"), state.CrashLoopCount, waits)
		}
	}
	return &c, counts.ModifyIndex
}

// backingOff counts the failed allocations of the revisions that serve
// whose replacement the scheduler holds back (the crash loop backoff of
// reconcile.go): failed CrashLoopCount or more times in a row, not
// replaced yet.
func backingOff(allocs []*api.Allocation, serves func(rev int) bool) int {
	replaced := map[string]bool{}
	for _, a := range allocs {
		if a.PreviousAllocation != "" {
			replaced[a.PreviousAllocation] = true
		}
	}
	n := 0
	for _, a := range allocs {
		if a.Status == api.AllocFailed && a.DesiredStatus != api.DesiredRun && strings.HasPrefix(a.DesiredReason, failedReason) &&
			!replaced[a.ID] && a.FailuresBefore+1 >= state.CrashLoopCount && serves(a.Revision) {
			n++
		}
	}
	return n
}

func (s *Server) Services(ctx context.Context, q api.QueryOptions) ([]*api.Service, uint64, error) {
	var out []*api.Service
	index, err := s.blocking(ctx, q, func(ws state.WatchSet, snap *state.Snapshot) (uint64, error) {
		out = out[:0]
		for _, svc := range snap.Services(ws) {
			svc, _ := withReadiness(snap, nil, svc, s.cfg.Clock.Now())
			out = append(out, svc)
		}
		return max(snap.WatchIndex(ws, "services"), snap.WatchIndex(ws, "allocs"), snap.WatchIndex(ws, "rollouts")), nil
	})
	return out, index, err
}

func (s *Server) Service(ctx context.Context, namespace, name string, q api.QueryOptions) (*api.Service, uint64, error) {
	var out *api.Service
	index, err := s.blocking(ctx, q, func(ws state.WatchSet, snap *state.Snapshot) (uint64, error) {
		svc := snap.Service(ws, namespace, name)
		if svc == nil {
			out = nil
			return snap.Index("services"), nil
		}
		var allocsIndex uint64
		out, allocsIndex = withReadiness(snap, ws, svc, s.cfg.Clock.Now())
		return max(svc.ModifyIndex, allocsIndex), nil
	})
	if err == nil && out == nil {
		err = fmt.Errorf("service %s/%s: %w", namespace, name, api.ErrNotFound)
	}
	return out, index, err
}

func (s *Server) Revisions(ctx context.Context, namespace, name string, q api.QueryOptions) ([]*api.Revision, uint64, error) {
	var out []*api.Revision
	index, err := s.blocking(ctx, q, func(ws state.WatchSet, snap *state.Snapshot) (uint64, error) {
		out = snap.Revisions(ws, namespace, name)
		return snap.Index("revisions"), nil
	})
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("service %s/%s: %w", namespace, name, api.ErrNotFound)
	}
	return out, index, err
}

func (s *Server) Revision(ctx context.Context, namespace, name string, revision int) (*api.Revision, error) {
	if r := s.store.Snapshot().Revision(namespace, name, revision); r != nil {
		return r, nil
	}
	return nil, fmt.Errorf("revision %d of service %s/%s: %w", revision, namespace, name, api.ErrNotFound)
}

func (s *Server) Nodes(ctx context.Context, q api.QueryOptions) ([]*api.Node, uint64, error) {
	var out []*api.Node
	index, err := s.blocking(ctx, q, func(ws state.WatchSet, snap *state.Snapshot) (uint64, error) {
		out = snap.Nodes(ws)
		// Usage comes from allocations: their changes count too.
		return max(snap.Index("nodes"), snap.WatchIndex(ws, "allocs")), nil
	})
	return out, index, err
}

func (s *Server) Node(ctx context.Context, name string, q api.QueryOptions) (*api.Node, uint64, error) {
	var out *api.Node
	index, err := s.blocking(ctx, q, func(ws state.WatchSet, snap *state.Snapshot) (uint64, error) {
		out = snap.Node(ws, name)
		if out == nil {
			return snap.Index("nodes"), nil
		}
		// Its usage comes from its allocations: their changes count too.
		return max(out.ModifyIndex, state.MaxModifyIndex(snap.AllocationsByNode(ws, name))), nil
	})
	if err == nil && out == nil {
		err = fmt.Errorf("node %s: %w", name, api.ErrNotFound)
	}
	return out, index, err
}

func (s *Server) Allocations(ctx context.Context, f api.AllocFilter, q api.QueryOptions) ([]*api.Allocation, uint64, error) {
	var out []*api.Allocation
	index, err := s.blocking(ctx, q, func(ws state.WatchSet, snap *state.Snapshot) (uint64, error) {
		switch {
		case f.Service != "":
			out = snap.AllocationsByService(ws, f.Namespace, f.Service)
		case f.Node != "" && f.ToRun:
			out = snap.AllocationsToRun(ws, f.Node)
			return state.MaxAllocModifyIndex(out), nil
		case f.Node != "":
			out = snap.AllocationsByNode(ws, f.Node)
		default:
			out = snap.Allocations(ws)
			if f.Namespace == "" {
				return snap.Index("allocs"), nil
			}
		}
		filtered := out[:0:0]
		for _, a := range out {
			if (f.Namespace == "" || a.Namespace == f.Namespace) && (f.Node == "" || a.Node == f.Node) {
				filtered = append(filtered, a)
			}
		}
		out = filtered
		// Only these allocations' changes count, so that an agent's watch
		// wakes for its own node alone.
		return state.MaxModifyIndex(out), nil
	})
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].CreateIndex < out[j].CreateIndex
	})
	return out, index, err
}

func (s *Server) Allocation(ctx context.Context, id string) (*api.Allocation, uint64, error) {
	snap := s.store.Snapshot()
	if a := snap.Allocation(nil, id); a != nil {
		return a, a.ModifyIndex, nil
	}
	matches := snap.AllocationsByPrefix(id)
	switch {
	case id == "" || len(matches) == 0:
		return nil, 0, fmt.Errorf("allocation %q: %w", id, api.ErrNotFound)
	case len(matches) > 1:
		return nil, 0, fmt.Errorf("allocation prefix %q matches %d allocations; give more of the ID: %w", id, len(matches), api.ErrConflict)
	}
	return matches[0], matches[0].ModifyIndex, nil
}

func (s *Server) Evaluations(ctx context.Context, namespace, service string, q api.QueryOptions) ([]*api.Evaluation, uint64, error) {
	var out []*api.Evaluation
	index, err := s.blocking(ctx, q, func(ws state.WatchSet, snap *state.Snapshot) (uint64, error) {
		if service != "" {
			out = snap.EvaluationsByService(ws, namespace, service)
		} else {
			out = snap.Evaluations(ws)
		}
		return snap.Index("evals"), nil
	})
	return out, index, err
}

// Events lists events with an ID above q.Index. With q.Wait set it blocks
// until at least one matching event exists; the index it returns is the ID
// of the newest event it looked at (matching or not), for the next call.
func (s *Server) Events(ctx context.Context, f api.EventFilter, q api.QueryOptions) ([]*api.Event, uint64, error) {
	after := q.Index
	for {
		ws := memdb.NewWatchSet()
		snap := s.store.Snapshot()
		ws.Add(snap.Abandoned)
		snap.WatchIndex(ws, "events")
		var out []*api.Event
		for _, e := range snap.EventsAfter(nil, after, 0) {
			after = e.ID
			if (f.Namespace == "" || e.Namespace == f.Namespace) && (f.Service == "" || e.Service == f.Service) && (f.Node == "" || e.Node == f.Node) {
				out = append(out, e)
			}
		}
		if len(out) > 0 || q.Wait <= 0 || ws.WatchCtx(ctx) != nil {
			return out, after, nil
		}
	}
}

// serviceEndpoints is what nodes need to route to one service: every
// running replica with an address (only ready ones get traffic) and the
// route table its rollout sets.
func serviceEndpoints(snap *state.Snapshot, ws state.WatchSet, svc *api.Service) *api.ServiceEndpoints {
	allocs := snap.AllocationsByService(ws, svc.Namespace, svc.Name)
	ro := snap.Rollout(ws, svc.Namespace, svc.Name)
	se := &api.ServiceEndpoints{
		Namespace: svc.Namespace, Name: svc.Name, VIP: svc.VIP, Headless: svc.Spec.ClusterIP == "none",
		Ports: svc.Spec.Ports, LoadBalancing: svc.Spec.LoadBalancing, Endpoints: []api.Endpoint{},
		Routes:      rollout.Routes(svc, ro),
		ModifyIndex: max(svc.ModifyIndex, state.MaxModifyIndex(allocs)),
		ScaleToZero: svc.Spec.Autoscale != nil && autoscale.ScalesToZero(*svc.Spec.Autoscale),
	}
	if ro != nil {
		se.ModifyIndex = max(se.ModifyIndex, ro.ModifyIndex)
	}
	if se.Ports == nil {
		se.Ports = []api.Port{}
	}
	unreachable := map[string]bool{}
	for _, a := range allocs {
		if a.DesiredStatus != api.DesiredRun || a.Status != api.AllocRunning || a.Address == "" {
			continue
		}
		host, _, err := net.SplitHostPort(a.Address)
		if err != nil {
			continue
		}
		cut, seen := unreachable[a.Node]
		if !seen {
			// Gossip's verdict takes a node's replicas out of rotation at
			// once, before its TTL decides about its allocations.
			if n := snap.NodeWithoutUsage(a.Node); n != nil {
				cut = n.Unreachable || n.Status == api.NodeDown
				se.ModifyIndex = max(se.ModifyIndex, n.ModifyIndex)
			}
			unreachable[a.Node] = cut
		}
		se.Endpoints = append(se.Endpoints, api.Endpoint{ID: a.ID, Node: a.Node, Revision: a.Revision, IP: host, Ready: a.Ready && !cut})
	}
	return se
}

// previewEndpoints is the extra service a running blue-green or canary
// rollout adds: SERVICE-preview or SERVICE-canary, with its own VIP,
// reaching only the new revision. There is none when a real service has
// that name.
func previewEndpoints(snap *state.Snapshot, se *api.ServiceEndpoints, svc *api.Service) *api.ServiceEndpoints {
	ro := snap.Rollout(nil, svc.Namespace, svc.Name)
	name, ok := rollout.Preview(svc, ro)
	if !ok || snap.Service(nil, svc.Namespace, name) != nil {
		return nil
	}
	p := *se
	p.Name, p.VIP, p.Headless, p.ScaleToZero = name, ro.PreviewVIP, false, false // a preview is not woken
	p.Routes = api.RouteTable{Split: []api.WeightedBackend{{Backend: ro.Revision, Weight: 100}}}
	p.Endpoints = []api.Endpoint{}
	for _, e := range se.Endpoints {
		if e.Revision == ro.Revision {
			p.Endpoints = append(p.Endpoints, e)
		}
	}
	return &p
}

func (s *Server) Endpoints(ctx context.Context, q api.QueryOptions) ([]*api.ServiceEndpoints, uint64, error) {
	var out []*api.ServiceEndpoints
	index, err := s.blocking(ctx, q, func(ws state.WatchSet, snap *state.Snapshot) (uint64, error) {
		out = out[:0]
		for _, svc := range snap.Services(ws) {
			se := serviceEndpoints(snap, nil, svc)
			out = append(out, se)
			if p := previewEndpoints(snap, se, svc); p != nil {
				out = append(out, p)
			}
		}
		return max(snap.WatchIndex(ws, "services"), snap.WatchIndex(ws, "allocs"), snap.WatchIndex(ws, "rollouts"), snap.WatchIndex(ws, "nodes")), nil
	})
	return out, index, err
}

func (s *Server) ServiceEndpoints(ctx context.Context, namespace, name string, q api.QueryOptions) (*api.ServiceEndpoints, uint64, error) {
	var out *api.ServiceEndpoints
	index, err := s.blocking(ctx, q, func(ws state.WatchSet, snap *state.Snapshot) (uint64, error) {
		svc := snap.Service(ws, namespace, name)
		if svc == nil {
			out = nil
			return snap.Index("services"), nil
		}
		out = serviceEndpoints(snap, ws, svc)
		return out.ModifyIndex, nil
	})
	if err == nil && out == nil {
		err = fmt.Errorf("service %s/%s: %w", namespace, name, api.ErrNotFound)
	}
	return out, index, err
}

// WriteTarget says where writes go, waiting up to noLeaderWait for an
// election in progress.
func (s *Server) WriteTarget(ctx context.Context) (string, error) {
	deadline := s.cfg.Clock.Now().Add(noLeaderWait)
	for {
		if s.IsLeader() {
			return "", nil
		}
		if name, _, http := s.leaderHTTP(); name != "" && name != s.cfg.Name && http != "" {
			return http, nil
		}
		if !s.cfg.Clock.Now().Before(deadline) {
			return "", s.noLeader()
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-s.cfg.Clock.After(25 * time.Millisecond):
		}
	}
}

func (s *Server) Leader() api.Leader {
	name, addr, _ := s.leaderHTTP()
	return api.Leader{Leader: name, Address: addr}
}

// Peers lists the Raft voters with what each says of the leader: this
// server asks every other voter's API at once (GET /v1/status/leader,
// within api.PeerProbeTimeout), so that a voter that is killed, paused or
// cut off shows as unreachable, and one cut off from the leader shows how
// long ago it last heard from it.
func (s *Server) Peers() ([]api.Peer, error) {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("raft configuration: %w", err)
	}
	_, leaderID := s.raft.LeaderWithID()
	peers := []api.Peer{}
	for _, srv := range f.Configuration().Servers {
		if srv.Suffrage != raft.Voter {
			continue
		}
		peers = append(peers, api.Peer{ID: string(srv.ID), Address: string(srv.Address), Leader: srv.ID == leaderID, HTTP: s.serverHTTP(string(srv.ID))})
	}
	ctx, cancel := clock.WithTimeout(context.Background(), s.cfg.Clock, api.PeerProbeTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for i := range peers {
		p := &peers[i]
		if p.ID == s.cfg.Name {
			m := s.QueryMeta()
			p.Status, p.KnownLeader, p.LeaderAPIUnknown = api.PeerAlive, m.KnownLeader, m.LeaderAPIUnknown
			if m.LastContact >= 0 {
				p.LastContact = ptr(api.Duration(m.LastContact))
			}
			continue
		}
		if p.HTTP == "" {
			p.Status, p.Error = api.PeerUnknown, "no API address known for it (gossip never announced one)"
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); s.probePeer(ctx, p) }()
	}
	wg.Wait()
	return peers, nil
}

// probePeer asks one voter what it knows of the leader.
func (s *Server) probePeer(ctx context.Context, p *api.Peer) {
	resp, err := s.getPeer(ctx, p.HTTP, "/v1/status/leader")
	if err != nil {
		p.Status, p.Error = api.PeerUnreachable, err.Error()
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	p.Status = api.PeerAlive
	p.KnownLeader = resp.Header.Get(api.KnownLeaderHeader) == "true"
	p.LeaderAPIUnknown = resp.Header.Get(api.LeaderAPIHeader) == "unknown"
	if ms, perr := strconv.ParseInt(resp.Header.Get(api.LastContactHeader), 10, 64); perr == nil && ms >= 0 {
		p.LastContact = ptr(api.Duration(time.Duration(ms) * time.Millisecond))
	}
}

// getPeer GETs path from another server's API at addr, as servers call
// each other (their scheme, their client); an answer other than 200 OK is
// an error ("answered 503 Service Unavailable"), its body read and closed.
func (s *Server) getPeer(ctx context.Context, addr, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.scheme()+"://"+addr+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.peerHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil, fmt.Errorf("answered %s", resp.Status)
	}
	return resp, nil
}

func ptr[T any](v T) *T { return &v }

// now is the leader's time, stamped into every command.
func (s *Server) now() time.Time { return s.cfg.Clock.Now().UTC() }

func (s *Server) ApplyService(ctx context.Context, spec api.ServiceSpec) (api.ApplyResponse, error) {
	resp, index, err := s.apply(state.CmdUpsertService, &state.UpsertService{Spec: spec, VIPPool: s.cfg.VIPCIDR, Time: s.now(), RequestID: api.RequestIDFrom(ctx)})
	var fe *api.FieldError
	if errors.As(err, &fe) {
		return api.ApplyResponse{}, err // a field's own one-line error (clients name the service)
	}
	if err != nil {
		return api.ApplyResponse{}, fmt.Errorf("apply service %s/%s: %w", spec.Namespace, spec.Name, err)
	}
	r := resp.(*state.UpsertServiceResult)
	return api.ApplyResponse{Index: index, Revision: r.Revision, Created: r.Created, Changed: r.Changed, EvalID: r.EvalID}, nil
}

func (s *Server) DeleteService(ctx context.Context, namespace, name string) (api.WriteResponse, error) {
	_, index, err := s.apply(state.CmdDeleteService, &state.DeleteService{Namespace: namespace, Name: name, Time: s.now(), RequestID: api.RequestIDFrom(ctx)})
	return api.WriteResponse{Index: index}, err
}

func (s *Server) ScaleService(ctx context.Context, namespace, name string, replicas int) (api.WriteResponse, error) {
	svc := s.store.Snapshot().Service(nil, namespace, name)
	if svc == nil {
		return api.WriteResponse{}, fmt.Errorf("service %s/%s: %w", namespace, name, api.ErrNotFound)
	}
	if a := svc.Spec.Autoscale; a != nil && (replicas < a.Min || replicas > a.Max) {
		return api.WriteResponse{}, &api.FieldError{Field: "replicas", Message: fmt.Sprintf("must stay within the autoscale range %d..%d", a.Min, a.Max)}
	}
	_, index, err := s.apply(state.CmdScaleService, &state.ScaleService{Namespace: namespace, Name: name, Replicas: replicas, Time: s.now(), RequestID: api.RequestIDFrom(ctx)})
	return api.WriteResponse{Index: index}, err
}

func (s *Server) RegisterNode(ctx context.Context, name string, r api.NodeRegistration) (api.WriteResponse, error) {
	pool := ""
	switch r.Runtime {
	case "sim":
		pool = s.cfg.SimCIDR
	case "containerd":
		pool = s.cfg.ClusterCIDR
	}
	hash := api.HashNodeSecret(api.NodeSecretFrom(ctx))
	if err := s.store.Snapshot().NodeSecretRefusal(name, hash); err != nil {
		return api.WriteResponse{}, err // before a Raft entry: the FSM would refuse it too
	}
	_, index, err := s.apply(state.CmdRegisterNode, &state.RegisterNode{Name: name, Registration: r, SubnetPool: pool, SecretHash: hash,
		Time: s.now(), RequestID: api.RequestIDFrom(ctx)})
	if err != nil {
		return api.WriteResponse{}, err
	}
	if r.Heartbeat {
		s.heartbeats.grant(name)
	} else {
		s.heartbeats.stop(name)
	}
	return api.WriteResponse{Index: index}, nil
}

func (s *Server) Heartbeat(ctx context.Context, name string) (api.HeartbeatResponse, error) {
	if !s.IsLeader() {
		return api.HeartbeatResponse{}, fmt.Errorf("heartbeat of %s: %w", name, api.ErrNoLeader)
	}
	n := s.store.Snapshot().NodeWithoutUsage(name)
	if n == nil {
		return api.HeartbeatResponse{}, fmt.Errorf("node %s is not registered: %w", name, api.ErrNotFound)
	}
	if err := nodeSecretError(ctx, n); err != nil {
		return api.HeartbeatResponse{}, err
	}
	ttl, interval := s.heartbeats.timing()
	if n.Heartbeat {
		ttl, interval = s.heartbeats.grant(name)
	}
	if n.Unreachable {
		if _, _, err := s.apply(state.CmdNodeReachability, &state.NodeReachability{Name: name, Reachable: true, Message: "heartbeats arrive", Time: s.now()}); err != nil {
			return api.HeartbeatResponse{}, err
		}
	}
	if n.Status == api.NodeDown && !n.OperatorDown {
		if _, _, err := s.apply(state.CmdNodeStatus, &state.NodeStatus{Name: name, Status: api.NodeReady, Message: "heartbeats resumed", Time: s.now()}); err != nil {
			return api.HeartbeatResponse{}, err
		}
	}
	return api.HeartbeatResponse{TTL: api.Duration(ttl), Interval: api.Duration(interval)}, nil
}

func (s *Server) DrainNode(ctx context.Context, name string, enable bool) (api.WriteResponse, error) {
	_, index, err := s.apply(state.CmdNodeDrain, &state.NodeDrain{Name: name, Enable: enable, Time: s.now(), RequestID: api.RequestIDFrom(ctx)})
	return api.WriteResponse{Index: index}, err
}

func (s *Server) SetEligibility(ctx context.Context, name string, eligible bool) (api.WriteResponse, error) {
	_, index, err := s.apply(state.CmdNodeEligibility, &state.NodeEligibility{Name: name, Eligible: eligible, Time: s.now(), RequestID: api.RequestIDFrom(ctx)})
	return api.WriteResponse{Index: index}, err
}

func (s *Server) SetNodeStatus(ctx context.Context, name, status, message string) (api.WriteResponse, error) {
	if message == "" {
		message = "set by an operator"
	}
	_, index, err := s.apply(state.CmdNodeStatus, &state.NodeStatus{Name: name, Status: status, Message: message, Operator: true, Time: s.now(), RequestID: api.RequestIDFrom(ctx)})
	if err == nil && status == api.NodeDown {
		s.heartbeats.stop(name)
	}
	if err == nil && status == api.NodeReady {
		if n := s.store.Snapshot().NodeWithoutUsage(name); n != nil && n.Heartbeat {
			s.heartbeats.grant(name)
		}
	}
	return api.WriteResponse{Index: index}, err
}

func (s *Server) UpdateAllocations(ctx context.Context, batch api.AllocStatusBatch) (api.WriteResponse, error) {
	for i, u := range batch.Updates {
		switch u.Status {
		case api.AllocPending, api.AllocStarting, api.AllocRunning, api.AllocFailed, api.AllocComplete:
		default:
			return api.WriteResponse{}, &api.FieldError{Field: fmt.Sprintf("updates[%d].status", i),
				Message: "must be one of " + strings.Join([]string{api.AllocPending, api.AllocStarting, api.AllocRunning, api.AllocFailed, api.AllocComplete}, ", ")}
		}
	}
	for i, e := range batch.Events {
		if !api.AgentEventTypes[e.Type] {
			return api.WriteResponse{}, &api.FieldError{Field: fmt.Sprintf("events[%d].type", i), Message: fmt.Sprintf("unknown event type %q", e.Type)}
		}
	}
	if err := nodeSecretError(ctx, s.store.Snapshot().NodeWithoutUsage(batch.Node)); err != nil {
		return api.WriteResponse{}, err
	}
	index, err := s.statuses.submit(ctx, state.AllocStatus{Node: batch.Node, Updates: batch.Updates, Events: batch.Events, Time: s.now(), RequestID: api.RequestIDFrom(ctx)})
	return api.WriteResponse{Index: index}, err
}
