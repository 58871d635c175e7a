package scheduler

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"flotilla/api"
)

// runFakeAgents reports every allocation the nodes get as running and
// ready, and every stopped one as complete, as agents would, until ctx
// ends.
func runFakeAgents(ctx context.Context, client *api.Client, nodes int) {
	for i := 1; i <= nodes; i++ {
		node := fmt.Sprintf("n%d", i)
		go func() {
			var index uint64
			for ctx.Err() == nil {
				allocs, next, err := client.NodeAllocations(ctx, node, api.QueryOptions{Index: index, Wait: time.Second})
				if err != nil {
					time.Sleep(50 * time.Millisecond) // a leader change: try again shortly
					continue
				}
				index = next
				var batch api.AllocStatusBatch
				batch.Node = node
				for j, a := range allocs {
					switch {
					case a.DesiredStatus == api.DesiredRun && !a.Ready && !a.TerminalStatus():
						batch.Updates = append(batch.Updates, api.AllocStatusUpdate{ID: a.ID, Status: api.AllocRunning, Ready: true,
							Address: fmt.Sprintf("127.0.%d.%d:8080", len(node), j+2)})
					case a.DesiredStatus == api.DesiredStop && !a.TerminalStatus():
						batch.Updates = append(batch.Updates, api.AllocStatusUpdate{ID: a.ID, Status: api.AllocComplete})
					}
				}
				if len(batch.Updates) > 0 {
					if _, err := client.UpdateAllocations(ctx, batch); err != nil {
						index = 0 // report again on the next round
					}
				}
			}
		}()
	}
}

func rolloutOf(t *testing.T, ctx context.Context, client *api.Client, name string) *api.Rollout {
	t.Helper()
	r, _, err := client.Rollout(ctx, "default", name, api.QueryOptions{})
	if err != nil {
		return &api.Rollout{}
	}
	return r
}

// A leader killed while a canary pauses: the new leader goes on from the
// same step, so every step happens (and is told) exactly once.
func TestCanaryContinuesFromTheSameStepAfterALeaderChange(t *testing.T) {
	c := startCluster(t, 3, nil)
	waitLeader(t, c)
	client := clientFor(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	registerNodes(t, ctx, client, 3, api.Resources{CPU: 4000, Memory: 4 << 30})
	runFakeAgents(ctx, client, 3)

	rollout := "rollout: {strategy: canary, canary: {steps: [{weight: 20, pause: 3s}, {weight: 50, pause: 3s}, {weight: 100}]}}\n"
	if _, err := client.ApplyService(ctx, webSpec(t, "web", 5, rollout+"args: [--version, v1]\n")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "revision 1 completed", func() bool {
		r := rolloutOf(t, ctx, client, "web")
		return r.Phase == api.PhaseCompleted && r.Revision == 1
	})
	if _, err := client.ApplyService(ctx, webSpec(t, "web", 5, rollout+"args: [--version, v2]\n")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the first step's weight", func() bool {
		r := rolloutOf(t, ctx, client, "web")
		return r.Revision == 2 && r.Step == 1 && r.Weights[2] == 20
	})
	old := waitLeader(t, c)
	if err := c.Kill(old.Name()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the rollout to complete on the new leader", func() bool {
		r := rolloutOf(t, ctx, client, "web")
		return r.Revision == 2 && r.Phase == api.PhaseCompleted
	})
	if l := waitLeader(t, c); l.Name() == old.Name() {
		t.Fatalf("leader is still %s", old.Name())
	}
	events, _, err := client.Events(ctx, api.EventFilter{Namespace: "default", Service: "web"}, api.QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	steps := map[string]int{}
	var promoted, completed int
	for _, e := range events {
		switch e.Type {
		case api.EventRolloutStep:
			if strings.Contains(e.Message, "revision 2") {
				steps[e.Message]++
			}
		case api.EventRolloutPromoted:
			promoted++
		case api.EventRolloutCompleted:
			if strings.Contains(e.Message, "revision 2") {
				completed++
			}
		}
	}
	for _, want := range []string{"step 1/3: 20%", "step 2/3: 50%", "step 3/3: 100%"} {
		n := 0
		for msg, count := range steps {
			if strings.Contains(msg, want) {
				n += count
			}
		}
		if n != 1 {
			t.Errorf("%q told %d times, want once (steps: %v)", want, n, steps)
		}
	}
	if promoted != 1 || completed != 1 {
		t.Errorf("promoted %d and completed %d times, want once each", promoted, completed)
	}
	allocs, _, err := client.Allocations(ctx, api.AllocFilter{Namespace: "default", Service: "web"}, api.QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	running := map[int]int{}
	for _, a := range allocs {
		if a.DesiredStatus == api.DesiredRun {
			running[a.Revision]++
		}
	}
	if running[2] != 5 || len(running) != 1 {
		t.Fatalf("running per revision %v, want 5 of revision 2 only", running)
	}
}

// An abort is one write: the route table every proxy reads goes back to
// the stable revision in it, and the new revision's replicas stop.
func TestAbortMovesTrafficBackInOneWrite(t *testing.T) {
	c := startCluster(t, 1, nil)
	waitLeader(t, c)
	client := clientFor(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	registerNodes(t, ctx, client, 2, api.Resources{CPU: 4000, Memory: 4 << 30})
	runFakeAgents(ctx, client, 2)
	rollout := "rollout: {strategy: canary, canary: {steps: [{weight: 50, pause: manual}, {weight: 100}]}}\n"
	if _, err := client.ApplyService(ctx, webSpec(t, "web", 2, rollout)); err != nil {
		t.Fatal(err)
	}
	if _, err := client.ApplyService(ctx, webSpec(t, "web", 2, rollout+"args: [--version, v2]\n")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the manual pause at 50%", func() bool {
		r := rolloutOf(t, ctx, client, "web")
		return r.Phase == api.PhasePaused && r.Weights[2] == 50
	})
	se, err := client.ServiceEndpoints(ctx, "default", "web")
	if err != nil || len(se.Routes.Split) != 2 {
		t.Fatalf("routes before the abort: %+v, %v", se, err)
	}
	wr, err := client.RolloutAction(ctx, "default", "web", api.ActionAbort, api.RolloutAction{})
	if err != nil {
		t.Fatal(err)
	}
	se, err = client.ServiceEndpoints(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if se.ModifyIndex < wr.Index || len(se.Routes.Split) != 1 || se.Routes.Split[0].Backend != 1 || se.Routes.Split[0].Weight != 100 {
		t.Fatalf("routes at the abort's index %d: %+v (index %d), want revision 1 at 100%%", wr.Index, se.Routes, se.ModifyIndex)
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
	if _, err := client.RolloutAction(ctx, "default", "web", api.ActionPromote, api.RolloutAction{}); err == nil {
		t.Fatal("promote after an abort was accepted")
	}
}

// A field error of an apply is answered as it is, one line naming the
// field: the CLI, which names the service itself, printed "apply service
// default/web: apply service default/web: spec.rollout: ...".
func TestAnApplysFieldErrorIsAnsweredAsItIs(t *testing.T) {
	c := startCluster(t, 1, nil)
	waitLeader(t, c)
	client := clientFor(t, c)
	ctx := context.Background()
	canary := "rollout: {strategy: canary, canary: {steps: [{weight: 50, pause: manual}, {weight: 100}]}}\n"
	if _, err := client.ApplyService(ctx, webSpec(t, "web", 2, "args: [v1]\n"+canary)); err != nil {
		t.Fatal(err)
	}
	if _, err := client.ApplyService(ctx, webSpec(t, "web", 2, "args: [v2]\n"+canary)); err != nil {
		t.Fatal(err)
	}
	_, err := client.ApplyService(ctx, webSpec(t, "web", 2, "args: [v2]\n"+strings.Replace(canary, "weight: 50", "weight: 25", 1)))
	status, field := apiStatus(err)
	if status != http.StatusBadRequest || field != "spec.rollout" || !strings.HasPrefix(err.Error(), "spec.rollout: changed while the rollout of revision 2") {
		t.Fatalf("a rollout-only change during a rollout: %d %q %v, want 400 on spec.rollout, the message as it is", status, field, err)
	}
}

// A service whose newest revision's rollout was aborted is degraded, as
// Argo Rollouts' Degraded: its spec is a revision that does not serve.
func TestAServiceWhoseRolloutWasAbortedIsDegraded(t *testing.T) {
	c := startCluster(t, 1, nil)
	waitLeader(t, c)
	client := clientFor(t, c)
	ctx := context.Background()
	registerNodes(t, ctx, client, 2, api.Resources{CPU: 4000, Memory: 8 << 30})
	canary := "rollout: {strategy: canary, canary: {steps: [{weight: 50, pause: manual}, {weight: 100}]}}\n"
	for _, v := range []string{"v1", "v2"} {
		if _, err := client.ApplyService(ctx, webSpec(t, "web", 2, "args: ["+v+"]\n"+canary)); err != nil {
			t.Fatal(err)
		}
	}
	if s, _, err := client.Service(ctx, "default", "web", api.QueryOptions{}); err != nil || s.Health != api.HealthHealthy {
		t.Fatalf("during the rollout: %v %v, want healthy", s, err)
	}
	if _, err := client.RolloutAction(ctx, "default", "web", api.ActionAbort, api.RolloutAction{}); err != nil {
		t.Fatal(err)
	}
	s, _, err := client.Service(ctx, "default", "web", api.QueryOptions{})
	if err != nil || s.Health != api.HealthDegraded || !strings.Contains(s.HealthMessage, "the rollout of revision 2 was aborted; revision 1 serves") {
		t.Fatalf("after the abort: %+v %v, want degraded saying which revision serves", s, err)
	}
}
