package scheduler

import (
	"math"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/scheduler/autoscale"
)

var usageT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return usageT0.Add(time.Duration(s * float64(time.Second))) }

func TestUsageBookAveragesTheReadingsOfEachWindow(t *testing.T) {
	b := newUsageBook()
	// 54 s at 100m, then 6 s at 700m.
	for s := 1; s <= 60; s++ {
		cpu := api.CPU(100)
		if s > 54 {
			cpu = 700
		}
		b.record("n1", []api.AllocUsage{{ID: "a1", CPU: cpu, Memory: 64 << 20}}, at(float64(s)))
	}
	short, ok := b.average("a1", 6*time.Second, at(60))
	if !ok || short.cpu != 700 || short.memory != 64<<20 {
		t.Fatalf("6s window = %+v, %v; want 700m, 64Mi", short, ok)
	}
	long, _ := b.average("a1", time.Minute, at(60))
	if want := (54*100.0 + 6*700) / 60; math.Abs(long.cpu-want) > 1e-9 {
		t.Fatalf("1m window = %.1fm, want %.1fm", long.cpu, want)
	}
	// Readings older than the longest window are dropped.
	b.record("n1", []api.AllocUsage{{ID: "a1", CPU: 700}}, at(61))
	if n := len(b.allocs["a1"].readings); n != 60 {
		t.Fatalf("%d readings kept, want the last minute's 60", n)
	}
}

func TestUsageBookReplacesReadingsCloserThanHalfAnInterval(t *testing.T) {
	b := newUsageBook()
	b.record("n1", []api.AllocUsage{{ID: "a1", CPU: 100}}, at(1))
	b.record("n1", []api.AllocUsage{{ID: "a1", CPU: 300}}, at(1.2))
	if f, _ := b.average("a1", time.Minute, at(1.2)); f.cpu != 300 || len(b.allocs["a1"].readings) != 1 {
		t.Fatalf("average %.0fm over %d readings, want the newer one alone", f.cpu, len(b.allocs["a1"].readings))
	}
}

func TestUsageBookForgetsStaleAllocations(t *testing.T) {
	b := newUsageBook()
	b.record("n1", []api.AllocUsage{{ID: "a1", CPU: 100}, {ID: "a2", CPU: 100}}, at(1))
	for s := 2; s <= 5; s++ {
		b.record("n1", []api.AllocUsage{{ID: "a1", CPU: 100}}, at(float64(s)))
	}
	if _, ok := b.average("a2", time.Minute, at(5)); ok {
		t.Fatal("a2, last read 4s ago, still has a figure")
	}
	if _, ok := b.average("a1", time.Minute, at(5)); !ok {
		t.Fatal("a1, read now, has no figure")
	}
	// After a window, the sweep drops it from the book.
	b.record("n1", []api.AllocUsage{{ID: "a1", CPU: 100}}, at(70))
	if _, kept := b.allocs["a2"]; kept {
		t.Fatal("a2 kept a minute after its last reading")
	}
	// The same ID from another node starts afresh.
	b.record("n2", []api.AllocUsage{{ID: "a1", CPU: 900}}, at(71))
	if f, _ := b.average("a1", time.Minute, at(71)); f.cpu != 900 {
		t.Fatalf("a1 on n2 = %.0fm, want its own reading alone", f.cpu)
	}
}

// usageAlloc is a running allocation reserving 200m and 100Mi.
func usageAlloc(id string, ready bool) *api.Allocation {
	return &api.Allocation{ID: id, Namespace: "default", Service: "web", Revision: 1, Node: "n1",
		DesiredStatus: api.DesiredRun, Status: api.AllocRunning, Ready: ready,
		Resources: api.Resources{CPU: 200, Memory: 100 << 20}}
}

// The autoscaler's cpu and memory metric from a scripted book: the total
// is the sum of each replica's use in percent of what it reserves, with
// missing figures at 0 for a scale up and at the target for a scale down.
func TestUsageLoadIsTheSumOfPercentagesWithMissingFiguresAsHPA(t *testing.T) {
	now := at(30)
	for _, tc := range []struct {
		name     string
		metric   string
		target   float64
		replicas int
		allocs   []*api.Allocation
		cpu      map[string]api.CPU // the reading of each allocation that has one
		want     float64
	}{
		{"all measured: 100m and 300m of 200m", api.MetricCPU, 50, 2,
			[]*api.Allocation{usageAlloc("a1", true), usageAlloc("a2", true)},
			map[string]api.CPU{"a1": 100, "a2": 300}, 200},
		{"memory: 50Mi of 100Mi each", api.MetricMemory, 80, 2,
			[]*api.Allocation{usageAlloc("a1", true), usageAlloc("a2", true)}, map[string]api.CPU{"a1": 0, "a2": 0}, 100},
		{"scale up: the missing one counts 0", api.MetricCPU, 50, 2,
			[]*api.Allocation{usageAlloc("a1", true), usageAlloc("a2", true)}, map[string]api.CPU{"a1": 400}, 200},
		{"scale up: the unready one counts 0", api.MetricCPU, 50, 2,
			[]*api.Allocation{usageAlloc("a1", true), usageAlloc("a2", false)}, map[string]api.CPU{"a1": 400, "a2": 400}, 200},
		{"scale up: a replica not started yet counts 0", api.MetricCPU, 50, 3,
			[]*api.Allocation{usageAlloc("a1", true), usageAlloc("a2", true)}, map[string]api.CPU{"a1": 400, "a2": 400}, 400},
		{"scale down: the missing one counts at the target", api.MetricCPU, 50, 3,
			[]*api.Allocation{usageAlloc("a1", true), usageAlloc("a2", true), usageAlloc("a3", true)},
			map[string]api.CPU{"a1": 20, "a2": 20}, 10 + 10 + 50},
		{"the two disagree: the count stays", api.MetricCPU, 50, 2,
			[]*api.Allocation{usageAlloc("a1", true), usageAlloc("a2", true)}, map[string]api.CPU{"a1": 180}, 100},
		{"no figures at all: the count stays", api.MetricCPU, 50, 4,
			[]*api.Allocation{usageAlloc("a1", true), usageAlloc("a2", true)}, nil, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newUsageBook()
			var reports []api.AllocUsage
			for id, cpu := range tc.cpu {
				reports = append(reports, api.AllocUsage{ID: id, CPU: cpu, Memory: 50 << 20})
			}
			b.record("n1", reports, now)
			got := usageLoad(b, tc.allocs, tc.replicas, tc.metric, tc.target, time.Minute, now)
			if math.Abs(got-tc.want) > 1e-9 {
				t.Fatalf("total = %.2f, want %.2f", got, tc.want)
			}
		})
	}
}

// The autoscaler's decision on a cpu total read from a scripted book: two
// replicas reserving 200m each, using 300m each against a target of 50%,
// want ceil(300/50) = 6 replicas (within the rate limit: +4), no panic.
func TestAutoscalerScalesUpOnTheCPUBook(t *testing.T) {
	b := newUsageBook()
	for s := 1; s <= 10; s++ {
		b.record("n1", []api.AllocUsage{{ID: "a1", CPU: 300}, {ID: "a2", CPU: 300}}, at(float64(s)))
	}
	allocs := []*api.Allocation{usageAlloc("a1", true), usageAlloc("a2", true)}
	cfg := api.Autoscale{Min: 1, Max: 10, Metric: api.MetricCPU, Target: 50, Tolerance: new(api.Percent(10))}
	total := usageLoad(b, allocs, 2, cfg.Metric, cfg.Target, autoscale.StableWindow, at(10))
	if total != 300 {
		t.Fatalf("total = %.1f, want 150%% + 150%%", total)
	}
	d := autoscale.Decide(autoscale.Input{Config: cfg, Current: 2, Ready: 2, Stable: total, HaveData: true, Now: at(10)}, &autoscale.State{})
	if !d.Changed || d.Desired != 6 || d.Panic {
		t.Fatalf("decision %+v, want 6 replicas, no panic", d)
	}
}
