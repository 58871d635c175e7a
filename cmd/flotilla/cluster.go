package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"flotilla/api"
	"flotilla/internal/text"
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
// leader for a while is cut off from it. The role of a voter that did not
// answer (or whose API address is unknown) is not known, "-": only that
// the answering server does not take it for the leader (a dead former
// leader is no follower); one it takes for the leader stays "leader".
func printPeers(out io.Writer, peers []api.Peer) error {
	t := newTable(out, "PEER", "ADDRESS", "ROLE", "STATUS", "LAST CONTACT")
	for _, p := range peers {
		role := "follower"
		switch {
		case p.Leader:
			role = "leader"
		case p.Status == api.PeerUnreachable || p.Status == api.PeerUnknown:
			role = "-"
		}
		status := p.Status
		switch {
		case status == "":
			status = "-" // a server that does not probe its peers
		case status == api.PeerUnreachable && p.Error != "":
			status += " (" + shortError(p.Error) + ")"
		case status == api.PeerAlive && !p.KnownLeader:
			status = "alive, no leader known"
		case status == api.PeerAlive && p.LeaderAPIUnknown:
			// It serves no consistent read or write.
			status = "alive, leader's API unknown (outside the gossip pool?)"
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
// so that one bad document changes nothing. A service (or a config or
// secret) defined twice is refused, naming both places. Configs and
// secrets (files.go) come back apart.
func readSpecs(paths []string, stdin io.Reader) ([]api.ServiceSpec, []api.FileObjectSpec, error) {
	var specs []api.ServiceSpec
	var objects []api.FileObjectSpec
	first := map[string]string{} // "kind ns/name" -> where it was read
	read := func(source string, data []byte) error {
		docs, err := api.DecodeDocuments(source, data)
		if err != nil {
			return err
		}
		for i, d := range docs {
			origin := fmt.Sprintf("%s: document %d", source, i+1)
			var key, what string
			if d.Service != nil {
				key, what = "service "+d.Service.Namespace+"/"+d.Service.Name, "service "+d.Service.Namespace+"/"+d.Service.Name
				specs = append(specs, *d.Service)
			} else {
				what = api.FileObjectName(d.File.Kind, d.File.Metadata.Namespace, d.File.Metadata.Name)
				key = what
				objects = append(objects, *d.File)
			}
			if at, seen := first[key]; seen {
				return fmt.Errorf("%s is defined twice: %s and %s", what, at, origin)
			}
			first[key] = origin
		}
		return nil
	}
	for _, p := range paths {
		var files []string
		if p == "-" {
			data, err := io.ReadAll(io.LimitReader(stdin, api.MaxBodyBytes*16))
			if err != nil {
				return nil, nil, fmt.Errorf("read standard input: %w", err)
			}
			if err := read("<stdin>", data); err != nil {
				return nil, nil, err
			}
			continue
		}
		info, err := os.Stat(p)
		if err != nil {
			return nil, nil, err
		}
		if info.IsDir() {
			for _, pattern := range []string{"*.yaml", "*.yml", "*.json"} {
				m, _ := filepath.Glob(filepath.Join(p, pattern)) // patterns are constant and valid
				files = append(files, m...)
			}
			sort.Strings(files)
			if len(files) == 0 {
				return nil, nil, fmt.Errorf("%s: no .yaml, .yml or .json files", p)
			}
		} else {
			files = []string{p}
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, nil, err
			}
			if err := read(f, data); err != nil {
				return nil, nil, err
			}
		}
	}
	return specs, objects, nil
}

func newApplyCmd(g *globals) *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR|-",
		Short: "Create or update services, configs and secrets from YAML or JSON files",
		Long: `Create or update services (kind: Service), configs (kind: Config) and
secrets (kind: Secret). Every document is checked before anything is
sent: a bad one changes nothing; configs and secrets are sent first. An unchanged spec keeps its revision; a
changed one makes a new revision. Changing only replicas scales in place;
changing only autoscale or rollout settings changes the service in place.
What get -o yaml|json prints applies as it is: its status section is the
cluster's and is ignored.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := textOnly(g.output, ""); err != nil {
				return err
			}
			if len(files) == 0 {
				return fmt.Errorf("-f FILE|DIR|- is required")
			}
			specs, objects, err := readSpecs(files, cmd.InOrStdin())
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			// Configs and secrets first: the services that use them find
			// them (files.go).
			if err := applyFileObjects(cmd.Context(), c, out, objects); err != nil {
				return err
			}
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

// objectKind is a kind of object get lists.
type objectKind struct {
	Name    string   `json:"name"`
	Aliases []string `json:"aliases"`
	About   string   `json:"about"`
}

// objectKinds are what get knows, in the order it lists them.
var objectKinds = []objectKind{
	{"services", []string{"service", "svc"}, "what runs: a spec, its revision and replicas (apply, describe, scale)"},
	{"nodes", []string{"node"}, "machines (or sim nodes) that run allocations"},
	{"allocs", []string{"alloc", "allocation", "allocations"}, "replicas placed on nodes; --all adds the stopped ones"},
	{"evals", []string{"eval", "evaluation", "evaluations"}, "the scheduler's work: what triggered it, what it placed or could not"},
	{"endpoints", []string{"endpoint", "ep"}, "each service's VIP and replicas, as DNS and the proxies see them"},
	{"configs", []string{"config", "cfg"}, "files services mount (config create, apply)"},
	{"secrets", []string{"secret"}, "values services read as files or env, encrypted at rest; get and describe show keys only"},
}

// resource names a kind of object the CLI lists.
func resource(arg string) (string, error) {
	lower := strings.ToLower(arg)
	for _, k := range objectKinds {
		if lower == k.Name || slices.Contains(k.Aliases, lower) {
			return k.Name, nil
		}
	}
	return "", fmt.Errorf("unknown resource %q (want services, nodes, allocs, evals, endpoints, configs or secrets)", arg)
}

func printKinds(w io.Writer, format string) error {
	if !isTable(format) {
		return printObject(w, format, objectKinds)
	}
	t := newTable(w, "KIND", "ALIASES", "WHAT")
	for _, k := range objectKinds {
		t.row(k.Name, strings.Join(k.Aliases, ","), k.About)
	}
	return t.flush()
}

// completeKinds offers the kinds for a command's first argument.
func completeKinds(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	names := make([]string, 0, len(objectKinds))
	for _, k := range objectKinds {
		names = append(names, k.Name+"\t"+k.About)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// isTable reports whether format is one of the tables: get's wide one adds
// columns.
func isTable(format string) bool { return format == "table" || format == "wide" }

// stoppedAlloc reports whether an allocation was told to stop and has: get
// allocs and describe leave those out (the leader forgets them about ten
// minutes later).
func stoppedAlloc(a *api.Allocation) bool {
	return a.DesiredStatus == api.DesiredStop && a.TerminalStatus()
}

func newGetCmd(g *globals) *cobra.Command {
	var namespace, service, node string
	var all bool
	cmd := &cobra.Command{
		Use:   "get [services|nodes|allocs|evals|endpoints|configs|secrets [NAME]]",
		Short: "List objects; without a kind, the kinds there are",
		Long: `List objects of a kind, or one by name. Without a kind, list the kinds.

-o wide adds columns (image, ports, node addresses, ...); -o yaml and -o json
print a service as a document apply takes back: its spec, then a read-only
status that apply ignores (flotilla get services web -o yaml | flotilla apply -f -).
get allocs shows the allocations that run or are starting or stopping; --all
adds the stopped ones, which the cluster keeps about 10 minutes.`,
		Args:              cobra.MaximumNArgs(2),
		ValidArgsFunction: completeKinds,
		RunE: func(cmd *cobra.Command, args []string) error {
			format := g.output
			if format != "wide" {
				if err := checkFormat(format); err != nil {
					return err
				}
			}
			ctx, out := cmd.Context(), cmd.OutOrStdout()
			if len(args) == 0 {
				return printKinds(out, format)
			}
			kind, err := resource(args[0])
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
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
				return printServices(out, format, list, name != "")
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
				return printNodes(out, format, list, name != "")
			case "allocs":
				var list []*api.Allocation
				if name != "" {
					a, err := c.Allocation(ctx, name)
					if err != nil {
						return err
					}
					list = []*api.Allocation{a}
				} else {
					ns := namespace
					if service == "" && !cmd.Flags().Changed("namespace") {
						ns = ""
					}
					if list, _, err = c.Allocations(ctx, api.AllocFilter{Namespace: ns, Service: service, Node: node}, api.QueryOptions{}); err != nil {
						return err
					}
					if !all {
						list = slices.DeleteFunc(list, stoppedAlloc)
					}
				}
				var nodeAddresses map[string]string
				if format == "wide" {
					if nodeAddresses, err = nodeAddressesOf(ctx, c); err != nil {
						return err
					}
				}
				return printAllocs(out, format, list, name != "", nodeAddresses)
			case "configs", "secrets":
				all := !cmd.Flags().Changed("namespace")
				return getFileObjects(ctx, c, out, format, kind, namespace, all, name)
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
				return printEndpoints(out, format, list, name != "")
			default:
				list, _, err := c.Evaluations(ctx, namespace, service, api.QueryOptions{})
				if err != nil {
					return err
				}
				return printEvals(out, format, list)
			}
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", api.DefaultNamespace, "namespace")
	cmd.Flags().StringVar(&service, "service", "", "only this service's allocations or evaluations")
	cmd.Flags().StringVar(&node, "node", "", "only this node's allocations")
	cmd.Flags().BoolVar(&all, "all", false, "allocs: the stopped ones too (kept about 10 minutes after they stop)")
	g.staleFlag(cmd)
	return cmd
}

// nodeAddressesOf maps node names to their addresses, for get allocs -o wide.
func nodeAddressesOf(ctx context.Context, c *api.Client) (map[string]string, error) {
	nodes, _, err := c.Nodes(ctx, api.QueryOptions{})
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(nodes))
	for _, n := range nodes {
		m[n.Name] = n.Address
	}
	return m, nil
}

// printServices prints services as tables, or as documents apply takes
// back (api.ServiceDocument): the spec, then a read-only status.
func printServices(w io.Writer, format string, list []*api.Service, single bool) error {
	if !isTable(format) {
		docs := make([]api.ServiceDocument, 0, len(list))
		for _, s := range list {
			docs = append(docs, s.Document())
		}
		if single {
			return printObject(w, format, docs[0])
		}
		return printObject(w, format, docs)
	}
	wide := format == "wide"
	headers := []string{"NAMESPACE", "NAME", "REVISION", "REPLICAS", "RUNNING", "READY", "HEALTH", "VIP", "STRATEGY", "UNPLACED", "AGE"}
	if wide {
		headers = append(headers, "IMAGE", "PORTS", "PLACEMENT", "AUTOSCALE")
	}
	t := newTable(w, headers...)
	for _, s := range list {
		vip := s.VIP
		if s.Spec.ClusterIP == "none" {
			vip = "none"
		}
		health := s.Health
		if health == "" {
			health = "-"
		}
		cells := []any{s.Namespace, s.Name, s.Revision, s.Replicas, s.RunningReplicas, s.ReadyReplicas, health, vip, s.Strategy, s.Unplaced, age(s.CreateTime)}
		if wide {
			cells = append(cells, s.Spec.Image, portList(s.Spec.Ports), placementOf(s.Spec.Placement), autoscaleOf(s.Spec.Autoscale))
		}
		t.row(cells...)
	}
	return t.flush()
}

// portList is "http:8080/http,admin:9000/tcp".
func portList(ports []api.Port) string {
	parts := make([]string, 0, len(ports))
	for _, p := range ports {
		part := fmt.Sprintf("%s:%d/%s", p.Name, p.Port, p.Protocol)
		if p.HostPort > 0 {
			part += fmt.Sprintf(" (host %d)", p.HostPort)
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, ",")
}

// placementOf is the strategy and its constraints: "spread, zone != b".
func placementOf(p api.PlacementSpec) string {
	parts := []string{p.Strategy}
	for _, c := range p.Constraints {
		parts = append(parts, c.String())
	}
	return strings.Join(parts, ", ")
}

// autoscaleOf is "rps 80 per replica, 1..10", or "" without autoscaling.
func autoscaleOf(a *api.Autoscale) string {
	if a == nil {
		return ""
	}
	return fmt.Sprintf("%s %g per replica, %d..%d", a.Metric, a.Target, a.Min, a.Max)
}

func printNodes(w io.Writer, format string, list []*api.Node, single bool) error {
	if !isTable(format) {
		if single {
			return printObject(w, format, list[0])
		}
		return printObject(w, format, list)
	}
	wide := format == "wide"
	headers := []string{"NAME", "STATUS", "ELIGIBLE", "ADDRESS", "CPU", "MEMORY", "ALLOCS", "LABELS"}
	if wide {
		headers = append(headers, "SUBNET", "RUNTIME", "AGENT API", "MESSAGE")
	}
	t := newTable(w, headers...)
	for _, n := range list {
		var labels []string
		for k, v := range n.Labels {
			labels = append(labels, k+"="+v)
		}
		sort.Strings(labels)
		cells := []any{n.Name, n.Status, yesNo(n.Eligible), n.Address,
			n.Allocated.CPU.String() + "/" + n.Capacity.CPU.String(),
			n.Allocated.Memory.String() + "/" + n.Capacity.Memory.String(),
			n.Allocations, strings.Join(labels, ",")}
		if wide {
			cells = append(cells, n.Subnet, n.Runtime, n.HTTPAddress, n.StatusMessage)
		}
		t.row(cells...)
	}
	return t.flush()
}

// printAllocs prints allocations; nodeAddresses (node name to address)
// fills -o wide's NODE ADDRESS.
func printAllocs(w io.Writer, format string, list []*api.Allocation, single bool, nodeAddresses map[string]string) error {
	if !isTable(format) {
		if single {
			return printObject(w, format, list[0])
		}
		return printObject(w, format, list)
	}
	wide := format == "wide"
	headers := []string{"ID", "SERVICE", "REVISION", "NODE", "DESIRED", "STATUS", "READY", "ADDRESS", "RESTARTS", "AGE"}
	if wide {
		headers = append(headers, "NODE ADDRESS", "HOST PORTS", "CPU", "MEMORY", "REASON")
	}
	t := newTable(w, headers...)
	for _, a := range list {
		cells := []any{a.ID, a.Namespace + "/" + a.Service, a.Revision, a.Node, a.DesiredStatus, a.Status, yesNo(a.Ready), a.Address, a.Restarts, age(a.CreateTime)}
		if wide {
			hostPorts := make([]string, 0, len(a.HostPorts))
			for _, p := range a.HostPorts {
				hostPorts = append(hostPorts, strconv.Itoa(p))
			}
			cells = append(cells, nodeAddresses[a.Node], strings.Join(hostPorts, ","), a.Resources.CPU, a.Resources.Memory, allocReason(a))
		}
		t.row(cells...)
	}
	return t.flush()
}

// allocReason says why an allocation is where it is: why the scheduler
// stopped it, else what its agent last said (a restart's backoff, a pull
// that failed, a config it waits for).
func allocReason(a *api.Allocation) string {
	if a.DesiredReason != "" {
		return a.DesiredReason
	}
	return a.StatusMessage
}

// dnsName is a service's name in the cluster's DNS.
func dnsName(namespace, name string) string { return name + "." + namespace + ".svc.flotilla" }

func printEndpoints(w io.Writer, format string, list []*api.ServiceEndpoints, single bool) error {
	if !isTable(format) {
		if single {
			return printObject(w, format, list[0])
		}
		return printObject(w, format, list)
	}
	wide := format == "wide"
	headers := []string{"SERVICE", "VIP", "ENDPOINT", "ADDRESS", "NODE", "REVISION", "READY"}
	if wide {
		headers = append(headers, "PORTS", "BALANCING", "DNS NAME")
	}
	t := newTable(w, headers...)
	row := func(se *api.ServiceEndpoints, cells ...any) {
		if wide {
			cells = append(cells, portList(se.Ports), se.LoadBalancing, dnsName(se.Namespace, se.Name))
		}
		t.row(cells...)
	}
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
			row(se, se.Namespace+"/"+se.Name, vip, "", "", "", "", "")
		}
		for _, e := range se.Endpoints {
			addr := e.IP
			if port > 0 {
				addr = net.JoinHostPort(e.IP, strconv.Itoa(port))
			}
			row(se, se.Namespace+"/"+se.Name, vip, e.ID, addr, e.Node, e.Revision, yesNo(e.Ready))
		}
	}
	return t.flush()
}

func printEvals(w io.Writer, format string, list []*api.Evaluation) error {
	if !isTable(format) {
		return printObject(w, format, list)
	}
	wide := format == "wide"
	headers := []string{"ID", "SERVICE", "TRIGGER", "STATUS", "PLACED", "STOPPED", "UNPLACED", "AGE", "DETAIL"}
	if wide {
		headers = append(headers, "NODE", "WAIT UNTIL", "INDEX")
	}
	t := newTable(w, headers...)
	for _, e := range list {
		detail := e.PlacementFailure
		if detail == "" {
			detail = e.StatusDescription
		}
		cells := []any{e.ID, e.Namespace + "/" + e.Service, e.TriggeredBy, e.Status, e.Placed, e.Stopped, e.Unplaced, age(e.CreateTime), detail}
		if wide {
			wait := ""
			if !e.WaitUntil.IsZero() {
				wait = e.WaitUntil.Local().Format("15:04:05")
			}
			cells = append(cells, e.Node, wait, e.ModifyIndex)
		}
		t.row(cells...)
	}
	return t.flush()
}

func newDescribeCmd(g *globals) *cobra.Command {
	var namespace string
	cmd := &cobra.Command{
		Use:   "describe [service|node|config|secret] NAME",
		Short: "Show a service (the default), a node, a config or a secret (values redacted) in detail",
		Args:  cobra.RangeArgs(1, 2),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return []string{"service", "node", "config", "secret"}, cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := textOnly(g.output, "get KIND NAME -o json prints the object"); err != nil {
				return err
			}
			if len(args) == 1 {
				// One argument is a service's name; a kind alone lacks
				// the name.
				if _, err := resource(args[0]); err == nil {
					return fmt.Errorf("describe %s: NAME missing (describe service NAME or describe node NAME; a service named %s: describe service %s)", args[0], args[0], args[0])
				}
				args = []string{"service", args[0]}
			}
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
			case "configs", "secrets":
				return describeFileObject(cmd, c, fileKind(kind), namespace, args[1])
			}
			return fmt.Errorf("describe works on services, nodes, configs and secrets")
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", api.DefaultNamespace, "namespace")
	g.staleFlag(cmd)
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
		fmt.Fprintf(out, "Unplaced:    %d replica%s: %s\n", s.Unplaced, text.Plural(s.Unplaced), s.PlacementFailure)
	}
	if roErr == nil {
		printRolloutSection(out, ro, s.Strategy)
	}
	fmt.Fprintln(out, "\nAllocations:")
	t := newTable(out, "  ID", "REVISION", "NODE", "DESIRED", "STATUS", "READY", "ADDRESS", "RESTARTS", "AGE", "REASON")
	shown := 0
	for _, a := range allocs {
		if stoppedAlloc(a) {
			continue
		}
		t.row("  "+a.ID, a.Revision, a.Node, a.DesiredStatus, a.Status, yesNo(a.Ready), a.Address, a.Restarts, age(a.CreateTime), allocReason(a))
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
		if stoppedAlloc(a) {
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

func newDeleteCmd(g *globals) *cobra.Command {
	var namespace string
	cmd := &cobra.Command{
		Use:   "delete service|config|secret NAME",
		Short: "Delete a service (its allocations stop), a config or a secret",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := textOnly(g.output, ""); err != nil {
				return err
			}
			kind, err := resource(args[0])
			if err != nil {
				return err
			} else if kind != "services" && kind != "configs" && kind != "secrets" {
				return fmt.Errorf("delete works on services, configs and secrets")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			if kind != "services" {
				fk := fileKind(kind)
				if _, err := c.DeleteFileObject(cmd.Context(), fk, namespace, args[1]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s deleted\n", api.FileObjectName(fk, namespace, args[1]))
				return nil
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
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return fmt.Errorf("scale: want NAME REPLICAS (flotilla scale web 3), got %d argument%s", len(args), text.Plural(len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := textOnly(g.output, ""); err != nil {
				return err
			}
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 0 {
				return replicasError(args[1])
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			if _, err := c.ScaleService(cmd.Context(), namespace, args[0], n); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "service %s/%s scaled to %d replica%s\n", namespace, args[0], n, text.Plural(n))
			return nil
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", api.DefaultNamespace, "namespace")
	// "scale web -1" reads as flags -1 to the parser: say what is wrong
	// with the argument instead of "unknown shorthand flag".
	cmd.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		var unknown *pflag.NotExistError
		if errors.As(err, &unknown) && unknown.GetSpecifiedShortnames() != "" {
			if arg := "-" + unknown.GetSpecifiedShortnames(); isNumber(arg) {
				return replicasError(arg)
			}
		}
		return err
	})
	return cmd
}

func replicasError(arg string) error {
	return fmt.Errorf("scale: REPLICAS must be a whole number, 0 or more: got %q", arg)
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// waitDrained follows a drain until the node is no longer draining,
// saying on out how many of its allocations are still meant to run
// whenever that changes; it returns the last word.
func waitDrained(ctx context.Context, c *api.Client, out io.Writer, name string) (string, error) {
	left := -1
	for {
		n, err := c.Node(ctx, name)
		if err != nil {
			return "", err
		}
		if n.Status != api.NodeDraining {
			if n.StatusMessage == "drained" {
				return "node " + name + " drained", nil
			}
			return fmt.Sprintf("node %s is %s (%s): the drain ended", name, n.Status, n.StatusMessage), nil
		}
		allocs, _, err := c.Allocations(ctx, api.AllocFilter{Node: name}, api.QueryOptions{})
		if err != nil {
			return "", err
		}
		running := 0
		for _, a := range allocs {
			if a.DesiredStatus == api.DesiredRun {
				running++
			}
		}
		if running != left {
			left = running
			fmt.Fprintf(out, "node %s: %s left\n", name, text.Count(running, "allocation"))
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
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
	var cancel, wait bool
	drain := action("drain", "Move a node's allocations elsewhere, a batch at a time, and make it ineligible", func(c *api.Client, cmd *cobra.Command, name string) (string, error) {
		if cancel && wait {
			return "", errors.New("--wait: a canceled drain has nothing to wait for")
		}
		if _, err := c.DrainNode(cmd.Context(), name, !cancel); err != nil {
			return "", err
		}
		if cancel {
			return "node " + name + ": drain canceled, eligible again", nil
		}
		if !wait {
			return "node " + name + " draining", nil
		}
		fmt.Fprintln(cmd.OutOrStdout(), "node "+name+" draining")
		return waitDrained(cmd.Context(), c, cmd.OutOrStdout(), name)
	})
	drain.Flags().BoolVar(&cancel, "cancel", false, "cancel a drain and make the node eligible again")
	drain.Flags().BoolVar(&wait, "wait", false, "follow the drain until the node is drained (or the drain is canceled), saying how many allocations are left")
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
