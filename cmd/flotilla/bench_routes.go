package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"flotilla/agent"
	"flotilla/api"
	"flotilla/internal/sysinfo"
	"flotilla/scenarios/lab"
)

// The goals of issue 10: a route change reaches every proxy within 500 ms
// (p99), and an abort sends all traffic back to stable within 1 s.
const (
	routesPropagationGoal = 500 * time.Millisecond
	routesAbortGoal       = time.Second
)

// routesBenchConfig says what `flotilla bench routes` runs.
type routesBenchConfig struct {
	Binary string
	// Root is where the lab lives; the lab is named routesBenchLab and its
	// logs stay there after the run.
	Root string
	// BasePort is the lab's first port; 0 picks a free block at random.
	BasePort int
	Servers  int
	Agents   int
	// FakeWatchers is how many extra blocking queries on /v1/endpoints run
	// all along, as that many more nodes watching would.
	FakeWatchers int
	// Repeats is how many rollout pause/resume pairs are timed (two route
	// changes each).
	Repeats int
	// Aborts is how many canaries are aborted under load.
	Aborts int
	// Rate is the requests per second sent through the VIP during aborts,
	// over Conns kept-alive connections.
	Rate  float64
	Conns int
	// Window is how long the load goes on after an abort.
	Window   time.Duration
	Progress io.Writer
}

const (
	routesBenchLab     = "bench-routes"
	routesBenchService = "web"
	routesBenchPort    = 7981 // unusual, so that no other lab's VIP:port is the same
	routesCanaryWeight = 50
)

// benchLatency summarises samples, in milliseconds.
type benchLatency struct {
	Samples int     `json:"samples"`
	P50Ms   float64 `json:"p50Ms"`
	P99Ms   float64 `json:"p99Ms"`
	MaxMs   float64 `json:"maxMs"`
}

// routesBenchResult is what `flotilla bench routes -o json` prints.
type routesBenchResult struct {
	Date         string `json:"date"`
	Machine      string `json:"machine"`
	Command      string `json:"command"`
	Servers      int    `json:"servers"`
	Agents       int    `json:"agents"`
	FakeWatchers int    `json:"fakeWatchers"`
	// Leader is the server that led when the measures began.
	Leader      string            `json:"leader"`
	Propagation propagationResult `json:"propagation"`
	Abort       abortResult       `json:"abort"`
	// The goals: every-proxy propagation p99 ≤ 500 ms, abort → stable
	// p99 ≤ 1 s.
	PropagationGoalMet bool `json:"propagationGoalMet"`
	AbortGoalMet       bool `json:"abortGoalMet"`
}

// propagationResult times route changes (rollout pause and resume, one
// Raft write each) from just before the write is sent.
type propagationResult struct {
	Writes int `json:"writes"`
	// WriteAck is until the write was acknowledged (committed and applied
	// on the leader).
	WriteAck benchLatency `json:"writeAck"`
	// EveryProxy is, per write, until the last agent's proxy applied it.
	EveryProxy benchLatency `json:"everyProxy"`
	// PerAgent pools every agent's sample of every write; Agents splits
	// them by agent.
	PerAgent benchLatency            `json:"perAgent"`
	Agents   map[string]benchLatency `json:"agents"`
	// Watchers is until each fake watcher's blocking query answered with
	// the write (nil without fake watchers); WatcherErrors counts failed
	// queries.
	Watchers      *benchLatency `json:"watchers,omitempty"`
	WatcherErrors int           `json:"watcherErrors,omitempty"`
}

// abortResult times aborts of a canary taking half the traffic.
type abortResult struct {
	Rate   float64      `json:"rate"`
	Conns  int          `json:"conns"`
	Rounds []abortRound `json:"rounds"`
	// Stable is from the abort sent to the last answer of the canary
	// (0 when none came after it); EveryProxy until the last agent's
	// proxy applied the abort.
	Stable     benchLatency `json:"stable"`
	EveryProxy benchLatency `json:"everyProxy"`
}

// abortRound is one abort: the load through the VIP around it.
type abortRound struct {
	Revision int    `json:"revision"`
	Version  string `json:"version"`
	// Requests answered or failed in the round; Errors of them failed.
	Requests int `json:"requests"`
	Errors   int `json:"errors"`
	// CanaryBefore and CanaryAfter count the canary's answers before and
	// after the abort was sent; LastCanaryMs is from the abort to the
	// last of them (0 when none came after).
	CanaryBefore int     `json:"canaryBefore"`
	CanaryAfter  int     `json:"canaryAfter"`
	LastCanaryMs float64 `json:"lastCanaryMs"`
	// EveryProxyMs is until the last agent's proxy applied the abort.
	EveryProxyMs float64 `json:"everyProxyMs"`
	// Proxies are the agents whose proxies answered.
	Proxies []string `json:"proxies"`
	// WindowMs is how long the load went on after the abort.
	WindowMs float64 `json:"windowMs"`
}

func newBenchRoutesCmd(g *globals) *cobra.Command {
	var cfg routesBenchConfig
	cmd := &cobra.Command{
		Use:   "routes",
		Short: "Time route-table propagation to every proxy, and abort to 100% stable, on a sim lab",
		Long: `Starts a sim lab of its own (--servers servers, --agents agents, on loopback;
removed at the end), applies a canary service of 3 replicas and rolls out a
second version to a manually paused step of 50%.

Propagation: --repeats times rollout pause then resume (one Raft write each,
which changes the service's endpoints), timed from just before the write is
sent to the moment each agent's proxy applied it (GET /v1/agent/routes on
every agent). "Every proxy" is the slowest agent of each write.

Abort to stable: --aborts times a new version is rolled out to 50%, load
goes through the VIP (--rate requests/s over --conns kept-alive connections)
until both versions answer, the rollout is aborted, and the time from the
abort to the canary's last answer is taken.

--fake-watchers N adds N blocking queries on /v1/endpoints (as N more
nodes watching, through the same server list as the agents) all along.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBench(cmd, g, func(bin string, progress io.Writer) { cfg.Binary, cfg.Progress = bin, progress },
				func(ctx context.Context) (*routesBenchResult, error) { return runRoutesBench(ctx, cfg) }, printRoutesResult)
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Servers, "servers", 3, "servers in the lab")
	f.IntVar(&cfg.Agents, "agents", 3, "agents (nodes, each with its proxy) in the lab")
	f.IntVar(&cfg.FakeWatchers, "fake-watchers", 0, "extra blocking queries on /v1/endpoints, as that many more nodes watching")
	f.IntVar(&cfg.Repeats, "repeats", 50, "rollout pause/resume pairs to time (two route changes each)")
	f.IntVar(&cfg.Aborts, "aborts", 5, "canaries to abort under load")
	f.Float64Var(&cfg.Rate, "rate", 200, "requests per second through the VIP during the aborts")
	f.IntVar(&cfg.Conns, "conns", 8, "kept-alive connections the load uses")
	f.IntVar(&cfg.BasePort, "base-port", 0, "the lab's first port (0: a free block picked at random)")
	cfg.Root = lab.DefaultRoot()
	return cmd
}

func printRoutesResult(out io.Writer, res *routesBenchResult) error {
	fmt.Fprintf(out, "machine: %s\n", res.Machine)
	fmt.Fprintf(out, "lab:     %d servers, %d agents (sim), leader %s", res.Servers, res.Agents, res.Leader)
	if res.FakeWatchers > 0 {
		fmt.Fprintf(out, ", %d fake watchers on /v1/endpoints", res.FakeWatchers)
	}
	fmt.Fprintf(out, "\n\n")
	ms := func(v float64) string { return fmt.Sprintf("%.1fms", v) }
	goal := func(met bool, limit time.Duration) string {
		if met {
			return fmt.Sprintf("met (≤ %s)", limit)
		}
		return fmt.Sprintf("MISSED (> %s)", limit)
	}
	t := newTable(out, "MEASURE", "SAMPLES", "P50", "P99", "MAX", "GOAL (P99)")
	p := res.Propagation
	t.row("write acknowledged", p.WriteAck.Samples, ms(p.WriteAck.P50Ms), ms(p.WriteAck.P99Ms), ms(p.WriteAck.MaxMs), "")
	t.row("propagation, every proxy", p.EveryProxy.Samples, ms(p.EveryProxy.P50Ms), ms(p.EveryProxy.P99Ms), ms(p.EveryProxy.MaxMs), goal(res.PropagationGoalMet, routesPropagationGoal))
	t.row("propagation, per agent", p.PerAgent.Samples, ms(p.PerAgent.P50Ms), ms(p.PerAgent.P99Ms), ms(p.PerAgent.MaxMs), "")
	names := make([]string, 0, len(p.Agents))
	for name := range p.Agents {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s := p.Agents[name]
		t.row("  agent "+name, s.Samples, ms(s.P50Ms), ms(s.P99Ms), ms(s.MaxMs), "")
	}
	if w := p.Watchers; w != nil {
		t.row("fake watchers' queries answered", w.Samples, ms(w.P50Ms), ms(w.P99Ms), ms(w.MaxMs), "")
	}
	a := res.Abort
	t.row("abort → last canary answer", a.Stable.Samples, ms(a.Stable.P50Ms), ms(a.Stable.P99Ms), ms(a.Stable.MaxMs), goal(res.AbortGoalMet, routesAbortGoal))
	t.row("abort → every proxy applied", a.EveryProxy.Samples, ms(a.EveryProxy.P50Ms), ms(a.EveryProxy.P99Ms), ms(a.EveryProxy.MaxMs), "")
	if err := t.flush(); err != nil {
		return err
	}
	if p.WatcherErrors > 0 {
		fmt.Fprintf(out, "fake watchers' failed queries: %d\n", p.WatcherErrors)
	}
	fmt.Fprintf(out, "\naborts (load %.0f requests/s over %d connections through the VIP):\n", a.Rate, a.Conns)
	t = newTable(out, "REVISION", "VERSION", "REQUESTS", "ERRORS", "CANARY BEFORE", "CANARY AFTER", "LAST CANARY", "EVERY PROXY", "PROXIES")
	for _, r := range a.Rounds {
		t.row(r.Revision, r.Version, r.Requests, r.Errors, r.CanaryBefore, r.CanaryAfter, ms(r.LastCanaryMs), ms(r.EveryProxyMs), strings.Join(r.Proxies, ","))
	}
	return t.flush()
}

// Pure parts: quantiles and the aggregation of samples.

// nearestRank is the nearest-rank q-quantile of sorted samples (0 for none).
func nearestRank(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func millisOf(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}

func summarizeLatency(samples []time.Duration) benchLatency {
	s := slices.Clone(samples)
	slices.Sort(s)
	return benchLatency{Samples: len(s), P50Ms: millisOf(nearestRank(s, 0.5)), P99Ms: millisOf(nearestRank(s, 0.99)), MaxMs: millisOf(nearestRank(s, 1))}
}

// routeSample is one write as the agents applied it: from the write sent
// to each agent's proxy using it.
type routeSample map[string]time.Duration

// slowest is the every-proxy sample: the last agent to apply the write.
func (s routeSample) slowest() time.Duration {
	var m time.Duration
	for _, d := range s {
		m = max(m, d)
	}
	return m
}

// aggregatePropagation turns each write's samples into the figures.
func aggregatePropagation(ack []time.Duration, samples []routeSample) propagationResult {
	res := propagationResult{Writes: len(samples), WriteAck: summarizeLatency(ack), Agents: map[string]benchLatency{}}
	var every, pooled []time.Duration
	perAgent := map[string][]time.Duration{}
	for _, s := range samples {
		every = append(every, s.slowest())
		for name, d := range s {
			pooled = append(pooled, d)
			perAgent[name] = append(perAgent[name], d)
		}
	}
	res.EveryProxy, res.PerAgent = summarizeLatency(every), summarizeLatency(pooled)
	for name, ds := range perAgent {
		res.Agents[name] = summarizeLatency(ds)
	}
	return res
}

// appliedSince is when the agent's proxy first used a version of the
// service's endpoints at or past index: a later version may already have
// replaced it, so the earlier ones count too.
func appliedSince(route agent.AppliedRoute, index uint64) (time.Time, bool) {
	var first time.Time
	for _, v := range append(slices.Clone(route.Previous), route.RouteVersion) {
		if v.ModifyIndex >= index && (first.IsZero() || v.AppliedAt.Before(first)) {
			first = v.AppliedAt
		}
	}
	return first, !first.IsZero()
}

// watchAnswer is an index a blocking query answered and when.
type watchAnswer struct {
	Index uint64
	At    time.Time
}

// firstAnswerPast is when a watcher's queries first answered index or past
// it.
func firstAnswerPast(answers []watchAnswer, index uint64) (time.Time, bool) {
	for _, a := range answers {
		if a.Index >= index {
			return a.At, true
		}
	}
	return time.Time{}, false
}

// vipAnswer is one request through the VIP.
type vipAnswer struct {
	At         time.Time
	Version    string
	Allocation string
	Proxy      string
	Err        bool
}

// summarizeAbort reads the answers of one round around the abort sent at
// t0: which versions answered when, and whether all came from the
// service's own allocations (another lab could own the same VIP).
func summarizeAbort(answers []vipAnswer, t0 time.Time, canary string, allocs map[string]bool) (abortRound, error) {
	r := abortRound{Version: canary}
	proxies := map[string]bool{}
	var last time.Time
	foreign := 0
	for _, a := range answers {
		r.Requests++
		if a.Err {
			r.Errors++
			continue
		}
		if a.Allocation != "" && allocs != nil && !allocs[a.Allocation] {
			foreign++
		}
		if a.Proxy != "" {
			proxies[a.Proxy] = true
		}
		if a.Version != canary {
			continue
		}
		if a.At.After(t0) {
			r.CanaryAfter++
			if a.At.After(last) {
				last = a.At
			}
		} else {
			r.CanaryBefore++
		}
	}
	if !last.IsZero() {
		r.LastCanaryMs = millisOf(last.Sub(t0))
	}
	for p := range proxies {
		r.Proxies = append(r.Proxies, p)
	}
	sort.Strings(r.Proxies)
	if foreign > 0 {
		return r, fmt.Errorf("%d answers through the VIP came from allocations that are not this lab's: another cluster owns the same VIP and port", foreign)
	}
	return r, nil
}

// The run against a lab.

type routesBench struct {
	cfg    routesBenchConfig
	client *api.Client
	// agents maps agent names to their HTTP API addresses.
	agents map[string]string
	http   *http.Client
}

func runRoutesBench(ctx context.Context, cfg routesBenchConfig) (res *routesBenchResult, err error) {
	if cfg.Servers <= 0 {
		cfg.Servers = 3
	}
	if cfg.Agents <= 0 {
		cfg.Agents = 3
	}
	if cfg.Repeats <= 0 {
		cfg.Repeats = 50
	}
	if cfg.Aborts <= 0 {
		cfg.Aborts = 5
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 200
	}
	if cfg.Conns <= 0 {
		cfg.Conns = 8
	}
	if cfg.Window <= 0 {
		cfg.Window = 2 * time.Second
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	if cfg.Root == "" {
		cfg.Root = lab.DefaultRoot()
	}
	l, err := upRoutesLab(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer downBenchLab(l, &err)
	client, err := api.NewClient(l.Addresses())
	if err != nil {
		return nil, err
	}
	b := &routesBench{cfg: cfg, client: client, agents: map[string]string{},
		http: &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
	defer b.http.CloseIdleConnections()
	nodes, _, err := client.Nodes(ctx, api.QueryOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	for _, n := range nodes {
		if n.HTTPAddress != "" {
			b.agents[n.Name] = n.HTTPAddress
		}
	}
	if len(b.agents) != cfg.Agents {
		return nil, fmt.Errorf("%d agents serve an API, want %d", len(b.agents), cfg.Agents)
	}

	var watchers *fakeWatchers
	if cfg.FakeWatchers > 0 {
		watchers = startFakeWatchers(ctx, l.Addresses(), cfg.FakeWatchers)
		defer watchers.stop()
		fmt.Fprintf(cfg.Progress, "%d fake watchers on /v1/endpoints\n", cfg.FakeWatchers)
	}

	res = &routesBenchResult{Date: time.Now().UTC().Format(time.RFC3339), Machine: sysinfo.Machine(),
		Servers: cfg.Servers, Agents: cfg.Agents, FakeWatchers: cfg.FakeWatchers}
	if ld, err := client.Leader(ctx); err == nil {
		res.Leader = ld.Leader
	}

	fmt.Fprintf(cfg.Progress, "applying %s v1 (3 replicas)\n", routesBenchService)
	if _, err := b.apply(ctx, "v1"); err != nil {
		return nil, err
	}
	if err := b.waitReady(ctx, 3); err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Progress, "rolling out v2 to %d%% (manual pause)\n", routesCanaryWeight)
	applied, err := b.apply(ctx, "v2")
	if err != nil {
		return nil, err
	}
	ro, err := b.waitCanaryStep(ctx, applied.Revision)
	if err != nil {
		return nil, err
	}
	if _, err := b.waitApplied(ctx, ro.ModifyIndex, time.Time{}); err != nil {
		return nil, err
	}

	fmt.Fprintf(cfg.Progress, "timing %d route changes (rollout pause/resume)\n", 2*cfg.Repeats)
	var acks []time.Duration
	var samples []routeSample
	var writes []struct {
		index uint64
		t0    time.Time
	}
	for i := 0; i < 2*cfg.Repeats; i++ {
		action := api.ActionPause
		if i%2 == 1 {
			action = api.ActionResume
		}
		if err := b.settle(ctx); err != nil {
			return nil, err
		}
		t0 := time.Now()
		w, err := client.RolloutAction(ctx, api.DefaultNamespace, routesBenchService, action, api.RolloutAction{})
		if err != nil {
			return nil, fmt.Errorf("rollout %s: %w", action, err)
		}
		acks = append(acks, time.Since(t0))
		sample, err := b.waitApplied(ctx, w.Index, t0)
		if err != nil {
			return nil, fmt.Errorf("rollout %s (index %d): %w", action, w.Index, err)
		}
		samples = append(samples, sample)
		writes = append(writes, struct {
			index uint64
			t0    time.Time
		}{w.Index, t0})
	}
	res.Propagation = aggregatePropagation(acks, samples)
	if watchers != nil {
		last := writes[len(writes)-1].index
		if err := watchers.waitPast(ctx, last, 10*time.Second); err != nil {
			return nil, err
		}
		var ds []time.Duration
		logs, errs := watchers.snapshot()
		for _, w := range writes {
			for _, log := range logs {
				if at, ok := firstAnswerPast(log, w.index); ok {
					ds = append(ds, at.Sub(w.t0))
				}
			}
		}
		s := summarizeLatency(ds)
		res.Propagation.Watchers, res.Propagation.WatcherErrors = &s, errs
	}

	var stable, everyProxy []time.Duration
	for i := 0; i < cfg.Aborts; i++ {
		round, err := b.abortRound(ctx, fmt.Sprintf("v%d", i+3))
		if err != nil {
			return nil, err
		}
		res.Abort.Rounds = append(res.Abort.Rounds, round)
		stable = append(stable, time.Duration(round.LastCanaryMs*float64(time.Millisecond)))
		everyProxy = append(everyProxy, time.Duration(round.EveryProxyMs*float64(time.Millisecond)))
	}
	res.Abort.Rate, res.Abort.Conns = cfg.Rate, cfg.Conns
	res.Abort.Stable, res.Abort.EveryProxy = summarizeLatency(stable), summarizeLatency(everyProxy)
	res.PropagationGoalMet = res.Propagation.EveryProxy.P99Ms <= millisOf(routesPropagationGoal)
	res.AbortGoalMet = res.Abort.Stable.P99Ms <= millisOf(routesAbortGoal)
	return res, nil
}

// upRoutesLab starts the benchmark's lab.
func upRoutesLab(ctx context.Context, cfg routesBenchConfig) (*lab.Lab, error) {
	return upBenchLab(ctx, lab.Config{Name: routesBenchLab, Servers: cfg.Servers, Agents: cfg.Agents, Runtime: "sim", Root: cfg.Root,
		Binary: cfg.Binary, BasePort: cfg.BasePort, ReadyTimeout: 30 * time.Second}, cfg.Progress)
}

// upBenchLab starts a benchmark's lab; without a base port it tries a few
// random blocks until one is free.
func upBenchLab(ctx context.Context, lc lab.Config, progress io.Writer) (*lab.Lab, error) {
	if lc.BasePort != 0 {
		return lab.Up(ctx, lc, progress)
	}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		// 10000-19800, in blocks of 200: servers use the first 100 ports,
		// agents the next; the e2e tests' labs live above 20000.
		lc.BasePort = 10000 + rand.IntN(50)*200
		var l *lab.Lab
		if l, err = lab.Up(ctx, lc, progress); err == nil || !strings.Contains(err.Error(), "in use") {
			return l, err
		}
	}
	return nil, err
}

// downBenchLab takes a benchmark's lab down at its end: a failure to do
// so is the run's error if it had none, and a failed run names the lab's
// logs.
func downBenchLab(l *lab.Lab, err *error) {
	if derr := l.Down(io.Discard); derr != nil && *err == nil {
		*err = derr
	}
	if *err != nil {
		*err = fmt.Errorf("%w (lab logs: %s)", *err, l.Dir)
	}
}

func (b *routesBench) apply(ctx context.Context, version string) (api.ApplyResponse, error) {
	spec := fmt.Sprintf(`kind: Service
name: %s
namespace: default
image: flotilla.local/demo:bench
args: ["--version", %q]
replicas: 3
resources: {cpu: 50m, memory: 32Mi}
ports: [{name: http, port: %d, protocol: http}]
rollout:
  strategy: canary
  canary: {steps: [{weight: %d, pause: manual}, {weight: 100}]}
`, routesBenchService, version, routesBenchPort, routesCanaryWeight)
	specs, err := api.DecodeServices("bench", []byte(spec))
	if err != nil {
		return api.ApplyResponse{}, err
	}
	resp, err := b.client.ApplyService(ctx, specs[0])
	if err != nil {
		return resp, fmt.Errorf("apply %s %s: %w", routesBenchService, version, err)
	}
	return resp, nil
}

// waitReady waits until n replicas of the first revision are ready and
// every proxy routes to them.
func (b *routesBench) waitReady(ctx context.Context, n int) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var index uint64
	for {
		list, next, err := b.client.Endpoints(ctx, api.QueryOptions{Index: index, Wait: 5 * time.Second})
		if err != nil {
			return fmt.Errorf("wait for %d ready replicas of %s: %w", n, routesBenchService, err)
		}
		index = next
		for _, se := range list {
			if se.Name != routesBenchService || se.Namespace != api.DefaultNamespace {
				continue
			}
			ready := 0
			for _, e := range se.Endpoints {
				if e.Ready {
					ready++
				}
			}
			if ready >= n {
				_, err := b.waitApplied(ctx, se.ModifyIndex, time.Time{})
				return err
			}
		}
	}
}

// waitCanaryStep waits until the rollout of revision gives the canary its
// weight (its replicas are ready).
func (b *routesBench) waitCanaryStep(ctx context.Context, revision int) (*api.Rollout, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var index uint64
	for {
		ro, next, err := b.client.Rollout(ctx, api.DefaultNamespace, routesBenchService, api.QueryOptions{Index: index, Wait: 5 * time.Second})
		if err != nil {
			return nil, fmt.Errorf("wait for revision %d to take %d%%: %w", revision, routesCanaryWeight, err)
		}
		index = next
		if ro.Revision == revision && ro.Weights[revision] == routesCanaryWeight && ro.Active() {
			return ro, nil
		}
		if ro.Revision == revision && !ro.Active() {
			return nil, fmt.Errorf("the rollout of revision %d ended (%s): %s", revision, ro.Phase, ro.Reason)
		}
	}
}

// settle waits until the endpoints rest (the evaluation a rollout action
// makes may write the rollout again a moment later), at most 2s, then a
// random moment more, so that writes do not keep step with anything.
func (b *routesBench) settle(ctx context.Context) error {
	_, index, err := b.client.Endpoints(ctx, api.QueryOptions{})
	if err != nil {
		return err
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		_, next, err := b.client.Endpoints(ctx, api.QueryOptions{Index: index, Wait: 100 * time.Millisecond})
		if err != nil {
			return err
		}
		if next == index {
			break
		}
		index = next
	}
	if _, err := b.waitApplied(ctx, index, time.Time{}); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(rand.N(50 * time.Millisecond)):
		return nil
	}
}

// waitApplied polls every agent's routes until its proxy uses the
// service's endpoints at index or past it (within 10 s); it returns, per
// agent, the time from t0 to then.
func (b *routesBench) waitApplied(ctx context.Context, index uint64, t0 time.Time) (routeSample, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var mu sync.Mutex
	sample := routeSample{}
	var wg sync.WaitGroup
	errs := make(chan error, len(b.agents))
	for name, addr := range b.agents {
		wg.Go(func() {
			at, err := pollAgentRoutes(ctx, b.http, addr, api.DefaultNamespace+"/"+routesBenchService, index)
			if err != nil {
				errs <- fmt.Errorf("agent %s: %w", name, err)
				return
			}
			mu.Lock()
			sample[name] = at.Sub(t0)
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	var failed []error
	for err := range errs {
		failed = append(failed, err)
	}
	if len(failed) > 0 {
		return nil, errors.Join(failed...)
	}
	return sample, nil
}

// pollAgentRoutes reads an agent's routes (GET /v1/agent/routes) every
// 5 ms until those of the service key ("namespace/name") are at index or
// past it, and returns when the agent applied them (by its own clock, so
// polling does not add to the figure). ctx bounds the wait.
func pollAgentRoutes(ctx context.Context, hc *http.Client, addr, key string, index uint64) (time.Time, error) {
	var last uint64
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v1/agent/routes", nil)
		if err != nil {
			return time.Time{}, err
		}
		resp, err := hc.Do(req)
		if err == nil {
			var v agent.RoutesView
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("GET /v1/agent/routes: %s", resp.Status)
			} else {
				err = json.NewDecoder(resp.Body).Decode(&v)
			}
			resp.Body.Close()
			if err == nil {
				route := v.Services[key]
				last = route.ModifyIndex
				if at, ok := appliedSince(route, index); ok {
					return at, nil
				}
			}
		}
		if ctx.Err() != nil {
			return time.Time{}, fmt.Errorf("its proxy did not apply index %d of %s in time (it is at %d; last error: %v)", index, key, last, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// abortRound rolls out version to the canary step, loads the VIP until
// both versions answer, aborts, and keeps the load on for the window.
func (b *routesBench) abortRound(ctx context.Context, version string) (abortRound, error) {
	fmt.Fprintf(b.cfg.Progress, "abort: rolling out %s to %d%%, then aborting under load\n", version, routesCanaryWeight)
	applied, err := b.apply(ctx, version)
	if err != nil {
		return abortRound{}, err
	}
	ro, err := b.waitCanaryStep(ctx, applied.Revision)
	if err != nil {
		return abortRound{}, err
	}
	if _, err := b.waitApplied(ctx, ro.ModifyIndex, time.Time{}); err != nil {
		return abortRound{}, err
	}
	svc, _, err := b.client.Service(ctx, api.DefaultNamespace, routesBenchService, api.QueryOptions{})
	if err != nil {
		return abortRound{}, err
	}
	if svc.VIP == "" {
		return abortRound{}, fmt.Errorf("service %s has no VIP", routesBenchService)
	}
	load := startVIPLoad(ctx, fmt.Sprintf("http://%s:%d/", svc.VIP, routesBenchPort), b.cfg.Rate, b.cfg.Conns)
	defer load.stop()
	if err := load.waitVersions(ctx, 10*time.Second, "v1", version); err != nil {
		return abortRound{}, err
	}
	// Half a second of the split at least, so that every connection has
	// been given both versions before the abort.
	select {
	case <-ctx.Done():
		return abortRound{}, ctx.Err()
	case <-time.After(500 * time.Millisecond):
	}
	if err := b.settle(ctx); err != nil {
		return abortRound{}, err
	}
	t0 := time.Now()
	w, err := b.client.RolloutAction(ctx, api.DefaultNamespace, routesBenchService, api.ActionAbort, api.RolloutAction{})
	if err != nil {
		return abortRound{}, fmt.Errorf("rollout abort: %w", err)
	}
	sample, err := b.waitApplied(ctx, w.Index, t0)
	if err != nil {
		return abortRound{}, fmt.Errorf("rollout abort (index %d): %w", w.Index, err)
	}
	select {
	case <-ctx.Done():
		return abortRound{}, ctx.Err()
	case <-time.After(time.Until(t0.Add(b.cfg.Window))):
	}
	answers := load.stop()
	allocs, _, err := b.client.Allocations(ctx, api.AllocFilter{Namespace: api.DefaultNamespace, Service: routesBenchService}, api.QueryOptions{})
	if err != nil {
		return abortRound{}, err
	}
	ours := map[string]bool{}
	for _, a := range allocs {
		ours[a.ID] = true
	}
	round, err := summarizeAbort(answers, t0, version, ours)
	if err != nil {
		return abortRound{}, err
	}
	round.Revision, round.EveryProxyMs, round.WindowMs = applied.Revision, millisOf(sample.slowest()), millisOf(b.cfg.Window)
	if round.CanaryBefore == 0 {
		return abortRound{}, fmt.Errorf("abort of %s: the canary never answered before the abort", version)
	}
	return round, nil
}

// vipLoad sends GETs through a VIP at a steady rate over kept-alive
// connections (one per worker) and records every answer's version and time.
type vipLoad struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	mu      sync.Mutex
	answers []vipAnswer
}

func startVIPLoad(ctx context.Context, url string, rate float64, conns int) *vipLoad {
	ctx, cancel := context.WithCancel(ctx)
	l := &vipLoad{cancel: cancel}
	interval := time.Duration(float64(conns) / rate * float64(time.Second))
	for i := 0; i < conns; i++ {
		client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, DisableCompression: true}}
		l.wg.Go(func() {
			defer client.CloseIdleConnections()
			// Workers start spread over one interval.
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(i) * interval / time.Duration(conns)):
			}
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for {
				l.record(getThroughVIP(ctx, client, url))
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		})
	}
	return l
}

// getThroughVIP sends one GET; a request cut by the end of the load is not
// an answer.
func getThroughVIP(ctx context.Context, client *http.Client, url string) (vipAnswer, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return vipAnswer{At: time.Now(), Err: true}, true
	}
	resp, err := client.Do(req)
	if err != nil {
		return vipAnswer{At: time.Now(), Err: true}, ctx.Err() == nil
	}
	var body struct {
		Version    string `json:"version"`
		Allocation string `json:"allocation"`
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body)
	_, _ = io.Copy(io.Discard, resp.Body) // so that the connection is kept
	resp.Body.Close()
	a := vipAnswer{At: time.Now(), Version: body.Version, Allocation: body.Allocation, Proxy: resp.Header.Get("X-Flotilla-Proxy")}
	a.Err = err != nil || resp.StatusCode >= 300
	return a, ctx.Err() == nil
}

func (l *vipLoad) record(a vipAnswer, ok bool) {
	if !ok {
		return
	}
	l.mu.Lock()
	l.answers = append(l.answers, a)
	l.mu.Unlock()
}

// waitVersions waits until every version named has answered.
func (l *vipLoad) waitVersions(ctx context.Context, within time.Duration, versions ...string) error {
	deadline := time.Now().Add(within)
	for {
		seen := map[string]bool{}
		l.mu.Lock()
		for _, a := range l.answers {
			seen[a.Version] = true
		}
		n := len(l.answers)
		l.mu.Unlock()
		missing := slices.DeleteFunc(slices.Clone(versions), func(v string) bool { return seen[v] })
		if len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s and %d requests through the VIP, no answer from %s", within, n, strings.Join(missing, ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop ends the load and returns every answer, in no particular order.
func (l *vipLoad) stop() []vipAnswer {
	l.once.Do(func() {
		l.cancel()
		l.wg.Wait()
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.answers)
}

// fakeWatchers are blocking queries on /v1/endpoints, as many nodes
// watching; each remembers every index it was answered and when.
type fakeWatchers struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	logs [][]watchAnswer
	errs int
}

func startFakeWatchers(ctx context.Context, addresses string, n int) *fakeWatchers {
	ctx, cancel := context.WithCancel(ctx)
	w := &fakeWatchers{cancel: cancel, logs: make([][]watchAnswer, n)}
	client, err := api.NewClient(addresses)
	if err != nil {
		cancel()
		return w // the lab's own addresses: cannot fail
	}
	client.KeepAlivePerHost(2 * n)
	for i := 0; i < n; i++ {
		w.wg.Go(func() {
			var index uint64
			for {
				_, next, err := client.Endpoints(ctx, api.QueryOptions{Index: index, Wait: 30 * time.Second})
				at := time.Now()
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					w.mu.Lock()
					w.errs++
					w.mu.Unlock()
					select {
					case <-ctx.Done():
						return
					case <-time.After(100 * time.Millisecond):
					}
					continue
				}
				if next > index {
					w.mu.Lock()
					w.logs[i] = append(w.logs[i], watchAnswer{Index: next, At: at})
					w.mu.Unlock()
				}
				index = next
			}
		})
	}
	return w
}

// waitPast waits until every watcher was answered index or past it.
func (w *fakeWatchers) waitPast(ctx context.Context, index uint64, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		behind := 0
		w.mu.Lock()
		for _, log := range w.logs {
			if len(log) == 0 || log[len(log)-1].Index < index {
				behind++
			}
		}
		w.mu.Unlock()
		if behind == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d fake watchers were not answered index %d within %s", behind, len(w.logs), index, within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (w *fakeWatchers) snapshot() ([][]watchAnswer, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([][]watchAnswer, len(w.logs))
	for i, log := range w.logs {
		out[i] = slices.Clone(log)
	}
	return out, w.errs
}

func (w *fakeWatchers) stop() {
	w.cancel()
	w.wg.Wait()
}

// recordCommand keeps the command line the result came from.
func (r *routesBenchResult) recordCommand(line string) { r.Command = line }
