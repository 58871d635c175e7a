package scheduler

import (
	"context"
	"fmt"

	"flotilla/api"
	"flotilla/scheduler/autoscale"
	"flotilla/scheduler/state"
)

// WakeService gives a service that scaled to zero its first replica back
// (max(1, min)) because a proxy holds a request for it. Waking a service
// that has replicas writes nothing and answers Index 0; a service that
// does not scale to zero is refused.
func (s *Server) WakeService(ctx context.Context, namespace, name string) (api.WriteResponse, error) {
	// One wake at a time, so that a burst of proxies asking for the same
	// service makes one Raft write: the first sees zero replicas and
	// scales, the others then see the replica and write nothing.
	s.wakeMu.Lock()
	defer s.wakeMu.Unlock()
	if err := ctx.Err(); err != nil {
		return api.WriteResponse{}, err
	}
	svc := s.store.Snapshot().Service(nil, namespace, name)
	if svc == nil {
		return api.WriteResponse{}, fmt.Errorf("service %s/%s: %w", namespace, name, api.ErrNotFound)
	}
	a := svc.Spec.Autoscale
	if a == nil || !autoscale.ScalesToZero(*a) {
		return api.WriteResponse{}, &api.FieldError{Field: "spec.autoscale.min",
			Message: "the service does not scale to zero (autoscale min 0 with metric inflight or rps); nothing to wake"}
	}
	if svc.Replicas > 0 {
		return api.WriteResponse{}, nil
	}
	to := max(1, a.Min)
	_, index, err := s.apply(state.CmdScaleService, &state.ScaleService{Namespace: namespace, Name: name, Replicas: to,
		Reason: "woken from zero: a proxy holds a request for it", Time: s.now(), RequestID: api.RequestIDFrom(ctx)})
	if err != nil {
		return api.WriteResponse{}, fmt.Errorf("wake service %s/%s: %w", namespace, name, err)
	}
	s.cfg.Logger.Info("woke service from zero", "service", svc.Key(), "replicas", to)
	return api.WriteResponse{Index: index}, nil
}

// recentRequests is what the scale-to-zero rule reads as activity: the
// requests counted over a window plus those in flight now, which include
// the requests proxies hold for a service at zero.
func recentRequests(figures []api.TrafficFigures) float64 {
	total := 0.0
	for _, f := range figures {
		total += float64(f.Requests) + float64(f.InFlight)
	}
	return total
}
