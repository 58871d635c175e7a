package state

import (
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"flotilla/api"
)

// BenchmarkStateMemoryPerAllocation measures what one allocation costs the
// state every server keeps in memory: 10,000 nodes, one service of 100,000
// replicas placed by one plan (as a worker plans them), then every replica
// reported running and ready with an address, as agents do. It reports the
// live heap per allocation after each step, and the size of the plan's
// Raft entry.
//
//	go test ./scheduler/state -run '^$' -bench StateMemoryPerAllocation -benchtime 1x
func BenchmarkStateMemoryPerAllocation(b *testing.B) {
	const nodes, replicas = 10_000, 100_000
	for range b.N {
		fsm := NewFSM(NewStore(), slog.New(slog.NewTextHandler(io.Discard, nil)))
		index := uint64(0)
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		apply := func(t CommandType, cmd any) int {
			data, err := Encode(t, cmd)
			if err != nil {
				b.Fatal(err)
			}
			index++
			if err, isErr := fsm.ApplyCommand(index, t, data[1:]).(error); isErr {
				b.Fatalf("apply %s: %v", t, err)
			}
			return len(data)
		}
		name := func(i int) string { return fmt.Sprintf("fake-%05d", i) }
		for i := 1; i <= nodes; i++ {
			apply(CmdRegisterNode, &RegisterNode{Name: name(i), Time: at, Registration: api.NodeRegistration{
				Address: "10.0.0.1", Capacity: api.Resources{CPU: 64000, Memory: 256 << 30}, Heartbeat: true, Runtime: "fake"}})
		}
		specs, err := api.DecodeServices("bench", []byte(fmt.Sprintf("kind: Service\nname: big\nimage: demo\nreplicas: %d\nresources: {cpu: 100m, memory: 64Mi}\n", replicas)))
		if err != nil {
			b.Fatal(err)
		}
		apply(CmdUpsertService, &UpsertService{Spec: specs[0], Time: at})
		base := liveHeap()

		plan := &Plan{EvalID: "eval-1", Namespace: "default", Service: "big", Revision: 1, Resources: api.Resources{CPU: 100, Memory: 64 << 20},
			Eval: &EvalOutcome{Status: api.EvalComplete, Placed: replicas}}
		for r := range replicas {
			plan.Place = append(plan.Place, Placement{ID: DeriveID("alloc", index+1, uint64(r+1)), Node: name(r%nodes + 1)})
		}
		began := time.Now()
		entry := apply(CmdApplyPlans, &ApplyPlans{Plans: []*Plan{plan}, Time: at})
		planTook := time.Since(began)
		plan = nil
		placed := liveHeap()

		// Every node reports its replicas running, ten to a report.
		byNode := map[string][]api.AllocStatusUpdate{}
		for i, a := range fsm.Store().Snapshot().Allocations(nil) {
			byNode[a.Node] = append(byNode[a.Node], api.AllocStatusUpdate{ID: a.ID, Status: api.AllocRunning, Ready: true,
				Address: fmt.Sprintf("10.%d.%d.%d:8080", i>>16&255, i>>8&255, i&255)})
		}
		began = time.Now()
		for i := 1; i <= nodes; i++ {
			apply(CmdAllocStatus, &AllocStatus{Node: name(i), Updates: byNode[name(i)], Time: at})
		}
		statusTook := time.Since(began)
		byNode = nil
		running := liveHeap()

		if got := len(fsm.Store().Snapshot().Allocations(nil)); got != replicas {
			b.Fatalf("%d allocations, want %d", got, replicas)
		}
		b.ReportMetric(float64(placed-base)/replicas, "B/alloc-placed")
		b.ReportMetric(float64(running-base)/replicas, "B/alloc-running")
		b.ReportMetric(float64(entry)/replicas, "B/placement-in-log")
		b.Logf("%d nodes, %d allocations: live heap %.0f MB before placing, %.0f MB placed, %.0f MB running; plan entry %.1f MB applied in %s; reports applied in %s (%.1f µs an update)",
			nodes, replicas, float64(base)/1e6, float64(placed)/1e6, float64(running)/1e6, float64(entry)/1e6,
			planTook.Round(time.Millisecond), statusTook.Round(time.Millisecond), float64(statusTook.Microseconds())/replicas)
		runtime.KeepAlive(fsm)
	}
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
