package main

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"flotilla/agent"
)

func benchMs(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

func TestNearestRankQuantiles(t *testing.T) {
	var hundred []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose: summarizeLatency sorts
		hundred = append(hundred, benchMs(float64(i)))
	}
	tests := []struct {
		name    string
		samples []time.Duration
		want    benchLatency
	}{
		{"none", nil, benchLatency{}},
		{"one", []time.Duration{benchMs(7)}, benchLatency{Samples: 1, P50Ms: 7, P99Ms: 7, MaxMs: 7}},
		{"two: p50 is the lower", []time.Duration{benchMs(9), benchMs(3)}, benchLatency{Samples: 2, P50Ms: 3, P99Ms: 9, MaxMs: 9}},
		{"1..100 ms", hundred, benchLatency{Samples: 100, P50Ms: 50, P99Ms: 99, MaxMs: 100}},
		{"microseconds kept", []time.Duration{1234567 * time.Nanosecond}, benchLatency{Samples: 1, P50Ms: 1.235, P99Ms: 1.235, MaxMs: 1.235}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := summarizeLatency(tt.samples); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestEveryProxyIsTheSlowestAgentOfEachWrite(t *testing.T) {
	samples := []routeSample{
		{"n1": benchMs(5), "n2": benchMs(9), "n3": benchMs(7)},
		{"n1": benchMs(20), "n2": benchMs(4), "n3": benchMs(6)},
		{"n1": benchMs(3), "n2": benchMs(3), "n3": benchMs(11)},
	}
	got := aggregatePropagation([]time.Duration{benchMs(2), benchMs(1), benchMs(3)}, samples)
	if got.Writes != 3 {
		t.Fatalf("writes %d, want 3", got.Writes)
	}
	// Every proxy: 9, 20, 11.
	if want := (benchLatency{Samples: 3, P50Ms: 11, P99Ms: 20, MaxMs: 20}); got.EveryProxy != want {
		t.Fatalf("every proxy %+v, want %+v", got.EveryProxy, want)
	}
	// All nine pooled: 3 3 4 5 6 7 9 11 20.
	if want := (benchLatency{Samples: 9, P50Ms: 6, P99Ms: 20, MaxMs: 20}); got.PerAgent != want {
		t.Fatalf("per agent %+v, want %+v", got.PerAgent, want)
	}
	if want := (benchLatency{Samples: 3, P50Ms: 5, P99Ms: 20, MaxMs: 20}); got.Agents["n1"] != want {
		t.Fatalf("n1 %+v, want %+v", got.Agents["n1"], want)
	}
	if want := (benchLatency{Samples: 3, P50Ms: 2, P99Ms: 3, MaxMs: 3}); got.WriteAck != want {
		t.Fatalf("write ack %+v, want %+v", got.WriteAck, want)
	}
}

func TestAppliedSinceTakesTheFirstVersionAtOrPastTheIndex(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	v := func(index uint64, after float64) agent.RouteVersion {
		return agent.RouteVersion{ModifyIndex: index, AppliedAt: t0.Add(benchMs(after))}
	}
	route := agent.AppliedRoute{RouteVersion: v(12, 30), Previous: []agent.RouteVersion{v(8, 1), v(10, 9)}}
	tests := []struct {
		index uint64
		want  time.Duration
		ok    bool
	}{
		{10, benchMs(9), true},  // 10 was applied, then replaced by 12
		{11, benchMs(30), true}, // only 12 is past 11
		{12, benchMs(30), true},
		{13, 0, false}, // not yet
		{5, benchMs(1), true},
	}
	for _, tt := range tests {
		at, ok := appliedSince(route, tt.index)
		if ok != tt.ok || (ok && at.Sub(t0) != tt.want) {
			t.Fatalf("index %d: %v %v, want %v %v", tt.index, at.Sub(t0), ok, tt.want, tt.ok)
		}
	}
}

func TestFirstAnswerPastAnIndex(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	log := []watchAnswer{{5, t0}, {9, t0.Add(benchMs(4))}, {15, t0.Add(benchMs(8))}}
	if at, ok := firstAnswerPast(log, 9); !ok || !at.Equal(t0.Add(benchMs(4))) {
		t.Fatalf("index 9: %v %v", at, ok)
	}
	if at, ok := firstAnswerPast(log, 10); !ok || !at.Equal(t0.Add(benchMs(8))) {
		t.Fatalf("index 10: %v %v", at, ok)
	}
	if _, ok := firstAnswerPast(log, 16); ok {
		t.Fatal("index 16 was never answered")
	}
}

func TestAbortRoundCountsTheCanaryAroundTheAbort(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	at := func(d float64) time.Time { return t0.Add(benchMs(d)) }
	ours := map[string]bool{"a1": true, "a2": true}
	answers := []vipAnswer{
		{At: at(-20), Version: "v3", Allocation: "a2", Proxy: "n1"},
		{At: at(-10), Version: "v1", Allocation: "a1", Proxy: "n2"},
		{At: at(4), Version: "v3", Allocation: "a2", Proxy: "n2"},
		{At: at(12.5), Version: "v3", Allocation: "a2", Proxy: "n3"}, // the last canary answer
		{At: at(8), Version: "v1", Allocation: "a1", Proxy: "n1"},
		{At: at(30), Err: true},
		{At: at(900), Version: "v1", Allocation: "a1", Proxy: "n1"},
	}
	got, err := summarizeAbort(answers, t0, "v3", ours)
	if err != nil {
		t.Fatal(err)
	}
	if got.Requests != 7 || got.Errors != 1 || got.CanaryBefore != 1 || got.CanaryAfter != 2 || got.LastCanaryMs != 12.5 {
		t.Fatalf("got %+v", got)
	}
	if strings.Join(got.Proxies, ",") != "n1,n2,n3" {
		t.Fatalf("proxies %v", got.Proxies)
	}

	none, err := summarizeAbort(answers[:2], t0, "v3", ours)
	if err != nil || none.LastCanaryMs != 0 || none.CanaryAfter != 0 {
		t.Fatalf("no canary after the abort: %+v %v", none, err)
	}

	foreign := append(answers, vipAnswer{At: at(50), Version: "v1", Allocation: "someone-else"})
	if _, err := summarizeAbort(foreign, t0, "v3", ours); err == nil || !strings.Contains(err.Error(), "not this lab's") {
		t.Fatalf("an answer from another cluster's allocation: %v", err)
	}
}

// TestRunBenchRecordsTheCommandLine: a bench result that keeps its
// command line gets this process's.
func TestRunBenchRecordsTheCommandLine(t *testing.T) {
	cmd := &cobra.Command{}
	cmd.SetOut(io.Discard)
	res := &routesBenchResult{}
	err := runBench(cmd, &globals{output: "json"}, func(string, io.Writer) {},
		func(context.Context) (*routesBenchResult, error) { return res, nil }, printRoutesResult)
	if err != nil {
		t.Fatal(err)
	}
	if want := "flotilla " + strings.Join(os.Args[1:], " "); res.Command != want {
		t.Fatalf("recorded %q, want %q", res.Command, want)
	}
}
