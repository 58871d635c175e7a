package scenario

import (
	"context"
	"strings"
	"testing"
	"time"

	"flotilla/api"
)

func count(s string) *Count {
	c, err := ParseCount(s)
	if err != nil {
		panic(err)
	}
	return &c
}

// TestConditionsSayWhatTheyWantAndWhatTheySaw: each kind of condition
// against a cluster in a known state, holding or not, with the words a
// failed expectation prints.
func TestConditionsSayWhatTheyWantAndWhatTheySaw(t *testing.T) {
	f := newFakeCluster()
	f.allocs = []*api.Allocation{
		alloc("a1", "n1", true), alloc("a2", "n1", true), alloc("a3", "n3", false),
		{ID: "old", Service: "web", Namespace: "default", Revision: 1, Node: "n2", DesiredStatus: api.DesiredStop, Status: api.AllocFailed, Restarts: 2},
	}
	f.allocs[0].Restarts = 1
	f.services["default/web"] = &api.Service{Name: "web", Namespace: "default", Revision: 2, Replicas: 3, RunningReplicas: 3, ReadyReplicas: 2,
		Health: "healthy", Unplaced: 1, PlacementFailure: "no node fits: insufficient cpu on 3 nodes",
		Autoscaled: &api.AutoscaleChange{From: 1, To: 3, Reason: "inflight 9.0 per replica over 6s, target 5 (panic)"}}
	f.rollouts["default/web"] = &api.Rollout{Phase: api.PhaseAborted, Revision: 2, StableRevision: 1, Step: 1, Steps: 3,
		Weights: map[int]int{1: 100}, Reason: "aborted after 2 failed analyses"}
	f.nodes = []*api.Node{{Name: "n2", Status: api.NodeDown, Eligible: true}}
	f.addEvent(api.Event{Type: api.EventNodeStatus, Node: "n2", Message: "node n2 is down: gossip: agent failed"})
	f.addEvent(api.Event{Type: api.EventAllocationsLost, Namespace: "default", Service: "web", Message: "2 allocations of default/web lost on n2; replacing"})
	f.addEvent(api.Event{Type: api.EventAllocationsLost, Namespace: "default", Service: "web", Message: "1 allocation of default/web lost on n3; replacing"})
	w := &world{cluster: f, since: 1, lostLeader: "s1"}

	cases := []struct {
		name string
		c    Condition
		ok   bool
		want string
		seen string
	}{
		{"allocations hold", Condition{Allocations: &AllocationsCondition{Service: "web", Running: count("3"), Ready: count("2"),
			PerNode: map[string]Count{"n1": Exactly(2), "n2": Exactly(0)}, Nodes: count("2"), Restarts: count("1"), Failed: count("1")}},
			true, "running 3, ready 2, running on n1 2, running on n2 0, on nodes 2, restarts 1, failed 1",
			"allocations of web: 3 running (n1 2, n3 1), 2 ready, 1 restart, 1 failed"},
		{"allocations per node differ", Condition{Allocations: &AllocationsCondition{Service: "web", PerNode: map[string]Count{"n1": Exactly(3)}}},
			false, "allocations of web: running on n1 3", "allocations of web: 3 running (n1 2, n3 1), 2 ready"},
		{"allocations of another revision", Condition{Allocations: &AllocationsCondition{Service: "web", Revision: 2, Running: count("1+")}},
			false, "allocations of web revision 2: running at least 1", "0 running (none)"},
		{"service holds", Condition{Service: &ServiceCondition{Name: "web", Replicas: count("3+"), Ready: count("2"), Revision: count("2"),
			Unplaced: count("1"), PlacementFailure: "insufficient cpu", Autoscaled: "(panic)"}},
			true, `replicas at least 3, ready 2, revision 2, unplaced 1, placement failure containing "insufficient cpu", last autoscaling containing "(panic)"`,
			"service web: replicas 3, 3 running, 2 ready, revision 2, healthy; 1 unplaced: no node fits"},
		{"service health differs", Condition{Service: &ServiceCondition{Name: "web", Health: "crash-looping"}},
			false, "service web: health crash-looping", "healthy"},
		{"no such service", Condition{Service: &ServiceCondition{Name: "api", Replicas: count("1")}},
			false, "service api: to exist", "service api: no such service"},
		{"rollout aborted", Condition{Rollout: &RolloutCondition{Service: "web", Phase: api.PhaseAborted, Revision: 2,
			Weights: map[string]Count{"1": Exactly(100), "2": Exactly(0)}, Reason: "failed analyses"}},
			true, "phase aborted, revision 2, reason containing", "aborted, revision 2 over 1, step 1/3, weights 1: 100%: aborted after 2 failed analyses"},
		{"rollout not completed", Condition{Rollout: &RolloutCondition{Service: "web", Phase: api.PhaseCompleted}},
			false, "rollout of web: phase completed", "aborted after 2 failed analyses"},
		{"events since the run began", Condition{Event: &EventCondition{Type: api.EventAllocationsLost, Service: "web", Count: count("2")}},
			true, "events (AllocationsLost of service web): 2", "events (AllocationsLost of service web): 2"},
		{"an event before the run does not count", Condition{Event: &EventCondition{Type: api.EventNodeStatus, Message: "n2 is down"}},
			false, `events (NodeStatusChanged saying "n2 is down"): at least 1`, "events (NodeStatusChanged saying \"n2 is down\"): 0"},
		{"an event not seen names the last that was", Condition{Event: &EventCondition{Type: api.EventAllocationsLost, Service: "web", Count: count("3+")}},
			false, "at least 3", "2, the last: 1 allocation of default/web lost on n3; replacing"},
		{"node down", Condition{Node: &NodeCondition{Name: "n2", Status: api.NodeDown, Eligible: new(true)}},
			true, "node n2: status down, eligible true", "node n2: down, eligible true, 0 allocations"},
		{"node unknown", Condition{Node: &NodeCondition{Name: "n9", Status: api.NodeReady}},
			false, "node n9: to exist", "not registered"},
		{"the same leader is not new", Condition{Leader: &LeaderCondition{New: true}},
			false, "a new leader, not s1", "leader s1"},
		{"every part must hold", Condition{Service: &ServiceCondition{Name: "web", Replicas: count("3")}, Node: &NodeCondition{Name: "n2", Status: api.NodeReady}},
			false, "node n2: status ready", "node n2: down"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := c.c.check(context.Background(), w)
			if err != nil {
				t.Fatal(err)
			}
			if v.ok != c.ok || !strings.Contains(v.want, c.want) || !strings.Contains(v.seen, c.seen) {
				t.Fatalf("got ok %t\n want: %s\n seen: %s\nwant ok %t, want containing %q, seen containing %q", v.ok, v.want, v.seen, c.ok, c.want, c.seen)
			}
		})
	}
	f.mu.Lock()
	f.leader = "s2"
	f.mu.Unlock()
	if v, _ := (&Condition{Leader: &LeaderCondition{New: true}}).check(context.Background(), w); !v.ok {
		t.Fatalf("s2 leads after s1 was lost: %+v", v)
	}
}

func TestLoadExpectationsJudgeTheFigures(t *testing.T) {
	running := loadFigures{Name: "bg", Requests: 400, Errors: 3, P99Ms: 12}
	done := running
	done.Done, done.Versions = true, map[string]int64{"v1": 300, "v2": 100}
	maxRate := Percentage{1}
	maxP99 := api.Duration(10 * time.Millisecond)
	cases := []struct {
		name string
		c    LoadCondition
		f    loadFigures
		ok   bool
		want string
	}{
		{"errors", LoadCondition{Errors: count("0")}, done, false, "load bg: errors 0"},
		{"some errors", LoadCondition{Errors: count("1+"), Requests: count("100+")}, running, true, "requests at least 100"},
		{"error rate", LoadCondition{MaxErrorRate: &maxRate}, done, true, "error rate at most 1%"},
		{"p99", LoadCondition{MaxP99: &maxP99}, done, false, "p99 at most 10ms"},
		{"versions", LoadCondition{Versions: map[string]Count{"v2": AtLeast(1), "v3": Exactly(0)}}, done, true, "answers from v2 at least 1, answers from v3 0"},
		{"versions are counted at the end", LoadCondition{Versions: map[string]Count{"v3": Exactly(0)}}, running, false, "answers from v3 0"},
	}
	for _, c := range cases {
		v := c.c.judge(c.f)
		if v.ok != c.ok || !strings.Contains(v.want, c.want) {
			t.Errorf("%s: ok %t want %q; wanted ok %t and %q", c.name, v.ok, v.want, c.ok, c.want)
		}
	}
	if s := done.String(); s != "400 requests, 3 errors, 0 rps, p50 0.0ms, p99 12ms, answers by version: v1 300, v2 100" {
		t.Errorf("figures read %q", s)
	}
}

// TestRolloutChecksShowTheFiguresBehindAVerdict: a check of an A/B
// verdict shows the experiment's table under what it saw, a check of a
// shadow rollout its comparisons; a failed one names the verdict it saw.
func TestRolloutChecksShowTheFiguresBehindAVerdict(t *testing.T) {
	f := newFakeCluster()
	f.rollouts["default/shop"] = &api.Rollout{Strategy: api.RolloutAB, Phase: api.PhaseCompleted, Revision: 2, StableRevision: 1, Step: 2, Steps: 2,
		Weights: map[int]int{2: 100}, AB: &api.ABState{Goal: "response header X-Conversion", LooksDone: 1, Verdict: "B wins", Last: &api.ABAnalysis{
			Verdict: "B wins", Look: 1, Alpha: 0.004, PValue: 0.0019, Lift: &api.ABEstimate{Value: 0.68, Low: 0.21, High: 1.35},
			A: api.ABVariantFigures{Revision: 1, Visitors: 467, Conversions: 49, Rate: api.ABEstimate{Value: 0.105, Low: 0.08, High: 0.136}},
			B: api.ABVariantFigures{Revision: 2, Visitors: 442, Conversions: 78, Rate: api.ABEstimate{Value: 0.176, Low: 0.144, High: 0.215}},
		}}}
	f.rollouts["default/api"] = &api.Rollout{Strategy: api.RolloutShadow, Phase: api.PhaseAborted, Revision: 3, StableRevision: 1, Step: 1, Steps: 2,
		Weights: map[int]int{1: 100}, Shadow: &api.ShadowStatus{Mirrored: 877, Comparisons: 877, NoiseComparisons: 444, Judged: 836, Differing: 112, DiffRate: 0.134,
			NoiseFields: []string{"body.hostname", "body.time"}, DiffFields: []api.ShadowFieldDiff{{Field: "GET / status", Counted: 112, DiffRate: 0.134}}}}
	w := &world{cluster: f}

	v, err := (&Condition{Rollout: &RolloutCondition{Service: "shop", Verdict: "B wins"}}).check(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	want := "rollout of shop: completed, revision 2 over 1, step 2/2, weights 2: 100%, A/B verdict B wins\n" +
		"A/B experiment (goal: response header X-Conversion), 1 of 3 looks done:\n" +
		"  A, revision 1: 467 visitors, 49 converted, 10.5% [8.0, 13.6]\n" +
		"  B, revision 2: 442 visitors, 78 converted, 17.6% [14.4, 21.5]\n" +
		"  lift +68% [+21, +135], p=0.0019 (level 0.004 at look 1): B wins"
	if !v.ok || v.text() != want {
		t.Fatalf("ok %t, text:\n%s\nwant:\n%s", v.ok, v.text(), want)
	}
	if v.figures["ab"] == nil {
		t.Fatalf("figures %v lack the analysis", v.figures)
	}
	v, _ = (&Condition{Rollout: &RolloutCondition{Service: "shop", Verdict: "A wins"}}).check(context.Background(), w)
	if v.ok || !strings.Contains(v.want, "A/B verdict A wins") || !strings.Contains(v.seen, "A/B verdict B wins") {
		t.Fatalf("a verdict not reached: %+v", v)
	}
	if v, _ := (&Condition{Rollout: &RolloutCondition{Service: "shop", Phase: api.PhaseCompleted}}).check(context.Background(), w); v.detail != "" {
		t.Fatalf("a check not about the verdict shows the table:\n%s", v.detail)
	}

	v, _ = (&Condition{Rollout: &RolloutCondition{Service: "api", Phase: api.PhaseAborted}}).check(context.Background(), w)
	want = "shadow: 877 mirrored, 877 compared, 444 noise comparisons, 836 judged, 112 differing: diff rate 13.4%\n" +
		"  noise: body.hostname, body.time\n" +
		"  counted against the new revision: GET / status (112, 13.4%)"
	if !v.ok || v.detail != want {
		t.Fatalf("ok %t, detail:\n%s\nwant:\n%s", v.ok, v.detail, want)
	}
}
