package scheduler

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"runtime"
	"time"

	"github.com/hashicorp/raft"

	"flotilla/api"
	"flotilla/internal/clock"
	"flotilla/internal/vnet"
)

// Config is one server's configuration.
type Config struct {
	Name    string
	DataDir string
	// HTTP, Raft and Gossip are host:port listen addresses (port 0 picks a
	// free port, for tests and the in-process benchmark).
	HTTP   string
	Raft   string
	Gossip string
	// BootstrapExpect servers must be seen before the cluster bootstraps.
	BootstrapExpect int
	// Join lists gossip addresses of other members; joining is retried
	// until one answers, so servers may start in any order.
	Join []string
	// HeartbeatTTL is how long a heartbeating node may stay silent before
	// the leader marks it down, in a small cluster: the TTL grows with the
	// cluster so that the leader takes at most MaxHeartbeatsPerSecond
	// (heartbeat.go).
	HeartbeatTTL           time.Duration
	MaxHeartbeatsPerSecond float64
	// MaxNodesDownPerSecond and MaxNodesDownFraction (of the heartbeating
	// nodes, per TTL) bound how fast the leader marks silent nodes down
	// (nodedown.go).
	MaxNodesDownPerSecond float64
	MaxNodesDownFraction  float64
	// SimCIDR is where sim nodes' loopback /24s come from; ClusterCIDR is
	// where real (containerd) nodes' pod /24s come from.
	SimCIDR     string
	ClusterCIDR string
	// VIPCIDR is where service virtual IPs come from.
	VIPCIDR string
	// Workers is the number of scheduler workers on the leader.
	Workers int
	// Timing is the Raft timing profile.
	Timing RaftTiming
	// Clock drives the cluster's own timers (heartbeat TTLs, GC) and the
	// times stamped into commands; Raft and network retries use real time.
	Clock clock.Clock
	// Seed, when non-zero, is where a new cluster's ID comes from
	// (allocation IDs derive from it) instead of crypto/rand, so that a
	// virtual scenario run with --seed replays; give every server the
	// same one.
	Seed uint64
	// HandOverOnStop makes a leader whose Run ends (a graceful stop:
	// SIGTERM) hand leadership to another voter first. Off, its end is a
	// crash to the others (tests and virtual labs kill servers so).
	HandOverOnStop bool
	Logger         *slog.Logger
	// LogOutput receives Raft's and memberlist's own logs.
	LogOutput io.Writer
	// RaftLogOutput, when set, receives Raft's warnings and errors instead
	// (a leader that lost its lease and stepped down, a follower it cannot
	// reach, an election started): memberlist's debug lines stay out.
	RaftLogOutput io.Writer
	// KeyringFile holds the keys that encrypt secrets at rest (secrets.go);
	// "" is DataDir/keyring.json, made when missing.
	KeyringFile string
	// Net is where the server listens (HTTP, Raft, gossip) and dials other
	// servers: nil for the host's network, or a simulated one on which a
	// whole cluster runs in one process (vnet.Memory).
	Net vnet.Net
	// GossipKey (16, 24 or 32 bytes) encrypts the gossip pool; the
	// keyring in DataDir, once written, wins over it (gossip.Config).
	GossipKey []byte
	// TLS, when set, secures the HTTP API and Raft with mutual TLS: every
	// client must present a certificate of the CA, and Raft peers and
	// servers forwarded to must be servers (tls.go).
	TLS *api.MutualTLS
	// ACL enforces ACLs on the API (acl.go); ACLBootstrapTokenFile holds
	// the secret the leader bootstraps them with while none is made.
	ACL                   bool
	ACLBootstrapTokenFile string
}

// RaftTiming holds the Raft timeouts.
type RaftTiming struct {
	Heartbeat, Election, LeaderLease, Commit time.Duration
}

// LANTiming detects a dead leader within a second or two on a LAN or a
// loopback lab, so a write is accepted again within two seconds. The
// leader's lease is as long as the followers' heartbeat timeout, and both
// are 800 ms: on a 2-core machine running three servers and 10,000 fake
// nodes placing 100,000 replicas, Go's scheduler let runnable goroutines
// wait 0.2-0.5 s, once 0.94 s (runtime/metrics /sched/latencies), and with
// 400 ms a leader whose heartbeat answers were that late stepped down in
// about half the runs. A leader cut off for good still steps down before a new
// one can be elected. With Commit at 5 ms the leader tells idle followers
// the commit index within 5-10 ms, so a watch served by a follower (an
// agent's routes) sees a write at once; it costs each follower some 130
// empty appends a second.
var LANTiming = RaftTiming{
	Heartbeat:   800 * time.Millisecond,
	Election:    800 * time.Millisecond,
	LeaderLease: 800 * time.Millisecond,
	Commit:      5 * time.Millisecond,
}

// VirtualTiming is LANTiming with Raft's default commit timeout, 50 ms:
// in virtual time those empty appends were most of an idle cluster's CPU
// (5.1 s per 10 minutes of cluster time, 3.0 s with 50 ms), and a
// follower's view of a write lags by up to 100 ms more.
var VirtualTiming = RaftTiming{
	Heartbeat:   LANTiming.Heartbeat,
	Election:    LANTiming.Election,
	LeaderLease: LANTiming.LeaderLease,
	Commit:      50 * time.Millisecond,
}

// Default address pools. The sim pool is loopback, so sim labs never
// touch a real network; service VIPs use another part of 127.0.0.0/8.
const (
	DefaultSimCIDR     = "127.128.0.0/10"
	DefaultClusterCIDR = "10.200.0.0/16"
	DefaultVIPCIDR     = "127.64.0.0/16"
)

// DefaultHeartbeatTTL is the node heartbeat TTL when none is configured.
const DefaultHeartbeatTTL = 10 * time.Second

func (c *Config) setDefaults() error {
	if c.Name == "" {
		return fmt.Errorf("server name is required")
	}
	if c.DataDir == "" {
		return fmt.Errorf("server %s: --data-dir is required", c.Name)
	}
	if c.BootstrapExpect < 0 {
		return fmt.Errorf("server %s: --bootstrap-expect must be 0 or more", c.Name)
	}
	if c.HeartbeatTTL <= 0 {
		c.HeartbeatTTL = DefaultHeartbeatTTL
	}
	if c.MaxHeartbeatsPerSecond <= 0 {
		c.MaxHeartbeatsPerSecond = DefaultMaxHeartbeatsPerSecond
	}
	if c.MaxNodesDownPerSecond <= 0 {
		c.MaxNodesDownPerSecond = DefaultMaxNodesDownPerSecond
	}
	if c.MaxNodesDownFraction <= 0 || c.MaxNodesDownFraction > 1 {
		c.MaxNodesDownFraction = DefaultMaxNodesDownFraction
	}
	if c.SimCIDR == "" {
		c.SimCIDR = DefaultSimCIDR
	}
	if c.ClusterCIDR == "" {
		c.ClusterCIDR = DefaultClusterCIDR
	}
	if c.VIPCIDR == "" {
		c.VIPCIDR = DefaultVIPCIDR
	}
	for flag, cidr := range map[string]string{"--sim-cidr": c.SimCIDR, "--cluster-cidr": c.ClusterCIDR, "--vip-cidr": c.VIPCIDR} {
		if p, err := netip.ParsePrefix(cidr); err != nil || !p.Addr().Is4() || p.Bits() > 24 || p.Bits() < 8 {
			return fmt.Errorf("server %s: %s %q: want an IPv4 CIDR between /8 and /24", c.Name, flag, cidr)
		}
	}
	if c.ACLBootstrapTokenFile != "" && !c.ACL {
		return fmt.Errorf("server %s: --acl-bootstrap-token-file needs --acl", c.Name)
	}
	if c.Workers <= 0 {
		c.Workers = 4 * runtime.NumCPU()
	}
	if c.Timing == (RaftTiming{}) {
		c.Timing = LANTiming
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

func (c *Config) raftConfig(notify chan bool) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.Name)
	rc.HeartbeatTimeout = c.Timing.Heartbeat
	rc.ElectionTimeout = c.Timing.Election
	rc.LeaderLeaseTimeout = c.Timing.LeaderLease
	rc.CommitTimeout = c.Timing.Commit
	rc.NotifyCh = notify
	rc.LogOutput = c.LogOutput
	if c.RaftLogOutput != nil {
		rc.LogOutput = c.RaftLogOutput
	}
	rc.LogLevel = "WARN"
	return rc
}
