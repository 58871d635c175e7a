package scheduler

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"flotilla/api"
	"flotilla/network/proxy/shadowdiff"
	"flotilla/scheduler/rollout"
)

// Shadow rollouts' comparison figures on the leader. Every proxy keeps one
// shadowdiff.Aggregator per shadow rollout (service and candidate
// revision), cumulative since it began mirroring, and sends its Report
// with the candidate revision's traffic report every second. The leader
// keeps each node's newest report per rollout (a report replaces the one
// before; it does not add to it) and merges them when the controller or
// `rollout diffs` asks. Like the traffic book it lives in memory, not in
// Raft: the reports are cumulative, so a new leader has the whole picture
// again from the proxies' next reports, a second after it takes over;
// what the rollout decided from them (analysis runs, the summary in
// Rollout.Shadow) is in Raft.
//
// Bounds: one report per node and rollout, each bounded by shadowdiff's
// limits (endpoints, fields per endpoint, examples per field); a rollout
// whose reports stopped coming is forgotten after shadowForget, and the
// proxies stop reporting one shadowKeep (2m) after its mirror leaves
// their route table.

// shadowForget is how long the leader keeps a shadow rollout's figures
// after the newest report of it.
const shadowForget = 10 * time.Minute

type shadowBookKey struct {
	namespace, name string
	revision        int    // the candidate
	rollout         uint64 // its rollout's StartIndex (Mirror.Rollout)
}

// shadowBook keeps the proxies' shadow reports on the leader.
type shadowBook struct {
	mu    sync.Mutex
	byKey map[shadowBookKey]*shadowEntry
	swept time.Time
}

// shadowEntry is one shadow rollout's reports, by node.
type shadowEntry struct {
	nodes   map[string]*nodeDiffs
	updated time.Time
}

// nodeDiffs is one node's figures: its proxy's newest report and, when
// the proxy restarted (its counts went down), what it had counted before.
type nodeDiffs struct {
	latest  api.DiffReport
	carried *api.DiffReport
}

func newShadowBook() *shadowBook { return &shadowBook{byKey: map[shadowBookKey]*shadowEntry{}} }

// record takes the shadow reports out of one node's traffic reports. A
// nil book (a server built without one, in tests) keeps nothing.
func (b *shadowBook) record(node string, reports []api.TrafficReport, now time.Time) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range reports {
		if r.Shadow == nil {
			continue
		}
		k := shadowBookKey{r.Namespace, r.Service, r.Revision, r.ShadowRollout}
		e := b.byKey[k]
		if e == nil {
			e = &shadowEntry{nodes: map[string]*nodeDiffs{}}
			b.byKey[k] = e
		}
		e.updated = now
		n := e.nodes[node]
		if n == nil {
			e.nodes[node] = &nodeDiffs{latest: *r.Shadow}
			continue
		}
		if r.Shadow.Comparisons < n.latest.Comparisons || r.Shadow.Mirrored < n.latest.Mirrored {
			// The proxy started counting again: what it counted before
			// stays counted.
			carried := n.latest
			if n.carried != nil {
				carried = shadowdiff.Merge(shadowdiff.Options{}, *n.carried, n.latest)
			}
			n.carried = &carried
		}
		n.latest = *r.Shadow
	}
	if now.Sub(b.swept) >= time.Minute {
		b.swept = now
		for k, e := range b.byKey {
			if now.Sub(e.updated) > shadowForget {
				delete(b.byKey, k)
			}
		}
	}
}

// merged is one shadow rollout's figures (of revision, begun at
// rolloutStart: an earlier rollout of a revision of that number, before
// the service was deleted and created again, is not this one) summed
// over the nodes, with the noise rule applied to the sums (opts:
// shadowdiff.Options; NoBaseline when the rollout learns no noise); ok is
// false when no proxy reported any.
func (b *shadowBook) merged(namespace, name string, revision int, rolloutStart uint64, opts shadowdiff.Options) (r api.DiffReport, nodes int, updated time.Time, ok bool) {
	if b == nil {
		return api.DiffReport{}, 0, time.Time{}, false
	}
	b.mu.Lock()
	e := b.byKey[shadowBookKey{namespace, name, revision, rolloutStart}]
	var reports []api.DiffReport
	if e != nil {
		names := make([]string, 0, len(e.nodes))
		for node := range e.nodes {
			names = append(names, node)
		}
		sort.Strings(names) // examples come in the same order every time
		for _, node := range names {
			n := e.nodes[node]
			if n.carried != nil {
				reports = append(reports, *n.carried)
			}
			reports = append(reports, n.latest)
		}
		nodes, updated = len(e.nodes), e.updated
	}
	b.mu.Unlock()
	if e == nil {
		return api.DiffReport{}, 0, time.Time{}, false
	}
	return shadowdiff.Merge(opts, reports...), nodes, updated, true
}

// shadowOptions is the noise rule of a service's shadow rollout: without
// a baseline (rollout.ShadowBaseline), nothing is noise.
func shadowOptions(svc *api.Service) shadowdiff.Options {
	return shadowdiff.Options{NoBaseline: rollout.ShadowBaseline(svc) == 0}
}

// shadowDiffs is what the rollout controller reads: the merged figures of
// a service's shadow rollout r, nil when there are none.
func (s *Server) shadowDiffs(svc *api.Service, ro *api.Rollout) *api.DiffReport {
	r, _, _, ok := s.shadows.merged(svc.Namespace, svc.Name, ro.Revision, ro.StartIndex, shadowOptions(svc))
	if !ok {
		return nil
	}
	return &r
}

// RolloutDiffs is the merged comparison figures of a service's newest
// rollout, which must be a shadow rollout.
func (s *Server) RolloutDiffs(ctx context.Context, namespace, name string) (*api.RolloutDiffs, error) {
	if !s.IsLeader() {
		return nil, fmt.Errorf("diffs of %s/%s: %w", namespace, name, api.ErrNoLeader)
	}
	snap := s.store.Snapshot()
	svc := snap.Service(nil, namespace, name)
	if svc == nil {
		return nil, fmt.Errorf("service %s/%s: %w", namespace, name, api.ErrNotFound)
	}
	r := snap.Rollout(nil, namespace, name)
	if r == nil || r.Strategy != api.RolloutShadow {
		strategy := svc.Spec.Rollout.Strategy
		if r != nil {
			strategy = r.Strategy
		}
		return nil, fmt.Errorf("service %s/%s: its newest rollout is %s, not shadow: only shadow rollouts compare answers: %w",
			namespace, name, strategy, api.ErrConflict)
	}
	out := &api.RolloutDiffs{Namespace: namespace, Service: name, Revision: r.Revision, StableRevision: r.StableRevision, Phase: r.Phase,
		Report: api.DiffReport{Endpoints: []api.DiffEndpoint{}}}
	// The rollout's settings are its revision's (a newer apply superseded
	// it), with the service's replica count.
	of := *svc
	if svc.Revision != r.Revision {
		if rev := snap.Revision(namespace, name, r.Revision); rev != nil {
			of.Spec = rev.Spec
		}
	}
	out.Baseline = rollout.ShadowBaseline(&of)
	if report, nodes, updated, ok := s.shadows.merged(namespace, name, r.Revision, r.StartIndex, shadowOptions(&of)); ok {
		out.Report, out.Nodes, out.Updated = report, nodes, updated
	}
	return out, nil
}
