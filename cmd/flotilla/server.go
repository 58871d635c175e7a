package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"flotilla/internal/memlimit"
	"flotilla/scheduler"
)

// daemonLogs makes a long-running command's logger from --log-level; the
// libraries' own logs (Raft, memberlist) are shown only at debug.
func daemonLogs(logLevel string) (*slog.Logger, io.Writer, error) {
	level := slog.LevelInfo
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return nil, nil, fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if level <= slog.LevelDebug {
		return logger, os.Stderr, nil
	}
	return logger, io.Discard, nil
}

// serverGCPercent is the servers' GOGC unless $GOGC says otherwise.
const serverGCPercent = 200

// serverMemoryFloor is the servers' soft memory limit while their live
// state is small, unless $GOGC or $GOMEMLIMIT say otherwise; past it the
// limit follows the live state at what GOGC=100 would allow (memlimit).
// At 100,000 allocations the live heap is 0.4–0.5 GB while a big plan is
// applied: GOGC=200 alone let a leader's RSS reach 1.5 GB in one run of
// three (`bench fake-nodes`), as a collection fell early or late.
const serverMemoryFloor = 1280 << 20

func newServerCmd() *cobra.Command {
	var cfg scheduler.Config
	var dev bool
	var logLevel string
	var gossipKey gossipKeyFlags
	var secure daemonTLS
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a control-plane server (Raft member, scheduler, HTTP API)",
		Example: `  flotilla server --dev
  flotilla server --name s1 --data-dir /var/lib/flotilla/s1 --bootstrap-expect 3 \
      --http 127.0.0.1:4646 --raft 127.0.0.1:4647 --gossip 127.0.0.1:4648 --join 127.0.0.1:5648`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if cfg.Logger, cfg.LogOutput, err = daemonLogs(logLevel); err != nil {
				return err
			}
			// Raft's warnings are few and say why a leader changed.
			cfg.RaftLogOutput = os.Stderr
			if os.Getenv("GOGC") == "" {
				// Half the garbage collections of the default: the
				// state's heap is mostly long-lived allocations, and at
				// 100,000 of them collecting took as much CPU as
				// applying them, CPU Raft's heartbeats then lacked on a
				// small machine. The heap may grow to 3× the live state
				// rather than 2×, up to serverMemoryFloor.
				debug.SetGCPercent(serverGCPercent)
				if os.Getenv("GOMEMLIMIT") == "" {
					memlimit.Follow(serverMemoryFloor)
				}
			}
			if cfg.GossipKey, err = gossipKey.parse(); err != nil {
				return err
			}
			if dev {
				if cfg.Name == "" {
					cfg.Name = "dev"
				}
				if cfg.BootstrapExpect == 0 {
					cfg.BootstrapExpect = 1
				}
				if cfg.DataDir == "" {
					dir, err := os.MkdirTemp("", "flotilla-dev-")
					if err != nil {
						return err
					}
					defer os.RemoveAll(dir)
					cfg.DataDir = dir
				}
			}
			if cfg.Name == "" {
				host, err := os.Hostname()
				if err != nil {
					return fmt.Errorf("--name is required: %w", err)
				}
				cfg.Name = host
			}
			gossipKey.note(cmd.ErrOrStderr(), cfg.DataDir, cfg.GossipKey)
			if cfg.TLS, err = secure.load([2]string{"--http", cfg.HTTP}, [2]string{"--raft", cfg.Raft}, gossipKey.listener(cfg.Gossip, cfg.DataDir, cfg.GossipKey)); err != nil {
				return err
			}
			cfg.HandOverOnStop = true // SIGTERM is a graceful stop
			srv, err := scheduler.New(cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "flotilla server %s: http %s, raft %s, gossip %s, data %s\n",
				srv.Name(), srv.HTTPAddr(), srv.RaftAddr(), srv.GossipAddr(), cfg.DataDir)
			return srv.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Name, "name", "", "server name, unique in the cluster (default the hostname; \"dev\" with --dev)")
	f.StringVar(&cfg.DataDir, "data-dir", "", "directory for the Raft log and snapshots (a temporary one with --dev)")
	f.StringVar(&cfg.HTTP, "http", "127.0.0.1:4646", "HTTP API listen address")
	f.StringVar(&cfg.Raft, "raft", "127.0.0.1:4647", "Raft listen and advertise address")
	f.StringVar(&cfg.Gossip, "gossip", "127.0.0.1:4648", "gossip (memberlist) listen and advertise address")
	f.IntVar(&cfg.BootstrapExpect, "bootstrap-expect", 0, "bootstrap Raft once this many servers are in the gossip pool (0: join an existing cluster)")
	f.StringSliceVar(&cfg.Join, "join", nil, "gossip address(es) of other members; retried until one answers")
	f.DurationVar(&cfg.HeartbeatTTL, "heartbeat-ttl", scheduler.DefaultHeartbeatTTL, "mark a heartbeating node down after this long without a heartbeat (the least TTL: it grows with the cluster, see --max-heartbeats-per-second)")
	f.Float64Var(&cfg.MaxHeartbeatsPerSecond, "max-heartbeats-per-second", scheduler.DefaultMaxHeartbeatsPerSecond, "heartbeats a second the leader asks of all nodes together: past heartbeat-ttl/3 × this many nodes, TTL and interval grow with the cluster")
	f.StringVar(&cfg.SimCIDR, "sim-cidr", scheduler.DefaultSimCIDR, "loopback block that sim nodes' /24 subnets come from")
	f.StringVar(&cfg.ClusterCIDR, "cluster-cidr", scheduler.DefaultClusterCIDR, "block that real nodes' /24 pod subnets come from")
	f.StringVar(&cfg.VIPCIDR, "vip-cidr", scheduler.DefaultVIPCIDR, "block that service virtual IPs come from (loopback for sim labs)")
	f.StringVar(&cfg.KeyringFile, "keyring-file", "", "keyring of the keys that encrypt secrets at rest, shared by every server (flotilla operator keyring generate); default DATA-DIR/keyring.json, made when missing")
	f.BoolVar(&cfg.ACL, "acl", false, "enforce ACLs: every request needs a token that allows it (flotilla acl bootstrap makes the first)")
	f.StringVar(&cfg.ACLBootstrapTokenFile, "acl-bootstrap-token-file", "", "with --acl: a file holding the secret of the first management token, which the leader makes while the cluster has none")
	f.BoolVar(&dev, "dev", false, "run a single-server cluster with a temporary data dir, for trying things")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	gossipKey.flags(f)
	secure.register(f, "the API and Raft")
	return cmd
}
