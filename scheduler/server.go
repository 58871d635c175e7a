package scheduler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"flotilla/api"
	"flotilla/internal/clock"
	"flotilla/internal/vnet"
	"flotilla/network/gossip"
	"flotilla/scheduler/state"
	"flotilla/storage"
	"flotilla/ui"
)

// Server is one control-plane server: a Raft member that keeps the state,
// serves the HTTP API and, while it leads, schedules.
type Server struct {
	cfg Config
	// wakeMu serialises WakeService.
	wakeMu sync.Mutex

	store     *state.Store
	fsm       *state.FSM
	stores    *storage.RaftStores
	transport *raft.NetworkTransport
	raft      *raft.Raft
	pool      *gossip.Pool
	httpLn    net.Listener

	broker *Broker
	// plans is the current term's plan applier (nil while not leading): a
	// plan queued in one term must never be applied in a later one.
	plansMu    sync.Mutex
	plans      *planApplier
	heartbeats *heartbeats
	statuses   *statusCoalescer // agents' allocation reports, coalesced (alloc_status.go)
	traffic    *trafficBook
	usage      *usageBook    // allocations' CPU and memory, on the leader (usage.go)
	forecasts  *forecastBook // the autoscaler's latest forecasts (autoscaler.go)
	abs        *abBook       // A/B experiments' visitors, on the leader (abstats.go)
	shadows    *shadowBook   // shadow rollouts' comparison figures, on the leader (shadow.go)
	metrics    *metrics

	leaderNotify chan bool
	// leaderless is since when (UnixNano on the server's clock) this
	// server has known no leader, 0 while it knows one (leaderless.go).
	leaderless  atomic.Int64
	leaderWatch leaderWatch
	// leading is set once this server leads and has caught up with the log.
	leading atomic.Bool
	// restored tells the leader's loop that an operator replaced the
	// state: the term's duties start again from it.
	restored chan struct{}

	// secrets keeps the keyring of secrets at rest (secrets.go).
	secrets *secretKeeper
	// certs is the workload CA, opened (certs.go).
	certs workloadCAs

	// peerHTTP calls other servers' APIs (read indexes, status probes).
	peerHTTP    *http.Client
	readIndexes readIndexes
	acl         aclState // acl.go
}

// New opens the server's stores and listeners; Run starts it.
func New(cfg Config) (_ *Server, err error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, store: state.NewStore(), broker: NewBroker(), traffic: newTrafficBook(), usage: newUsageBook(), forecasts: newForecastBook(), abs: newABBook(), shadows: newShadowBook(), leaderNotify: make(chan bool, 8),
		restored: make(chan struct{}, 1)}
	peerTransport := http.DefaultTransport.(*http.Transport).Clone()
	peerTransport.MaxIdleConnsPerHost = 64
	if !vnet.IsHost(cfg.Net) {
		peerTransport.DialContext = cfg.Net.DialContext
	}
	peerTransport.TLSClientConfig = cfg.peerTLS()
	s.peerHTTP = &http.Client{Transport: peerTransport}
	s.readIndexes.client, s.readIndexes.scheme, s.readIndexes.clock = s.peerHTTP, cfg.scheme(), cfg.Clock
	if cfg.ACLBootstrapTokenFile != "" {
		if s.acl.bootstrapSecret, err = readBootstrapSecret(cfg.ACLBootstrapTokenFile); err != nil {
			return nil, fmt.Errorf("server %s: %w", cfg.Name, err)
		}
	}
	s.fsm = state.NewFSM(s.store, cfg.Logger)
	s.fsm.SetEvalHook(func(evals []*api.Evaluation) { s.broker.Enqueue(evals...) })
	if s.secrets, err = newSecretKeeper(cfg, s.fsm); err != nil {
		return nil, fmt.Errorf("server %s: %w", cfg.Name, err)
	}
	s.metrics = newMetrics(s)
	s.heartbeats = newHeartbeats(cfg.Clock, cfg.HeartbeatTTL, cfg.MaxHeartbeatsPerSecond, cfg.Logger)
	s.statuses = newStatusCoalescer(func(t state.CommandType, body any) (uint64, error) {
		_, index, err := s.apply(t, body)
		return index, err
	})
	s.statuses.pipeline(func(t state.CommandType, body any) func() (uint64, error) {
		wait := s.applyAsync(t, body)
		return func() (uint64, error) {
			_, index, err := wait()
			return index, err
		}
	}, maxReportEntriesInFlight)

	var closers []func() error
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
	}()
	if s.stores, err = storage.OpenRaftStores(cfg.DataDir, cfg.LogOutput); err != nil {
		return nil, fmt.Errorf("server %s: %w", cfg.Name, err)
	}
	closers = append(closers, s.stores.Close)
	if s.httpLn, err = vnet.Or(cfg.Net).Listen("tcp", cfg.HTTP); err != nil {
		return nil, fmt.Errorf("server %s: listen for HTTP on %s: %w", cfg.Name, cfg.HTTP, err)
	}
	closers = append(closers, s.httpLn.Close)
	s.httpLn = cfg.TLS.Listener(s.httpLn) // unchanged without TLS (tls.go)
	raftAddr := cfg.Raft
	if vnet.IsHost(cfg.Net) {
		// A simulated network takes IP literals only, and must not
		// resolve a name on the host's.
		resolved, err := net.ResolveTCPAddr("tcp", cfg.Raft)
		if err != nil {
			return nil, fmt.Errorf("server %s: raft address %q: %w", cfg.Name, cfg.Raft, err)
		}
		raftAddr = resolved.String()
	}
	if s.transport, err = newRaftTransport(cfg.Net, cfg.Raft, cfg.LogOutput, cfg.TLS); err != nil {
		return nil, fmt.Errorf("server %s: listen for Raft on %s: %w", cfg.Name, raftAddr, err)
	}
	closers = append(closers, s.transport.Close)
	if err := recoverPeers(cfg, s.stores, s.transport); err != nil {
		return nil, fmt.Errorf("server %s: %w", cfg.Name, err)
	}
	s.raft, err = raft.NewRaft(cfg.raftConfig(s.leaderNotify), s.fsm, s.stores.Log, s.stores.Stable, s.stores.Snapshots, s.transport)
	if err != nil {
		return nil, fmt.Errorf("server %s: start raft: %w", cfg.Name, err)
	}
	closers = append(closers, func() error { return s.raft.Shutdown().Error() })
	s.watchLeaderChanges()
	s.pool, err = gossip.Start(gossip.Config{
		Name: cfg.Name, Bind: cfg.Gossip, Fast: true, LogOutput: cfg.LogOutput, Net: cfg.Net, Clock: cfg.Clock,
		Key: cfg.GossipKey, KeyringFile: filepath.Join(cfg.DataDir, gossip.KeyringFileName),
		Meta: gossip.Meta{Role: gossip.RoleServer, Raft: string(s.transport.LocalAddr()), HTTP: s.advertisedHTTP(), Expect: cfg.BootstrapExpect},
	})
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", cfg.Name, err)
	}
	return s, nil
}

func (s *Server) currentPlans() *planApplier {
	s.plansMu.Lock()
	defer s.plansMu.Unlock()
	return s.plans
}

// SetJoin sets the gossip addresses to join; call it before Run.
func (s *Server) SetJoin(addrs []string) { s.cfg.Join = addrs }

// advertisedHTTP is the API address others reach this server at: the
// listener's, or, when it listens on every interface, the Raft address's
// host with the HTTP port.
func (s *Server) advertisedHTTP() string {
	addr := s.httpLn.Addr().String()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().IsUnspecified() {
		return addr
	}
	host, _, err := net.SplitHostPort(string(s.transport.LocalAddr()))
	if err != nil {
		return addr
	}
	return net.JoinHostPort(host, strconv.Itoa(int(ap.Port())))
}

// Name is the server's name (its Raft ID).
func (s *Server) Name() string { return s.cfg.Name }

// HTTPAddr is the address the API listens on.
func (s *Server) HTTPAddr() string { return s.httpLn.Addr().String() }

// RaftAddr is the Raft transport's address.
func (s *Server) RaftAddr() string { return string(s.transport.LocalAddr()) }

// GossipAddr is the address other members join.
func (s *Server) GossipAddr() string { return s.pool.Addr() }

// Store is the server's state (read-only for callers).
func (s *Server) Store() *state.Store { return s.store }

// IsLeader reports whether this server leads and has caught up.
func (s *Server) IsLeader() bool { return s.leading.Load() }

// Run serves until ctx ends, then shuts everything down.
func (s *Server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Requests run under a context that ends with the server, so that
	// blocking queries and event streams end too.
	reqCtx, endRequests := context.WithCancel(context.Background())
	defer endRequests()
	httpSrv := &http.Server{
		Handler: api.GuardBrowsers(api.NewHandler(s, api.HandlerOptions{Metrics: s.metrics.handler(), UI: ui.Handler(), Logger: s.cfg.Logger,
			Net: s.cfg.Net, ForwardTLS: s.cfg.peerTLS()}), api.LoopbackPlain(s.httpLn.Addr(), s.cfg.TLS != nil)),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return reqCtx },
		// The server's own complaints (a failed TLS handshake, a
		// broken HTTP/2 preface) go to its log, not to the process's
		// standard logger.
		ErrorLog: slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelWarn),
	}
	// HTTP/2 without TLS too: a fake-node process multiplexes its nodes'
	// requests over a few connections (api.Client.Multiplex).
	httpSrv.Protocols, httpSrv.HTTP2 = api.ServerProtocols()
	var wg sync.WaitGroup
	httpErr := make(chan error, 1)
	wg.Add(5)
	go func() { defer wg.Done(); s.watchLeader(ctx) }()
	go func() {
		defer wg.Done()
		if err := httpSrv.Serve(s.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			httpErr <- fmt.Errorf("server %s: serve HTTP: %w", s.cfg.Name, err)
			cancel()
		}
	}()
	go func() { defer wg.Done(); s.joinLoop(ctx) }()
	go func() { defer wg.Done(); s.bootstrapLoop(ctx) }()
	go func() { defer wg.Done(); s.monitorLeadership(ctx) }()
	s.cfg.Logger.Info("server started", "name", s.cfg.Name, "http", s.HTTPAddr(), "raft", s.RaftAddr(), "gossip", s.GossipAddr())

	<-ctx.Done()
	s.handOverLeadership()
	endRequests()
	shutdownCtx, stop := clock.WithTimeout(context.Background(), s.cfg.Clock, 2*time.Second)
	defer stop()
	if httpSrv.Shutdown(shutdownCtx) != nil {
		httpSrv.Close()
	}
	wg.Wait()
	s.pool.Shutdown()
	if err := s.raft.Shutdown().Error(); err != nil {
		s.cfg.Logger.Warn("raft shutdown", "err", err)
	}
	s.transport.Close()
	s.stores.Close()
	select {
	case err := <-httpErr:
		return err
	default:
		return nil
	}
}

// handOverLeadership, on a leader that is stopping (SIGTERM, an
// upgrade) with Config.HandOverOnStop, asks another voter to take over before this one goes, so
// that writes pause for a round trip rather than an election timeout.
// The server stays a voter (as Nomad's do: leave_on_terminate is off),
// so a restart brings it back into the same configuration.
func (s *Server) handOverLeadership() {
	if !s.cfg.HandOverOnStop || s.raft.State() != raft.Leader {
		return
	}
	f := s.raft.GetConfiguration()
	if f.Error() != nil || len(f.Configuration().Servers) < 2 {
		return
	}
	if err := s.raft.LeadershipTransfer().Error(); err != nil {
		s.cfg.Logger.Warn("hand over leadership before stopping", "err", err)
		return
	}
	s.cfg.Logger.Info("handed over leadership before stopping")
}

// joinLoop joins the configured members, retrying until one answers.
func (s *Server) joinLoop(ctx context.Context) {
	var others []string
	for _, a := range s.cfg.Join {
		if a != s.cfg.Gossip {
			others = append(others, a)
		}
	}
	s.pool.JoinUntilAnswered(ctx, others, s.cfg.Logger)
}

// bootstrapLoop bootstraps Raft once BootstrapExpect servers are in the
// gossip pool. Every one of them bootstraps with the same configuration,
// which Raft allows; a server that already has state never bootstraps.
func (s *Server) bootstrapLoop(ctx context.Context) {
	if s.cfg.BootstrapExpect == 0 {
		return
	}
	has, err := raft.HasExistingState(s.stores.Log, s.stores.Stable, s.stores.Snapshots)
	if err != nil || has {
		return
	}
	lastErr := ""
	for {
		changed := s.pool.Changed()
		var servers []raft.Server
		for _, m := range s.pool.Members() {
			if m.Status != gossip.StatusAlive || m.Meta.Role != gossip.RoleServer {
				continue
			}
			if m.Meta.Expect != 0 && m.Meta.Expect != s.cfg.BootstrapExpect {
				s.cfg.Logger.Error("servers disagree on --bootstrap-expect; not bootstrapping", "member", m.Name, "expect", m.Meta.Expect)
				return
			}
			servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(m.Name), Address: raft.ServerAddress(m.Meta.Raft)})
		}
		retry := false
		if len(servers) >= s.cfg.BootstrapExpect {
			if s.raft.Leader() != "" {
				return // a cluster formed without us; the leader adds us
			}
			// As Nomad does: a server that joins a running cluster
			// (one added later, or started again with an empty data
			// directory) must not bootstrap a configuration of its
			// own; the leader adds it.
			switch exists, err := s.clusterExists(ctx); {
			case err != nil:
				if err.Error() != lastErr {
					s.cfg.Logger.Info("not bootstrapping yet: cannot tell whether a cluster exists", "err", err)
				}
				lastErr, retry = err.Error(), true
			case exists != "":
				s.cfg.Logger.Info("not bootstrapping: server "+exists+" is in a Raft cluster already; its leader adds this server", "server", exists)
				return
			}
		}
		if len(servers) >= s.cfg.BootstrapExpect && !retry {
			err := s.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error()
			if err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
				s.cfg.Logger.Error("bootstrap raft", "err", err)
			} else {
				s.cfg.Logger.Info("bootstrapped raft", "servers", len(servers))
			}
			return
		}
		var again <-chan time.Time
		if retry {
			again = s.cfg.Clock.After(time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-again:
		}
	}
}

// clusterExists asks every other server gossip knows for its Raft peers
// (GET /v1/status/peers): the name of one that has some ("" when none
// does), or an error when one cannot be asked.
func (s *Server) clusterExists(ctx context.Context) (string, error) {
	for _, m := range s.pool.Members() {
		if m.Name == s.cfg.Name || m.Status != gossip.StatusAlive || m.Meta.Role != gossip.RoleServer {
			continue
		}
		if m.Meta.HTTP == "" {
			return "", fmt.Errorf("server %s announced no API address", m.Name)
		}
		peers, err := s.askPeers(ctx, m.Meta.HTTP)
		if err != nil {
			return "", fmt.Errorf("server %s: %w", m.Name, err)
		}
		if peers > 0 {
			return m.Name, nil
		}
	}
	return "", nil
}

// askPeers is how many Raft voters the server at addr has.
func (s *Server) askPeers(ctx context.Context, addr string) (int, error) {
	ctx, cancel := clock.WithTimeout(ctx, s.cfg.Clock, 2*api.PeerProbeTimeout) // it probes its own peers within one
	defer cancel()
	resp, err := s.getPeer(ctx, addr, "/v1/status/peers")
	if err != nil {
		return 0, fmt.Errorf("GET /v1/status/peers: %w", err)
	}
	defer resp.Body.Close()
	var peers []api.Peer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&peers); err != nil {
		return 0, fmt.Errorf("GET /v1/status/peers: %w", err)
	}
	return len(peers), nil
}

// monitorLeadership runs the leader's duties while this server leads.
func (s *Server) monitorLeadership(ctx context.Context) {
	var leading *leaderRun
	defer func() { leading.stop() }()
	for {
		select {
		case <-ctx.Done():
			return
		case leader := <-s.leaderNotify:
			if leader && leading == nil {
				leading = s.startLeading(ctx)
			} else if !leader {
				leading.stop()
				leading = nil
			}
		case <-s.restored:
			// The state was replaced under the leader: start the term's
			// duties again from it (evaluations, heartbeat timers). Had
			// leadership been lost meanwhile, raft's notice follows and
			// stops them.
			if leading != nil {
				leading.stop()
				leading = s.startLeading(ctx)
			}
		}
	}
}

// leaderRun is one term of leading.
type leaderRun struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (s *Server) startLeading(ctx context.Context) *leaderRun {
	lctx, cancel := context.WithCancel(ctx)
	r := &leaderRun{cancel: cancel, done: make(chan struct{})}
	go func() { defer close(r.done); s.lead(lctx) }()
	return r
}

// stop ends the term and waits for its loops; nil is a no-op.
func (r *leaderRun) stop() {
	if r == nil {
		return
	}
	r.cancel()
	<-r.done
}

// apply commits a command through Raft and returns the FSM's answer.
func (s *Server) apply(t state.CommandType, body any) (any, uint64, error) {
	return s.applyAsync(t, body)()
}

// applyAsync appends a command to the log and returns what waits for its
// outcome: commands appended one after the other commit in that order,
// and one committed means every one before it is (Raft's log), so a
// caller may append several before waiting for any.
func (s *Server) applyAsync(t state.CommandType, body any) func() (any, uint64, error) {
	data, err := state.Encode(t, body)
	if err != nil {
		return func() (any, uint64, error) { return nil, 0, err }
	}
	start := time.Now()
	f := s.raft.Apply(data, 30*time.Second)
	return func() (any, uint64, error) { return s.applied(t, f, start) }
}

func (s *Server) applied(t state.CommandType, f raft.ApplyFuture, start time.Time) (any, uint64, error) {
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) ||
			errors.Is(err, raft.ErrLeadershipTransferInProgress) || errors.Is(err, raft.ErrRaftShutdown) {
			return nil, 0, fmt.Errorf("%s: %v: %w", t, err, api.ErrNoLeader)
		}
		return nil, 0, fmt.Errorf("%s: %w", t, err)
	}
	s.metrics.observeApply(t, time.Since(start))
	switch r := f.Response().(type) {
	case error:
		return nil, f.Index(), r
	case *state.Replayed:
		// A client's write sent again: it was applied once, at r.Index.
		return r.Result, r.Index, nil
	}
	return f.Response(), f.Index(), nil
}

// leaderHTTP is the leader as Raft knows it, with its HTTP address as
// gossip last announced it. Raft decides who leads: the address is taken
// even from a member gossip declared dead (a partition of gossip alone, or
// one that healed before gossip rejoined), since Raft hearing from the
// leader proves it is there.
func (s *Server) leaderHTTP() (name, raftAddr, httpAddr string) {
	addr, id := s.raft.LeaderWithID()
	if id == "" {
		return "", "", ""
	}
	return string(id), string(addr), s.serverHTTP(string(id))
}

// serverHTTP is a server's API address as gossip last announced it (dead
// members keep theirs), "" when gossip never told.
func (s *Server) serverHTTP(name string) string {
	if name == s.cfg.Name {
		return s.advertisedHTTP()
	}
	for _, m := range s.pool.Members() {
		if m.Name == name && m.Meta.Role == gossip.RoleServer && m.Status != gossip.StatusLeft {
			return m.Meta.HTTP
		}
	}
	return ""
}

// recoverPeers applies DATA-DIR/raft/peers.json, when an operator wrote
// one to recover from lost quorum: the server's Raft configuration is
// replaced by the servers it lists (hashicorp/raft's RecoverCluster), and
// the file is removed so that it applies once.
// checkPeersFile reads a peers.json strictly (hashicorp/raft's reader
// ignores a misspelled field) and refuses one that does not list this
// server: applied, it would leave this server outside the configuration,
// never electing a leader, and the file gone.
func checkPeersFile(path, self string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("recover from %s: %w", path, err)
	}
	var entries []struct {
		ID       string `json:"id"`
		Address  string `json:"address"`
		NonVoter bool   `json:"non_voter"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&entries); err != nil {
		return fmt.Errorf("recover from %s (left as it is): want a list of {\"id\", \"address\"}: %w", path, err)
	}
	for i, e := range entries {
		if e.ID == "" || e.Address == "" {
			return fmt.Errorf("recover from %s (left as it is): entry %d: want both \"id\" and \"address\"", path, i+1)
		}
		if e.ID == self {
			return nil
		}
	}
	return fmt.Errorf("recover from %s (left as it is): it does not list this server, %s: every server that stays writes the same file, listing all of them, itself included", path, self)
}

func recoverPeers(cfg Config, stores *storage.RaftStores, transport raft.Transport) error {
	path := filepath.Join(cfg.DataDir, "raft", "peers.json")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := checkPeersFile(path, cfg.Name); err != nil {
		return err
	}
	conf, err := raft.ReadConfigJSON(path)
	if err != nil {
		return fmt.Errorf("recover from %s: %w", path, err)
	}
	// RecoverCluster replays the log into an FSM to snapshot it: a
	// throwaway one, the server's own restores from that snapshot.
	scratch := state.NewFSM(state.NewStore(), cfg.Logger)
	if err := raft.RecoverCluster(cfg.raftConfig(nil), scratch, stores.Log, stores.Stable, stores.Snapshots, transport, conf); err != nil {
		return fmt.Errorf("recover from %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("recovered from %s but could not remove it (remove it before the next start): %w", path, err)
	}
	cfg.Logger.Warn("recovered raft configuration from peers.json", "path", path, "servers", len(conf.Servers))
	return nil
}
