package rollout

import (
	"flotilla/api"
)

// Preview name suffixes: SERVICE-preview reaches the green revision of a
// blue-green rollout, SERVICE-canary the new revision of a canary.
const (
	PreviewSuffix = "-preview"
	CanarySuffix  = "-canary"
)

// Routes is the route table the proxies apply for the service's own VIP.
// While a ramped rollout runs (forward, or back after an abort or a
// rollback, or frozen half-way) any ready replica serves, as in a Kubernetes rolling update: the table is empty
// and the proxies spread over every ready endpoint. Otherwise the split
// follows the rollout's weights; a sticky canary keeps each client on the
// revision it was first given.
func Routes(svc *api.Service, r *api.Rollout) api.RouteTable {
	if r == nil || r.Revision != svc.Revision {
		return api.RouteTable{Split: []api.WeightedBackend{{Backend: svc.Revision, Weight: 100}}}
	}
	if r.Strategy == api.RolloutRamped && r.Ramping() {
		// Ramping either way (or frozen half-way): any ready replica.
		return api.RouteTable{Split: []api.WeightedBackend{}}
	}
	t := api.RouteTable{Split: []api.WeightedBackend{}}
	for _, rev := range revisions(r.Weights) {
		if w := r.Weights[rev]; w > 0 {
			t.Split = append(t.Split, api.WeightedBackend{Backend: rev, Weight: w})
		}
	}
	if r.Active() && r.Strategy == api.RolloutCanary && svc.Spec.Rollout.Canary != nil && svc.Spec.Rollout.Canary.Sticky {
		t.Sticky = &api.StickyRoute{Cookie: StickyCookie(svc.Name)}
	}
	return shadowRoutes(svc, r, abRoutes(svc, r, t))
}

// StickyCookie is the cookie that keeps a client on its revision.
func StickyCookie(service string) string { return "flotilla-" + service }

// Preview is the extra name a running rollout gives its new revision
// (SERVICE-preview for blue-green, SERVICE-canary for canary), with its
// own VIP; ok is false when there is none.
func Preview(svc *api.Service, r *api.Rollout) (name string, ok bool) {
	if r == nil || !r.Active() || r.PreviewVIP == "" || r.Revision != svc.Revision {
		return "", false
	}
	switch r.Strategy {
	case api.RolloutBlueGreen:
		return svc.Name + PreviewSuffix, true
	case api.RolloutCanary:
		return svc.Name + CanarySuffix, true
	}
	return "", false
}

// NeedsPreview reports whether a rollout of this strategy gets a preview
// name (and so a VIP).
func NeedsPreview(strategy string) bool {
	return strategy == api.RolloutBlueGreen || strategy == api.RolloutCanary
}
