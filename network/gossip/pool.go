package gossip

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"flotilla/internal/clock"
	"flotilla/internal/vnet"
)

// Roles a member may announce.
const (
	RoleServer = "server"
	RoleAgent  = "agent"
)

// Member states.
const (
	StatusAlive = "alive"
	StatusDead  = "dead"
	StatusLeft  = "left"
)

// Meta is what every member announces about itself.
type Meta struct {
	Role string `json:"role"`
	// Raft and HTTP are the server's addresses (HTTP also for agents).
	Raft string `json:"raft,omitempty"`
	HTTP string `json:"http,omitempty"`
	// Expect is the server's --bootstrap-expect.
	Expect int `json:"expect,omitempty"`
	// Leaving is announced just before a graceful leave, so that others
	// can tell a departure from a failure (memberlist's own notification
	// does not say which).
	Leaving bool `json:"leaving,omitempty"`
}

// Member is one node of the pool as this node last heard of it.
type Member struct {
	Name   string
	Addr   string
	Status string
	Meta   Meta
	// Since is when the member entered its current status, on the pool's
	// clock.
	Since time.Time
	// Change tells this status apart from the member's others: the pool
	// numbers every status change it records (from 1), so the next one
	// has a new Change even when a fake clock gives it the same Since.
	Change uint64
}

// Config describes the local member.
type Config struct {
	Name string
	// Bind is host:port to listen on (UDP and TCP); port 0 picks one.
	Bind string
	Meta Meta
	// Fast tunes failure detection for a LAN or loopback lab: on the
	// host's network a dead member is declared within about one and a half
	// seconds (fastProbe), on a simulated one within about two and a half
	// (simulatedProbe).
	Fast      bool
	LogOutput io.Writer
	// RejoinInterval is how often the pool joins again the addresses it was
	// asked to join, and the members it lost, when they are not alive in
	// its view (default 2s with Fast, 30s without). memberlist never talks
	// to a member it declared dead again, so without this two halves of a
	// healed partition would stay apart for good.
	RejoinInterval time.Duration
	// Clock times the rejoins and dates members' changes (Member.Since,
	// which RejoinDeadFor is measured against); nil: the wall clock.
	// memberlist's own failure detection keeps the wall clock.
	Clock clock.Clock
	// Net is the network to gossip on: nil for the host's (memberlist's
	// own UDP and TCP transport), or a simulated one (vnet.Memory).
	Net vnet.Net
	// Key (16, 24 or 32 bytes: AES-128, -192, -256) encrypts the gossip:
	// every message is encrypted and messages in the clear or under
	// another key are refused. nil: no encryption.
	Key []byte
	// KeyringFile keeps the keyring across restarts (keyring.go): when it
	// exists it wins over Key, since a rotation may have replaced Key;
	// when it does not and Key is set, it is written with Key. Every
	// keyring change is saved to it. "": the keyring is not saved.
	KeyringFile string

	// tune, when set, adjusts memberlist's configuration (tests inject a
	// faulty transport through it).
	tune func(*memberlist.Config)
}

// RejoinDeadFor is how long a member that failed (not one that left) is
// joined again: a node that stays away longer is given up on.
const RejoinDeadFor = 24 * time.Hour

// Pool is this node's membership in the gossip pool.
type Pool struct {
	ml *memberlist.Memberlist

	mu      sync.Mutex
	members map[string]Member
	changed chan struct{}
	meta    Meta
	// seeds are the addresses Join was given, joined again whenever they
	// are not alive members.
	seeds []string

	clock clock.Clock
	// changes counts the status changes recorded (Member.Change).
	changes uint64

	stopOnce sync.Once
	stop     chan struct{}
	stopped  chan struct{}

	kr keyringState // keyring_ops.go
}

// probing is how often a member probes another and how long a suspect
// has to refute the suspicion before it is declared dead.
type probing struct {
	interval, timeout, suspicion time.Duration
}

// fastProbe is Fast's probing on the host's network. A dead member is
// first probed within a few intervals (each member probes the others in
// turn), found silent at the interval's end and declared dead a
// suspicion later: 1.0–1.4 s after it died, measured with six members
// and -race, where 400 ms intervals took 1.2–2.3 s (a lab's killed node
// must show down in the dashboard within 3 s, and once on a loaded CI
// machine did not). A live member is suspected sooner when it is slow to
// answer but has as long as before to refute the suspicion (800 ms); the
// probes cost an idle lab of six about 3% more CPU.
var fastProbe = probing{interval: 200 * time.Millisecond, timeout: 100 * time.Millisecond, suspicion: 800 * time.Millisecond}

// simulatedProbe is Fast's probing on a simulated network (vnet), where
// every timer is paid for in wall time: 200 ms intervals made the golden
// virtual scenarios 37% slower (40 s to 55 s). A dead member is declared
// 1.2–2.3 s of virtual time after it died, as before, and no busy machine
// can make it later.
var simulatedProbe = probing{interval: 400 * time.Millisecond, timeout: 150 * time.Millisecond, suspicion: 800 * time.Millisecond}

// apply sets memberlist's probing. The suspicion lasts its full time at
// once: memberlist shortens a suspicion only with confirmations from
// other members, and lengthens it up to SuspicionMaxTimeoutMult times
// while waiting for them, which 1 turns off. Past ten members memberlist
// scales the suspicion by log10 of their number.
func (p probing) apply(mc *memberlist.Config) {
	mc.ProbeInterval, mc.ProbeTimeout = p.interval, p.timeout
	mc.SuspicionMult = int(p.suspicion / p.interval)
	mc.SuspicionMaxTimeoutMult = 1
}

// Start listens and returns a pool of one; Join connects it to others.
func Start(cfg Config) (*Pool, error) {
	host, portText, err := net.SplitHostPort(cfg.Bind)
	if err != nil {
		return nil, fmt.Errorf("gossip address %q: %w", cfg.Bind, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("gossip address %q: bad port", cfg.Bind)
	}
	p := &Pool{members: map[string]Member{}, changed: make(chan struct{}), meta: cfg.Meta, clock: cfg.Clock,
		stop: make(chan struct{}), stopped: make(chan struct{})}
	if p.clock == nil {
		p.clock = clock.Real{}
	}
	mc := memberlist.DefaultLANConfig()
	if cfg.Fast {
		mc = memberlist.DefaultLocalConfig()
		probe := fastProbe
		if !vnet.IsHost(cfg.Net) {
			probe = simulatedProbe
		}
		probe.apply(mc)
		mc.GossipInterval = 50 * time.Millisecond
		mc.PushPullInterval = 5 * time.Second
		mc.DeadNodeReclaimTime = time.Second
		// A LAN or a lab on one machine has no bandwidth to save, and the
		// packets are small: compressing each one only costs CPU (an
		// eighth of an idle virtual lab's). Members decompress what a
		// member that does compress sends.
		mc.EnableCompression = false
	}
	mc.Name = cfg.Name
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertiseAddr, mc.AdvertisePort = host, port
	mc.Delegate = delegate{p}
	mc.Events = events{p}
	out := cfg.LogOutput
	if out == nil {
		out = io.Discard
	}
	mc.Logger = log.New(out, "", log.LstdFlags)
	keys, warning, err := startingKeys(cfg)
	if err != nil {
		return nil, fmt.Errorf("start gossip on %s: %w", cfg.Bind, err)
	}
	if warning != "" {
		mc.Logger.Printf("[WARN] flotilla: %s", warning)
	}
	p.kr.file, p.kr.logger = cfg.KeyringFile, mc.Logger
	if len(keys) > 0 {
		if p.kr.ring, err = memberlist.NewKeyring(keys[1:], keys[0]); err != nil {
			return nil, fmt.Errorf("start gossip on %s: %w", cfg.Bind, err)
		}
		mc.Keyring = p.kr.ring
		mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	}
	if cfg.tune != nil {
		cfg.tune(mc)
	}
	var tr *vnetTransport
	if mc.Transport == nil && !vnet.IsHost(cfg.Net) {
		// A simulated network (and no transport set by tune): memberlist's
		// own transport would use the host's sockets. Memberlist is told
		// the port and address the transport bound, as it is told them
		// after binding its own.
		if tr, err = newVnetTransport(cfg.Net, host, port, mc.Logger); err != nil {
			return nil, fmt.Errorf("start gossip on %s: %w", cfg.Bind, err)
		}
		mc.Transport = tr
		ip, bound := tr.advertised()
		mc.BindPort, mc.AdvertisePort = bound, bound
		mc.AdvertiseAddr = ip.String()
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		if tr != nil {
			tr.Shutdown()
		}
		return nil, fmt.Errorf("start gossip on %s: %w", cfg.Bind, err)
	}
	p.ml = ml
	every := cfg.RejoinInterval
	if every <= 0 {
		every = 30 * time.Second
		if cfg.Fast {
			every = 2 * time.Second
		}
	}
	go p.rejoinLoop(every, mc.Logger)
	return p, nil
}

// Addr is the address others join.
func (p *Pool) Addr() string {
	n := p.ml.LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// Join contacts existing members; it succeeds if any of them answered.
// The pool keeps the addresses and joins them again, for as long as it
// runs, whenever they are not alive members in its view.
func (p *Pool) Join(addrs []string) (int, error) {
	p.mu.Lock()
	for _, a := range addrs {
		if !slices.Contains(p.seeds, a) {
			p.seeds = append(p.seeds, a)
		}
	}
	p.mu.Unlock()
	return p.ml.Join(addrs)
}

// rejoinLoop joins the seeds and the failed members again, every interval,
// until the pool stops.
func (p *Pool) rejoinLoop(every time.Duration, logger *log.Logger) {
	defer close(p.stopped)
	for {
		select {
		case <-p.stop:
			return
		case <-p.clock.After(every):
		}
		if targets := p.rejoinTargets(p.clock.Now()); len(targets) > 0 {
			if n, err := p.ml.Join(targets); err != nil {
				logger.Printf("[DEBUG] flotilla: rejoin %v: %d answered: %v", targets, n, err)
			}
		}
	}
}

// rejoinTargets are the seeds that are not alive members and the members
// that failed less than RejoinDeadFor ago, by address. Members that left
// are not joined again.
func (p *Pool) rejoinTargets(now time.Time) []string {
	self := p.Addr()
	p.mu.Lock()
	defer p.mu.Unlock()
	alive := map[string]bool{self: true}
	for _, m := range p.members {
		if m.Status == StatusAlive {
			alive[m.Addr] = true
		}
	}
	var out []string
	add := func(addr string) {
		if !alive[addr] && !slices.Contains(out, addr) {
			out = append(out, addr)
		}
	}
	for _, seed := range p.seeds {
		addr := seed
		if a, err := net.ResolveTCPAddr("tcp", seed); err == nil {
			addr = a.String()
		}
		add(addr)
	}
	for _, m := range p.members {
		if m.Status == StatusDead && now.Sub(m.Since) < RejoinDeadFor {
			add(m.Addr)
		}
	}
	sort.Strings(out)
	return out
}

func (p *Pool) stopRejoining() {
	p.stopOnce.Do(func() { close(p.stop) })
	<-p.stopped
}

// Leave announces a graceful departure, then stops.
func (p *Pool) Leave(timeout time.Duration) error {
	p.stopRejoining()
	p.mu.Lock()
	p.meta.Leaving = true
	p.mu.Unlock()
	_ = p.ml.UpdateNode(timeout) // best effort: without it the others see a failure
	err := p.ml.Leave(timeout)
	if serr := p.ml.Shutdown(); err == nil {
		err = serr
	}
	return err
}

// Shutdown stops without telling anyone: the others detect a failure.
func (p *Pool) Shutdown() error {
	p.stopRejoining()
	return p.ml.Shutdown()
}

// Members returns every member heard of, dead and left ones included, by
// name. A failed member keeps the meta it last announced (its addresses),
// so that a server cut off from gossip can still be reached by what Raft
// says of it.
func (p *Pool) Members() []Member {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Member, 0, len(p.members))
	for _, m := range p.members {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Changed returns a channel closed at the next membership change.
func (p *Pool) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

// Answers reports whether a member answers a direct ping now (within
// memberlist's probe timeout). Gossip's word that a member died can be
// stale: a member cut off from the others declares them dead, and when
// its cable is back its verdicts still spread until each victim refutes
// its own death. A ping asks the member itself.
func (p *Pool) Answers(name string) bool {
	p.mu.Lock()
	m, ok := p.members[name]
	p.mu.Unlock()
	if !ok {
		return false
	}
	addr, err := net.ResolveUDPAddr("udp", m.Addr)
	if err != nil {
		return false
	}
	_, err = p.ml.Ping(name, addr)
	return err == nil
}

// Forget drops a dead or departed member from the view.
func (p *Pool) Forget(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m, ok := p.members[name]; ok && m.Status != StatusAlive {
		delete(p.members, name)
	}
}

func (p *Pool) record(n *memberlist.Node, status string) {
	var meta Meta
	_ = json.Unmarshal(n.Meta, &meta) // a member with unreadable meta has no role and is ignored
	p.mu.Lock()
	defer p.mu.Unlock()
	m := Member{Name: n.Name, Addr: net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port))), Status: status, Meta: meta, Since: p.clock.Now()}
	if old, ok := p.members[n.Name]; ok && old.Status == status {
		m.Since, m.Change = old.Since, old.Change
	} else {
		p.changes++
		m.Change = p.changes
	}
	p.members[n.Name] = m
	close(p.changed)
	p.changed = make(chan struct{})
}

type delegate struct{ p *Pool }

func (d delegate) NodeMeta(limit int) []byte {
	d.p.mu.Lock()
	meta, err := json.Marshal(d.p.meta)
	d.p.mu.Unlock()
	if err != nil || len(meta) > limit {
		return nil
	}
	return meta
}
func (d delegate) NotifyMsg(msg []byte)                     { d.p.notifyMsg(msg) }
func (delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (delegate) LocalState(join bool) []byte                { return nil }
func (delegate) MergeRemoteState(buf []byte, join bool)     {}

type events struct{ p *Pool }

func (e events) NotifyJoin(n *memberlist.Node)   { e.p.record(n, StatusAlive) }
func (e events) NotifyUpdate(n *memberlist.Node) { e.p.record(n, StatusAlive) }
func (e events) NotifyLeave(n *memberlist.Node) {
	e.p.mu.Lock()
	leaving := e.p.members[n.Name].Meta.Leaving
	e.p.mu.Unlock()
	if leaving || n.State == memberlist.StateLeft {
		e.p.record(n, StatusLeft)
		return
	}
	e.p.record(n, StatusDead)
}
