package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"flotilla/api"
	"flotilla/internal/sysinfo"
	"flotilla/scenarios/lab"
)

// The goals of issue 18 at 10,000 fake nodes and 100,000 replicas: all
// running within a minute of the apply, no leader change and no node
// marked down, then steady with every node ready; per server at most
// 1.5 GB, the fake-node process at most 2 GB, and the whole cluster under
// one core in steady state.
const (
	fakeNodesRunningGoal   = 60 * time.Second
	fakeNodesServerRSSGoal = 1.5e9 / (1 << 20) // MiB: 1.5 GB is 1,430 MiB
	fakeNodesFakeRSSGoal   = 2e9 / (1 << 20)   // MiB: 2 GB is 1,907 MiB
	fakeNodesCPUGoal       = 100               // % of one core
)

const (
	fakeNodesBenchLab     = "bench-fake-nodes"
	fakeNodesBenchService = "fleet"
)

// fakeNodesBenchConfig says what `flotilla bench fake-nodes` runs.
type fakeNodesBenchConfig struct {
	Binary string
	// Root is where the lab lives; its logs stay there after the run.
	Root string
	// BasePort is the lab's first port; 0 picks a free block at random.
	BasePort int
	Servers  int
	Nodes    int
	Replicas int
	// Steady is how long the cluster is watched once every replica runs.
	Steady time.Duration
	// KillLeader kills the leader after the steady window and watches
	// AfterKill longer: the new leader must mark no node down.
	KillLeader bool
	AfterKill  time.Duration
	// Sample is how often the nodes are listed (ready or not).
	Sample time.Duration
	// RunningTimeout bounds the wait for every node ready and for every
	// replica running.
	RunningTimeout time.Duration
	Progress       io.Writer
}

// fakeNodesBenchResult is what `flotilla bench fake-nodes -o json` prints.
type fakeNodesBenchResult struct {
	Date     string `json:"date"`
	Machine  string `json:"machine"`
	Command  string `json:"command"`
	Servers  int    `json:"servers"`
	Nodes    int    `json:"nodes"`
	Replicas int    `json:"replicas"`
	// LoadBefore and LoadAfter are the machine's load averages (1, 5,
	// 15 min) when the run began and ended: the machine may be shared.
	LoadBefore string `json:"loadBefore"`
	LoadAfter  string `json:"loadAfter"`
	// NodesReadySeconds is from the fake-node process's start to every
	// node ready; AllRunningSeconds from the apply to every replica
	// reported running.
	NodesReadySeconds float64 `json:"nodesReadySeconds"`
	AllRunningSeconds float64 `json:"allRunningSeconds"`
	// LeaderChanges counts elections won (msg=leading in the servers'
	// logs) from the lab's first leader on, the one forced by
	// --kill-leader left out; LeaderChangesRegistering of them while the
	// nodes registered.
	// ApplyServerCPU and ApplyFakeNodeCPU are the CPU seconds the
	// servers (together) and the fake-node process used from the apply
	// to every replica running: the work the apply cost, which varies
	// less from run to run than its wall time on a shared machine.
	ApplyServerCPU           float64 `json:"applyServerCpuSeconds"`
	ApplyFakeNodeCPU         float64 `json:"applyFakeNodeCpuSeconds"`
	LeaderChanges            int     `json:"leaderChanges"`
	LeaderChangesRegistering int     `json:"leaderChangesRegistering"`
	// NodesMarkedDown are the nodes a server marked down (events) or
	// seen not ready in a sample from the moment all were ready.
	NodesMarkedDown []string `json:"nodesMarkedDown"`
	// MinReady is the fewest nodes ready in a sample from then on.
	MinReady        int       `json:"minReady"`
	Samples         int       `json:"samples"`
	SteadySeconds   float64   `json:"steadySeconds"`
	SteadyLoad      string    `json:"steadyLoad"`
	ServerCPU       float64   `json:"serverCpuPercent"`   // the servers together, % of one core
	FakeNodeCPU     float64   `json:"fakeNodeCpuPercent"` // the fake-node process
	ServerPeakRSS   []float64 `json:"serverPeakRssMiB"`
	FakeNodePeakRSS float64   `json:"fakeNodePeakRssMiB"`
	// Kill is the --kill-leader part (nil without it).
	Kill    *leaderKillResult `json:"kill,omitempty"`
	GoalMet bool              `json:"goalMet"`
	// Missed says which goals were not met.
	Missed []string `json:"missed,omitempty"`
}

// leaderKillResult is the leader killed in steady state.
type leaderKillResult struct {
	Killed          string  `json:"killed"`
	NewLeader       string  `json:"newLeader"`
	NewLeaderAfterS float64 `json:"newLeaderAfterSeconds"`
	WatchedSeconds  float64 `json:"watchedSeconds"`
	// NodesMarkedDown after the kill (events and samples).
	NodesMarkedDown []string `json:"nodesMarkedDown"`
	MinReady        int      `json:"minReady"`
}

func newBenchFakeNodesCmd(g *globals) *cobra.Command {
	var cfg fakeNodesBenchConfig
	cmd := &cobra.Command{
		Use:   "fake-nodes",
		Short: "Place --replicas replicas on --nodes fake nodes of a lab of its own, and watch the control plane",
		Long: `Starts a lab of its own (--servers servers on loopback, fsync on, no agents;
removed at the end, its logs kept), then one process of --nodes fake nodes
(flotilla agent --fake-nodes), waits until every node is ready, applies one
service of --replicas replicas and reports: the time from the apply until
every replica is reported running, leader changes (elections won, from the
servers' logs), nodes marked down (events, and node lists sampled every
--sample), then --steady of steady state: the fewest nodes ready, the CPU
of the servers and of the fake-node process, and the peak RSS of each.
With --kill-leader the leader is then killed and the cluster watched for
--after-kill: the new leader must mark no node down.

The goals (issue 18, at 10,000 nodes and 100,000 replicas): all running
within 60 s, no leader change, no node marked down, every node ready in
steady state, peak RSS ≤ 1.5 GB (1,430 MiB) per server and ≤ 2 GB
(1,907 MiB) for the fake-node process, steady CPU of servers and fake
nodes together under one core.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBench(cmd, g, func(bin string, progress io.Writer) { cfg.Binary, cfg.Progress = bin, progress },
				func(ctx context.Context) (*fakeNodesBenchResult, error) { return runFakeNodesBench(ctx, cfg) }, printFakeNodesResult)
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Servers, "servers", 3, "servers in the lab")
	f.IntVar(&cfg.Nodes, "nodes", 10000, "fake nodes")
	f.IntVar(&cfg.Replicas, "replicas", 100000, "replicas of the one service applied")
	f.DurationVar(&cfg.Steady, "steady", 5*time.Minute, "how long the cluster is watched once every replica runs")
	f.BoolVar(&cfg.KillLeader, "kill-leader", false, "then kill the leader and check that no node is marked down")
	f.DurationVar(&cfg.AfterKill, "after-kill", time.Minute, "how long the cluster is watched after the leader is killed")
	f.DurationVar(&cfg.Sample, "sample", 5*time.Second, "how often the nodes are listed")
	f.DurationVar(&cfg.RunningTimeout, "timeout", 10*time.Minute, "bound on the wait for every node ready, and for every replica running")
	f.IntVar(&cfg.BasePort, "base-port", 0, "the lab's first port (0: a free block at random)")
	cfg.Root = lab.DefaultRoot()
	return cmd
}

func printFakeNodesResult(out io.Writer, res *fakeNodesBenchResult) error {
	mib := func(v float64) string { return fmt.Sprintf("%.0f MiB", v) }
	var servers []string
	for _, v := range res.ServerPeakRSS {
		servers = append(servers, mib(v))
	}
	fmt.Fprintf(out, "machine:           %s\n", res.Machine)
	fmt.Fprintf(out, "load:              %s before, %s in steady state, %s after\n", res.LoadBefore, res.SteadyLoad, res.LoadAfter)
	fmt.Fprintf(out, "cluster:           %d servers, %d fake nodes, %d replicas\n", res.Servers, res.Nodes, res.Replicas)
	fmt.Fprintf(out, "nodes ready in:    %.1fs\n", res.NodesReadySeconds)
	fmt.Fprintf(out, "all running in:    %.1fs after the apply (goal %s)\n", res.AllRunningSeconds, fakeNodesRunningGoal)
	fmt.Fprintf(out, "apply's CPU:       servers %.1fs, fake nodes %.1fs\n", res.ApplyServerCPU, res.ApplyFakeNodeCPU)
	fmt.Fprintf(out, "leader changes:    %d (%d while the nodes registered)\n", res.LeaderChanges, res.LeaderChangesRegistering)
	fmt.Fprintf(out, "nodes marked down: %d\n", len(res.NodesMarkedDown))
	fmt.Fprintf(out, "fewest ready:      %d of %d (%d samples)\n", res.MinReady, res.Nodes, res.Samples)
	fmt.Fprintf(out, "steady CPU:        servers %.0f%%, fake nodes %.0f%% of one core (over %.0fs)\n", res.ServerCPU, res.FakeNodeCPU, res.SteadySeconds)
	fmt.Fprintf(out, "peak RSS:          servers %s, fake nodes %s\n", strings.Join(servers, " / "), mib(res.FakeNodePeakRSS))
	if k := res.Kill; k != nil {
		fmt.Fprintf(out, "leader killed:     %s; %s led after %.1fs; watched %.0fs: %d nodes marked down, fewest ready %d\n",
			k.Killed, k.NewLeader, k.NewLeaderAfterS, k.WatchedSeconds, len(k.NodesMarkedDown), k.MinReady)
	}
	if res.GoalMet {
		fmt.Fprintln(out, "goal:              met")
	} else {
		fmt.Fprintf(out, "goal:              not met: %s\n", strings.Join(res.Missed, "; "))
	}
	return nil
}

// judge fills GoalMet and Missed.
func (res *fakeNodesBenchResult) judge() {
	res.Missed = nil
	miss := func(format string, args ...any) { res.Missed = append(res.Missed, fmt.Sprintf(format, args...)) }
	if res.AllRunningSeconds > fakeNodesRunningGoal.Seconds() {
		miss("all running after %.1fs (> %s)", res.AllRunningSeconds, fakeNodesRunningGoal)
	}
	if res.LeaderChanges > 0 {
		miss("%d leader changes", res.LeaderChanges)
	}
	if n := len(res.NodesMarkedDown); n > 0 {
		miss("%d nodes marked down", n)
	}
	if res.MinReady < res.Nodes {
		miss("as few as %d nodes ready", res.MinReady)
	}
	for i, v := range res.ServerPeakRSS {
		if v > fakeNodesServerRSSGoal {
			miss("server %d peaked at %.0f MiB", i+1, v)
		}
	}
	if res.FakeNodePeakRSS > fakeNodesFakeRSSGoal {
		miss("fake-node process peaked at %.0f MiB", res.FakeNodePeakRSS)
	}
	if cpu := res.ServerCPU + res.FakeNodeCPU; cpu >= fakeNodesCPUGoal {
		miss("steady CPU %.0f%% of one core", cpu)
	}
	if k := res.Kill; k != nil && len(k.NodesMarkedDown) > 0 {
		miss("%d nodes marked down after the leader was killed", len(k.NodesMarkedDown))
	}
	res.GoalMet = len(res.Missed) == 0
}

// countLeading counts elections won in the servers' logs.
func countLeading(l *lab.Lab) int {
	n := 0
	for _, p := range l.Processes {
		if p.Role != lab.RoleServer {
			continue
		}
		data, err := os.ReadFile(p.Log)
		if err != nil {
			continue
		}
		n += bytes.Count(data, []byte("msg=leading"))
	}
	return n
}

// nodeSampler lists the nodes every interval and remembers which were
// seen not ready, and the fewest ready.
type nodeSampler struct {
	client   *api.Client
	mu       sync.Mutex
	samples  int
	minReady int
	notReady map[string]bool
	errors   int
}

func (s *nodeSampler) reset() {
	s.mu.Lock()
	s.samples, s.minReady, s.notReady = 0, -1, map[string]bool{}
	s.mu.Unlock()
}

func (s *nodeSampler) sample(ctx context.Context) {
	call, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	nodes, _, err := s.client.Nodes(call, api.QueryOptions{})
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.errors++
		return
	}
	ready := 0
	for _, n := range nodes {
		if n.Status == api.NodeReady {
			ready++
		} else {
			s.notReady[n.Name] = true
		}
	}
	s.samples++
	if s.minReady < 0 || ready < s.minReady {
		s.minReady = ready
	}
}

func (s *nodeSampler) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.sample(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// result returns the samples so far and starts over.
func (s *nodeSampler) result() (samples, minReady int, notReady map[string]bool) {
	s.mu.Lock()
	samples, minReady, notReady = s.samples, s.minReady, s.notReady
	s.mu.Unlock()
	s.reset()
	return samples, minReady, notReady
}

// nodesDownSince are the nodes marked down by writes after index (the
// events the servers keep).
func nodesDownSince(ctx context.Context, client *api.Client, index uint64) (map[string]bool, error) {
	events, _, err := client.Events(ctx, api.EventFilter{}, api.QueryOptions{})
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	down := map[string]bool{}
	for _, e := range events {
		if e.Index > index && e.Type == api.EventNodeStatus && strings.Contains(e.Message, " is "+api.NodeDown) {
			down[e.Node] = true
		}
	}
	return down, nil
}

func sortedNames(sets ...map[string]bool) []string {
	all := map[string]bool{}
	for _, s := range sets {
		for k := range s {
			all[k] = true
		}
	}
	out := make([]string, 0, len(all))
	for k := range all {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// fakeNodeProcess is the child running the fake nodes.
type fakeNodeProcess struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func startFakeNodes(bin string, l *lab.Lab, n int) (*fakeNodeProcess, error) {
	logPath := filepath.Join(l.Dir, "logs", "fake-nodes.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "agent", "--fake-nodes", strconv.Itoa(n), "--name", "fake", "--servers", l.Addresses(),
		"--cpu", "4000m", "--memory", "8Gi", "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the fake nodes: %w", err)
	}
	p := &fakeNodeProcess{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *fakeNodeProcess) pid() int { return p.cmd.Process.Pid }

func (p *fakeNodeProcess) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("the fake-node process exited: %v", p.err)
	default:
		return nil
	}
}

func (p *fakeNodeProcess) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// waitUntil polls cond every interval until it says done, ctx ends or
// within passes.
func waitUntil(ctx context.Context, within, interval time.Duration, what string, cond func(context.Context) (bool, string, error)) error {
	deadline := time.Now().Add(within)
	var last string
	for {
		ok, state, err := cond(ctx)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if state != "" {
			last = state
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not after %s (%s)", what, within, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

func serverPIDs(l *lab.Lab) map[string]int {
	pids := map[string]int{}
	for _, p := range l.Processes {
		if p.Role == lab.RoleServer && p.PID > 0 {
			pids[p.Name] = p.PID
		}
	}
	return pids
}

func runFakeNodesBench(ctx context.Context, cfg fakeNodesBenchConfig) (res *fakeNodesBenchResult, err error) {
	if cfg.Servers <= 0 {
		cfg.Servers = 3
	}
	if cfg.Nodes <= 0 {
		cfg.Nodes = 10000
	}
	if cfg.Replicas < 0 {
		return nil, fmt.Errorf("--replicas must not be negative")
	}
	if cfg.Sample <= 0 {
		cfg.Sample = 5 * time.Second
	}
	if cfg.AfterKill <= 0 {
		cfg.AfterKill = time.Minute
	}
	if cfg.RunningTimeout <= 0 {
		cfg.RunningTimeout = 10 * time.Minute
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	if cfg.Root == "" {
		cfg.Root = lab.DefaultRoot()
	}
	res = &fakeNodesBenchResult{Date: time.Now().UTC().Format(time.RFC3339), Machine: sysinfo.Machine(), LoadBefore: sysinfo.LoadAverage(),
		Servers: cfg.Servers, Nodes: cfg.Nodes, Replicas: cfg.Replicas}
	l, err := upBenchLab(ctx, lab.Config{Name: fakeNodesBenchLab, Servers: cfg.Servers, Runtime: "sim", Root: cfg.Root,
		Binary: cfg.Binary, BasePort: cfg.BasePort, ReadyTimeout: time.Minute}, cfg.Progress)
	if err != nil {
		return nil, err
	}
	defer downBenchLab(l, &err)
	client, err := api.NewClient(l.Addresses())
	if err != nil {
		return nil, err
	}
	client.RetryFor = 0
	leading0 := countLeading(l)

	fmt.Fprintf(cfg.Progress, "starting %d fake nodes\n", cfg.Nodes)
	began := time.Now()
	fake, err := startFakeNodes(cfg.Binary, l, cfg.Nodes)
	if err != nil {
		return nil, err
	}
	defer fake.stop()
	err = waitUntil(ctx, cfg.RunningTimeout, time.Second, "every node ready", func(ctx context.Context) (bool, string, error) {
		if err := fake.exited(); err != nil {
			return false, "", err
		}
		call, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		nodes, _, err := client.Nodes(call, api.QueryOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		ready := 0
		for _, n := range nodes {
			if n.Status == api.NodeReady {
				ready++
			}
		}
		return ready >= cfg.Nodes, fmt.Sprintf("%d of %d nodes ready", ready, cfg.Nodes), nil
	})
	if err != nil {
		return nil, err
	}
	res.NodesReadySeconds = time.Since(began).Seconds()
	leadingReady := countLeading(l)
	res.LeaderChangesRegistering = leadingReady - leading0
	fmt.Fprintf(cfg.Progress, "%d nodes ready in %.1fs\n", cfg.Nodes, res.NodesReadySeconds)

	_, index0, err := client.Events(ctx, api.EventFilter{}, api.QueryOptions{})
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	sampler := &nodeSampler{client: client}
	sampler.reset()
	sampleCtx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		sampler.run(sampleCtx, cfg.Sample)
	}()
	defer func() {
		stopSampling()
		<-sampled
	}()

	spec := fmt.Sprintf("kind: Service\nname: %s\nnamespace: default\nimage: flotilla.local/demo:bench\nreplicas: %d\nresources: {cpu: 10m, memory: 16Mi}\n",
		fakeNodesBenchService, cfg.Replicas)
	specs, err := api.DecodeServices("bench", []byte(spec))
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Progress, "applying %s (%d replicas)\n", fakeNodesBenchService, cfg.Replicas)
	servers := serverPIDs(l)
	serversCPU := func() (sum float64) {
		for _, pid := range servers {
			sum += sysinfo.CPUSecondsOf(pid)
		}
		return sum
	}
	applyCPU0, applyFakeCPU0 := serversCPU(), sysinfo.CPUSecondsOf(fake.pid())
	applied := time.Now()
	if _, err := client.ApplyService(ctx, specs[0]); err != nil {
		return nil, fmt.Errorf("apply %s: %w", fakeNodesBenchService, err)
	}
	told := applied
	// Once a second: each read counts the service's allocations on the
	// server that answers, 100,000 of them, and the bench is not what is
	// measured (polled every 250 ms, it took 13% of the leader's CPU
	// during the apply).
	err = waitUntil(ctx, cfg.RunningTimeout, time.Second, "every replica running", func(ctx context.Context) (bool, string, error) {
		if err := fake.exited(); err != nil {
			return false, "", err
		}
		call, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		svc, _, err := client.Service(call, api.DefaultNamespace, fakeNodesBenchService, api.QueryOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		if time.Since(told) >= 5*time.Second {
			told = time.Now()
			fmt.Fprintf(cfg.Progress, "  %4.0fs: %d running\n", time.Since(applied).Seconds(), svc.RunningReplicas)
		}
		return svc.RunningReplicas >= cfg.Replicas, fmt.Sprintf("%d of %d running", svc.RunningReplicas, cfg.Replicas), nil
	})
	if err != nil {
		return nil, err
	}
	res.AllRunningSeconds = time.Since(applied).Seconds()
	res.ApplyServerCPU, res.ApplyFakeNodeCPU = serversCPU()-applyCPU0, sysinfo.CPUSecondsOf(fake.pid())-applyFakeCPU0
	fmt.Fprintf(cfg.Progress, "%d replicas running in %.1fs; steady for %s\n", cfg.Replicas, res.AllRunningSeconds, cfg.Steady)

	cpu0 := map[string]float64{}
	for name, pid := range servers {
		cpu0[name] = sysinfo.CPUSecondsOf(pid)
	}
	fakeCPU0 := sysinfo.CPUSecondsOf(fake.pid())
	steadyFrom := time.Now()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(cfg.Steady):
	}
	if err := fake.exited(); err != nil {
		return nil, err
	}
	res.SteadySeconds = time.Since(steadyFrom).Seconds()
	res.SteadyLoad = sysinfo.LoadAverage()
	for name, pid := range servers {
		res.ServerCPU += 100 * (sysinfo.CPUSecondsOf(pid) - cpu0[name]) / res.SteadySeconds
	}
	res.FakeNodeCPU = 100 * (sysinfo.CPUSecondsOf(fake.pid()) - fakeCPU0) / res.SteadySeconds
	names := make([]string, 0, len(servers))
	for name := range servers {
		names = append(names, name)
	}
	sort.Strings(names)
	peak := map[string]float64{}
	for _, name := range names {
		peak[name] = sysinfo.PeakRSSMiBOf(servers[name])
	}
	res.FakeNodePeakRSS = sysinfo.PeakRSSMiBOf(fake.pid())
	var notReady map[string]bool
	res.Samples, res.MinReady, notReady = sampler.result()
	down, err := nodesDownSince(ctx, client, index0)
	if err != nil {
		return nil, err
	}
	res.NodesMarkedDown = sortedNames(down, notReady)
	leadingSteady := countLeading(l)
	res.LeaderChanges = leadingSteady - leading0

	if cfg.KillLeader {
		k, err := killLeader(ctx, cfg, l, client, sampler, fake)
		if err != nil {
			return nil, err
		}
		res.Kill = k
		// The kill's own election is not a change the goal counts.
		if extra := countLeading(l) - leadingSteady - 1; extra > 0 {
			res.LeaderChanges += extra
		}
		if res.FakeNodePeakRSS < sysinfo.PeakRSSMiBOf(fake.pid()) {
			res.FakeNodePeakRSS = sysinfo.PeakRSSMiBOf(fake.pid())
		}
		for _, name := range names {
			if name != k.Killed {
				peak[name] = max(peak[name], sysinfo.PeakRSSMiBOf(servers[name]))
			}
		}
	}
	for _, name := range names {
		res.ServerPeakRSS = append(res.ServerPeakRSS, peak[name])
	}
	res.LoadAfter = sysinfo.LoadAverage()
	res.judge()
	return res, nil
}

// killLeader kills the leader and watches the cluster for cfg.AfterKill.
func killLeader(ctx context.Context, cfg fakeNodesBenchConfig, l *lab.Lab, client *api.Client, sampler *nodeSampler, fake *fakeNodeProcess) (*leaderKillResult, error) {
	ld, err := client.Leader(ctx)
	if err != nil || ld.Leader == "" {
		return nil, fmt.Errorf("find the leader to kill: %v", errors.Join(err, errors.New("no leader")))
	}
	_, index, err := client.Events(ctx, api.EventFilter{}, api.QueryOptions{})
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	k := &leaderKillResult{Killed: ld.Leader}
	fmt.Fprintf(cfg.Progress, "killing the leader, %s; watching for %s\n", ld.Leader, cfg.AfterKill)
	if err := l.Kill(ld.Leader); err != nil {
		return nil, err
	}
	killed := time.Now()
	err = waitUntil(ctx, time.Minute, 100*time.Millisecond, "a new leader", func(ctx context.Context) (bool, string, error) {
		call, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		ld, err := client.Leader(call)
		if err != nil {
			return false, err.Error(), nil
		}
		k.NewLeader = ld.Leader
		return ld.Leader != "" && ld.Leader != k.Killed, "leader " + ld.Leader, nil
	})
	if err != nil {
		return nil, err
	}
	k.NewLeaderAfterS = time.Since(killed).Seconds()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Until(killed.Add(cfg.AfterKill))):
	}
	if err := fake.exited(); err != nil {
		return nil, err
	}
	k.WatchedSeconds = time.Since(killed).Seconds()
	down, err := nodesDownSince(ctx, client, index)
	if err != nil {
		return nil, err
	}
	var notReady map[string]bool
	_, k.MinReady, notReady = sampler.result()
	k.NodesMarkedDown = sortedNames(down, notReady)
	return k, nil
}

// recordCommand keeps the command line the result came from.
func (r *fakeNodesBenchResult) recordCommand(line string) { r.Command = line }
