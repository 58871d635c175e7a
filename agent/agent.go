package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
	"flotilla/internal/seeded"
	"flotilla/internal/vnet"
	"flotilla/network/dns"
	"flotilla/network/gossip"
	"flotilla/network/proxy"
	"flotilla/storage"
)

// Config is one agent's configuration.
type Config struct {
	// Name is the node's name, unique in the cluster (also its gossip name).
	Name string
	// DataDir keeps the agent's local state; "" keeps it in memory only
	// (fake nodes).
	DataDir string
	// NodeSecret is sent with every request to the servers (see
	// NodeSecretFile); "" reads it from DataDir, making it the first time
	// (with no DataDir, the node registers without one).
	NodeSecret string
	// HTTP is where the agent serves logs, exec and metrics ("" for none).
	HTTP string
	// Address is the node address registered; default the host of HTTP.
	Address string
	// Gossip is the memberlist bind address ("" to stay out of the pool);
	// Join lists members to join.
	Gossip string
	Join   []string
	// GossipKey (16, 24 or 32 bytes) encrypts the gossip; the keyring in
	// DataDir, once written, wins over it (gossip.Config).
	GossipKey []byte
	// DNS is where the node's cluster DNS server listens ("" for none;
	// the command's --dns defaults to DefaultDNS); DNSUpstreams answer
	// other names (nil: /etc/resolv.conf, or none on a simulated Net;
	// empty: none, such queries are refused).
	DNS          string
	DNSUpstreams []string
	// Proxy runs the node's service proxy, owning the services' VIPs.
	Proxy bool
	// Runtime names the runtime in the registration (sim, containerd, fake).
	Runtime string
	// Network is the node's own network on real nodes (VIP addresses and
	// routes to the other nodes' pod subnets); nil for sim and fake nodes.
	Network  NodeNetwork
	Capacity api.Resources
	Labels   map[string]string
	// StatusInterval is how often status reports are batched (100ms).
	StatusInterval time.Duration
	// ResyncInterval re-checks every allocation even without a change (30s).
	ResyncInterval time.Duration
	// StopGrace is how long a stopping container may take before it is
	// killed (5s).
	StopGrace time.Duration
	// Revisions is where revisions are fetched through; agents of one
	// process share one (nil: the agent makes its own).
	Revisions *Revisions
	Workers   int
	Clock     clock.Clock
	// Seed, when non-zero, makes the agent's random choices (heartbeat
	// jitter, the proxy's splits, mirrors and balancing) a function of it
	// and the node's name, so that a virtual scenario run with --seed
	// replays; 0 draws them at random.
	Seed      uint64
	Logger    *slog.Logger
	LogOutput io.Writer
	// Net is where the agent listens (HTTP, gossip, DNS, the proxy's VIPs)
	// and dials (probes, the proxy's endpoints): nil for the host's
	// network, or a simulated one (vnet.Memory). The Servers client and
	// the runtime are the caller's: give them the same Net
	// (api.Client.UseNet, sim.Config.Net).
	Net vnet.Net
	// TLS, when set, makes the agent's API require a client certificate
	// of the CA: exec, logs, allocations and metrics then answer users
	// and servers only. The Servers client's TLS is the caller's
	// (api.Client.UseTLS).
	TLS *api.MutualTLS
}

// DefaultDNS is where an agent's cluster DNS server listens unless told
// otherwise: next to its API (4746) and gossip (4748) ports. It is not
// port 53, which needs root: real nodes, whose containers need a port-53
// server on an address they reach, pass --dns IP:53 (deploy/provision.sh).
const DefaultDNS = "127.0.0.1:4749"

func (c *Config) setDefaults() error {
	if c.Name == "" {
		return errors.New("agent: --name is required")
	}
	if err := api.ValidateName("name", c.Name); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if c.Capacity.CPU <= 0 || c.Capacity.Memory <= 0 {
		return fmt.Errorf("agent %s: --cpu and --memory must be more than 0", c.Name)
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = 100 * time.Millisecond
	}
	if c.ResyncInterval <= 0 {
		c.ResyncInterval = 30 * time.Second
	}
	if c.StopGrace <= 0 {
		c.StopGrace = 5 * time.Second
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.LogOutput == nil {
		c.LogOutput = io.Discard
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(c.LogOutput, nil))
	}
	return nil
}

// Servers is what the agent needs from the control plane; *api.Client
// provides it.
type Servers interface {
	RegisterNode(ctx context.Context, name string, r api.NodeRegistration) (api.WriteResponse, error)
	Node(ctx context.Context, name string) (*api.Node, error)
	Heartbeat(ctx context.Context, name string) (api.HeartbeatResponse, error)
	NodeAllocations(ctx context.Context, node string, q api.QueryOptions) ([]*api.Allocation, uint64, error)
	Revision(ctx context.Context, namespace, name string, revision int) (*api.Revision, error)
	UpdateAllocations(ctx context.Context, batch api.AllocStatusBatch) (api.WriteResponse, error)
	Endpoints(ctx context.Context, q api.QueryOptions) ([]*api.ServiceEndpoints, uint64, error)
	Nodes(ctx context.Context, q api.QueryOptions) ([]*api.Node, uint64, error)
	ReportTraffic(ctx context.Context, node string, reports []api.TrafficReport) error
	ReportUsage(ctx context.Context, node string, reports []api.AllocUsage) error
}

// RuntimeFactory makes the runtime once the node is registered and its
// subnet is known.
type RuntimeFactory func(node *api.Node) (Runtime, error)

// Agent runs one node: it registers, heartbeats, watches the node's
// allocations and reconciles them against the runtime.
type Agent struct {
	cfg        Config
	servers    Servers
	newRuntime RuntimeFactory

	httpLn net.Listener
	kv     *storage.KV
	pool   *gossip.Pool
	dns    *dns.Server
	proxy  *proxy.Proxy
	// routes records the endpoint versions the proxy applied (nil
	// without a proxy), for GET /v1/agent/routes.
	routes *appliedRoutes

	rt       Runtime
	queue    *Queue
	reporter *statusReporter
	metrics  *agentMetrics

	mu      sync.Mutex
	node    *api.Node
	desired map[string]*api.Allocation
	local   map[string]*localAlloc
	specs   map[string]*api.ServiceSpec
	waiting map[string]bool // containers with an exit watcher
	probes  map[string]*probing
	certs   map[string]*allocCerts // replicas' certificates, held in memory (certs.go)
	// probeClient checks HTTP probes.
	probeClient *http.Client
	// callers checks the tokens of the agent API's callers (acl.go).
	callers *callerACL

	registered chan struct{}
	// synced is closed once the first list of desired allocations arrived:
	// before it, an allocation the agent knows would look unwanted.
	synced   chan struct{}
	syncOnce sync.Once
}

// New checks the configuration and opens the agent's listener and state.
func New(cfg Config, servers Servers, newRuntime RuntimeFactory) (_ *Agent, err error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	a := &Agent{
		cfg: cfg, servers: servers, newRuntime: newRuntime,
		desired: map[string]*api.Allocation{}, local: map[string]*localAlloc{},
		specs: map[string]*api.ServiceSpec{}, waiting: map[string]bool{}, probes: map[string]*probing{},
		registered: make(chan struct{}), synced: make(chan struct{}),
		probeClient: newProbeClient(cfg.Net),
		callers:     newCallerACL(servers, cfg.Clock),
	}
	if a.cfg.Revisions == nil {
		a.cfg.Revisions = NewRevisions(cfg.Clock, servers.Revision)
	}
	a.queue = NewQueue(cfg.Clock, 200*time.Millisecond, 30*time.Second)
	a.reporter = newStatusReporter(cfg.Name, cfg.Clock, cfg.StatusInterval, func(ctx context.Context, b api.AllocStatusBatch) error {
		_, err := servers.UpdateAllocations(ctx, b)
		return err
	})
	a.metrics = newAgentMetrics(a)
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	if cfg.HTTP != "" {
		if a.httpLn, err = vnet.Or(cfg.Net).Listen("tcp", cfg.HTTP); err != nil {
			return nil, fmt.Errorf("agent %s: listen on %s: %w", cfg.Name, cfg.HTTP, err)
		}
		if a.cfg.Address == "" {
			a.cfg.Address, _, _ = net.SplitHostPort(a.httpLn.Addr().String())
		}
		a.httpLn = cfg.TLS.Listener(a.httpLn) // unchanged without TLS
	}
	if cfg.DataDir != "" {
		if a.cfg.NodeSecret == "" {
			if a.cfg.NodeSecret, err = NodeSecretIn(cfg.DataDir); err != nil {
				return nil, fmt.Errorf("agent %s: %w", cfg.Name, err)
			}
		}
		if a.kv, err = storage.OpenKV(filepath.Join(cfg.DataDir, "agent.db")); err != nil {
			return nil, fmt.Errorf("agent %s: %w", cfg.Name, err)
		}
		if err := a.loadLocal(); err != nil {
			return nil, fmt.Errorf("agent %s: read local state: %w", cfg.Name, err)
		}
	}
	if cfg.DNS != "" {
		if a.dns, err = dns.New(dns.Config{Listen: cfg.DNS, Upstreams: cfg.DNSUpstreams, Logger: cfg.Logger, Net: cfg.Net}); err != nil {
			return nil, fmt.Errorf("agent %s: %w", cfg.Name, err)
		}
		a.metrics.registry.MustRegister(a.dns.Collectors()...)
	}
	if cfg.Proxy {
		pc := proxy.Config{Node: cfg.Name, Logger: cfg.Logger, Clock: cfg.Clock, Wake: wakeFunc(servers),
			Rand: seeded.Source(cfg.Seed, cfg.Name, "proxy")}
		if !vnet.IsHost(cfg.Net) {
			// Every node's proxy owns every VIP: the address is shared, as
			// SO_REUSEPORT shares it on the host.
			pc.Listen = func(network, address string) (net.Listener, error) {
				return vnet.ListenShared(cfg.Net, network, address)
			}
			pc.Dial = cfg.Net.DialContext
		}
		a.proxy = proxy.New(pc)
		a.routes = newAppliedRoutes()
		a.metrics.registry.MustRegister(a.proxy.Collectors()...)
	}
	if cfg.Gossip != "" {
		meta := gossip.Meta{Role: gossip.RoleAgent}
		if a.httpLn != nil {
			meta.HTTP = a.httpLn.Addr().String()
		}
		gc := gossip.Config{Name: cfg.Name, Bind: cfg.Gossip, Fast: true, Meta: meta, LogOutput: cfg.LogOutput, Net: cfg.Net, Key: cfg.GossipKey,
			Clock: cfg.Clock}
		if cfg.DataDir != "" {
			gc.KeyringFile = filepath.Join(cfg.DataDir, gossip.KeyringFileName)
		}
		if a.pool, err = gossip.Start(gc); err != nil {
			return nil, fmt.Errorf("agent %s: %w", cfg.Name, err)
		}
	}
	return a, nil
}

func (a *Agent) close() {
	if a.httpLn != nil {
		a.httpLn.Close()
	}
	if a.proxy != nil {
		a.proxy.Close()
	}
	if a.dns != nil {
		a.dns.Close()
	}
	if a.pool != nil {
		a.pool.Shutdown()
	}
	if a.kv != nil {
		a.kv.Close()
	}
}

// HTTPAddr is where the agent's API listens ("" without one).
func (a *Agent) HTTPAddr() string {
	if a.httpLn == nil {
		return ""
	}
	return a.httpLn.Addr().String()
}

// DNSAddr is where the node's DNS server listens ("" without one).
func (a *Agent) DNSAddr() string {
	if a.dns == nil {
		return ""
	}
	return a.dns.Addr()
}

// GossipAddr is the agent's memberlist address ("" without gossip).
func (a *Agent) GossipAddr() string {
	if a.pool == nil {
		return ""
	}
	return a.pool.Addr()
}

// Name is the node's name.
func (a *Agent) Name() string { return a.cfg.Name }

// Registered is closed once the node is registered and its runtime is up.
func (a *Agent) Registered() <-chan struct{} { return a.registered }

// Run runs the agent until ctx ends. On the way out it leaves the gossip
// pool, so that the servers replace its allocations at once.
func (a *Agent) Run(ctx context.Context) error {
	defer a.close()
	// Every request to the servers carries the node secret.
	ctx, cancel := context.WithCancel(api.WithNodeSecret(ctx, a.cfg.NodeSecret))
	defer cancel()
	var wg sync.WaitGroup
	run := func(fn func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); fn(ctx) }()
	}
	var httpSrv *http.Server
	if a.httpLn != nil {
		// Requests end with the agent: followed logs and execs too.
		httpSrv = &http.Server{Handler: api.GuardBrowsers(a.handler(), api.LoopbackPlain(a.httpLn.Addr(), a.cfg.TLS != nil)), ReadHeaderTimeout: 10 * time.Second,
			BaseContext: func(net.Listener) context.Context { return ctx },
			ErrorLog:    slog.NewLogLogger(a.cfg.Logger.Handler(), slog.LevelWarn)}
		go func() { _ = httpSrv.Serve(a.httpLn) }() // ends when Shutdown closes the listener
	}
	if a.pool != nil {
		run(a.joinLoop)
	}
	if a.dns != nil {
		run(func(ctx context.Context) {
			if err := a.dns.Run(ctx); err != nil {
				a.cfg.Logger.Error("dns server", "err", err)
			}
		})
	}
	if a.dns != nil || a.proxy != nil {
		run(a.endpointsLoop)
	}
	if a.proxy != nil {
		run(a.trafficLoop)
	}
	if err := a.register(ctx); err != nil {
		cancel()
		wg.Wait()
		return err
	}
	close(a.registered)
	a.cfg.Logger.Info("agent registered", "node", a.cfg.Name, "subnet", a.node.Subnet, "http", a.HTTPAddr())
	run(a.heartbeatLoop)
	run(a.watchLoop)
	if a.cfg.Runtime != "fake" { // fake nodes run nothing to measure
		run(a.usageLoop)
	}
	if a.cfg.Network != nil {
		run(a.routesLoop)
	}
	select {
	case <-a.synced:
	case <-ctx.Done():
	}
	a.enqueueAll(ctx)
	run(a.resyncLoop)
	for i := 0; i < a.cfg.Workers; i++ {
		run(a.worker)
	}
	run(func(ctx context.Context) {
		a.reporter.Run(ctx, func(err error) { a.cfg.Logger.Warn("report allocation status", "err", err) })
	})
	<-ctx.Done()
	a.queue.Close()
	if httpSrv != nil {
		shutdown, stop := clock.WithTimeout(context.Background(), a.cfg.Clock, time.Second)
		if httpSrv.Shutdown(shutdown) != nil {
			httpSrv.Close()
		}
		stop()
	}
	wg.Wait()
	if a.pool != nil {
		_ = a.pool.Leave(time.Second) // best effort: a failure is detected anyway
	}
	// A runtime whose containers live in this process (sim) ends them now;
	// containerd's outlive the agent.
	if c, ok := a.rt.(interface{ Close() error }); ok {
		if err := c.Close(); err != nil {
			a.cfg.Logger.Warn("close runtime", "err", err)
		}
	}
	return nil
}

func (a *Agent) joinLoop(ctx context.Context) {
	a.pool.JoinUntilAnswered(ctx, a.cfg.Join, a.cfg.Logger)
}

// register registers the node, retrying until the servers answer, then
// starts the runtime on the node's subnet.
func (a *Agent) register(ctx context.Context) error {
	reg := api.NodeRegistration{Address: a.cfg.Address, HTTPAddress: a.HTTPAddr(), Capacity: a.cfg.Capacity,
		Labels: a.cfg.Labels, Heartbeat: true, Runtime: a.cfg.Runtime}
	backoff := 200 * time.Millisecond
	for {
		// Every call has a deadline: a server that hangs (paused, a dead
		// VM) must not hold the agent; the client tries another next.
		call, cancel := clock.WithTimeout(ctx, a.cfg.Clock, 5*time.Second)
		_, err := a.servers.RegisterNode(call, a.cfg.Name, reg)
		var node *api.Node
		if err == nil {
			node, err = a.servers.Node(call, a.cfg.Name)
		}
		cancel()
		if err == nil {
			a.mu.Lock()
			a.node = node
			a.mu.Unlock()
			if a.rt == nil {
				if a.rt, err = a.newRuntime(node); err != nil {
					return fmt.Errorf("agent %s: start runtime: %w", a.cfg.Name, err)
				}
			}
			return nil
		}
		var apiErr *api.Error
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusBadRequest {
			return fmt.Errorf("agent %s: register: %w", a.cfg.Name, err)
		}
		a.cfg.Logger.Warn("register node; retrying", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-a.cfg.Clock.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// heartbeatLoop heartbeats at the interval the leader asks for (a third
// of the TTL it grants, which grows with the cluster), spread by jitter so
// that nodes started together do not heartbeat together. Each heartbeat
// may take a quarter of the TTL (at most 10s): one that hangs on a frozen
// server is abandoned and the next goes to another server in time. A
// failed one is retried with backoff, never slower than a quarter of the
// interval, so that a node survives its server's failover.
func (a *Agent) heartbeatLoop(ctx context.Context) {
	// The first heartbeat goes at once: it tells the agent the TTL.
	wait, timeout := time.Duration(0), 2*time.Second
	jitter := newJitter(seeded.Source(a.cfg.Seed, a.cfg.Name, "heartbeat"))
	every, backoff := 3*time.Second, 200*time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.cfg.Clock.After(wait):
		}
		call, cancel := clock.WithTimeout(ctx, a.cfg.Clock, timeout)
		resp, err := a.servers.Heartbeat(call, a.cfg.Name)
		cancel()
		switch {
		case err == nil:
			every = resp.Interval.Std()
			if every <= 0 { // a server from before intervals
				every = resp.TTL.Std() / 3
			}
			every = max(every, 100*time.Millisecond)
			timeout = min(max(resp.TTL.Std()/4, 100*time.Millisecond), 10*time.Second)
			wait, backoff = jitter(every), 200*time.Millisecond
		case errors.Is(err, api.ErrNotFound):
			// The servers forgot the node: register again.
			if err := a.register(ctx); err != nil && ctx.Err() == nil {
				a.cfg.Logger.Warn("register again", "err", err)
			}
			wait = 0
		default:
			if ctx.Err() == nil {
				a.cfg.Logger.Warn("heartbeat", "err", err, "retry_in", backoff)
			}
			wait = jitter(backoff)
			backoff = min(2*backoff, max(every/4, 200*time.Millisecond), 15*time.Second)
		}
	}
}

// newJitter spreads a duration by ±15%, keeping its mean, with draws
// from src (at random when nil). It is for one goroutine.
func newJitter(src rand.Source) func(time.Duration) time.Duration {
	draw := rand.Float64
	if src != nil {
		draw = rand.New(src).Float64
	}
	return func(d time.Duration) time.Duration {
		return time.Duration(float64(d) * (0.85 + 0.3*draw()))
	}
}

// watchLoop long-polls the node's allocations and queues every change.
func (a *Agent) watchLoop(ctx context.Context) {
	var index uint64
	for {
		call, cancel := clock.WithTimeout(ctx, a.cfg.Clock, 35*time.Second)
		allocs, next, err := a.servers.NodeAllocations(call, a.cfg.Name, api.QueryOptions{Index: index, Wait: 30 * time.Second})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			a.cfg.Logger.Warn("watch allocations", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-a.cfg.Clock.After(time.Second):
			}
			continue
		}
		index = next
		a.setDesired(allocs)
		a.syncOnce.Do(func() { close(a.synced) })
	}
}

// serversChanged reports whether the servers changed an allocation the
// agent had: its own status reports, which move ModifyIndex alone, give
// it nothing to do. (A server that predates AllocModifyIndex sends 0:
// every change counts.)
func serversChanged(prev, cur *api.Allocation) bool {
	if cur.AllocModifyIndex == 0 {
		return prev.ModifyIndex != cur.ModifyIndex
	}
	return prev.AllocModifyIndex != cur.AllocModifyIndex
}

// setDesired replaces the desired allocations and queues every one that
// is new, changed or gone.
func (a *Agent) setDesired(allocs []*api.Allocation) {
	a.mu.Lock()
	old := a.desired
	a.desired = make(map[string]*api.Allocation, len(allocs))
	for _, al := range allocs {
		a.desired[al.ID] = al
	}
	var keys []string
	for id, al := range a.desired {
		if prev, ok := old[id]; !ok || serversChanged(prev, al) {
			keys = append(keys, id)
		}
	}
	for id := range old {
		if _, ok := a.desired[id]; !ok {
			keys = append(keys, id)
		}
	}
	// Forget the specs of revisions nothing here runs any more.
	inUse := map[string]bool{}
	for _, al := range a.desired {
		inUse[specKey(al)] = true
	}
	for key := range a.specs {
		if !inUse[key] {
			delete(a.specs, key)
		}
	}
	a.mu.Unlock()
	for _, k := range keys {
		a.queue.Add(k)
	}
}

// enqueueAll queues everything the agent knows of: desired, remembered and
// running allocations.
func (a *Agent) enqueueAll(ctx context.Context) {
	keys := map[string]bool{}
	a.mu.Lock()
	for id := range a.desired {
		keys[id] = true
	}
	for id := range a.local {
		keys[id] = true
	}
	a.mu.Unlock()
	if list, err := a.rt.List(ctx); err == nil {
		for _, st := range list {
			keys[st.ID] = true
		}
	}
	for k := range keys {
		a.queue.Add(k)
	}
}

func (a *Agent) resyncLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.cfg.Clock.After(a.cfg.ResyncInterval):
		}
		a.enqueueAll(ctx)
	}
}

func (a *Agent) worker(ctx context.Context) {
	for {
		id, ok := a.queue.Get(ctx)
		if !ok {
			return
		}
		err := a.reconcile(ctx, id)
		a.metrics.reconciles.Inc()
		if err != nil && ctx.Err() == nil {
			wait := a.queue.Retry(id)
			a.metrics.reconcileErrors.Inc()
			a.cfg.Logger.Warn("reconcile allocation", "alloc", id, "err", err, "retry_in", wait)
		} else {
			a.queue.Forget(id)
		}
		a.queue.Done(id)
	}
}

// localAlloc is what the agent remembers of an allocation it runs, in its
// local state, so that a restarted agent knows what it ran.
type localAlloc struct {
	ID        string      `json:"id"`
	Namespace string      `json:"namespace"`
	Service   string      `json:"service"`
	Revision  int         `json:"revision"`
	Started   bool        `json:"started"`
	Restarts  int         `json:"restarts"`
	Recent    []time.Time `json:"recent,omitempty"`
	// NextStart is when a container waiting to restart may start.
	NextStart time.Time `json:"nextStart,omitempty"`
	// Ended is set once the allocation ended for good on this node.
	Ended string `json:"ended,omitempty"`
	// LastExit says why its container last stopped (for the restart event).
	LastExit string `json:"lastExit,omitempty"`
	// FilesIndex is the allocation's FilesIndex its files were written
	// at (files.go).
	FilesIndex uint64 `json:"filesIndex,omitempty"`
}

const localBucket = "allocations"

func (a *Agent) loadLocal() error {
	return a.kv.ForEach(localBucket, func(key string, value []byte) error {
		var l localAlloc
		if err := json.Unmarshal(value, &l); err != nil {
			return fmt.Errorf("allocation %s: %w", key, err)
		}
		a.local[key] = &l
		return nil
	})
}

// saveLocal records (or, when l is nil, forgets) an allocation.
func (a *Agent) saveLocal(id string, l *localAlloc) error {
	a.mu.Lock()
	if l == nil {
		delete(a.local, id)
	} else {
		c := *l
		a.local[id] = &c
	}
	a.mu.Unlock()
	if a.kv == nil {
		return nil
	}
	if l == nil {
		return a.kv.Delete(localBucket, id)
	}
	data, err := json.Marshal(l)
	if err != nil {
		return err
	}
	return a.kv.Put(localBucket, id, data)
}
