package scheduler

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/network/proxy/shadowdiff"
)

// shadowReport is one proxy's cumulative figures: comparisons of GET / of
// which judged were judged and differing differed on the status; the
// body's time always differs, as noise.
func shadowReport(comparisons, judged, differing int64) *api.DiffReport {
	fields := []api.DiffField{{Field: "body.time", CandidateDiffs: comparisons, NoiseDiffs: comparisons / 2}}
	if differing > 0 {
		fields = append(fields, api.DiffField{Field: "status", CandidateDiffs: differing, Counted: differing,
			Examples: []api.DiffExample{{Request: "GET /", Path: "status", Kind: "changed", Stable: "200", Candidate: "500"}}})
	}
	return &api.DiffReport{Mirrored: uint64(comparisons), Comparisons: comparisons, Judged: judged, Differing: differing, NoiseComparisons: comparisons / 2,
		Endpoints: []api.DiffEndpoint{{Endpoint: "GET /", Comparisons: comparisons, Judged: judged, Differing: differing,
			NoiseComparisons: comparisons / 2, Fields: fields}}}
}

// candidateReport is a node's traffic report with figures of the shadow
// rollout of revision 2 that began at index rollout.
func candidateReport(rollout uint64, r *api.DiffReport) []api.TrafficReport {
	return []api.TrafficReport{
		{Namespace: "default", Service: "web", Revision: 1, Requests: 100},
		{Namespace: "default", Service: "web", Revision: 2, Requests: uint64(r.Comparisons), Shadow: r, ShadowRollout: rollout},
	}
}

// The book keeps each node's newest report (a report replaces the one
// before), sums the nodes, applies the noise rule to the sums, and keeps
// what a restarted proxy counted before.
func TestShadowBookMergesTheNodesNewestReports(t *testing.T) {
	b := newShadowBook()
	now := time.Unix(1000, 0)
	opts := shadowdiff.Options{}
	b.record("n1", candidateReport(7, shadowReport(40, 20, 2)), now)
	b.record("n1", candidateReport(7, shadowReport(100, 80, 8)), now.Add(time.Second)) // cumulative: replaces
	b.record("n2", candidateReport(7, shadowReport(60, 40, 0)), now.Add(time.Second))
	r, nodes, updated, ok := b.merged("default", "web", 2, 7, opts)
	if !ok || nodes != 2 || !updated.Equal(now.Add(time.Second)) {
		t.Fatalf("merged: ok %v, %d nodes, updated %v", ok, nodes, updated)
	}
	if r.Comparisons != 160 || r.Judged != 120 || r.Differing != 8 || r.Mirrored != 160 || r.NoiseComparisons != 80 {
		t.Fatalf("merged %+v, want 160 comparisons, 120 judged, 8 differing", r)
	}
	if f := r.Endpoints[0].Fields; len(f) != 2 || f[0].Field != "status" || f[0].Counted != 8 || f[1].Field != "body.time" || !f[1].Noise {
		t.Fatalf("fields %+v, want status counted 8 and body.time noise by the rule applied to the sums", f)
	}
	if _, _, _, ok := b.merged("default", "web", 1, 7, opts); ok {
		t.Error("revision 1 has figures, want none: it is no candidate")
	}
	// An earlier rollout of a revision 2 (the service was deleted and
	// created again) is not this one, and this one is not it.
	old := candidateReport(3, shadowReport(500, 500, 250))
	b.record("n3", old, now.Add(time.Second))
	if again, nodes, _, _ := b.merged("default", "web", 2, 7, opts); nodes != 2 || again.Comparisons != 160 {
		t.Fatalf("an earlier rollout's report counted: %d nodes, %d comparisons", nodes, again.Comparisons)
	}
	if earlier, _, _, ok := b.merged("default", "web", 2, 3, opts); !ok || earlier.Comparisons != 500 {
		t.Fatalf("the earlier rollout's figures: %v, %d comparisons", ok, earlier.Comparisons)
	}

	// n1's proxy restarts: its new count starts at 10, the 100 before stay.
	b.record("n1", candidateReport(7, shadowReport(10, 10, 1)), now.Add(2*time.Second))
	b.record("n1", candidateReport(7, shadowReport(30, 30, 3)), now.Add(3*time.Second))
	r, _, _, _ = b.merged("default", "web", 2, 7, opts)
	if r.Comparisons != 190 || r.Differing != 11 {
		t.Fatalf("after n1 restarted: %d comparisons, %d differing; want 100+30+60 and 8+3", r.Comparisons, r.Differing)
	}

	// Reports that stop are forgotten after shadowForget.
	b.record("n3", nil, now.Add(3*time.Second+shadowForget+time.Minute))
	if _, _, _, ok := b.merged("default", "web", 2, 7, opts); ok {
		t.Error("figures still kept long after the last report")
	}
}

func TestRolloutDiffsAreOnlyForShadowRollouts(t *testing.T) {
	c := startCluster(t, 1, nil)
	waitLeader(t, c)
	client := clientFor(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := client.ApplyService(ctx, webSpec(t, "web", 1, "")); err != nil {
		t.Fatal(err)
	}
	_, err := client.RolloutDiffs(ctx, "default", "web")
	if !errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), "its newest rollout is ramped, not shadow") {
		t.Fatalf("diffs of a ramped rollout: %v, want a conflict naming the strategy", err)
	}
	if _, err := client.RolloutDiffs(ctx, "default", "nope"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("diffs of no service: %v, want not found", err)
	}
}

// A leader killed while a shadow rollout is analysed: the failure the old
// leader counted is in Raft, the new leader's book fills again from the
// proxies' next (cumulative) reports, and the second failure aborts it:
// two failed runs in all, as failureLimit says, not a fresh count.
func TestShadowKeepsItsFailuresAfterALeaderChange(t *testing.T) {
	c := startCluster(t, 3, nil)
	waitLeader(t, c)
	client := clientFor(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	registerNodes(t, ctx, client, 3, api.Resources{CPU: 4000, Memory: 4 << 30})
	runFakeAgents(ctx, client, 3)

	const rollout = "ports: [{name: http, port: 80, protocol: http}]\n" +
		"rollout: {strategy: shadow, shadow: {percent: 50%, compare: {status: true}}, analysis: {interval: 2s, maxDiffRate: 1%, failureLimit: 2}}\n"
	if _, err := client.ApplyService(ctx, webSpec(t, "web", 4, rollout+"args: [--version, v1]\n")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "revision 1 completed", func() bool {
		r := rolloutOf(t, ctx, client, "web")
		return r.Phase == api.PhaseCompleted && r.Revision == 1
	})
	if _, err := client.ApplyService(ctx, webSpec(t, "web", 4, rollout+"args: [--version, v2]\n")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the shadow to start", func() bool {
		r := rolloutOf(t, ctx, client, "web")
		return r.Revision == 2 && r.Step == 1 && !r.StepTime.IsZero()
	})
	se, err := client.ServiceEndpoints(ctx, "default", "web")
	if err != nil || len(se.Routes.Mirrors) != 1 || se.Routes.Mirrors[0].Backend != 2 || se.Routes.Mirrors[0].Rollout == 0 || se.Routes.Split[0].Backend != 1 {
		t.Fatalf("routes while shadowing: %+v, %v; want revision 1 serving and a mirror to 2", se, err)
	}

	// One proxy reports, as agents do, growing cumulative figures: 10% of
	// the judged comparisons differ on the status.
	var mu sync.Mutex
	var sent int64
	rctx, stopReports := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for rctx.Err() == nil {
			mu.Lock()
			sent += 100
			n := sent
			mu.Unlock()
			reports := candidateReport(se.Routes.Mirrors[0].Rollout, shadowReport(n, n, n/10))
			client.ReportTraffic(rctx, "n1", reports) // a leader change: the next one goes
			select {
			case <-rctx.Done():
			case <-time.After(200 * time.Millisecond): // as agents report: a pace, not synchronisation
			}
		}
	})
	defer func() { stopReports(); wg.Wait() }()

	eventually(t, 30*time.Second, "the first failed analysis", func() bool {
		return rolloutOf(t, ctx, client, "web").Failures == 1
	})
	old := waitLeader(t, c)
	if err := c.Kill(old.Name()); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	var aborted *api.Rollout
	eventually(t, 60*time.Second, "the abort by the new leader", func() bool {
		aborted = rolloutOf(t, ctx, client, "web")
		return aborted.Revision == 2 && aborted.Phase == api.PhaseAborted
	})
	if l := waitLeader(t, c); l.Name() == old.Name() {
		t.Fatalf("leader is still %s", old.Name())
	}
	if aborted.Failures != 2 || !strings.Contains(aborted.Reason, "aborted after 2 failed analyses") || !strings.Contains(aborted.Reason, "above maxDiffRate 1%") {
		t.Fatalf("aborted with %d failures: %s; want 2, the second by the new leader", aborted.Failures, aborted.Reason)
	}
	if s := aborted.Shadow; s == nil || s.Judged < 100 || s.DiffRate < 0.09 || s.DiffRate > 0.11 {
		t.Fatalf("shadow status %+v, want the proxies' figures (10%% differing)", s)
	}
	fails := 0
	for _, run := range aborted.Analysis {
		if run.Verdict == api.VerdictFail {
			fails++
		}
	}
	if last := aborted.Analysis[len(aborted.Analysis)-1]; fails != 2 || !last.Time.After(killed) {
		t.Errorf("%d failed runs kept, the last at %v (the leader was killed at %v); want 2, the second by the new leader: %+v",
			fails, last.Time, killed, aborted.Analysis)
	}
	eventually(t, 20*time.Second, "revision 2 stopped", func() bool {
		allocs, _, _ := client.Allocations(ctx, api.AllocFilter{Namespace: "default", Service: "web"}, api.QueryOptions{})
		for _, a := range allocs {
			if a.Revision == 2 && a.DesiredStatus == api.DesiredRun {
				return false
			}
		}
		return true
	})
	d, err := client.RolloutDiffs(ctx, "default", "web")
	if err != nil || d.Revision != 2 || d.StableRevision != 1 || d.Baseline != 50 || d.Report.Judged == 0 || d.Nodes != 1 {
		t.Fatalf("diffs after the abort: %+v, %v; want revision 2's figures from one node", d, err)
	}
}
