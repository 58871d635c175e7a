package bench

import (
	"context"
	"testing"
	"time"
)

func TestSchedulerBenchmarkPlacesEveryReplicaWithoutOverCommitting(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := RunScheduler(ctx, SchedulerConfig{Nodes: 50, Replicas: 1200, Servers: 3, ServiceSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	if res.Services != 3 || res.Replicas != 1200 || res.Nodes != 50 {
		t.Fatalf("result %+v", res)
	}
	if res.OverCommitted != 0 {
		t.Fatalf("%d nodes over-committed", res.OverCommitted)
	}
	if res.Seconds <= 0 || res.PlacementsPerSecond <= 0 || res.EvalP99Ms < res.EvalP50Ms || res.PeakRSSMiB <= 0 {
		t.Fatalf("implausible figures: %+v", res)
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	values := []float64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	for _, tc := range []struct{ p, want float64 }{{0.5, 5}, {0.99, 10}, {0.1, 1}, {1, 10}} {
		if got := percentile(values, tc.p); got != tc.want {
			t.Errorf("p%.0f = %v, want %v", tc.p*100, got, tc.want)
		}
	}
	if percentile(nil, 0.5) != 0 {
		t.Error("percentile of nothing should be 0")
	}
}
