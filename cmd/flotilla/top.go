package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"flotilla/api"
)

// `flotilla top` shows the cluster's live figures: per service the
// proxies' traffic and the runtime's CPU and memory per replica, per
// allocation its CPU and memory, per node what is reserved and used. The
// CPU and memory come from the leader's in-memory book
// (GET /v1/top/allocations), the traffic from GET .../traffic. On a
// terminal the table is redrawn in place every --interval; piped, or with
// -o json|yaml, it is printed once.

// topService is one row of `top services`.
type topService struct {
	Name          string  `json:"name"`
	Namespace     string  `json:"namespace"`
	Replicas      int     `json:"replicas"`
	ReadyReplicas int     `json:"readyReplicas"`
	RPS           float64 `json:"rps"`
	ErrorPercent  float64 `json:"errorPercent"`
	P99Ms         float64 `json:"p99Ms"`
	InFlight      int64   `json:"inFlight"`
	// CPU and Memory are the average per replica with a figure (over
	// the last 6 s); Measured is how many replicas had one.
	CPU      api.CPU    `json:"cpu"`
	Memory   api.Memory `json:"memory"`
	Measured int        `json:"measured"`
	// Autoscale is the service's metric and target ("" without one).
	Metric string  `json:"metric,omitempty"`
	Target float64 `json:"target,omitempty"`
	// Forecast is the autoscaler's forecast of the total metric Lookahead
	// ahead (with autoscale.forecast, once its model saw a season).
	Forecast  *float64     `json:"forecast,omitempty"`
	Lookahead api.Duration `json:"lookahead,omitempty"`
}

// topNode is one row of `top nodes`.
type topNode struct {
	Name        string        `json:"name"`
	Status      string        `json:"status"`
	Capacity    api.Resources `json:"capacity"`
	Allocated   api.Resources `json:"allocated"`
	Used        api.Resources `json:"used"`
	Allocations int           `json:"allocations"`
}

// topInterval is the default redraw period.
const topInterval = 2 * time.Second

func newTopCmd(g *globals) *cobra.Command {
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "top services|allocs|nodes",
		Short: "Show live CPU, memory and traffic figures",
		Long: `Show live figures: per service its replicas, requests per second, error
rate, p99 latency, requests in flight, CPU and memory per replica and the
autoscaler's target; per allocation its CPU (millicores) and memory; per
node what its allocations reserve and what they use, against its capacity.

On a terminal the table is redrawn in place every --interval until
interrupted; piped, or with -o json|yaml, it is printed once.`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"services", "allocs", "nodes"},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(g.output); err != nil {
				return err
			}
			kind, err := topKind(args[0])
			if err != nil {
				return err
			}
			if interval <= 0 {
				return fmt.Errorf("--interval: must be greater than 0")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			ctx, out := cmd.Context(), cmd.OutOrStdout()
			if terminal, width := isTerminal(out); terminal && g.output == "table" {
				return topLive(ctx, c, kind, out, width, interval)
			}
			rows, err := gatherTop(ctx, c, kind)
			if err != nil {
				return err
			}
			if g.output != "table" {
				return printObject(out, g.output, rows)
			}
			return renderTop(out, rows)
		},
	}
	cmd.Flags().DurationVar(&interval, "interval", topInterval, "how often a terminal view is redrawn")
	return cmd
}

func topKind(arg string) (string, error) {
	switch arg {
	case "services", "service", "svc":
		return "services", nil
	case "allocs", "alloc", "allocations":
		return "allocs", nil
	case "nodes", "node":
		return "nodes", nil
	}
	return "", fmt.Errorf("top: unknown kind %q (want services, allocs or nodes)", arg)
}

// topLive redraws the table in place until ctx ends (Ctrl-C), which is
// a normal end.
func topLive(ctx context.Context, c *api.Client, kind string, out io.Writer, width int, interval time.Duration) error {
	fmt.Fprint(out, "\x1b[?25l") // hide the cursor while redrawing
	defer fmt.Fprint(out, "\x1b[?25h")
	drawn := 0
	for {
		var b bytes.Buffer
		rows, err := gatherTop(ctx, c, kind)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			fmt.Fprintf(&b, "%s  error: %s\n", time.Now().Format("15:04:05"), oneLine(err))
		} else {
			fmt.Fprintf(&b, "%s  every %s\n", time.Now().Format("15:04:05"), interval)
			if err := renderTop(&b, rows); err != nil {
				return err
			}
		}
		lines := strings.SplitAfter(strings.TrimSuffix(b.String(), "\n"), "\n")
		var s strings.Builder
		if drawn > 0 {
			fmt.Fprintf(&s, "\x1b[%dA\r\x1b[J", drawn) // back to the block's top, clear below
		}
		for _, l := range lines {
			s.WriteString(clip(strings.TrimSuffix(l, "\n"), width))
			s.WriteString("\n")
		}
		io.WriteString(out, s.String())
		drawn = len(lines)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// gatherTop reads what one view needs: []topService, []api.AllocationUsage
// or []topNode.
func gatherTop(ctx context.Context, c *api.Client, kind string) (any, error) {
	usage, err := c.TopAllocations(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the allocations' usage: %w", err)
	}
	switch kind {
	case "allocs":
		return usage.Allocations, nil
	case "nodes":
		nodes, _, err := c.Nodes(ctx, api.QueryOptions{})
		if err != nil {
			return nil, fmt.Errorf("list nodes: %w", err)
		}
		return topNodes(nodes, usage.Allocations), nil
	}
	services, _, err := c.Services(ctx, api.QueryOptions{})
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	rows := topServices(services, usage.Allocations)
	addForecasts(rows, usage.Forecasts)
	for i := range rows {
		// Figures are a bonus: a service without any shows zeros.
		if t, err := c.Traffic(ctx, rows[i].Namespace, rows[i].Name); err == nil {
			addTraffic(&rows[i], t)
		}
	}
	return rows, nil
}

// topServices makes one row per service with its CPU and memory per
// replica; the traffic is added by addTraffic.
func topServices(services []*api.Service, usage []api.AllocationUsage) []topService {
	rows := make([]topService, 0, len(services))
	for _, svc := range services {
		r := topService{Name: svc.Name, Namespace: svc.Namespace, Replicas: svc.Replicas, ReadyReplicas: svc.ReadyReplicas}
		if a := svc.Spec.Autoscale; a != nil {
			r.Metric, r.Target = a.Metric, a.Target
		}
		var cpu, memory int64
		for _, u := range usage {
			if u.Namespace == svc.Namespace && u.Service == svc.Name && !u.At.IsZero() {
				cpu += int64(u.CPU)
				memory += int64(u.Memory)
				r.Measured++
			}
		}
		if r.Measured > 0 {
			r.CPU, r.Memory = api.CPU(cpu/int64(r.Measured)), api.Memory(memory/int64(r.Measured))
		}
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Namespace != rows[j].Namespace {
			return rows[i].Namespace < rows[j].Namespace
		}
		return rows[i].Name < rows[j].Name
	})
	return rows
}

// addTraffic sums the shortest window's figures over the revisions.
func addTraffic(r *topService, t *api.ServiceTraffic) {
	if t == nil || len(t.Windows) == 0 {
		return
	}
	w := t.Windows[0]
	for _, tw := range t.Windows {
		if tw.Window < w.Window {
			w = tw
		}
	}
	var latency api.Histogram
	var requests, errors uint64
	for _, f := range w.Revisions {
		r.RPS += f.RPS
		r.InFlight += f.InFlight
		requests += f.Requests
		errors += f.Errors
		latency.Add(f.Latency)
	}
	if requests > 0 {
		r.ErrorPercent = 100 * float64(errors) / float64(requests)
		r.P99Ms = latency.Quantile(0.99)
	}
}

// addForecasts adds the leader's forecasts to their services' rows.
func addForecasts(rows []topService, forecasts []api.ServiceForecast) {
	for _, f := range forecasts {
		for i := range rows {
			if rows[i].Namespace == f.Namespace && rows[i].Name == f.Service {
				v := f.Forecast
				rows[i].Forecast, rows[i].Lookahead = &v, f.Lookahead
			}
		}
	}
}

// topNodes sums the allocations' figures per node.
func topNodes(nodes []*api.Node, usage []api.AllocationUsage) []topNode {
	rows := make([]topNode, 0, len(nodes))
	for _, n := range nodes {
		r := topNode{Name: n.Name, Status: n.Status, Capacity: n.Capacity, Allocated: n.Allocated}
		for _, u := range usage {
			if u.Node == n.Name {
				r.Used.CPU += u.CPU
				r.Used.Memory += u.Memory
				r.Allocations++
			}
		}
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	return rows
}

func renderTop(w io.Writer, rows any) error {
	switch rows := rows.(type) {
	case []topService:
		t := newTable(w, "NAMESPACE", "NAME", "REPLICAS", "READY", "RPS", "ERRORS", "P99", "IN-FLIGHT", "CPU/REPLICA", "MEM/REPLICA", "AUTOSCALE")
		for _, r := range rows {
			cpu, memory := "-", "-"
			if r.Measured > 0 {
				cpu, memory = r.CPU.String(), r.Memory.String()
			}
			scale := "-"
			if r.Metric != "" {
				unit := ""
				if r.Metric == api.MetricCPU || r.Metric == api.MetricMemory {
					unit = "%"
				}
				scale = fmt.Sprintf("%s %g%s", r.Metric, r.Target, unit)
				if r.Forecast != nil {
					scale += fmt.Sprintf(", forecast %.1f in %s", *r.Forecast, r.Lookahead)
				}
			}
			t.row(r.Namespace, r.Name, r.Replicas, r.ReadyReplicas, fmt.Sprintf("%.1f", r.RPS),
				fmt.Sprintf("%.2f%%", r.ErrorPercent), millis(r.P99Ms), r.InFlight, cpu, memory, scale)
		}
		return t.flush()
	case []api.AllocationUsage:
		t := newTable(w, "ID", "SERVICE", "REV", "NODE", "CPU", "CPU%", "MEMORY", "MEM%", "CPU 1M", "MEMORY 1M")
		for _, u := range rows {
			cpu, cpuPct, memory, memPct, cpu1m, memory1m := "-", "-", "-", "-", "-", "-"
			if !u.At.IsZero() {
				cpu, memory = u.CPU.String(), u.Memory.String()
				cpu1m, memory1m = u.CPU1m.String(), u.Memory1m.String()
				cpuPct, memPct = share(int64(u.CPU), int64(u.Reserved.CPU)), share(int64(u.Memory), int64(u.Reserved.Memory))
			}
			t.row(u.ID, u.Namespace+"/"+u.Service, u.Revision, u.Node, cpu, cpuPct, memory, memPct, cpu1m, memory1m)
		}
		return t.flush()
	case []topNode:
		t := newTable(w, "NAME", "STATUS", "ALLOCS", "CPU USED", "CPU ALLOCATED", "CPU CAPACITY", "MEM USED", "MEM ALLOCATED", "MEM CAPACITY")
		for _, r := range rows {
			t.row(r.Name, r.Status, r.Allocations,
				r.Used.CPU, fmt.Sprintf("%s (%s)", r.Allocated.CPU, share(int64(r.Allocated.CPU), int64(r.Capacity.CPU))), r.Capacity.CPU,
				r.Used.Memory, fmt.Sprintf("%s (%s)", r.Allocated.Memory, share(int64(r.Allocated.Memory), int64(r.Capacity.Memory))), r.Capacity.Memory)
		}
		return t.flush()
	}
	return fmt.Errorf("top: nothing to show for %T", rows)
}

// share is used as a percentage of of, "-" when of is 0.
func share(used, of int64) string {
	if of <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(used)/float64(of))
}
