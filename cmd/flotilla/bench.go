package main

import (
	"context"
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"flotilla/network/netbench"
	"flotilla/scenarios/lab"
	"flotilla/scheduler/bench"
)

func newBenchCmd(g *globals) *cobra.Command {
	var cpuProfile string
	var stopProfile func()
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure Flotilla on this machine",
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if cpuProfile == "" {
				return nil
			}
			f, err := os.Create(cpuProfile)
			if err != nil {
				return err
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				f.Close()
				return err
			}
			stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
			return nil
		},
		PersistentPostRun: func(cmd *cobra.Command, args []string) {
			if stopProfile != nil {
				stopProfile()
			}
		},
	}
	cmd.PersistentFlags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of this process to this file")
	var cfg bench.SchedulerConfig
	sched := &cobra.Command{
		Use:   "scheduler",
		Short: "Place M replicas on N registered nodes with an in-process cluster of real servers",
		Long: `Starts --servers real servers in this process (Raft on bbolt files in a
temporary directory, fsync on), registers --nodes nodes through the HTTP API,
submits services totalling --replicas replicas and reports how long until
every placement is committed, evaluation latency and peak RSS.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(g.output); err != nil {
				return err
			}
			if g.output == "table" {
				cfg.Progress = cmd.ErrOrStderr()
			}
			res, err := bench.RunScheduler(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if g.output != "table" {
				return printObject(out, g.output, res)
			}
			fmt.Fprintf(out, "machine:     %s\n", res.Machine)
			fmt.Fprintf(out, "cluster:     %d servers, %d nodes, %d services, %d replicas\n", res.Servers, res.Nodes, res.Services, res.Replicas)
			fmt.Fprintf(out, "placed in:   %.2fs (%.0f placements/s)\n", res.Seconds, res.PlacementsPerSecond)
			fmt.Fprintf(out, "evaluations: p50 %.1f ms, p99 %.1f ms\n", res.EvalP50Ms, res.EvalP99Ms)
			fmt.Fprintf(out, "peak RSS:    %.0f MiB (all %d servers in this process)\n", res.PeakRSSMiB, res.Servers)
			if res.OverCommitted > 0 {
				return fmt.Errorf("%d nodes over-committed", res.OverCommitted)
			}
			return nil
		},
	}
	sched.Flags().IntVar(&cfg.Nodes, "nodes", 1000, "nodes to register")
	sched.Flags().IntVar(&cfg.Replicas, "replicas", 10000, "replicas to place in all")
	sched.Flags().IntVar(&cfg.Servers, "servers", 3, "servers in the cluster")
	sched.Flags().IntVar(&cfg.ServiceSize, "service-size", 1000, "replicas per service")
	cmd.AddCommand(sched, newBenchProxyCmd(g), newBenchDNSCmd(g), newBenchContainerdCmd(g), newBenchRoutesCmd(g), newBenchForecastCmd(g), newBenchFakeNodesCmd(g))
	return cmd
}

func newBenchProxyCmd(g *globals) *cobra.Command {
	var cfg netbench.ProxyConfig
	cmd := &cobra.Command{
		Use:   "proxy",
		Short: "Compare the service proxy with a direct connection and nginx, under wrk",
		Long: `Starts the demo workload as the upstream, the Flotilla proxy owning a VIP in
front of it, and nginx (Debian's nginx-light) as a reverse proxy with
keep-alive to the same upstream (one worker per core, upstream keepalive at
least the largest connection count), all on loopback. For each connection
count of the sweep, wrk (Debian's wrk) runs against the three paths in
turns over several short rounds, each round starting with the next path:
requests per second, p50/p99 latency and the CPU time the proxy (this
process, or nginx's master and workers) and the upstream spent per request,
medians over the rounds; and the proxy's throughput, p99 and CPU per
request as a share of nginx's in every round, with their medians.
The proxy runs on as many processors (GOMAXPROCS) as an agent does by
default (--proxy-procs to change it), and wrk, nginx and the upstream each
run in a session of their own, as services do.
Every process started is stopped and waited for (nginx gracefully); the
command fails if any is still running at the end.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if cfg.ProxyProcs, err = procsFlag("--proxy-procs", cfg.ProxyProcs); err != nil {
				return err
			}
			return runBench(cmd, g, func(bin string, progress io.Writer) { cfg.Binary, cfg.Progress = bin, progress },
				func(ctx context.Context) (*netbench.ProxyResult, error) { return netbench.RunProxy(ctx, cfg) },
				func(out io.Writer, res *netbench.ProxyResult) error { printProxyBench(out, res); return nil })
		},
	}
	cmd.Flags().DurationVar(&cfg.Duration, "duration", netbench.DefaultRunDuration, "how long each wrk run lasts")
	cmd.Flags().IntSliceVar(&cfg.Connections, "connections", netbench.DefaultConnections, "wrk connections, a sweep (comma-separated)")
	cmd.Flags().IntVar(&cfg.Threads, "threads", 2, "wrk threads")
	cmd.Flags().IntVar(&cfg.Rounds, "rounds", netbench.DefaultRounds, "rounds: each path once per round, in turns")
	cmd.Flags().IntVar(&cfg.ProxyProcs, "proxy-procs", 0, "processors (GOMAXPROCS) of this process, which runs the proxy; 0: as an agent's by default (flotilla agent --procs)")
	return cmd
}

// runBench is what every bench command does around its run: check -o,
// hand the run this binary (to start labs and workloads with) and, for a
// table, a progress writer (stderr), have a result that records its
// command line record it, then print the result as -o asks.
func runBench[R any](cmd *cobra.Command, g *globals, prepare func(binary string, progress io.Writer),
	run func(ctx context.Context) (R, error), table func(io.Writer, R) error) error {
	if err := checkFormat(g.output); err != nil {
		return err
	}
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	var progress io.Writer
	if g.output == "table" {
		progress = cmd.ErrOrStderr()
	}
	prepare(bin, progress)
	res, err := run(cmd.Context())
	if err != nil {
		return err
	}
	if r, ok := any(res).(interface{ recordCommand(string) }); ok {
		r.recordCommand("flotilla " + strings.Join(os.Args[1:], " "))
	}
	if g.output != "table" {
		return printObject(cmd.OutOrStdout(), g.output, res)
	}
	return table(cmd.OutOrStdout(), res)
}

// printProxyBench prints one table per connection count: the medians over
// the rounds, and the proxy/nginx ratios of every round.
func printProxyBench(out io.Writer, res *netbench.ProxyResult) {
	fmt.Fprintf(out, "machine: %s\nload:    %s before, %s after (1, 5, 15 min)\n", res.Machine, res.LoadBefore, res.LoadAfter)
	fmt.Fprintf(out, "wrk:     %s, %d threads, %s per run, %d rounds\n", res.Wrk, res.Threads, res.Duration, res.Rounds)
	fmt.Fprintf(out, "nginx:   %s, %d workers, upstream keepalive %d\n", res.Nginx, res.NginxWorkers, res.NginxKeepalive)
	fmt.Fprintf(out, "proxy:   GOMAXPROCS %d\n", res.ProxyProcs)
	us := func(v float64) string {
		if v == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1fµs", v)
	}
	for _, s := range res.Sweeps {
		fmt.Fprintf(out, "\n%d connections (medians of %d rounds; CPU: per request)\n", s.Connections, res.Rounds)
		t := newTable(out, "PATH", "REQUESTS/S", "P50", "P99", "NON-2XX", "PROXY CPU", "UPSTREAM CPU")
		for _, p := range s.Paths {
			t.row(p.Target, fmt.Sprintf("%.0f", p.RequestsPerS), fmt.Sprintf("%.2fms", p.P50Ms), fmt.Sprintf("%.2fms", p.P99Ms), p.Errors,
				us(p.ProxyCPUUs), us(p.UpstreamCPUUs))
		}
		t.flush()
		for _, r := range []struct {
			what   string
			median float64
			rounds []float64
		}{
			{"requests/s", s.VsNginx, s.RoundRatios},
			{"p99", s.P99VsNginx, s.P99Ratios},
			{"CPU per request", s.CPUVsNginx, s.CPURatios},
		} {
			ratios := make([]string, len(r.rounds))
			for i, v := range r.rounds {
				ratios[i] = fmt.Sprintf("%.2f", v)
			}
			fmt.Fprintf(out, "flotilla proxy / nginx, %s: %.2fx (rounds: %s)\n", r.what, r.median, strings.Join(ratios, ", "))
		}
	}
}

func newBenchDNSCmd(g *globals) *cobra.Command {
	var services, procs int
	var duration time.Duration
	cmd := &cobra.Command{
		Use:   "dns",
		Short: "Measure the cluster DNS server with dnsperf",
		Long: `Serves the A and SRV names of --services services from a DNS server in
this process, on as many processors (GOMAXPROCS) as an agent runs it by
default (--dns-procs to change it), and runs dnsperf (Debian's dnsperf)
against it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(g.output); err != nil {
				return err
			}
			n, err := procsFlag("--dns-procs", procs)
			if err != nil {
				return err
			}
			defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(n))
			var progress io.Writer
			if g.output == "table" {
				progress = cmd.ErrOrStderr()
			}
			res, err := netbench.RunDNS(cmd.Context(), services, duration, progress)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if g.output != "table" {
				return printObject(out, g.output, res)
			}
			fmt.Fprintf(out, "machine:  %s\ncommand:  %s\nserver:   GOMAXPROCS %d\nqueries/s: %.0f (lost %d, average latency %s)\n",
				res.Machine, res.Command, res.Procs, res.QueriesPerS, res.Lost, res.AvgLatency)
			return nil
		},
	}
	cmd.Flags().IntVar(&services, "services", 200, "services to serve (each asked for its A and SRV records)")
	cmd.Flags().DurationVar(&duration, "duration", 10*time.Second, "how long dnsperf runs")
	cmd.Flags().IntVar(&procs, "dns-procs", 0, "processors (GOMAXPROCS) of this process, which runs the DNS server; 0: as an agent's by default (flotilla agent --procs)")
	return cmd
}

func newBenchContainerdCmd(g *globals) *cobra.Command {
	var cfg lab.StartBenchConfig
	cmd := &cobra.Command{
		Use:   "containerd",
		Short: "Time apply to running on a containerd lab against plain ctr run (root)",
		Long: `Starts a containerd lab (1 server, --agents agents), warms the demo image on
every node, applies a service of --replicas replicas and times each one from
the apply to its running report; then times ctr run -d of the same image as
many times on the same containerd. The lab is removed at the end.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(g.output); err != nil {
				return err
			}
			bin, err := os.Executable()
			if err != nil {
				return err
			}
			cfg.Binary = bin
			if g.output == "table" {
				cfg.Progress = cmd.ErrOrStderr()
			}
			res, err := lab.RunStartBench(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if g.output != "table" {
				return printObject(out, g.output, res)
			}
			fmt.Fprintf(out, "machine: %s\n\n", res.Machine)
			t := newTable(out, "PATH", "CONTAINERS", "P50", "P99", "ALL")
			t.row(fmt.Sprintf("flotilla apply (%d nodes, CNI)", res.Agents), res.Replicas, fmt.Sprintf("%.0fms", res.P50Ms), fmt.Sprintf("%.0fms", res.P99Ms), fmt.Sprintf("%.0fms", res.AllRunningMs))
			t.row("ctr run -d, one by one", res.Replicas, fmt.Sprintf("%.0fms", res.CtrRunP50Ms), fmt.Sprintf("%.0fms", res.CtrRunP99Ms), fmt.Sprintf("%.0fms", res.CtrRunTotalMs))
			return t.flush()
		},
	}
	cmd.Flags().IntVar(&cfg.Replicas, "replicas", 10, "replicas to start")
	cmd.Flags().IntVar(&cfg.Agents, "agents", 3, "agents (nodes) in the lab")
	cmd.Flags().StringVar(&cfg.ContainerdSocket, "containerd-socket", lab.DefaultContainerdSocket(), "containerd's socket ($"+lab.ContainerdSocketEnv+")")
	return cmd
}
