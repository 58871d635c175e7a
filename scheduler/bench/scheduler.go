// Package bench measures the control plane as users run it: real servers
// (Raft on bbolt files, fsync on) in one process, driven through the HTTP
// API. It reports figures; it asserts nothing about time.
package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"flotilla/api"
	"flotilla/internal/sysinfo"
	"flotilla/scheduler"
)

// SchedulerConfig says what to measure.
type SchedulerConfig struct {
	Nodes    int
	Replicas int
	Servers  int
	// ServiceSize is the replica count of each service (the last one takes
	// the remainder).
	ServiceSize int
	// Progress receives a line per phase; nil for none.
	Progress io.Writer
}

// SchedulerResult is what one run measured.
type SchedulerResult struct {
	Date     string `json:"date"`
	Machine  string `json:"machine"`
	Nodes    int    `json:"nodes"`
	Replicas int    `json:"replicas"`
	Servers  int    `json:"servers"`
	Services int    `json:"services"`
	// Seconds from the first service submitted to the last placement committed.
	Seconds             float64 `json:"seconds"`
	PlacementsPerSecond float64 `json:"placementsPerSecond"`
	// Evaluation latency: creation to completion, as the leader stamped them.
	EvalP50Ms  float64 `json:"evalP50Ms"`
	EvalP99Ms  float64 `json:"evalP99Ms"`
	PeakRSSMiB float64 `json:"peakRSSMiB"`
	// RegisterSeconds is how long registering the nodes took (not counted).
	RegisterSeconds float64 `json:"registerSeconds"`
	// OverCommitted counts nodes whose allocations exceed capacity (must be 0).
	OverCommitted int `json:"overCommitted"`
}

// RunScheduler starts the cluster, registers the nodes, submits the
// services and waits until every replica is placed.
func RunScheduler(ctx context.Context, cfg SchedulerConfig) (*SchedulerResult, error) {
	if cfg.Nodes < 1 || cfg.Replicas < 1 {
		return nil, fmt.Errorf("--nodes and --replicas must be at least 1")
	}
	if cfg.Servers < 1 {
		cfg.Servers = 3
	}
	if cfg.ServiceSize < 1 {
		cfg.ServiceSize = 1000
	}
	progress := cfg.Progress
	if progress == nil {
		progress = io.Discard
	}
	dir, err := os.MkdirTemp("", "flotilla-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	cluster, err := scheduler.StartLocalCluster(dir, cfg.Servers, nil)
	if err != nil {
		return nil, err
	}
	defer cluster.Close()
	client, err := api.NewClient(strings.Join(cluster.HTTPAddrs(), ","))
	if err != nil {
		return nil, err
	}
	client.RetryFor = time.Minute
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	leader, err := cluster.WaitForLeader(waitCtx)
	cancel()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "cluster of %d servers up; %s leads\n", cfg.Servers, leader.Name())

	// Nodes are big enough for every replica: the run measures placing,
	// not failing to place.
	perNode := (cfg.Replicas + cfg.Nodes - 1) / cfg.Nodes
	capacity := api.Resources{CPU: api.CPU(100 * (perNode + 2)), Memory: api.Memory(64 << 20 * int64(perNode+2))}
	start := time.Now()
	if err := parallel(ctx, cfg.Nodes, 64, func(ctx context.Context, i int) error {
		_, err := client.RegisterNode(ctx, fmt.Sprintf("node-%05d", i), api.NodeRegistration{
			Address: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), Capacity: capacity,
			Labels: map[string]string{"zone": "z" + strconv.Itoa(i%3)},
		})
		return err
	}); err != nil {
		return nil, fmt.Errorf("register nodes: %w", err)
	}
	registered := time.Since(start)
	fmt.Fprintf(progress, "registered %d nodes in %.1fs\n", cfg.Nodes, registered.Seconds())

	var specs []api.ServiceSpec
	for left, i := cfg.Replicas, 0; left > 0; i++ {
		n := min(cfg.ServiceSize, left)
		left -= n
		spec, err := benchService(fmt.Sprintf("svc-%04d", i), n)
		if err != nil {
			return nil, err
		}
		specs = append(specs, spec)
	}
	start = time.Now()
	if err := parallel(ctx, len(specs), 16, func(ctx context.Context, i int) error {
		_, err := client.ApplyService(ctx, specs[i])
		return err
	}); err != nil {
		return nil, fmt.Errorf("submit services: %w", err)
	}
	fmt.Fprintf(progress, "submitted %d services in %.2fs; waiting for placements\n", len(specs), time.Since(start).Seconds())
	if err := waitForPlacements(ctx, cluster, len(specs), progress); err != nil {
		return nil, err
	}

	res := &SchedulerResult{
		Date: time.Now().UTC().Format(time.RFC3339), Machine: sysinfo.Machine(),
		Nodes: cfg.Nodes, Replicas: cfg.Replicas, Servers: cfg.Servers, Services: len(specs),
		RegisterSeconds: registered.Seconds(),
	}
	l := cluster.Leader()
	if l == nil {
		return nil, fmt.Errorf("leadership was lost during the run")
	}
	snap := l.Store().Snapshot()
	var last time.Time
	for _, a := range snap.Allocations(nil) {
		if a.CreateTime.After(last) {
			last = a.CreateTime
		}
	}
	res.Seconds = last.Sub(start).Seconds()
	res.PlacementsPerSecond = float64(cfg.Replicas) / res.Seconds
	var lat []float64
	for _, e := range snap.Evaluations(nil) {
		if e.Status == api.EvalComplete && e.TriggeredBy == api.TriggerServiceRegister {
			lat = append(lat, float64(e.ModifyTime.Sub(e.CreateTime))/float64(time.Millisecond))
		}
	}
	res.EvalP50Ms, res.EvalP99Ms = percentile(lat, 0.50), percentile(lat, 0.99)
	for _, n := range snap.Nodes(nil) {
		if !n.Allocated.Fits(n.Capacity) {
			res.OverCommitted++
		}
	}
	if placed := snap.AllocationCount(); placed != cfg.Replicas {
		return nil, fmt.Errorf("%d replicas placed, want %d", placed, cfg.Replicas)
	}
	res.PeakRSSMiB = sysinfo.PeakRSSMiB()
	return res, nil
}

func benchService(name string, replicas int) (api.ServiceSpec, error) {
	doc := fmt.Sprintf(`{"kind": "Service", "name": %q, "image": "flotilla.local/demo:v1",
		"replicas": %d, "resources": {"cpu": "100m", "memory": "64Mi"},
		"ports": [{"name": "http", "port": 8080, "protocol": "http"}]}`, name, replicas)
	specs, err := api.DecodeServices("bench", []byte(doc))
	if err != nil {
		return api.ServiceSpec{}, err
	}
	return specs[0], nil
}

// waitForPlacements polls the leader's evaluations (there are few) until
// every service's first evaluation has completed, that is placed all its
// replicas.
func waitForPlacements(ctx context.Context, cluster *scheduler.LocalCluster, services int, progress io.Writer) error {
	report := time.Now()
	for {
		if l := cluster.Leader(); l != nil {
			done := 0
			for _, e := range l.Store().Snapshot().Evaluations(nil) {
				if e.TriggeredBy == api.TriggerServiceRegister && e.Status == api.EvalComplete {
					done++
				}
			}
			if done >= services {
				return nil
			}
			if time.Since(report) > 2*time.Second {
				fmt.Fprintf(progress, "  %d of %d services placed\n", done, services)
				report = time.Now()
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// parallel runs fn for 0..n-1 with at most width at a time.
func parallel(ctx context.Context, n, width int, fn func(context.Context, int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	var next atomic.Int64
	for w := 0; w < width; w++ {
		g.Go(func() error {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return nil
				}
				if err := fn(ctx, i); err != nil {
					return err
				}
			}
		})
	}
	return g.Wait()
}

// percentile is the nearest-rank percentile.
func percentile(values []float64, p float64) float64 {
	if len(values) == 0 {
		return 0
	}
	sort.Float64s(values)
	i := int(math.Ceil(p*float64(len(values)))) - 1
	return values[max(0, min(i, len(values)-1))]
}
