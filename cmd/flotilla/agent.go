package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"flotilla/agent"
	"flotilla/api"
	"flotilla/internal/text"
	"flotilla/runtime/sim"
)

func newAgentCmd() *cobra.Command {
	var cfg agent.Config
	var servers, cpu, memory, logLevel string
	var labels, upstreams []string
	var fakeNodes, procs int
	var real realNodeFlags
	var gossipKey gossipKeyFlags
	var secure daemonTLS
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a node agent (or, with --fake-nodes, many fake nodes)",
		Example: `  flotilla agent --name n1 --data-dir /var/lib/flotilla/n1 --servers 127.0.0.1:4646 \
      --http 127.0.0.1:4746 --gossip 127.0.0.1:4748 --join 127.0.0.1:4648 --runtime sim
  flotilla agent --fake-nodes 1000 --servers 127.0.0.1:4646`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if cfg.Logger, cfg.LogOutput, err = daemonLogs(logLevel); err != nil {
				return err
			}
			useProcs, err := procsFlag("--procs", procs)
			if err != nil {
				return err
			}
			if cfg.Capacity.CPU, err = api.ParseCPU(cpu); err != nil {
				return fmt.Errorf("--cpu: %w", err)
			}
			if cfg.Capacity.Memory, err = api.ParseMemory(memory); err != nil {
				return fmt.Errorf("--memory: %w", err)
			}
			switch {
			case len(upstreams) == 1 && upstreams[0] == "none":
				cfg.DNSUpstreams = []string{}
			case len(upstreams) > 0:
				cfg.DNSUpstreams = upstreams
			}
			cfg.Labels = map[string]string{}
			for _, l := range labels {
				k, v, ok := strings.Cut(l, "=")
				if !ok || k == "" {
					return fmt.Errorf("--labels: want key=value, got %q", l)
				}
				cfg.Labels[k] = v
			}
			client, err := api.NewClient(servers)
			if err != nil {
				return fmt.Errorf("--servers: %w", err)
			}
			if cfg.GossipKey, err = gossipKey.parse(); err != nil {
				return err
			}
			if fakeNodes > 0 && gossipKey.given() {
				return fmt.Errorf("--gossip-key, --gossip-key-file: fake nodes do not gossip")
			}
			if cfg.TLS, err = secure.load([2]string{"--http", cfg.HTTP}, gossipKey.listener(cfg.Gossip, cfg.DataDir, cfg.GossipKey)); err != nil {
				return err
			}
			if cfg.TLS != nil {
				client.UseTLS(cfg.TLS.ClientConfig(api.ServerTLSName))
			}
			if token, _ := cmd.Flags().GetString("token"); token != "" {
				client.SetToken(token) // else $FLOTILLA_TOKEN; every call to the servers carries it
			}
			if fakeNodes > 0 {
				if procs > 0 {
					defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(procs))
				}
				return runFakeNodes(cmd.Context(), cfg, client, fakeNodes, cmd.ErrOrStderr())
			}
			factory := simRuntime(cfg)
			switch cfg.Runtime {
			case "sim":
			case "containerd":
				if factory, err = real.setup(cmd.Context(), &cfg); err != nil {
					return err
				}
			default:
				return fmt.Errorf("--runtime %q: want sim or containerd", cfg.Runtime)
			}
			gossipKey.note(cmd.ErrOrStderr(), cfg.DataDir, cfg.GossipKey)
			// Restored on return, for an agent run inside another
			// program's process (tests).
			defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(useProcs))
			a, err := agent.New(cfg, client, factory)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "flotilla agent %s: http %s, gossip %s, dns %s, data %s, %s\n", a.Name(), a.HTTPAddr(), a.GossipAddr(), a.DNSAddr(), cfg.DataDir,
				text.Count(goruntime.GOMAXPROCS(0), "processor"))
			return stoppedIsNil(cmd.Context(), a.Run(cmd.Context()))
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Name, "name", "", "node name, unique in the cluster (default the hostname)")
	f.StringVar(&cfg.DataDir, "data-dir", "", "directory for the agent's local state")
	f.StringVar(&servers, "servers", "", "server HTTP address(es), comma-separated (default $"+api.AddressEnv+" or "+api.DefaultAddress+")")
	f.StringVar(&cfg.HTTP, "http", "127.0.0.1:4746", "listen address of the agent's API (logs, exec, metrics)")
	f.StringVar(&cfg.Gossip, "gossip", "127.0.0.1:4748", "gossip (memberlist) listen and advertise address")
	f.StringSliceVar(&cfg.Join, "join", nil, "gossip address(es) of servers or other agents")
	f.StringVar(&cfg.Runtime, "runtime", "sim", "container runtime: sim (in process, no root) or containerd")
	f.StringVar(&cfg.Address, "address", "", "node address: other nodes route to this node's containers through it (default the host of --http)")
	real.flags(f)
	f.StringVar(&cfg.DNS, "dns", agent.DefaultDNS, "listen address of the node's cluster DNS server (svc.flotilla), UDP and TCP; containers need IP:53 on a real node; empty: none")
	f.StringSliceVar(&upstreams, "dns-upstream", nil, "resolvers for other names, host:port (default: /etc/resolv.conf; \"none\" refuses them)")
	f.BoolVar(&cfg.Proxy, "proxy", true, "run the service proxy: own every service's VIP on this node")
	f.StringVar(&cpu, "cpu", "4000m", "CPU the node offers")
	f.StringVar(&memory, "memory", "8Gi", "memory the node offers")
	f.StringSliceVar(&labels, "labels", nil, "node labels, key=value (repeatable or comma-separated)")
	f.IntVar(&fakeNodes, "fake-nodes", 0, "register this many fake nodes that run nothing (for measuring the control plane); with --data-dir their node secrets outlive a restart")
	f.IntVar(&procs, "procs", 0, "processors (GOMAXPROCS) the agent runs Go code on; 0: $GOMAXPROCS if set, else one per four cores, at least one (fake nodes: every core)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	gossipKey.flags(f)
	secure.register(f, "the agent's API")
	cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
		if cfg.Name == "" && fakeNodes == 0 {
			host, err := os.Hostname()
			if err != nil {
				return fmt.Errorf("--name is required: %w", err)
			}
			cfg.Name = strings.ToLower(host)
		}
		if cfg.DataDir == "" && fakeNodes == 0 {
			return fmt.Errorf("--data-dir is required")
		}
		return nil
	}
	return cmd
}

// defaultProcs is the processors (GOMAXPROCS) an agent runs Go code on: the
// flag's when given, else GOMAXPROCS's when set in the environment, else
// one per four of the cores the process may use, at least one.
//
// An agent shares its node with the workloads it runs, and its proxy,
// which carries their traffic, is the part of it that needs a short tail.
// On a busy node, more processors than that mean more threads that wake
// one another (Go wakes a thread for an idle processor whenever more
// goroutines are ready than the running ones take) and then wait for a
// core: with 2 cores shared by the proxy, its clients and its upstream,
// each in a session of its own as services are, the proxy's p99 was
// 1.07–1.27x nginx's on 2 processors and 0.50–0.95x on one, for as many
// requests per second or more (docs/BENCHMARKS.md, "Service proxy against
// a direct connection and nginx").
func defaultProcs(flag int, env string, cores int) int {
	switch {
	case flag > 0:
		return flag
	case env != "":
		return cores // the runtime has it from the environment already
	}
	return max(1, cores/4)
}

// procsFlag checks flag, a count of processors where 0 asks for the
// default, and says what it comes to: the count given, or by default an
// agent's (defaultProcs).
func procsFlag(flag string, procs int) (int, error) {
	if procs < 0 {
		return 0, fmt.Errorf("%s: %d: must be 0 (the default) or more", flag, procs)
	}
	return defaultProcs(procs, os.Getenv("GOMAXPROCS"), goruntime.GOMAXPROCS(0)), nil
}

// stoppedIsNil is nil for the error of an agent that stopped because it
// was asked to (SIGTERM or SIGINT end the command's context): an agent
// stopped before it registered (no server answered yet) ends its
// registration with context.Canceled, and a stop asked for is no failure
// (systemd would mark the unit failed). Other errors stay.
func stoppedIsNil(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// simRuntime starts the sim runtime on the node's loopback subnet; exec's
// lookups go to the node's DNS server.
func simRuntime(cfg agent.Config) agent.RuntimeFactory {
	return func(node *api.Node) (agent.Runtime, error) {
		subnet, err := netip.ParsePrefix(node.Subnet)
		if err != nil {
			return nil, fmt.Errorf("node %s has no usable subnet (%q): are the servers current?", node.Name, node.Subnet)
		}
		return sim.New(sim.Config{Node: node.Name, Subnet: subnet, Logger: cfg.Logger, DNS: cfg.DNS, FilesDir: filepath.Join(cfg.DataDir, "files")})
	}
}

// fakeNodesMemoryLimit is the fake-node process's soft memory limit
// (unless $GOMEMLIMIT says otherwise).
const fakeNodesMemoryLimit = 1536 << 20

// maxRegistering is how many fake nodes register at once.
const maxRegistering = 64

// runFakeNodes registers n nodes that heartbeat, accept allocations and
// report them running without running anything, as KWOK does.
func runFakeNodes(ctx context.Context, base agent.Config, client *api.Client, n int, out io.Writer) error {
	prefix := base.Name
	if prefix == "" {
		prefix = "fake"
	}
	// The nodes share what they fetch: a few HTTP/2 connections per
	// server for all their requests (rather than a connection or two per
	// node, which ran out of file descriptors at 10,000 nodes), and each
	// revision fetched once.
	client.Multiplex()
	if os.Getenv("GOMEMLIMIT") == "" {
		// Collect harder near 1.5 GiB rather than let a burst (100,000
		// replicas reported at once) double the heap: the process
		// stays within 2 GB at 10,000 nodes.
		debug.SetMemoryLimit(fakeNodesMemoryLimit)
	}
	revisions := base.Revisions
	if revisions == nil {
		revisions = agent.NewRevisions(base.Clock, client.Revision)
	}
	// One client per server, each starting at its own: node i long-polls
	// and reports to server i mod 3 (with one client, every node's
	// requests went to the first server, which, starved, missed Raft
	// heartbeats while 100,000 replicas were placed).
	clients := []*api.Client{client}
	for i := 1; i < len(client.Addresses()); i++ {
		c, err := api.NewClient(strings.Join(client.Addresses(), ","))
		if err != nil {
			return err
		}
		if cfg := client.TLS(); cfg != nil {
			c.UseTLS(cfg)
		}
		c.SetToken(client.Token())
		c.Multiplex()
		c.StartAt(i)
		clients = append(clients, c)
	}
	// Each node has a secret of its own (as an agent keeps in its data
	// directory), derived from one the process keeps in --data-dir, if
	// given, so that the nodes are theirs again after a restart.
	var processKey [32]byte
	if base.DataDir != "" {
		s, err := agent.NodeSecretIn(base.DataDir)
		if err != nil {
			return err
		}
		processKey = sha256.Sum256([]byte(s))
	} else if _, err := rand.Read(processKey[:]); err != nil {
		return err
	}
	nodeSecret := func(name string) string {
		m := hmac.New(sha256.New, processKey[:])
		m.Write([]byte(name))
		return hex.EncodeToString(m.Sum(nil))
	}
	// They register a few at a time: each registration is a Raft write,
	// and ten thousand at once (each retried after its 5 s deadline) kept
	// the servers electing leaders instead of answering.
	registering := make(chan struct{}, maxRegistering)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	started := 0
	for i := 1; i <= n && ctx.Err() == nil; i++ {
		cfg := base
		cfg.Name = fmt.Sprintf("%s-%05d", prefix, i)
		cfg.NodeSecret = nodeSecret(cfg.Name)
		cfg.DataDir, cfg.HTTP, cfg.Gossip, cfg.Join, cfg.DNS, cfg.Proxy = "", "", "", nil, "", false
		cfg.Runtime = "fake"
		cfg.Revisions = revisions
		cfg.Workers = 1
		// A thousand reporters waking ten times a second cost more than
		// the reports they send.
		cfg.StatusInterval = 500 * time.Millisecond
		a, err := agent.New(cfg, clients[i%len(clients)], func(*api.Node) (agent.Runtime, error) { return agent.NewNullRuntime(), nil })
		if err != nil {
			return err
		}
		select {
		case registering <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		started++
		ran := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(ran)
			if err := a.Run(ctx); err != nil && ctx.Err() == nil {
				errs <- err
			}
		}()
		go func() {
			select {
			case <-a.Registered():
			case <-ran:
			}
			<-registering
		}()
	}
	fmt.Fprintf(out, "flotilla agent: %d fake nodes %s-00001..%s-%05d running\n", started, prefix, prefix, started)
	wg.Wait()
	close(errs)
	return <-errs
}
