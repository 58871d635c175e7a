package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-memdb"

	"flotilla/api"
	"flotilla/scheduler/state"
)

func (s *Server) Rollout(ctx context.Context, namespace, name string, q api.QueryOptions) (*api.Rollout, uint64, error) {
	var out *api.Rollout
	index, err := s.blocking(ctx, q, func(ws state.WatchSet, snap *state.Snapshot) (uint64, error) {
		svc := snap.Service(ws, namespace, name)
		out = nil
		if svc == nil {
			return snap.Index("services"), nil
		}
		out = snap.Rollout(ws, namespace, name)
		if out == nil {
			// A service whose first evaluation has not run yet.
			out = &api.Rollout{Namespace: namespace, Service: name, Strategy: svc.Spec.Rollout.Strategy, Phase: api.PhaseProgressing,
				Revision: svc.Revision, StableRevision: svc.Revision, Weights: map[int]int{}, Reason: "waiting for the first evaluation"}
			return svc.ModifyIndex, nil
		}
		return max(out.ModifyIndex, svc.ModifyIndex), nil
	})
	if err == nil && out == nil {
		err = fmt.Errorf("service %s/%s: %w", namespace, name, api.ErrNotFound)
	}
	if out != nil && out.AB != nil && out.AB.Sketches != nil {
		// The merged sketches are the controller's (up to 64 KiB): readers
		// get the counts, in AB.Last.
		r, ab := *out, *out.AB
		ab.Sketches = nil
		r.AB = &ab
		out = &r
	}
	return out, index, err
}

func (s *Server) RolloutAction(ctx context.Context, namespace, name, action string, body api.RolloutAction) (api.WriteResponse, error) {
	switch action {
	case api.ActionPromote, api.ActionPause, api.ActionResume, api.ActionAbort, api.ActionRetry:
	default:
		return api.WriteResponse{}, &api.FieldError{Field: "action", Message: fmt.Sprintf("unknown rollout action %q (promote, pause, resume, abort, retry, undo)", action)}
	}
	if body.Full && action != api.ActionPromote {
		return api.WriteResponse{}, &api.FieldError{Field: "full", Message: "only used by promote"}
	}
	_, index, err := s.apply(state.CmdRolloutAction, &state.RolloutAction{Namespace: namespace, Name: name, Action: action, Full: body.Full,
		VIPPool: s.cfg.VIPCIDR, RequestID: api.RequestIDFrom(ctx), Time: s.now()})
	return api.WriteResponse{Index: index}, err
}

// UndoRollout rolls out an older revision's spec again, as a new revision,
// with the service's current replica count and rollout strategy.
func (s *Server) UndoRollout(ctx context.Context, namespace, name string, req api.UndoRequest) (api.ApplyResponse, error) {
	snap := s.store.Snapshot()
	svc := snap.Service(nil, namespace, name)
	if svc == nil {
		return api.ApplyResponse{}, fmt.Errorf("service %s/%s: %w", namespace, name, api.ErrNotFound)
	}
	to := req.ToRevision
	if to == 0 {
		// The revision before the one that serves.
		revs := snap.Revisions(nil, namespace, name)
		for i := len(revs) - 1; i >= 0; i-- {
			if revs[i].Revision < svc.Revision {
				to = revs[i].Revision
				break
			}
		}
		if to == 0 {
			return api.ApplyResponse{}, &api.FieldError{Field: "toRevision", Message: fmt.Sprintf("service %s/%s has no revision before %d", namespace, name, svc.Revision)}
		}
	}
	if to == svc.Revision {
		return api.ApplyResponse{}, &api.FieldError{Field: "toRevision", Message: fmt.Sprintf("revision %d is the current revision", to)}
	}
	rev := snap.Revision(namespace, name, to)
	if rev == nil {
		var kept []int
		for _, r := range snap.Revisions(nil, namespace, name) {
			kept = append(kept, r.Revision)
		}
		return api.ApplyResponse{}, &api.FieldError{Field: "toRevision", Message: fmt.Sprintf("revision %d is not kept (kept: %v)", to, kept)}
	}
	spec := rev.Spec
	replicas := svc.Replicas
	spec.Replicas = &replicas
	spec.Rollout = svc.Spec.Rollout
	spec.Autoscale = svc.Spec.Autoscale
	resp, err := s.ApplyService(ctx, spec)
	if err != nil {
		return resp, fmt.Errorf("undo to revision %d: %w", to, err)
	}
	if !resp.Changed {
		return resp, fmt.Errorf("revision %d has the same spec as the current revision %d: %w", to, svc.Revision, api.ErrConflict)
	}
	return resp, nil
}

// rolloutTimers evaluates a service when its rollout asked to be looked at
// again (a pause ends, an analysis is due, a replica has been ready for
// minReady, blue scales down). The times are in Raft, so a new leader
// picks them up where the old one left them.
func (s *Server) rolloutTimers(ctx context.Context) {
	fired := map[string]time.Time{}
	for {
		ws := memdb.NewWatchSet()
		snap := s.store.Snapshot()
		ws.Add(snap.Abandoned)
		now := s.cfg.Clock.Now()
		var next time.Time
		for _, r := range snap.Rollouts(ws) {
			key := r.Namespace + "/" + r.Service
			if !(r.Active() || r.Ramping()) || r.RecheckAt.IsZero() || fired[key].Equal(r.RecheckAt) {
				continue
			}
			if r.RecheckAt.After(now) {
				if next.IsZero() || r.RecheckAt.Before(next) {
					next = r.RecheckAt
				}
				continue
			}
			_, _, err := s.apply(state.CmdEvaluate, &state.Evaluate{Namespace: r.Namespace, Name: r.Service, Trigger: api.TriggerRolloutTimer, Time: s.now()})
			switch {
			case err == nil, errors.Is(err, api.ErrNotFound):
				fired[key] = r.RecheckAt
			case ctx.Err() != nil:
				return
			default:
				s.cfg.Logger.Warn("rollout timer", "service", key, "err", err)
				if next.IsZero() || now.Add(time.Second).Before(next) {
					next = now.Add(time.Second)
				}
			}
		}
		var timer <-chan time.Time
		if !next.IsZero() {
			timer = s.cfg.Clock.After(next.Sub(now))
		}
		wctx, cancel := context.WithCancel(ctx)
		select {
		case <-ctx.Done():
			cancel()
			return
		case <-ws.WatchCh(wctx):
		case <-timer:
		}
		cancel()
	}
}
