package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"

	"flotilla/scheduler/bench"
)

func newBenchCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "Measure Flotilla on this machine"}
	var cfg bench.SchedulerConfig
	var cpuProfile string
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
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
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
	sched.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile to this file")
	cmd.AddCommand(sched)
	return cmd
}
