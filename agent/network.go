package agent

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
)

// endpointsLoop long-polls every service's endpoints and routes and hands
// them to the node's DNS server and proxy: a replica that turns ready is
// routable here one watch round trip later.
func (a *Agent) endpointsLoop(ctx context.Context) {
	routes := a.routes
	var index uint64
	var vips []netip.Addr // as last made local; endpoint changes mostly leave them alone
	vipsSet := false
	for {
		call, cancel := clock.WithTimeout(ctx, a.cfg.Clock, 35*time.Second)
		list, next, err := a.servers.Endpoints(call, api.QueryOptions{Index: index, Wait: 30 * time.Second})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			a.cfg.Logger.Warn("watch endpoints", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-a.cfg.Clock.After(time.Second):
			}
			continue
		}
		index = next
		services := make([]api.ServiceEndpoints, len(list))
		for i, se := range list {
			services[i] = *se
		}
		if a.dns != nil {
			a.dns.Update(services)
		}
		if a.cfg.Network != nil {
			// The proxy can own a VIP only once it is a local address.
			if want := serviceVIPs(services); !vipsSet || !slices.Equal(want, vips) {
				if err := a.cfg.Network.SetVIPs(want); err != nil {
					a.cfg.Logger.Warn("service VIPs", "err", err)
				} else {
					vips, vipsSet = want, true
				}
			}
		}
		if a.proxy != nil {
			// A service the proxy refused in part (a VIP it could not
			// bind) still has its route table applied.
			if err := a.proxy.Update(services); err != nil {
				a.cfg.Logger.Warn("proxy update", "err", err)
			}
			routes.record(services, a.cfg.Clock.Now())
		}
	}
}

// appliedRoutes remembers, per service (namespace/name), the endpoints
// version the node's proxy uses and when it started using it, so that route
// propagation can be timed from outside (GET /v1/agent/routes, flotilla
// bench routes).
type appliedRoutes struct {
	mu       sync.Mutex
	services map[string]AppliedRoute
}

// record notes one update the proxy applied at now. A service whose
// version did not change keeps the time it was first applied: the list
// comes again whenever any service changes.
func (r *appliedRoutes) record(services []api.ServiceEndpoints, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	listed := make(map[string]bool, len(services))
	for _, se := range services {
		key := se.Namespace + "/" + se.Name
		listed[key] = true
		cur, ok := r.services[key]
		if ok && cur.ModifyIndex == se.ModifyIndex {
			continue
		}
		next := AppliedRoute{RouteVersion: RouteVersion{ModifyIndex: se.ModifyIndex, AppliedAt: now}}
		if ok {
			next.Previous = append(cur.Previous, cur.RouteVersion)
			if n := len(next.Previous); n > maxPreviousRoutes {
				next.Previous = slices.Clone(next.Previous[n-maxPreviousRoutes:])
			}
		}
		r.services[key] = next
	}
	for key := range r.services {
		if !listed[key] {
			delete(r.services, key)
		}
	}
}

// maxPreviousRoutes bounds the earlier versions kept per service.
const maxPreviousRoutes = 16

func (r *appliedRoutes) view() RoutesView {
	v := RoutesView{Services: map[string]AppliedRoute{}}
	if r == nil {
		return v
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, route := range r.services {
		route.Previous = slices.Clone(route.Previous)
		v.Services[key] = route
	}
	return v
}

func newAppliedRoutes() *appliedRoutes {
	return &appliedRoutes{services: map[string]AppliedRoute{}}
}

// trafficInterval is how often the proxy's figures go to the servers.
const trafficInterval = time.Second

// trafficLoop reports the proxy's figures to the servers, where canary
// analysis and autoscaling read them.
func (a *Agent) trafficLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.cfg.Clock.After(trafficInterval):
		}
		reports := a.proxy.Traffic()
		if len(reports) == 0 {
			continue
		}
		call, cancel := clock.WithTimeout(ctx, a.cfg.Clock, 2*time.Second)
		err := a.servers.ReportTraffic(call, a.cfg.Name, reports)
		cancel()
		if err != nil && ctx.Err() == nil {
			a.cfg.Logger.Debug("report traffic", "err", err)
		}
	}
}

// serviceWaker is the control-plane call that gives a service at zero
// replicas one again; *api.Client provides it. It is asked for apart from
// Servers so that fakes without it keep working (their proxies then hold
// requests without asking).
type serviceWaker interface {
	WakeService(ctx context.Context, namespace, name string) (api.WriteResponse, error)
}

// wakeFunc is the proxy's Wake: the servers' WakeService, or nil.
func wakeFunc(servers Servers) func(ctx context.Context, namespace, name string) error {
	w, ok := servers.(serviceWaker)
	if !ok {
		return nil
	}
	return func(ctx context.Context, namespace, name string) error {
		_, err := w.WakeService(ctx, namespace, name)
		return err
	}
}
