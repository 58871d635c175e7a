package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"flotilla/api"
	"flotilla/scenarios/lab"
)

func newLabCmd() *cobra.Command {
	var name, root string
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Run a whole cluster on this machine: servers and agents as local processes",
	}
	defaultName := os.Getenv("FLOTILLA_LAB")
	if defaultName == "" {
		defaultName = "default"
	}
	cmd.PersistentFlags().StringVar(&name, "name", defaultName, "lab name (default $FLOTILLA_LAB or \"default\")")
	cmd.PersistentFlags().StringVar(&root, "dir", lab.DefaultRoot(), "directory labs live in ($"+lab.DirEnv+")")
	load := func() (*lab.Lab, error) {
		l, err := lab.Load(root, name)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no lab %q in %s (start one with flotilla lab up)", name, root)
		}
		return l, err
	}

	var cfg lab.Config
	var gossipEncrypt bool
	var labTLS labTLSFlags
	up := &cobra.Command{
		Use:   "up",
		Short: "Start a lab (3 servers and 3 agents by default) and wait until it is ready",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			bin, err := os.Executable()
			if err != nil {
				return err
			}
			cfg.Name, cfg.Root, cfg.Binary = name, root, bin
			cfg.PlaintextGossip = !gossipEncrypt
			if cfg.TLS, err = labTLS.want(cmd, cfg.Runtime); err != nil {
				return err
			}
			if !cmd.Flags().Changed("acl") {
				cfg.ACL = cfg.Runtime == "containerd" // a lab of real containers is locked by default
			}
			l, err := lab.Up(cmd.Context(), cfg, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			self := os.Args[0]
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "logs and data: %s\n\nNext:\n", l.Dir)
			fmt.Fprintf(out, "  export %s=%s\n", api.AddressEnv, l.Addresses())
			printLabTLS(out, l)
			if l.ACL {
				fmt.Fprintf(out, "  export %s=%s   # the lab's management token (ACLs are on; also in %s)\n", api.TokenEnv, l.Token(), l.Dir)
			}
			if l.DNS() != "" {
				host, port := l.DNSServer()
				fmt.Fprintf(out, "  export FLOTILLA_DNS_SERVER=%s FLOTILLA_DNS_PORT=%s   # every agent serves DNS; this is n1's\n", host, port)
			}
			fmt.Fprintf(out, "  %s apply -f scenarios/examples/web.yaml\n", self)
			switch ns := l.FirstAgentNetns(); {
			case ns != "":
				fmt.Fprintf(out, "  %s get allocs                 # real containers: ctr -n %s tasks ls\n", self, l.FirstAgentContainerdNamespace())
				fmt.Fprintf(out, "  ip netns exec %s dig +short web.default.svc.flotilla   # the VIP, from inside a node\n", ns)
				fmt.Fprintf(out, "  ip netns exec %s curl http://VIP:8080/                 # balanced over every node's replicas\n", ns)
			case l.DNS() != "":
				fmt.Fprintf(out, "  %s get allocs                 # then: curl http://ADDRESS/\n", self)
				fmt.Fprintf(out, "  dig @$FLOTILLA_DNS_SERVER -p $FLOTILLA_DNS_PORT web.default.svc.flotilla   # the VIP; curl http://VIP:8080/ balances\n")
			default:
				fmt.Fprintf(out, "  %s get allocs                 # then: curl http://ADDRESS/\n", self)
			}
			named := "" // lab commands find the default lab by themselves, others by --name (and --dir)
			if name != defaultName {
				named = " --name " + name
			}
			if root != lab.DefaultRoot() {
				named += " --dir " + root
			}
			fmt.Fprintf(out, "  %s lab kill n2%s                # and watch its replicas move: in the dashboard too, %s/ui/\n",
				self, named, strings.Split(l.Addresses(), ",")[0])
			fmt.Fprintf(out, "  %s lab down%s\n", self, named)
			return nil
		},
	}
	up.Flags().IntVar(&cfg.Servers, "servers", 3, "servers")
	up.Flags().IntVar(&cfg.Agents, "agents", 3, "agents (nodes)")
	up.Flags().StringVar(&cfg.Runtime, "runtime", "sim", "container runtime: sim (processes on loopback, no root) or containerd (root: every node a network namespace, real containers)")
	up.Flags().StringVar(&cfg.ContainerdSocket, "containerd-socket", lab.DefaultContainerdSocket(), "containerd's socket, for --runtime containerd ($"+lab.ContainerdSocketEnv+")")
	up.Flags().IntVar(&cfg.BasePort, "base-port", lab.DefaultBasePort, "first port: servers use it and up, agents 100 above it; a sim lab's loopback ranges for VIPs and nodes follow from it")
	up.Flags().DurationVar(&cfg.ReadyTimeout, "timeout", 30*time.Second, "how long to wait for the lab to be ready")
	up.Flags().BoolVar(&gossipEncrypt, "gossip-encrypt", true, "encrypt the gossip pool with a new key (the lab dir's gossip.key, given to every member by --gossip-key-file); false: gossip in the clear")
	labTLS.register(up.Flags())
	up.Flags().BoolVar(&cfg.ACL, "acl", false, "enforce ACLs, with a management token the lab makes (lab env exports it); default on for --runtime containerd, off for sim")

	status := &cobra.Command{
		Use:   "status",
		Short: "Show the lab's processes and the cluster they form",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f := cmd.Flag("output"); f != nil {
				if err := textOnly(f.Value.String(), ""); err != nil {
					return err
				}
			}
			l, err := load()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			var running []labServer
			for i := range l.Processes {
				if p := &l.Processes[i]; p.Role == lab.RoleServer && l.State(p) == "running" {
					running = append(running, labServer{Name: p.Name, HTTP: p.HTTP})
				}
			}
			clientTLS, err := l.ClientTLS()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), labStatusTimeout)
			cluster := labClusterView(ctx, running, clientTLS, l.Token())
			cancel()
			fmt.Fprintf(out, "lab %s (runtime %s) in %s\n\n", l.Name, l.Runtime, l.Dir)
			t := newTable(out, "NAME", "ROLE", "PROCESS", "PID", "HTTP", "CLUSTER")
			for i := range l.Processes {
				p := &l.Processes[i]
				state := l.State(p)
				pid := "-"
				if state != "stopped" {
					pid = fmt.Sprint(p.PID)
				}
				view := cluster[p.Name]
				if view == "" || (p.Role == lab.RoleServer && state != "running") {
					view = "-"
				}
				t.row(p.Name, p.Role, state, pid, p.HTTP, view)
			}
			return t.flush()
		},
	}
	env := &cobra.Command{
		Use:   "env",
		Short: "Print the exports that point flotilla at the lab: eval \"$(flotilla lab env)\" (fish: flotilla lab env | source)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := load()
			if err != nil {
				return err
			}
			if servers := l.ServersStopped(); servers != "" {
				if l.Network != nil {
					// Its unreachable routes went with it: its addresses
					// would lead off this machine.
					return fmt.Errorf("lab %s is down (%s stopped), and its addresses now lead off this machine: lab up starts it again", l.Name, servers)
				}
				// A sim lab's addresses are loopback: the exports still go
				// out, with a word on stderr.
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: lab %s is down (%s stopped): nothing answers at these addresses until it is up\n", l.Name, servers)
			}
			fmt.Fprint(cmd.OutOrStdout(), l.Env())
			return nil
		},
	}
	down := &cobra.Command{
		Use:   "down",
		Short: "Stop every process of the lab (logs and data stay)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := load()
			if err != nil {
				return err
			}
			if err := l.Down(cmd.OutOrStdout()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lab %s is down; logs in %s\n", l.Name, filepath.Join(l.Dir, "logs"))
			return nil
		},
	}
	fault := func(use, short string, do func(*lab.Lab, string) error, done string) *cobra.Command {
		return &cobra.Command{
			Use: use + " NODE", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				l, err := load()
				if err != nil {
					return err
				}
				if err := do(l, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", args[0], done)
				return nil
			},
		}
	}
	var wait time.Duration
	restart := &cobra.Command{
		Use:   "restart NODE",
		Short: "Start a server or agent again with its data (stopping it first if it runs) and wait until it is ready",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := load()
			if err != nil {
				return err
			}
			start := time.Now()
			if err := l.Restart(args[0]); err != nil {
				return err
			}
			if wait <= 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%s restarted\n", args[0])
				return nil
			}
			if err := l.WaitReady(cmd.Context(), args[0], wait); err != nil {
				return fmt.Errorf("%s restarted, but %w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s restarted and ready in %.1fs\n", args[0], time.Since(start).Seconds())
			return nil
		},
	}
	restart.Flags().DurationVar(&wait, "wait", 30*time.Second, "how long to wait for it to be ready (a server: knows a leader; an agent: registered, its node ready); 0: do not wait")
	var follow bool
	var tail int
	logs := &cobra.Command{
		Use:   "logs NODE",
		Short: "Print a server's or agent's log (-f: keep printing, across restarts, until Ctrl-C)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := load()
			if err != nil {
				return err
			}
			return l.Logs(cmd.Context(), args[0], follow, tail, cmd.OutOrStdout())
		},
	}
	logs.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing as the process writes")
	logs.Flags().IntVar(&tail, "tail", -1, "print only the last N lines first")
	cmd.AddCommand(up, status, env, down, restart, logs,
		fault("kill", "Kill a server or agent at once (SIGKILL), as a crash would", (*lab.Lab).Kill, "killed"),
		fault("pause", "Freeze a server or agent (SIGSTOP), as a hung machine", (*lab.Lab).Pause, "paused"),
		fault("resume", "Thaw a paused server or agent", (*lab.Lab).Resume, "resumed"),
		links("partition", "Cut nodes off the lab network, as a pulled cable (containerd labs)", cobra.MinimumNArgs(1), (*lab.Lab).Partition, "cut off", load),
		links("heal", "Restore the links of the named nodes, or of every node (containerd labs)", cobra.ArbitraryArgs, (*lab.Lab).Heal, "connected", load),
	)
	return cmd
}

// links is a lab command that sets nodes' links: partition and heal.
func links(use, short string, args cobra.PositionalArgs, do func(*lab.Lab, ...string) error, done string, load func() (*lab.Lab, error)) *cobra.Command {
	return &cobra.Command{
		Use: use + " [NODE...]", Short: short, Args: args,
		RunE: func(cmd *cobra.Command, names []string) error {
			l, err := load()
			if err != nil {
				return err
			}
			if err := do(l, names...); err != nil {
				return err
			}
			what := strings.Join(names, ", ")
			if what == "" {
				what = "every node"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", what, done)
			return nil
		},
	}
}

// labStatusTimeout bounds lab status's questions to the cluster; it is
// longer than labProbeTimeout times the servers a read may try, so that
// one server that hangs (paused, cut off) does not blank the whole view.
const (
	labStatusTimeout = 5 * time.Second
	labProbeTimeout  = time.Second
)

// labServer is a running server of a lab.
type labServer struct{ Name, HTTP string }

// labClusterView is lab status's CLUSTER column: each server's role as
// that server itself says (leader, follower, "no leader", or unreachable
// when it does not answer within labProbeTimeout), and each node's status
// as any answering server says.
func labClusterView(ctx context.Context, servers []labServer, clientTLS *tls.Config, token string) map[string]string {
	view := map[string]string{}
	if len(servers) == 0 {
		return view
	}
	var mu sync.Mutex
	set := func(name, v string) {
		mu.Lock()
		view[name] = v
		mu.Unlock()
	}
	var wg sync.WaitGroup
	var addrs []string
	for _, srv := range servers {
		addrs = append(addrs, srv.HTTP)
		wg.Go(func() { set(srv.Name, serverRole(ctx, srv, clientTLS)) })
	}
	wg.Go(func() {
		client, err := api.NewClient(strings.Join(addrs, ","))
		if err != nil {
			return
		}
		if clientTLS != nil {
			client.UseTLS(clientTLS)
		}
		client.AttemptTimeout, client.RetryFor = labProbeTimeout, labStatusTimeout
		if token != "" {
			client.SetToken(token)
		}
		nodes, _, err := client.Nodes(ctx, api.QueryOptions{})
		if err != nil {
			// No leader to make the read consistent: what the servers have.
			nodes, _, err = client.Nodes(ctx, api.QueryOptions{Stale: true})
		}
		if err != nil {
			return
		}
		for _, n := range nodes {
			set(n.Name, n.Status)
		}
	})
	wg.Wait()
	return view
}

// serverRole asks one server who leads.
func serverRole(ctx context.Context, srv labServer, clientTLS *tls.Config) string {
	client, err := api.NewClient(srv.HTTP)
	if err != nil {
		return "?"
	}
	if clientTLS != nil {
		client.UseTLS(clientTLS)
	}
	client.AttemptTimeout, client.RetryFor = labProbeTimeout, 0
	ctx, cancel := context.WithTimeout(ctx, labProbeTimeout)
	defer cancel()
	l, err := client.Leader(ctx)
	switch {
	case err != nil:
		return "unreachable"
	case l.Leader == srv.Name:
		return "leader"
	case l.Leader == "":
		return "no leader"
	}
	return "follower"
}
