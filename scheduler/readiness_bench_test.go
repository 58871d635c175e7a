package scheduler

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/scheduler/state"
)

// BenchmarkServiceReadiness measures what reading one service's replicas
// running and ready costs (every GET of the service or the service list,
// and every watcher of them woken by a report) with 100,000 replicas
// running on 10,000 nodes.
//
//	go test -run '^$' -bench ServiceReadiness ./scheduler
func BenchmarkServiceReadiness(b *testing.B) {
	const nodes, replicas = 10_000, 100_000
	fsm := state.NewFSM(state.NewStore(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	index := uint64(0)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	apply := func(t state.CommandType, cmd any) {
		data, err := state.Encode(t, cmd)
		if err != nil {
			b.Fatal(err)
		}
		index++
		if err, isErr := fsm.ApplyCommand(index, t, data[1:]).(error); isErr {
			b.Fatalf("apply %s: %v", t, err)
		}
	}
	name := func(i int) string { return fmt.Sprintf("fake-%05d", i) }
	for i := 1; i <= nodes; i++ {
		apply(state.CmdRegisterNode, &state.RegisterNode{Name: name(i), Time: at, Registration: api.NodeRegistration{
			Address: "10.0.0.1", Capacity: api.Resources{CPU: 64000, Memory: 256 << 30}, Runtime: "fake"}})
	}
	specs, err := api.DecodeServices("bench", []byte(fmt.Sprintf("kind: Service\nname: big\nimage: demo\nreplicas: %d\n", replicas)))
	if err != nil {
		b.Fatal(err)
	}
	apply(state.CmdUpsertService, &state.UpsertService{Spec: specs[0], Time: at})
	plan := &state.Plan{EvalID: "eval-1", Namespace: "default", Service: "big", Revision: 1,
		Eval: &state.EvalOutcome{Status: api.EvalComplete, Placed: replicas}}
	for r := range replicas {
		plan.Place = append(plan.Place, state.Placement{ID: state.DeriveID("alloc", index+1, uint64(r+1)), Node: name(r%nodes + 1)})
	}
	apply(state.CmdApplyPlans, &state.ApplyPlans{Plans: []*state.Plan{plan}, Time: at})
	byNode := map[string][]api.AllocStatusUpdate{}
	for _, a := range fsm.Store().Snapshot().Allocations(nil) {
		byNode[a.Node] = append(byNode[a.Node], api.AllocStatusUpdate{ID: a.ID, Status: api.AllocRunning, Ready: true})
	}
	for i := 1; i <= nodes; i++ {
		apply(state.CmdAllocStatus, &state.AllocStatus{Node: name(i), Updates: byNode[name(i)], Time: at})
	}
	snap := fsm.Store().Snapshot()
	svc := snap.Service(nil, "default", "big")
	for b.Loop() {
		got, _ := withReadiness(snap, nil, svc, at)
		if got.RunningReplicas != replicas || got.ReadyReplicas != replicas {
			b.Fatalf("%d running, %d ready; want %d", got.RunningReplicas, got.ReadyReplicas, replicas)
		}
	}
}
