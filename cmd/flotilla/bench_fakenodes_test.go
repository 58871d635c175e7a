package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFakeNodesBenchJudgesEveryGoal(t *testing.T) {
	met := fakeNodesBenchResult{Nodes: 10, MinReady: 10, AllRunningSeconds: 59, ServerPeakRSS: []float64{1430, 900, 900},
		FakeNodePeakRSS: 1907, ServerCPU: 60, FakeNodeCPU: 39, Kill: &leaderKillResult{}}
	tests := []struct {
		name   string
		change func(*fakeNodesBenchResult)
		missed string
	}{
		{"all met", func(*fakeNodesBenchResult) {}, ""},
		{"slow", func(r *fakeNodesBenchResult) { r.AllRunningSeconds = 61 }, "all running after 61.0s"},
		{"a leader change", func(r *fakeNodesBenchResult) { r.LeaderChanges = 1 }, "1 leader changes"},
		{"a node down", func(r *fakeNodesBenchResult) { r.NodesMarkedDown = []string{"fake-00001"} }, "1 nodes marked down"},
		{"a node not ready", func(r *fakeNodesBenchResult) { r.MinReady = 9 }, "as few as 9 nodes ready"},
		// 1.5 GB and 2 GB, not GiB.
		{"a big server", func(r *fakeNodesBenchResult) { r.ServerPeakRSS[2] = 1431 }, "server 3 peaked at 1431 MiB"},
		{"a big fake-node process", func(r *fakeNodesBenchResult) { r.FakeNodePeakRSS = 1908 }, "fake-node process peaked"},
		{"a core in steady state", func(r *fakeNodesBenchResult) { r.FakeNodeCPU = 40 }, "steady CPU 100%"},
		{"a node down after the kill", func(r *fakeNodesBenchResult) { r.Kill.NodesMarkedDown = []string{"fake-00002"} }, "after the leader was killed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := met
			r.ServerPeakRSS = append([]float64(nil), met.ServerPeakRSS...)
			k := *met.Kill
			r.Kill = &k
			tt.change(&r)
			r.judge()
			if r.GoalMet != (tt.missed == "") || (tt.missed != "" && !strings.Contains(strings.Join(r.Missed, "; "), tt.missed)) {
				t.Fatalf("goal met %v, missed %q; want missed %q", r.GoalMet, r.Missed, tt.missed)
			}
		})
	}
}

// TestFakeNodesBenchRunsItsLab runs the benchmark small: its own lab of 3
// servers, 50 fake nodes in a process of their own, 500 replicas, a short
// steady state and the leader killed; the figures must be there and the
// lab gone.
func TestFakeNodesBenchRunsItsLab(t *testing.T) {
	bin := buildBinary(t)
	root := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := runFakeNodesBench(ctx, fakeNodesBenchConfig{Binary: bin, Root: root, Nodes: 50, Replicas: 500,
		Steady: 3 * time.Second, KillLeader: true, AfterKill: 5 * time.Second, Sample: time.Second, RunningTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res.Nodes != 50 || res.Replicas != 500 || res.Servers != 3 {
		t.Fatalf("ran %d servers, %d nodes, %d replicas", res.Servers, res.Nodes, res.Replicas)
	}
	if res.AllRunningSeconds <= 0 || res.NodesReadySeconds <= 0 || res.SteadySeconds < 3 {
		t.Fatalf("times: ready %.1fs, running %.1fs, steady %.1fs", res.NodesReadySeconds, res.AllRunningSeconds, res.SteadySeconds)
	}
	if len(res.ServerPeakRSS) != 3 || res.FakeNodePeakRSS <= 0 || res.Samples == 0 {
		t.Fatalf("RSS %v / %.0f MiB, %d samples", res.ServerPeakRSS, res.FakeNodePeakRSS, res.Samples)
	}
	for _, v := range res.ServerPeakRSS {
		if v <= 0 {
			t.Fatalf("a server's peak RSS is missing: %v", res.ServerPeakRSS)
		}
	}
	if res.LoadBefore == "" || res.Machine == "" {
		t.Fatalf("load %q, machine %q", res.LoadBefore, res.Machine)
	}
	if res.Kill == nil || res.Kill.Killed == "" || res.Kill.NewLeader == "" || res.Kill.NewLeader == res.Kill.Killed {
		t.Fatalf("kill: %+v", res.Kill)
	}
	// 50 nodes and 500 replicas are no load: nothing may go wrong.
	if len(res.NodesMarkedDown) > 0 || len(res.Kill.NodesMarkedDown) > 0 {
		t.Fatalf("nodes marked down: %v, after the kill %v", res.NodesMarkedDown, res.Kill.NodesMarkedDown)
	}
	if _, err := os.Stat(filepath.Join(root, fakeNodesBenchLab, "logs", "fake-nodes.log")); err != nil {
		t.Fatalf("the fake nodes' log is kept: %v", err)
	}
}
