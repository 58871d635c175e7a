package gossip

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
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
	// Since is when the member entered its current status.
	Since time.Time
}

// Config describes the local member.
type Config struct {
	Name string
	// Bind is host:port to listen on (UDP and TCP); port 0 picks one.
	Bind string
	Meta Meta
	// Fast tunes failure detection for a LAN or loopback lab: a dead member
	// is declared within about two seconds.
	Fast      bool
	LogOutput io.Writer
}

// Pool is this node's membership in the gossip pool.
type Pool struct {
	ml *memberlist.Memberlist

	mu      sync.Mutex
	members map[string]Member
	changed chan struct{}
	meta    Meta
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
	p := &Pool{members: map[string]Member{}, changed: make(chan struct{}), meta: cfg.Meta}
	mc := memberlist.DefaultLANConfig()
	if cfg.Fast {
		mc = memberlist.DefaultLocalConfig()
		mc.ProbeInterval = 400 * time.Millisecond
		mc.ProbeTimeout = 150 * time.Millisecond
		mc.SuspicionMult = 2
		mc.SuspicionMaxTimeoutMult = 2
		mc.GossipInterval = 50 * time.Millisecond
		mc.PushPullInterval = 5 * time.Second
		mc.DeadNodeReclaimTime = time.Second
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
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("start gossip on %s: %w", cfg.Bind, err)
	}
	p.ml = ml
	return p, nil
}

// Addr is the address others join.
func (p *Pool) Addr() string {
	n := p.ml.LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// Join contacts existing members; it succeeds if any of them answered.
func (p *Pool) Join(addrs []string) (int, error) {
	return p.ml.Join(addrs)
}

// Leave announces a graceful departure, then stops.
func (p *Pool) Leave(timeout time.Duration) error {
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
func (p *Pool) Shutdown() error { return p.ml.Shutdown() }

// Members returns every member heard of, dead and left ones included, by name.
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
	m := Member{Name: n.Name, Addr: net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port))), Status: status, Meta: meta, Since: time.Now()}
	if old, ok := p.members[n.Name]; ok && old.Status == status {
		m.Since = old.Since
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
func (delegate) NotifyMsg([]byte)                           {}
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
