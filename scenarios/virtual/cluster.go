// Package virtual runs a scenario's lab in this process, on a network
// simulated in memory (vnet.Memory), for `flotilla scenario run
// --virtual`: servers (Raft, gossip, API), agents with the sim runtime,
// their proxies and the demo apps are the real code, wired to each other
// through the simulated network instead of loopback sockets. Inside a
// synctest bubble (internal/bubble) nothing then waits on the machine,
// and cluster time runs as fast as the CPU allows (docs/VIRTUAL-TIME.md).
package virtual

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"flotilla/agent"
	"flotilla/api"
	"flotilla/internal/text"
	"flotilla/internal/vnet"
	"flotilla/runtime/sim"
	"flotilla/scheduler"
	"flotilla/storage"
)

// Spec is the lab to simulate: as a scenario's lab section.
type Spec struct {
	Servers, Agents int
	// Seed, when non-zero, is where the members' own random choices come
	// from (the cluster's ID, hence allocation IDs; heartbeat jitter; the
	// proxies' splits; the replicas' errors, latencies and conversions).
	Seed uint64
	// tweak, when set, changes each server's configuration (tests).
	tweak func(*scheduler.Config)
}

// Cluster is a lab of servers s1..sN and agents n1..nM in this process.
type Cluster struct {
	Net *vnet.Memory
	dir string
	log io.Writer

	mu    sync.Mutex
	nodes []*member
}

// member is one server or agent: how to start it, and the run it is in.
type member struct {
	name   string
	ip     string // its own, as if each ran on a machine of its own
	server bool
	start  func(ctx context.Context) (run func(context.Context) error, err error)
	cancel context.CancelFunc
	done   chan error
	// subnet is an agent's replicas' /24, once its runtime started;
	// partitioned is set while Partition has it cut off.
	subnet      netip.Prefix
	partitioned bool
}

// Addresses of the simulated lab: server sI is at 10.0.1.I, agent nI at
// 10.0.2.I, each with the default ports of a real cluster's machines.
const (
	serverPort = 4646 // the API; Raft 4647, gossip 4648
	agentPort  = 4746 // the API; gossip 4748, DNS 4749
)

func serverIP(i int) string { return fmt.Sprintf("10.0.1.%d", i) }
func agentIP(i int) string  { return fmt.Sprintf("10.0.2.%d", i) }

// heartbeatTTL is a lab's: nodes are marked down 5 s after they stop.
const heartbeatTTL = 5 * time.Second

// Start starts the lab under dir (Raft logs and snapshots, agents' state)
// and waits until a leader is elected and every agent is ready. Logs go
// to log (io.Discard when nil).
func Start(ctx context.Context, spec Spec, dir string, log io.Writer) (*Cluster, error) {
	if spec.Servers < 1 || spec.Agents < 1 {
		return nil, fmt.Errorf("a virtual lab needs at least one server and one agent (got %d and %d)", spec.Servers, spec.Agents)
	}
	if log == nil {
		log = io.Discard
	}
	c := &Cluster{Net: vnet.NewMemory(), dir: dir, log: log}
	logger := slog.New(slog.NewTextHandler(log, nil))
	// One keyring for every server's secrets, as a lab's servers share
	// theirs: without it each would make its own, and read no secret
	// another one wrote.
	keyring := filepath.Join(dir, "keyring.json")
	data, err := storage.GenerateKeyring(time.Now())
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(keyring, data, 0o600); err != nil {
		return nil, err
	}
	var gossip []string
	for i := 1; i <= spec.Servers; i++ {
		gossip = append(gossip, fmt.Sprintf("%s:%d", serverIP(i), serverPort+2))
	}
	for i := 1; i <= spec.Servers; i++ {
		ip := serverIP(i)
		cfg := scheduler.Config{
			Name: fmt.Sprintf("s%d", i), DataDir: filepath.Join(dir, fmt.Sprintf("s%d", i)),
			HTTP: fmt.Sprintf("%s:%d", ip, serverPort), Raft: fmt.Sprintf("%s:%d", ip, serverPort+1),
			Gossip: gossip[i-1], BootstrapExpect: spec.Servers, HeartbeatTTL: heartbeatTTL,
			Logger: logger.With("server", fmt.Sprintf("s%d", i)), LogOutput: log, Net: c.Net.Machine(ip),
			Seed: spec.Seed, Timing: scheduler.VirtualTiming, KeyringFile: keyring,
		}
		if spec.tweak != nil {
			spec.tweak(&cfg)
		}
		for _, g := range gossip {
			if g != cfg.Gossip {
				cfg.Join = append(cfg.Join, g)
			}
		}
		c.nodes = append(c.nodes, &member{name: cfg.Name, ip: ip, server: true, start: func(context.Context) (func(context.Context) error, error) {
			srv, err := scheduler.New(cfg)
			if err != nil {
				return nil, err
			}
			return srv.Run, nil
		}})
	}
	for i := 1; i <= spec.Agents; i++ {
		ip := agentIP(i)
		cfg := agent.Config{
			Name: fmt.Sprintf("n%d", i), DataDir: filepath.Join(dir, fmt.Sprintf("n%d", i)),
			HTTP: fmt.Sprintf("%s:%d", ip, agentPort), Gossip: fmt.Sprintf("%s:%d", ip, agentPort+2), Join: gossip,
			Runtime: "sim", DNS: fmt.Sprintf("%s:%d", ip, agentPort+3), DNSUpstreams: []string{}, Proxy: true,
			Capacity: api.Resources{CPU: 4000, Memory: 4 << 30},
			Labels:   map[string]string{"zone": string(rune('a' + (i-1)%26))},
			Logger:   logger.With("agent", fmt.Sprintf("n%d", i)), LogOutput: log, Net: c.Net.Machine(ip),
			Seed: spec.Seed,
		}
		m := &member{name: cfg.Name, ip: ip}
		c.nodes = append(c.nodes, m)
		m.start = func(context.Context) (func(context.Context) error, error) {
			client, err := api.NewClient(c.Addresses())
			if err != nil {
				return nil, err
			}
			client.UseNet(cfg.Net)
			a, err := agent.New(cfg, client, c.simRuntime(cfg, m))
			if err != nil {
				return nil, err
			}
			return a.Run, nil
		}
	}
	for _, m := range c.nodes {
		if err := c.run(m); err != nil {
			c.Close()
			return nil, err
		}
	}
	for _, m := range c.nodes {
		if err := c.WaitReady(ctx, m.name, time.Minute); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// simRuntime is an agent's sim runtime on the simulated network, its
// replicas on the agent's machine (a partition cuts them off with it).
func (c *Cluster) simRuntime(cfg agent.Config, m *member) agent.RuntimeFactory {
	return func(node *api.Node) (agent.Runtime, error) {
		subnet, err := netip.ParsePrefix(node.Subnet)
		if err != nil {
			return nil, fmt.Errorf("node %s has no usable subnet (%q)", node.Name, node.Subnet)
		}
		c.mu.Lock()
		m.subnet = subnet.Masked()
		c.mu.Unlock()
		return sim.New(sim.Config{Node: node.Name, Subnet: subnet, Logger: cfg.Logger, DNS: cfg.DNS, Net: cfg.Net, Seed: cfg.Seed})
	}
}

// run starts a member.
func (c *Cluster) run(m *member) error {
	if err := os.MkdirAll(filepath.Join(c.dir, m.name), 0o755); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	run, err := m.start(ctx)
	if err != nil {
		cancel()
		return fmt.Errorf("%s: %w", m.name, err)
	}
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	c.mu.Lock()
	m.cancel, m.done = cancel, done
	c.mu.Unlock()
	return nil
}

// Client is an API client of the lab's servers, on the simulated network.
func (c *Cluster) Client() *api.Client {
	client, err := api.NewClient(c.Addresses())
	if err != nil {
		panic(err) // the addresses are ours
	}
	client.UseNet(c.Net)
	return client
}

// Addresses is the servers' API addresses.
func (c *Cluster) Addresses() string {
	var out []string
	for _, m := range c.nodes {
		if m.server {
			out = append(out, fmt.Sprintf("http://%s:%d", m.ip, serverPort))
		}
	}
	return strings.Join(out, ",")
}

// DNS is the first agent's DNS server address.
func (c *Cluster) DNS() string { return fmt.Sprintf("%s:%d", agentIP(1), agentPort+3) }

// Servers lists the servers' names.
func (c *Cluster) Servers() []string {
	var out []string
	for _, m := range c.nodes {
		if m.server {
			out = append(out, m.name)
		}
	}
	return out
}

// Describe says what the lab is, for a run's introduction.
func (c *Cluster) Describe() string {
	servers := len(c.Servers())
	return fmt.Sprintf("virtual lab: %s, %s, runtime sim, in this process on a simulated network", text.Count(servers, "server"), text.Count(len(c.nodes)-servers, "agent"))
}

func (c *Cluster) member(name string) (*member, error) {
	for _, m := range c.nodes {
		if m.name == name {
			return m, nil
		}
	}
	var names []string
	for _, m := range c.nodes {
		names = append(names, m.name)
	}
	return nil, fmt.Errorf("the virtual lab has no node %q (it has %s)", name, strings.Join(names, ", "))
}

// stopTimeout bounds how long a stopped member may take to return.
const stopTimeout = 30 * time.Second

// Kill stops a server or agent at once, as a killed process: it is cut
// off the network first (nothing it says on its way out, such as leaving
// the gossip pool, reaches anyone), then stopped, and its replicas stop
// with it.
func (c *Cluster) Kill(name string) error {
	m, err := c.member(name)
	if err != nil {
		return err
	}
	return c.stop(m, true)
}

// stop stops a member, cut off the network first when unplug is set.
func (c *Cluster) stop(m *member, unplug bool) error {
	name := m.name
	c.mu.Lock()
	cancel, done := m.cancel, m.done
	m.cancel, m.done = nil, nil
	c.mu.Unlock()
	if cancel == nil {
		return fmt.Errorf("%s is not running", name)
	}
	if unplug {
		c.Net.Unplug(m.ip)
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-time.After(stopTimeout):
		return fmt.Errorf("%s did not stop within %s", name, stopTimeout)
	}
}

// Partition cuts members off the network while they keep running, as
// machines whose cables are pulled: each one (an agent with its
// replicas) still reaches itself, and nothing else; their connections to
// the others close. Unlike Kill nothing stops, so both sides go on.
func (c *Cluster) Partition(names ...string) error {
	var ms []*member
	for _, name := range names {
		m, err := c.member(name)
		if err != nil {
			return err
		}
		ms = append(ms, m)
	}
	for _, m := range ms {
		c.mu.Lock()
		prefixes := m.prefixesLocked()
		m.partitioned = true
		c.mu.Unlock()
		if err := c.Net.Isolate(prefixes...); err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
	}
	return nil
}

// Heal reconnects the named members, or every one cut off.
func (c *Cluster) Heal(names ...string) error {
	var ms []*member
	for _, name := range names {
		m, err := c.member(name)
		if err != nil {
			return err
		}
		ms = append(ms, m)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(names) == 0 {
		ms = c.nodes
	}
	for _, m := range ms {
		if m.partitioned {
			c.Net.Rejoin(m.prefixesLocked()...)
			m.partitioned = false
		}
	}
	return nil
}

// prefixesLocked is what a partition cuts off with a member: its address,
// and an agent's replicas' subnet. c.mu is held.
func (m *member) prefixesLocked() []netip.Prefix {
	out := []netip.Prefix{netip.PrefixFrom(netip.MustParseAddr(m.ip), 32)}
	if m.subnet.IsValid() {
		out = append(out, m.subnet)
	}
	return out
}

// Pause is not simulated: a paused process keeps its sockets but answers
// nothing, which a member in this process cannot do.
func (c *Cluster) Pause(name string) error {
	return errors.New("pause: not simulated in virtual time (kill and restart are); run the scenario live")
}

// Resume: see Pause.
func (c *Cluster) Resume(name string) error {
	return errors.New("resume: not simulated in virtual time (kill and restart are); run the scenario live")
}

// Restart stops a member if it runs and starts it again with its data.
func (c *Cluster) Restart(name string) error {
	m, err := c.member(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	running := m.cancel != nil
	c.mu.Unlock()
	if running {
		if err := c.stop(m, true); err != nil {
			return err
		}
	}
	c.Net.Plug(m.ip)
	return c.run(m)
}

// readyPoll is how often WaitReady looks again.
const readyPoll = 100 * time.Millisecond

// WaitReady waits until a server knows a leader, or the servers see an
// agent's node ready.
func (c *Cluster) WaitReady(ctx context.Context, name string, timeout time.Duration) error {
	m, err := c.member(name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := c.Client()
	client.AttemptTimeout, client.RetryFor = time.Second, 0
	if m.server {
		if client, err = api.NewClient(fmt.Sprintf("http://%s:%d", m.ip, serverPort)); err != nil {
			return err
		}
		client.UseNet(c.Net)
		client.AttemptTimeout, client.RetryFor = time.Second, 0
	}
	last := "it has not been asked yet"
	for {
		c.mu.Lock()
		done := m.done
		c.mu.Unlock()
		if done == nil {
			return fmt.Errorf("%s is not running", name)
		}
		select {
		case err := <-done:
			done <- err
			return fmt.Errorf("%s stopped: %v", name, err)
		default:
		}
		why := ""
		if m.server {
			switch l, err := client.Leader(ctx); {
			case err != nil:
				why = err.Error()
			case l.Leader == "":
				why = "it knows no leader yet"
			}
		} else {
			switch n, err := client.Node(ctx, name); {
			case err != nil:
				why = "the servers do not answer: " + err.Error()
			case n.Status != api.NodeReady:
				why = "the servers see node " + name + " " + n.Status
			}
		}
		if why == "" {
			return nil
		}
		if ctx.Err() == nil {
			last = why
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s is not ready after %s: %s", name, timeout, last)
		case <-time.After(readyPoll):
		}
	}
}

// Close stops every member (agents first) and waits for them, closes
// every connection left open, and lets the timers of the libraries'
// stopped work run out (a minute: at once in virtual time), so that
// nothing of the lab is left waiting in the bubble.
func (c *Cluster) Close() error {
	defer time.Sleep(time.Minute)
	defer c.Net.CloseAll()
	var errs []error
	for i := len(c.nodes) - 1; i >= 0; i-- {
		m := c.nodes[i]
		c.mu.Lock()
		running := m.cancel != nil
		c.mu.Unlock()
		if running {
			if err := c.stop(m, false); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
