package scheduler

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/internal/sketch"
)

// abReport is one proxy's report of one variant: users from..to-1 visited,
// the first converted of them converted.
func abReport(t testing.TB, salt string, rev, from, to, converted int) api.TrafficReport {
	t.Helper()
	var v, c sketch.HyperLogLog
	for i := from; i < to; i++ {
		h := uint64(rev)<<40 | uint64(i)
		v.Add(h)
		if i < from+converted {
			c.Add(h)
		}
	}
	vb, _ := v.MarshalBinary()
	cb, _ := c.MarshalBinary()
	return api.TrafficReport{Namespace: "default", Service: "web", Revision: rev, AB: &api.ABReport{Salt: salt, Visitors: vb, Converted: cb}}
}

// The book keeps the union of every proxy's sketches: a user seen by two
// proxies counts once, a report sent again or a restarted proxy's smaller
// one takes nothing away.
func TestABBookKeepsTheUnionOfTheProxiesSketches(t *testing.T) {
	b := newABBook()
	now := time.Unix(1000, 0)
	b.lead(now)
	b.record([]api.TrafficReport{abReport(t, "s", 1, 0, 300, 30), abReport(t, "s", 2, 0, 100, 20)}, now)
	b.record([]api.TrafficReport{abReport(t, "s", 1, 200, 500, 0)}, now)    // another proxy: 100 users in common
	b.record([]api.TrafficReport{abReport(t, "s", 1, 0, 300, 30)}, now)     // sent again
	b.record([]api.TrafficReport{abReport(t, "s", 1, 0, 10, 1)}, now)       // a restarted proxy
	b.record([]api.TrafficReport{abReport(t, "other", 1, 0, 1000, 0)}, now) // another experiment
	got, complete := b.visitors("default", "web", "s", now)
	if complete {
		t.Error("complete at once after becoming leader")
	}
	if v, c := got[1].Visitors.Count(), got[1].Converted.Count(); v < 495 || v > 505 || c != 30 {
		t.Errorf("revision 1: %d visitors, %d converted; want 500 and 30", v, c)
	}
	if v, c := got[2].Visitors.Count(), got[2].Converted.Count(); v < 98 || v > 102 || c != 20 {
		t.Errorf("revision 2: %d visitors, %d converted; want 100 and 20", v, c)
	}
	if _, complete := b.visitors("default", "web", "s", now.Add(abWarmup)); !complete {
		t.Error("not complete after the warm-up")
	}
	// What the controller got is a copy.
	got[1].Visitors.Add(12345)
	again, _ := b.visitors("default", "web", "s", now)
	if again[1].Visitors.Count() != got[1].Visitors.Count()-1 {
		t.Error("the controller's copy shares registers with the book")
	}
}

func TestABBookIsBounded(t *testing.T) {
	b := newABBook()
	now := time.Unix(1000, 0)
	for i := range abMaxExperiments + 10 {
		b.record([]api.TrafficReport{abReport(t, fmt.Sprint(i), 1, 0, 1, 0)}, now.Add(time.Duration(i)*time.Millisecond))
	}
	if n := len(b.experiments); n != abMaxExperiments {
		t.Errorf("%d experiments kept, want %d", n, abMaxExperiments)
	}
	if got, _ := b.visitors("default", "web", "0", now); len(got) != 0 {
		t.Error("the least recently reported experiment was kept")
	}
	b.record([]api.TrafficReport{abReport(t, "late", 1, 0, 1, 0)}, now.Add(abForget+time.Hour))
	if n := len(b.experiments); n != 1 {
		t.Errorf("%d experiments kept after %s of silence, want the one reporting", n, abForget)
	}
	if n := b.record([]api.TrafficReport{{Namespace: "default", Service: "web", Revision: 1, AB: &api.ABReport{Salt: "x", Visitors: []byte("junk")}}}, now); n != 1 {
		t.Errorf("%d reports refused, want the one that does not decode", n)
	}
}

// A leader killed during an A/B experiment: the new one starts from the
// counts and looks stored at the last analysis (its proxies report nothing
// at first), never tests a look twice, and finishes the experiment when
// more figures come.
func TestABKeepsItsLooksAndCountsAfterALeaderChange(t *testing.T) {
	c := startCluster(t, 3, nil)
	waitLeader(t, c)
	client := clientFor(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	registerNodes(t, ctx, client, 3, api.Resources{CPU: 4000, Memory: 4 << 30})
	runFakeAgents(ctx, client, 3)

	rollout := "ports: [{name: http, port: 80, protocol: http}]\nrollout: {strategy: ab, ab: {split: 50%, goal: {header: X-Conversion}, minSample: 400, autoPromote: true, interval: 1s}}\n"
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
	var salt string
	eventually(t, 20*time.Second, "the experiment to start", func() bool {
		r := rolloutOf(t, ctx, client, "web")
		if r.Revision == 2 && r.AB != nil && !r.StepTime.IsZero() {
			salt = r.AB.Salt
		}
		return salt != ""
	})

	// Proxies report, as agents do, until told to stop: 500 users per
	// variant, 10% against 11% converted: look 1 (at 400) finds nothing.
	report := func(node string, reports ...api.TrafficReport) (stop func()) {
		rctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rctx.Err() == nil {
				client.ReportTraffic(rctx, node, reports) // a leader change: the next one goes
				select {
				case <-rctx.Done():
				case <-time.After(200 * time.Millisecond): // as agents report: a pace, not synchronisation
				}
			}
		}()
		return func() { cancel(); wg.Wait() }
	}
	stop := report("n1", abReport(t, salt, 1, 0, 500, 50), abReport(t, salt, 2, 0, 500, 55))
	var before *api.ABAnalysis
	eventually(t, 30*time.Second, "look 1 tested", func() bool {
		r := rolloutOf(t, ctx, client, "web")
		if r.AB != nil && r.AB.LooksDone == 1 && r.AB.Last != nil && r.AB.Last.A.Visitors >= 490 {
			before = r.AB.Last
		}
		return before != nil
	})
	stop()
	if before.Verdict != "inconclusive" {
		t.Fatalf("look 1: %+v, want no verdict", before)
	}

	old := waitLeader(t, c)
	if err := c.Kill(old.Name()); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	// Nobody reports: the new leader's book is empty, the stored sketches
	// are not.
	var after *api.ABAnalysis
	eventually(t, 30*time.Second, "an analysis by the new leader", func() bool {
		r := rolloutOf(t, ctx, client, "web")
		if r.AB != nil && r.AB.Last != nil && r.AB.Last.Time.After(killed) {
			after = r.AB.Last
			if r.AB.LooksDone != 1 {
				t.Fatalf("looks done %d after the leader change, want 1", r.AB.LooksDone)
			}
		}
		return after != nil
	})
	if after.A.Visitors < before.A.Visitors || after.B.Visitors < before.B.Visitors || after.B.Conversions < before.B.Conversions {
		t.Fatalf("the counts went back after the leader change: %+v, before %+v", after, before)
	}
	if after.Verdict != "inconclusive" || !strings.Contains(after.Message, "look 2 is due at 800") {
		t.Fatalf("first analysis of the new leader %+v, want look 2 still ahead", after)
	}

	// More visitors through another proxy: 1000 per variant, B far
	// better: look 2 finds it.
	stop = report("n2", abReport(t, salt, 1, 0, 1000, 100), abReport(t, salt, 2, 0, 1000, 165))
	defer stop()
	eventually(t, 30*time.Second, "B promoted and the rollout completed", func() bool {
		r := rolloutOf(t, ctx, client, "web")
		return r.Revision == 2 && r.Phase == api.PhaseCompleted
	})
	events, _, err := client.Events(ctx, api.EventFilter{Namespace: "default", Service: "web"}, api.QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	looks := map[string]int{}
	verdicts := 0
	for _, e := range events {
		switch e.Type {
		case api.EventAnalysisRun:
			for _, look := range []string{"look 1 of 3", "look 2 of 3"} {
				if strings.Contains(e.Message, look) {
					looks[look]++
				}
			}
		case "ABVerdict":
			verdicts++
			if !strings.Contains(e.Message, "B wins") {
				t.Errorf("verdict %q, want B wins", e.Message)
			}
		}
	}
	if looks["look 1 of 3"] != 1 || looks["look 2 of 3"] != 1 || verdicts != 1 {
		t.Errorf("looks tested %v and %d verdicts, want each look once and one verdict", looks, verdicts)
	}
}
