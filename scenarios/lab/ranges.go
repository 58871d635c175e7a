package lab

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// A sim lab's replicas listen on loopback addresses of their nodes' /24s
// and its proxies bind the services' VIPs on loopback too, with
// SO_REUSEPORT: two clusters on one host whose ranges overlap answer each
// other's requests. So every sim lab has loopback ranges of its own, in
// one of simSlots slots derived from its base port (which no two running
// sim labs share: their ports would collide):
//
//	slot 0 (the default base port, 4646): VIPs 127.64.0.0/16, nodes 127.128.0.0/16
//	slot k (any other base port):          VIPs 127.(64+k).0.0/16, nodes 127.(128+k).0.0/16
//
// Before it starts anything, lab up checks that no running cluster on this
// host (any flotilla server, whatever lab directory it came from) uses
// either range, and refuses otherwise.
const (
	// DefaultBasePort is the first port of a lab without --base-port.
	DefaultBasePort = 4646
	simSlots        = 64
)

var (
	// defaultVIPs and defaultNodes are what a server without --vip-cidr or
	// --sim-cidr uses: the scheduler's defaults, of which a cluster of
	// fewer than 256 nodes takes the first /16 of node addresses.
	defaultVIPs  = netip.MustParsePrefix("127.64.0.0/16")
	defaultNodes = netip.MustParsePrefix("127.128.0.0/16")
	loopback     = netip.MustParsePrefix("127.0.0.0/8")
)

// simSlot is the slot of a sim lab's base port: 0 for the default one, else
// 1..simSlots-1 by the hundreds of the port (labs' port blocks are a few
// hundred apart).
func simSlot(basePort int) int {
	if basePort == DefaultBasePort {
		return 0
	}
	return 1 + (basePort/100)%(simSlots-1)
}

// simRanges are the VIP and node-address ranges of a sim lab.
func simRanges(basePort int) (vips, nodes netip.Prefix) {
	k := byte(simSlot(basePort))
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 64 + k, 0, 0}), 16),
		netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 128 + k, 0, 0}), 16)
}

// simCluster is a running server whose cluster uses loopback ranges.
type simCluster struct {
	pid         int
	command     string
	vips, nodes netip.Prefix
}

// serverRanges reads a flotilla server's ranges from its command line; ok
// is false for other commands, and for a server whose VIPs are not on
// loopback (a containerd lab's or a real cluster's: no sim cluster).
func serverRanges(args []string) (vips, nodes netip.Prefix, ok bool) {
	at := -1
	for i := 0; i+1 < len(args); i++ {
		if strings.HasPrefix(filepath.Base(args[i]), "flotilla") && args[i+1] == "server" {
			at = i + 2
			break
		}
	}
	if at < 0 {
		return netip.Prefix{}, netip.Prefix{}, false
	}
	vips, nodes = defaultVIPs, defaultNodes
	for i := at; i < len(args); i++ {
		name, value, inline := strings.Cut(args[i], "=")
		if name != "--vip-cidr" && name != "--sim-cidr" {
			continue
		}
		if !inline && i+1 < len(args) {
			i++
			value = args[i]
		}
		p, err := netip.ParsePrefix(value)
		if err != nil {
			continue // the server refuses it and exits
		}
		if name == "--vip-cidr" {
			vips = p.Masked()
		} else {
			nodes = p.Masked()
		}
	}
	if !loopback.Overlaps(vips) {
		return netip.Prefix{}, netip.Prefix{}, false
	}
	return vips, nodes, true
}

// runningSimClusters lists the flotilla servers running in this process's
// network namespace (loopback addresses are per namespace) whose clusters
// use loopback ranges.
func runningSimClusters() []simCluster {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	// The calling thread's: /proc/self is the main thread's, which may
	// be one a netns change left behind, and children start in this one.
	runtime.LockOSThread()
	ownNetns, _ := os.Readlink("/proc/thread-self/ns/net")
	runtime.UnlockOSThread()
	var out []simCluster
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(data) == 0 || procState(pid) == 'Z' {
			continue
		}
		args := strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
		vips, nodes, ok := serverRanges(args)
		if !ok {
			continue
		}
		// Unreadable (another user's process): counted, to be safe.
		if ns, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns", "net")); err == nil && ownNetns != "" && ns != ownNetns {
			continue
		}
		out = append(out, simCluster{pid: pid, command: strings.Join(args, " "), vips: vips, nodes: nodes})
	}
	return out
}

// checkSimRanges fails, naming the cluster, when a running cluster uses
// the VIP or node range a new sim lab would.
func checkSimRanges(basePort int, vips, nodes netip.Prefix, running []simCluster) error {
	for _, c := range running {
		if c.vips.Overlaps(vips) || c.nodes.Overlaps(nodes) {
			cmd := c.command
			if len(cmd) > 120 {
				cmd = cmd[:120] + "..."
			}
			return fmt.Errorf("loopback ranges %s (VIPs) and %s (node addresses) of base port %d are in use by a running cluster (pid %d: %s); choose another --base-port",
				vips, nodes, basePort, c.pid, cmd)
		}
	}
	return nil
}

// hostLock serialises the part of lab up that checks what is free on this
// host and takes it (ports and loopback ranges, the containerd lab
// network), across labs of every lab directory: two lab ups at once
// cannot both find the same range free. A lock file in the temporary
// directory, shared by every user.
func hostLock() (unlock func(), err error) {
	path := filepath.Join(os.TempDir(), "flotilla-labs.lock")
	// Opened read-only: flock needs no more, and a file another user made
	// is still ours to lock.
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		f, err = os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o644)
	}
	if err != nil {
		return nil, fmt.Errorf("host lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("host lock %s: %w", path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
