package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"flotilla/api"
)

func newStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the leader, the Raft peers (and whether each answers) and how many nodes are ready",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(g.output); err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			leader, err := c.Leader(ctx)
			if err != nil {
				return err
			}
			peers, err := c.Peers(ctx)
			if err != nil {
				return err
			}
			// Without a leader a consistent read cannot be made: say what
			// the servers have rather than nothing.
			nodes, _, err := c.Nodes(ctx, api.QueryOptions{Stale: leader.Leader == ""})
			if err != nil {
				return err
			}
			ready := 0
			for _, n := range nodes {
				if n.Status == api.NodeReady {
					ready++
				}
			}
			out := cmd.OutOrStdout()
			if g.output != "table" {
				return printObject(out, g.output, map[string]any{
					"leader": leader, "peers": peers, "nodes": len(nodes), "nodesReady": ready,
				})
			}
			if leader.Leader == "" {
				fmt.Fprintln(out, "Leader:  none (election in progress or no quorum)")
			} else {
				fmt.Fprintf(out, "Leader:  %s (%s)\n", leader.Leader, leader.Address)
			}
			fmt.Fprintf(out, "Nodes:   %d ready of %d\n\n", ready, len(nodes))
			return printPeers(out, peers)
		},
	}
}

// printPeers is the peer table of flotilla status: every Raft voter, its
// role, whether it answered and how long ago it last heard from the
// leader. A voter that does not answer is "unreachable", whatever Raft's
// configuration says of it; one that answers but has not heard from the
// leader for a while is cut off from it.
func printPeers(out io.Writer, peers []api.Peer) error {
	t := newTable(out, "PEER", "ADDRESS", "ROLE", "STATUS", "LAST CONTACT")
	for _, p := range peers {
		role := "follower"
		if p.Leader {
			role = "leader"
		}
		status := p.Status
		switch {
		case status == "":
			status = "-" // a server that does not probe its peers
		case status == api.PeerUnreachable && p.Error != "":
			status += " (" + shortError(p.Error) + ")"
		case status == api.PeerAlive && !p.KnownLeader:
			status = "alive, no leader known"
		}
		contact := "-"
		switch {
		case p.Leader && p.LastContact != nil:
			contact = "-"
		case p.LastContact != nil:
			contact = time.Duration(*p.LastContact).Round(time.Millisecond).String() + " ago"
		case p.Status == api.PeerAlive:
			contact = "never"
		}
		t.row(p.ID, p.Address, role, status, contact)
	}
	return t.flush()
}

// shortError keeps the end of a probe error, which says what failed
// ("connection refused", "context deadline exceeded").
func shortError(msg string) string {
	if i := strings.LastIndex(msg, ": "); i >= 0 && i+2 < len(msg) {
		msg = msg[i+2:]
	}
	if len(msg) > 40 {
		msg = msg[:40]
	}
	return msg
}

// readSpecs decodes every document of every file before anything is sent,
// so that one bad document changes nothing.
func readSpecs(paths []string, stdin io.Reader) ([]api.ServiceSpec, error) {
	var specs []api.ServiceSpec
	for _, p := range paths {
		var files []string
		if p == "-" {
			data, err := io.ReadAll(io.LimitReader(stdin, api.MaxBodyBytes*16))
			if err != nil {
				return nil, fmt.Errorf("read standard input: %w", err)
			}
			s, err := api.DecodeServices("<stdin>", data)
			if err != nil {
				return nil, err
			}
			specs = append(specs, s...)
			continue
		}
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if info.IsDir() {
			for _, pattern := range []string{"*.yaml", "*.yml", "*.json"} {
				m, _ := filepath.Glob(filepath.Join(p, pattern)) // patterns are constant and valid
				files = append(files, m...)
			}
			sort.Strings(files)
			if len(files) == 0 {
				return nil, fmt.Errorf("%s: no .yaml, .yml or .json files", p)
			}
		} else {
			files = []string{p}
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			s, err := api.DecodeServices(f, data)
			if err != nil {
				return nil, err
			}
			specs = append(specs, s...)
		}
	}
	seen := map[string]bool{}
	for _, s := range specs {
		key := s.Namespace + "/" + s.Name
		if seen[key] {
			return nil, fmt.Errorf("service %s is defined twice", key)
		}
		seen[key] = true
	}
	return specs, nil
}

func newApplyCmd(g *globals) *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR|-",
		Short: "Create or update services from YAML or JSON files",
		Long: `Create or update services. Every document is checked before anything is
sent: a bad one changes nothing. An unchanged spec keeps its revision; a
changed one makes a new revision. Changing only replicas scales in place.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(files) == 0 {
				return fmt.Errorf("-f FILE|DIR|- is required")
			}
			specs, err := readSpecs(files, cmd.InOrStdin())
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, s := range specs {
				r, err := c.ApplyService(cmd.Context(), s)
				if err != nil {
					return fmt.Errorf("apply service %s/%s: %w", s.Namespace, s.Name, err)
				}
				switch {
				case r.Created:
					fmt.Fprintf(out, "service %s/%s created (revision %d)\n", s.Namespace, s.Name, r.Revision)
				case r.Changed:
					fmt.Fprintf(out, "service %s/%s configured (revision %d)\n", s.Namespace, s.Name, r.Revision)
				default:
					fmt.Fprintf(out, "service %s/%s unchanged (revision %d)\n", s.Namespace, s.Name, r.Revision)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVarP(&files, "filename", "f", nil, "file, directory or - for standard input (repeatable)")
	return cmd
}

// resource names a kind of object the CLI lists.
func resource(arg string) (string, error) {
	switch strings.ToLower(arg) {
	case "service", "services", "svc":
		return "services", nil
	case "node", "nodes":
		return "nodes", nil
	case "alloc", "allocs", "allocation", "allocations":
		return "allocs", nil
	case "eval", "evals", "evaluation", "evaluations":
		return "evals", nil
	case "endpoint", "endpoints", "ep":
		return "endpoints", nil
	}
	return "", fmt.Errorf("unknown resource %q (want services, nodes, allocs, evals or endpoints)", arg)
}

func newGetCmd(g *globals) *cobra.Command {
	var namespace, service, node string
	cmd := &cobra.Command{
		Use:   "get services|nodes|allocs|evals|endpoints [NAME]",
		Short: "List objects",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, err := resource(args[0])
			if err != nil {
				return err
			}
			if err := checkFormat(g.output); err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			ctx, out := cmd.Context(), cmd.OutOrStdout()
			name := ""
			if len(args) == 2 {
				name = args[1]
			}
			switch kind {
			case "services":
				var list []*api.Service
				if name != "" {
					s, _, err := c.Service(ctx, namespace, name, api.QueryOptions{})
					if err != nil {
						return err
					}
					list = []*api.Service{s}
				} else if list, _, err = c.Services(ctx, api.QueryOptions{}); err != nil {
					return err
				}
				return printServices(out, g.output, list, name != "")
			case "nodes":
				var list []*api.Node
				if name != "" {
					n, err := c.Node(ctx, name)
					if err != nil {
						return err
					}
					list = []*api.Node{n}
				} else if list, _, err = c.Nodes(ctx, api.QueryOptions{}); err != nil {
					return err
				}
				return printNodes(out, g.output, list, name != "")
			case "allocs":
				if name != "" {
					a, err := c.Allocation(ctx, name)
					if err != nil {
						return err
					}
					return printAllocs(out, g.output, []*api.Allocation{a}, true)
				}
				ns := namespace
				if service == "" && !cmd.Flags().Changed("namespace") {
					ns = ""
				}
				list, _, err := c.Allocations(ctx, api.AllocFilter{Namespace: ns, Service: service, Node: node}, api.QueryOptions{})
				if err != nil {
					return err
				}
				return printAllocs(out, g.output, list, false)
			case "endpoints":
				var list []*api.ServiceEndpoints
				if name != "" {
					e, err := c.ServiceEndpoints(ctx, namespace, name)
					if err != nil {
						return err
					}
					list = []*api.ServiceEndpoints{e}
				} else if list, _, err = c.Endpoints(ctx, api.QueryOptions{}); err != nil {
					return err
				}
				return printEndpoints(out, g.output, list, name != "")
			default:
				list, _, err := c.Evaluations(ctx, namespace, service, api.QueryOptions{})
				if err != nil {
					return err
				}
				return printEvals(out, g.output, list)
			}
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", api.DefaultNamespace, "namespace")
	cmd.Flags().StringVar(&service, "service", "", "only this service's allocations or evaluations")
	cmd.Flags().StringVar(&node, "node", "", "only this node's allocations")
	return cmd
}

func printServices(w io.Writer, format string, list []*api.Service, single bool) error {
	if format != "table" {
		if single {
			return printObject(w, format, list[0])
		}
		return printObject(w, format, list)
	}
	t := newTable(w, "NAMESPACE", "NAME", "REVISION", "REPLICAS", "RUNNING", "READY", "HEALTH", "VIP", "STRATEGY", "UNPLACED", "AGE")
	for _, s := range list {
		vip := s.VIP
		if s.Spec.ClusterIP == "none" {
			vip = "none"
		}
		health := s.Health
		if health == "" {
			health = "-"
		}
		t.row(s.Namespace, s.Name, s.Revision, s.Replicas, s.RunningReplicas, s.ReadyReplicas, health, vip, s.Strategy, s.Unplaced, age(s.CreateTime))
	}
	return t.flush()
}

func printNodes(w io.Writer, format string, list []*api.Node, single bool) error {
	if format != "table" {
		if single {
			return printObject(w, format, list[0])
		}
		return printObject(w, format, list)
	}
	t := newTable(w, "NAME", "STATUS", "ELIGIBLE", "ADDRESS", "CPU", "MEMORY", "ALLOCS", "LABELS")
	for _, n := range list {
		var labels []string
		for k, v := range n.Labels {
			labels = append(labels, k+"="+v)
		}
		sort.Strings(labels)
		t.row(n.Name, n.Status, yesNo(n.Eligible), n.Address,
			n.Allocated.CPU.String()+"/"+n.Capacity.CPU.String(),
			n.Allocated.Memory.String()+"/"+n.Capacity.Memory.String(),
			n.Allocations, strings.Join(labels, ","))
	}
	return t.flush()
}

func printAllocs(w io.Writer, format string, list []*api.Allocation, single bool) error {
	if format != "table" {
		if single {
			return printObject(w, format, list[0])
		}
		return printObject(w, format, list)
	}
	t := newTable(w, "ID", "SERVICE", "REVISION", "NODE", "DESIRED", "STATUS", "READY", "ADDRESS", "RESTARTS", "AGE")
	for _, a := range list {
		t.row(a.ID, a.Namespace+"/"+a.Service, a.Revision, a.Node, a.DesiredStatus, a.Status, yesNo(a.Ready), a.Address, a.Restarts, age(a.CreateTime))
	}
	return t.flush()
}

// dnsName is a service's name in the cluster's DNS.
func dnsName(namespace, name string) string { return name + "." + namespace + ".svc.flotilla" }

func printEndpoints(w io.Writer, format string, list []*api.ServiceEndpoints, single bool) error {
	if format != "table" {
		if single {
			return printObject(w, format, list[0])
		}
		return printObject(w, format, list)
	}
	t := newTable(w, "SERVICE", "VIP", "ENDPOINT", "ADDRESS", "NODE", "REVISION", "READY")
	for _, se := range list {
		vip := se.VIP
		if se.Headless {
			vip = "none"
		}
		port := 0
		if len(se.Ports) > 0 {
			port = se.Ports[0].Port
		}
		if len(se.Endpoints) == 0 {
			t.row(se.Namespace+"/"+se.Name, vip, "", "", "", "", "")
		}
		for _, e := range se.Endpoints {
			addr := e.IP
			if port > 0 {
				addr = net.JoinHostPort(e.IP, strconv.Itoa(port))
			}
			t.row(se.Namespace+"/"+se.Name, vip, e.ID, addr, e.Node, e.Revision, yesNo(e.Ready))
		}
	}
	return t.flush()
}

func printEvals(w io.Writer, format string, list []*api.Evaluation) error {
	if format != "table" {
		return printObject(w, format, list)
	}
	t := newTable(w, "ID", "SERVICE", "TRIGGER", "STATUS", "PLACED", "STOPPED", "UNPLACED", "AGE", "DETAIL")
	for _, e := range list {
		detail := e.PlacementFailure
		if detail == "" {
			detail = e.StatusDescription
		}
		t.row(e.ID, e.Namespace+"/"+e.Service, e.TriggeredBy, e.Status, e.Placed, e.Stopped, e.Unplaced, age(e.CreateTime), detail)
	}
	return t.flush()
}

func newDescribeCmd(g *globals) *cobra.Command {
	var namespace string
	cmd := &cobra.Command{
		Use:   "describe service|node NAME",
		Short: "Show a service or node in detail, with its allocations and recent events",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, err := resource(args[0])
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			switch kind {
			case "services":
				return describeService(cmd, c, namespace, args[1])
			case "nodes":
				return describeNode(cmd, c, args[1])
			}
			return fmt.Errorf("describe works on services and nodes")
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", api.DefaultNamespace, "namespace")
	return cmd
}

func describeService(cmd *cobra.Command, c *api.Client, namespace, name string) error {
	ctx, out := cmd.Context(), cmd.OutOrStdout()
	s, _, err := c.Service(ctx, namespace, name, api.QueryOptions{})
	if err != nil {
		return err
	}
	allocs, _, err := c.Allocations(ctx, api.AllocFilter{Namespace: namespace, Service: name}, api.QueryOptions{})
	if err != nil {
		return err
	}
	events, _, err := c.Events(ctx, api.EventFilter{Namespace: namespace, Service: name}, api.QueryOptions{})
	if err != nil {
		return err
	}
	spec := s.Spec
	fmt.Fprintf(out, "Name:        %s\nNamespace:   %s\nImage:       %s\n", s.Name, s.Namespace, spec.Image)
	if len(spec.Args) > 0 {
		fmt.Fprintf(out, "Args:        %s\n", strings.Join(spec.Args, " "))
	}
	fmt.Fprintf(out, "Revision:    %d\nReplicas:    %d desired, %d running, %d ready\n", s.Revision, s.Replicas, s.RunningReplicas, s.ReadyReplicas)
	if a := spec.Autoscale; a != nil {
		fmt.Fprintf(out, "Autoscale:   %s, target %g per replica, %d..%d replicas, tolerance %s, scale-down window %s\n",
			a.Metric, a.Target, a.Min, a.Max, a.Tolerance, a.StabilizationWindow)
		if f := a.Forecast; f != nil {
			fmt.Fprintf(out, "             forecast: season %s, lookahead %s%s\n", f.Season, f.Lookahead, describeForecast(ctx, c, s))
		}
		if c := s.Autoscaled; c != nil {
			fmt.Fprintf(out, "             last change %s ago: %d → %d: %s\n", age(c.Time), c.From, c.To, c.Reason)
		}
	}
	if s.Health != "" {
		health := s.Health
		if s.HealthMessage != "" {
			health += ": " + s.HealthMessage + " (replacements back off: 5s, 10s, ... up to 5m)"
		}
		fmt.Fprintf(out, "Health:      %s\n", health)
	}
	fmt.Fprintf(out, "DNS name:    %s\n", dnsName(s.Namespace, s.Name))
	switch {
	case spec.ClusterIP == "none":
		fmt.Fprintf(out, "VIP:         none (headless: the name answers the ready endpoints)\n")
	case s.VIP != "":
		var ports []string
		for _, p := range spec.Ports {
			ports = append(ports, fmt.Sprintf("%s:%d/%s", s.VIP, p.Port, p.Protocol))
		}
		fmt.Fprintf(out, "VIP:         %s (%s, balanced %s)\n", s.VIP, strings.Join(ports, ", "), spec.LoadBalancing)
	}
	fmt.Fprintf(out, "Resources:   cpu %s, memory %s per replica\n", spec.Resources.CPU, spec.Resources.Memory)
	placement := spec.Placement.Strategy
	for _, con := range spec.Placement.Constraints {
		placement += ", " + con.String()
	}
	fmt.Fprintf(out, "Placement:   %s\n", placement)
	ro, _, roErr := c.Rollout(ctx, namespace, name, api.QueryOptions{})
	if roErr != nil {
		fmt.Fprintf(out, "Rollout:     %s\n", s.Strategy) // a server without rollout state
	}
	if s.Unplaced > 0 {
		fmt.Fprintf(out, "Unplaced:    %d replica%s: %s\n", s.Unplaced, plural(s.Unplaced), s.PlacementFailure)
	}
	if roErr == nil {
		printRolloutSection(out, ro)
	}
	fmt.Fprintln(out, "\nAllocations:")
	t := newTable(out, "  ID", "REVISION", "NODE", "DESIRED", "STATUS", "READY", "ADDRESS", "RESTARTS", "AGE")
	shown := 0
	for _, a := range allocs {
		if a.DesiredStatus == api.DesiredStop && a.TerminalStatus() {
			continue
		}
		t.row("  "+a.ID, a.Revision, a.Node, a.DesiredStatus, a.Status, yesNo(a.Ready), a.Address, a.Restarts, age(a.CreateTime))
		shown++
	}
	if err := t.flush(); err != nil {
		return err
	}
	if shown == 0 {
		fmt.Fprintln(out, "  (none)")
	}
	fmt.Fprintln(out, "\nEvents:")
	if len(events) > 10 {
		events = events[len(events)-10:]
	}
	for _, e := range events {
		fmt.Fprintf(out, "  %s  %-20s %s\n", e.Time.Local().Format("15:04:05"), e.Type, e.Message)
	}
	if len(events) == 0 {
		fmt.Fprintln(out, "  (none)")
	}
	return nil
}

func describeNode(cmd *cobra.Command, c *api.Client, name string) error {
	ctx, out := cmd.Context(), cmd.OutOrStdout()
	n, err := c.Node(ctx, name)
	if err != nil {
		return err
	}
	allocs, _, err := c.Allocations(ctx, api.AllocFilter{Node: name}, api.QueryOptions{})
	if err != nil {
		return err
	}
	events, _, err := c.Events(ctx, api.EventFilter{Node: name}, api.QueryOptions{})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Name:        %s\nStatus:      %s", n.Name, n.Status)
	if n.StatusMessage != "" {
		fmt.Fprintf(out, " (%s)", n.StatusMessage)
	}
	fmt.Fprintf(out, "\nEligible:    %s\nAddress:     %s\n", yesNo(n.Eligible), n.Address)
	fmt.Fprintf(out, "CPU:         %s of %s allocated\nMemory:      %s of %s allocated\n", n.Allocated.CPU, n.Capacity.CPU, n.Allocated.Memory, n.Capacity.Memory)
	var labels []string
	for k, v := range n.Labels {
		labels = append(labels, k+"="+v)
	}
	sort.Strings(labels)
	fmt.Fprintf(out, "Labels:      %s\n\nAllocations:\n", strings.Join(labels, ", "))
	t := newTable(out, "  ID", "SERVICE", "REVISION", "DESIRED", "STATUS", "READY", "ADDRESS", "AGE")
	for _, a := range allocs {
		if a.DesiredStatus == api.DesiredStop && a.TerminalStatus() {
			continue
		}
		t.row("  "+a.ID, a.Namespace+"/"+a.Service, a.Revision, a.DesiredStatus, a.Status, yesNo(a.Ready), a.Address, age(a.CreateTime))
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nEvents:")
	if len(events) > 10 {
		events = events[len(events)-10:]
	}
	for _, e := range events {
		fmt.Fprintf(out, "  %s  %-22s %s\n", e.Time.Local().Format("15:04:05"), e.Type, e.Message)
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func newDeleteCmd(g *globals) *cobra.Command {
	var namespace string
	cmd := &cobra.Command{
		Use:   "delete service NAME",
		Short: "Delete a service; its allocations stop",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if kind, err := resource(args[0]); err != nil {
				return err
			} else if kind != "services" {
				return fmt.Errorf("delete works on services")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			if _, err := c.DeleteService(cmd.Context(), namespace, args[1]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "service %s/%s deleted\n", namespace, args[1])
			return nil
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", api.DefaultNamespace, "namespace")
	return cmd
}

func newScaleCmd(g *globals) *cobra.Command {
	var namespace string
	cmd := &cobra.Command{
		Use:   "scale NAME REPLICAS",
		Short: "Set a service's replica count (no new revision)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 0 {
				return fmt.Errorf("replicas: want a number 0 or more, got %q", args[1])
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			if _, err := c.ScaleService(cmd.Context(), namespace, args[0], n); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "service %s/%s scaled to %d\n", namespace, args[0], n)
			return nil
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", api.DefaultNamespace, "namespace")
	return cmd
}

func newNodeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "node", Short: "Drain nodes, change their eligibility, mark them down or ready"}
	action := func(use, short string, run func(c *api.Client, cmd *cobra.Command, name string) (string, error)) *cobra.Command {
		return &cobra.Command{
			Use: use + " NAME", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := g.client()
				if err != nil {
					return err
				}
				msg, err := run(c, cmd, args[0])
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), msg)
				return nil
			},
		}
	}
	var cancel bool
	drain := action("drain", "Move a node's allocations elsewhere and make it ineligible", func(c *api.Client, cmd *cobra.Command, name string) (string, error) {
		if _, err := c.DrainNode(cmd.Context(), name, !cancel); err != nil {
			return "", err
		}
		if cancel {
			return "node " + name + ": drain canceled, eligible again", nil
		}
		return "node " + name + " draining", nil
	})
	drain.Flags().BoolVar(&cancel, "cancel", false, "cancel a drain and make the node eligible again")
	cmd.AddCommand(
		drain,
		action("eligible", "Let the scheduler place new allocations on a node", func(c *api.Client, cmd *cobra.Command, name string) (string, error) {
			_, err := c.SetEligibility(cmd.Context(), name, true)
			return "node " + name + " eligible", err
		}),
		action("ineligible", "Stop placing new allocations on a node (existing ones stay)", func(c *api.Client, cmd *cobra.Command, name string) (string, error) {
			_, err := c.SetEligibility(cmd.Context(), name, false)
			return "node " + name + " ineligible", err
		}),
		action("down", "Mark a node down: its allocations are lost and replaced elsewhere; it stays down (whatever its agent says) until node ready", func(c *api.Client, cmd *cobra.Command, name string) (string, error) {
			_, err := c.SetNodeStatus(cmd.Context(), name, api.NodeDown, "marked down by an operator")
			return "node " + name + " down", err
		}),
		action("ready", "Mark a down node ready again", func(c *api.Client, cmd *cobra.Command, name string) (string, error) {
			_, err := c.SetNodeStatus(cmd.Context(), name, api.NodeReady, "marked ready by an operator")
			return "node " + name + " ready", err
		}),
	)
	return cmd
}

// describeForecast is the leader's current forecast of a service next to
// the value it observed, or why there is none.
func describeForecast(ctx context.Context, c *api.Client, s *api.Service) string {
	t, err := c.TopAllocations(ctx)
	if err != nil {
		return ""
	}
	for _, f := range t.Forecasts {
		if f.Namespace == s.Namespace && f.Service == s.Name {
			return fmt.Sprintf(": %s %.1f now, %.1f forecast in %s", f.Metric, f.Observed, f.Forecast, f.Lookahead)
		}
	}
	return " (no forecast yet: the model learns one season first)"
}
