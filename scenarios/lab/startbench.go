package lab

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"time"

	"flotilla/api"
	"flotilla/internal/sysinfo"
)

// StartBenchConfig says what the containerd start benchmark runs.
type StartBenchConfig struct {
	// Binary is the flotilla executable the lab runs.
	Binary string
	// Root is where the benchmark's lab lives (DefaultRoot when empty); the
	// lab is named "bench", and its logs stay there after the run.
	Root             string
	ContainerdSocket string
	Replicas         int
	Agents           int
	Progress         io.Writer
}

// StartBenchResult compares Flotilla's apply-to-running with ctr run.
type StartBenchResult struct {
	Date     string `json:"date"`
	Machine  string `json:"machine"`
	Agents   int    `json:"agents"`
	Replicas int    `json:"replicas"`
	// AllRunningMs is from the apply to the last replica running.
	AllRunningMs float64 `json:"allRunningMs"`
	// P50Ms and P99Ms are per replica: from the apply to its running
	// report (its container started, attached to CNI, its address known).
	P50Ms float64 `json:"p50Ms"`
	P99Ms float64 `json:"p99Ms"`
	// CtrRun* time `ctr run -d` of the same image on the same containerd,
	// one container after another (no CNI: ctr gives it a bare netns).
	CtrRunP50Ms   float64 `json:"ctrRunP50Ms"`
	CtrRunP99Ms   float64 `json:"ctrRunP99Ms"`
	CtrRunTotalMs float64 `json:"ctrRunTotalMs"`
}

// RunStartBench starts a containerd lab (1 server, cfg.Agents agents),
// warms every node's demo image with one replica per node, then applies a
// service of cfg.Replicas replicas and watches the allocations with
// blocking queries until every one is running; then it times `ctr run` of
// the same image as many times on the same daemon. The lab is taken down
// at the end, whatever happened.
func RunStartBench(ctx context.Context, cfg StartBenchConfig) (res *StartBenchResult, err error) {
	if cfg.Replicas <= 0 {
		cfg.Replicas = 10
	}
	if cfg.Agents <= 0 {
		cfg.Agents = 3
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	if cfg.Root == "" {
		cfg.Root = DefaultRoot()
	}
	ctrPath, err := exec.LookPath("ctr")
	if err != nil {
		return nil, fmt.Errorf("ctr not found: install Debian's containerd package: %w", err)
	}
	l, err := Up(ctx, Config{Name: "bench", Servers: 1, Agents: cfg.Agents, Runtime: "containerd", Root: cfg.Root,
		Binary: cfg.Binary, ContainerdSocket: cfg.ContainerdSocket, ReadyTimeout: time.Minute}, cfg.Progress)
	if err != nil {
		return nil, err
	}
	defer func() {
		if derr := l.Down(io.Discard); derr != nil && err == nil {
			err = derr
		}
	}()
	client, err := l.Client()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Progress, "warming the demo image on %d nodes\n", cfg.Agents)
	if _, err := timeToRunning(ctx, client, "warm", cfg.Agents); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	if _, err := client.DeleteService(ctx, "default", "warm"); err != nil {
		return nil, err
	}
	// The warm-up's containers stop before the measured ones start, so
	// that the two do not compete.
	if err := waitNoneRunning(ctx, client, "warm"); err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Progress, "applying %d replicas\n", cfg.Replicas)
	times, err := timeToRunning(ctx, client, "web", cfg.Replicas)
	if err != nil {
		return nil, err
	}
	res = &StartBenchResult{Date: time.Now().UTC().Format(time.RFC3339), Machine: sysinfo.Machine(), Agents: cfg.Agents, Replicas: cfg.Replicas}
	res.P50Ms, res.P99Ms, res.AllRunningMs = quantileMs(times, 0.5), quantileMs(times, 0.99), quantileMs(times, 1)

	fmt.Fprintf(cfg.Progress, "ctr run of the same image, %d times\n", cfg.Replicas)
	ctrTimes, total, err := timeCtrRun(ctx, ctrPath, l.Network.Containerd, l.FirstAgentContainerdNamespace(), cfg.Replicas)
	if err != nil {
		return nil, err
	}
	res.CtrRunP50Ms, res.CtrRunP99Ms, res.CtrRunTotalMs = quantileMs(ctrTimes, 0.5), quantileMs(ctrTimes, 0.99), float64(total.Microseconds())/1000
	return res, nil
}

// timeToRunning applies a service of n demo replicas and returns, per
// allocation, the time from the apply to its first running report.
func timeToRunning(ctx context.Context, client *api.Client, name string, n int) ([]time.Duration, error) {
	spec := api.ServiceSpec{Kind: "Service", Name: name, Namespace: "default", Image: "flotilla.local/demo:bench", Replicas: &n,
		Ports: []api.Port{{Name: "http", Port: 8080, Protocol: "http"}}, Resources: api.Resources{CPU: 10, Memory: 32 << 20}}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	start := time.Now()
	if _, err := client.ApplyService(ctx, spec); err != nil {
		return nil, fmt.Errorf("apply %s: %w", name, err)
	}
	seen := map[string]time.Duration{}
	var index uint64
	for len(seen) < n {
		allocs, next, err := client.Allocations(ctx, api.AllocFilter{Service: name}, api.QueryOptions{Index: index, Wait: 10 * time.Second})
		if err != nil {
			return nil, fmt.Errorf("watch the allocations of %s (%d of %d running): %w", name, len(seen), n, err)
		}
		at := time.Since(start)
		index = next
		for _, a := range allocs {
			if _, ok := seen[a.ID]; !ok && a.Status == api.AllocRunning && a.DesiredStatus == api.DesiredRun {
				seen[a.ID] = at
			}
		}
	}
	var out []time.Duration
	for _, d := range seen {
		out = append(out, d)
	}
	return out, nil
}

func waitNoneRunning(ctx context.Context, client *api.Client, name string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var index uint64
	for {
		allocs, next, err := client.Allocations(ctx, api.AllocFilter{Service: name}, api.QueryOptions{Index: index, Wait: 10 * time.Second})
		if err != nil {
			return fmt.Errorf("wait for %s to stop: %w", name, err)
		}
		index = next
		if !slices.ContainsFunc(allocs, func(a *api.Allocation) bool { return a.Status == api.AllocRunning || a.Status == api.AllocStarting }) {
			return nil
		}
	}
}

// timeCtrRun times `ctr run -d` of the demo image n times, one after
// another, and removes the containers.
func timeCtrRun(ctx context.Context, ctr, socket, namespace string, n int) ([]time.Duration, time.Duration, error) {
	ctrl := func(args ...string) *exec.Cmd {
		return exec.CommandContext(ctx, ctr, append([]string{"--address", socket, "-n", namespace}, args...)...)
	}
	var times []time.Duration
	began := time.Now()
	for i := range n {
		id := fmt.Sprintf("ctr-bench-%d", i)
		start := time.Now()
		out, err := ctrl("run", "-d", "flotilla.local/demo:bench", id, "/flotilla", "workload").CombinedOutput()
		times = append(times, time.Since(start))
		defer func() {
			// Best effort: lab down purges the namespace anyway.
			_ = ctrl("task", "delete", "-f", id).Run()
			_ = ctrl("container", "delete", id).Run()
		}()
		if err != nil {
			return nil, 0, fmt.Errorf("ctr run %s: %v: %s", id, err, out)
		}
	}
	return times, time.Since(began), nil
}

func quantileMs(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	i = min(max(i, 0), len(s)-1)
	return float64(s[i].Microseconds()) / 1000
}
