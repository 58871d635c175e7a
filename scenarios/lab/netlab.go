package lab

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"flotilla/network/cni"
	"flotilla/network/netlab"
	"flotilla/runtime/containerd"
)

// A containerd lab makes every node a network namespace of its own, joined
// to a lab bridge on the host by a veth: each server and agent runs inside
// its node's namespace on its node's address, as on separate machines.
//
//	host: bridge fl<hash>-br 10.199.0.1/24, unreachable 10.199/16, 10.200/16, 10.201/16 (metric <hash>)
//	  ├─ veth ─ netns flotilla-LAB-s1  10.199.0.11  flotilla server
//	  ├─ veth ─ netns flotilla-LAB-n1  10.199.0.101 flotilla agent (containerd namespace flotilla-LAB-n1)
//	  │           ├─ flotilla0 10.200.N.1/24 ─ containers (CNI bridge, netns flotilla-LAB-n1.ID)
//	  │           └─ flotilla-vip: the services' VIPs (10.201.x.y/32), owned by its proxy
//	  └─ ...
//
// The host's unreachable routes for the whole node network, cluster CIDR
// and VIP range mean that no lab packet can ever leave this machine: only
// the bridge's own /24 is more specific.
//
// Everything a lab makes carries its name: namespaces (network and
// containerd), links (the tag is a hash of the name) and routes (the
// metric is another), so that its down removes only what is its own. The
// addresses are the same for every containerd lab, so one runs at a time:
// lab up refuses, before it makes anything, while another holds them.
var (
	labNodeNet   = netip.MustParsePrefix("10.199.0.0/24")
	labNetBlock  = netip.MustParsePrefix("10.199.0.0/16")
	labPodCIDR   = netip.MustParsePrefix("10.200.0.0/16")
	labVIPCIDR   = netip.MustParsePrefix("10.201.0.0/16")
	labBridgeIP  = netip.MustParsePrefix("10.199.0.1/24")
	serverIPBase = 11  // s1 is 10.199.0.11
	agentIPBase  = 101 // n1 is 10.199.0.101
)

// Network is a containerd lab's host side, recorded in lab.json so that
// lab down (or the next lab up) can remove all of it, even after a crash.
type Network struct {
	Bridge      string         `json:"bridge"`
	BridgeAddr  netip.Prefix   `json:"bridgeAddr"`
	Unreachable []netip.Prefix `json:"unreachable"`
	// RouteMetric marks the unreachable routes as this lab's; 0 in a lab
	// recorded before labs had their own (routeMetric).
	RouteMetric uint32 `json:"routeMetric,omitempty"`
	// Containerd is the socket the agents use; Namespaces are theirs.
	Containerd string `json:"containerd"`
}

// ContainerdSocketEnv overrides the containerd socket labs and agents use.
const ContainerdSocketEnv = "FLOTILLA_CONTAINERD"

// DefaultContainerdSocket is the system containerd's socket, or
// $FLOTILLA_CONTAINERD.
func DefaultContainerdSocket() string {
	if s := os.Getenv(ContainerdSocketEnv); s != "" {
		return s
	}
	return "/run/containerd/containerd.sock"
}

// linkTag is a short, stable tag of the lab's name for its interface
// names, which Linux limits to 15 characters.
func linkTag(lab string) string {
	sum := sha256.Sum256([]byte(lab))
	return "fl" + hex.EncodeToString(sum[:])[:5]
}

func netnsName(lab, node string) string { return "flotilla-" + lab + "-" + node }

// routeMetric is the metric of a lab's unreachable routes, a hash of its
// name (1 to 2^24): two labs' routes to the same block are two routes, and
// each lab removes only its own.
func routeMetric(lab string) uint32 {
	sum := sha256.Sum256([]byte("routes:" + lab))
	return binary.BigEndian.Uint32(sum[:4])>>8 + 1
}

// checkContainerd says what is missing for a containerd lab, in words a
// user can act on.
func checkContainerd(socket string) error {
	if os.Geteuid() != 0 {
		return errors.New("--runtime containerd: a containerd lab makes network namespaces and talks to containerd, which needs root: run it with sudo")
	}
	if _, err := os.Stat(socket); err != nil {
		return fmt.Errorf("--runtime containerd: no containerd at %s (apt-get install containerd runc containernetworking-plugins; or set $%s): %w", socket, ContainerdSocketEnv, err)
	}
	if _, err := exec.LookPath("nsenter"); err != nil {
		return fmt.Errorf("--runtime containerd: nsenter (util-linux) not found: %w", err)
	}
	// A socket file outlives its daemon: only an answer says it runs.
	if err := containerd.Ping(context.Background(), socket, 3*time.Second); err != nil {
		return fmt.Errorf("--runtime containerd: containerd at %s does not answer (%s): start it (systemctl start containerd, or containerd &) or set $%s",
			socket, strings.ReplaceAll(err.Error(), "\n", " "), ContainerdSocketEnv)
	}
	return nil
}

// planNetwork gives every process of a containerd lab its namespace,
// veth and address, and the flags that put it there.
func (l *Lab) planNetwork(cfg Config) {
	tag := linkTag(l.Name)
	l.Network = &Network{Bridge: tag + "-br", BridgeAddr: labBridgeIP,
		Unreachable: []netip.Prefix{labNetBlock, labPodCIDR, labVIPCIDR}, RouteMetric: routeMetric(l.Name), Containerd: cfg.ContainerdSocket}
	servers, agents := 0, 0
	for i := range l.Processes {
		p := &l.Processes[i]
		var ip netip.Addr
		if p.Role == RoleServer {
			ip = nthAddr(labNodeNet, serverIPBase+servers)
			servers++
		} else {
			ip = nthAddr(labNodeNet, agentIPBase+agents)
			agents++
		}
		p.Netns = netnsName(l.Name, p.Name)
		p.HostVeth = tag + "-" + p.Name
		p.Address = netip.PrefixFrom(ip, labNodeNet.Bits())
		if p.Role == RoleAgent {
			p.ContainerdNamespace = netnsName(l.Name, p.Name)
		}
	}
}

func nthAddr(p netip.Prefix, n int) netip.Addr {
	a := p.Addr()
	for range n {
		a = a.Next()
	}
	return a
}

// setupNetwork builds the host side and every node's namespace.
func (l *Lab) setupNetwork() error {
	n := l.Network
	for _, dst := range n.Unreachable {
		if err := netlab.AddUnreachable(dst, n.RouteMetric); err != nil {
			return fmt.Errorf("lab %s: unreachable route for %s: %w", l.Name, dst, err)
		}
	}
	if err := netlab.EnsureBridge(n.Bridge, n.BridgeAddr); err != nil {
		return fmt.Errorf("lab %s: bridge %s: %w", l.Name, n.Bridge, err)
	}
	if err := netlab.SetLinkAlias(n.Bridge, l.owner()); err != nil {
		return fmt.Errorf("lab %s: %w", l.Name, err)
	}
	for _, p := range l.Processes {
		if err := netlab.AddNode(netlab.Node{Netns: p.Netns, HostVeth: p.HostVeth, Bridge: n.Bridge, Addr: p.Address}); err != nil {
			return fmt.Errorf("lab %s: node %s: %w", l.Name, p.Name, err)
		}
		if p.Role == RoleAgent {
			// `ip netns exec NAME dig ...` on the host resolves with the
			// node's own DNS server, as a process on that machine would.
			if err := writeNetnsResolvConf(p.Netns, p.Address.Addr()); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkNetworkFree fails when anything the lab would make is there
// already: an address of the lab node network on any link (another
// containerd lab is up: they share the addresses), or one of the lab's own
// links or node namespaces (a lab of the same name is up from another lab
// directory, or one was left behind without its record). It runs before
// the lab makes anything, so that a refused lab changes nothing.
func (l *Lab) checkNetworkFree() error {
	if holder, err := labNetHolder(""); err != nil {
		return err
	} else if holder != "" {
		return fmt.Errorf("%s is in use by %s: another containerd lab is up (one at a time: %s)", labNodeNet, holder, downHint(holder))
	}
	links := []string{l.Network.Bridge}
	for _, p := range l.Processes {
		links = append(links, p.HostVeth)
	}
	for _, name := range links {
		if _, err := net.InterfaceByName(name); err == nil {
			return fmt.Errorf("link %s is in use: another containerd lab named %s is up from another lab directory, or one was left behind (ip link del %s)", name, l.Name, name)
		}
	}
	for _, p := range l.Processes {
		if ok, err := netlab.NetnsExists(p.Netns); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("network namespace %s is in use: another containerd lab named %s is up from another lab directory, or one was left behind (ip netns del %s)", p.Netns, l.Name, p.Netns)
		}
	}
	return nil
}

// labNetHolder names a link other than except that holds an address of
// the lab node network ("" when none does).
func labNetHolder(except string) (string, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return "", err
	}
	for _, ifc := range ifaces {
		if ifc.Name == except {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			if ip, ok := netip.AddrFromSlice(ipn.IP); ok && labNodeNet.Contains(ip.Unmap()) {
				return ifc.Name, nil
			}
		}
	}
	return "", nil
}

// downHint says how to take down the lab whose bridge is link, from the
// owner its alias names (a lab directory), or in general words when it
// names none.
func downHint(link string) string {
	alias, ok, err := netlab.LinkAlias(link)
	dir, named := strings.CutPrefix(alias, "flotilla lab ")
	if err != nil || !ok || !named || strings.HasPrefix(dir, "sha256:") {
		return "take the other containerd lab down first"
	}
	return fmt.Sprintf("flotilla lab down --name %s --dir %s", filepath.Base(dir), filepath.Dir(dir))
}

// owner is what a lab writes on its bridge (its alias) to say whose the
// bridge, and what bears the same names, is: its lab directory.
func (l *Lab) owner() string {
	owner := "flotilla lab " + l.Dir
	if len(owner) > 200 { // an alias holds at most 255 bytes
		sum := sha256.Sum256([]byte(l.Dir))
		owner = "flotilla lab sha256:" + hex.EncodeToString(sum[:16])
	}
	return owner
}

// legacyShared reports whether this lab was recorded before labs had
// names of their own for their routes and containerd namespaces, and no
// other lab holds the lab network now: only then are the shared routes
// and flotilla-NODE namespaces its to remove.
func (l *Lab) legacyShared() bool {
	if l.Network == nil || l.Network.RouteMetric != 0 {
		return false
	}
	holder, err := labNetHolder(l.Network.Bridge)
	return err == nil && holder == ""
}

func netnsEtc(netns string) string { return filepath.Join("/etc/netns", netns) }

func writeNetnsResolvConf(netns string, dns netip.Addr) error {
	dir := netnsEtc(netns)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	conf := fmt.Sprintf("# written by flotilla lab for node namespace %s\nnameserver %s\nsearch default.svc.flotilla svc.flotilla\noptions ndots:5\n", netns, dns)
	return os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte(conf), 0o644)
}

// teardownNetwork removes everything a containerd lab made besides its
// processes: containers, snapshots and images in the agents' containerd
// namespaces, the containers' network namespaces, the nodes' namespaces
// and veths, the bridge and the unreachable routes. Everything absent is
// skipped, so it also cleans up after a lab that died half-way; and only
// what carries the lab's name goes, never another lab's.
func (l *Lab) teardownNetwork(out io.Writer) error {
	n := l.Network
	if n == nil {
		return nil
	}
	// A lab of the same name from another lab directory has the same
	// names: its bridge says whose they are.
	if alias, ok, err := netlab.LinkAlias(n.Bridge); err == nil && ok && alias != "" && alias != l.owner() {
		return fmt.Errorf("lab %s: its network (bridge %s) is another lab's (%s): left alone", l.Name, n.Bridge, alias)
	}
	var errs []error
	for _, p := range l.Processes {
		if p.Role == RoleAgent {
			if err := l.crashContainers(&p); err != nil {
				errs = append(errs, err)
			}
		}
		if p.Netns == "" {
			continue
		}
		if err := netlab.RemoveNode(netlab.Node{Netns: p.Netns, HostVeth: p.HostVeth, Bridge: n.Bridge, Addr: p.Address}); err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", p.Name, err))
		}
		if err := os.RemoveAll(netnsEtc(p.Netns)); err != nil {
			errs = append(errs, err)
		}
	}
	// The replicas' secret tmpfs outlive their agents and containerd's.
	if err := unmountUnder(filepath.Join(l.Dir, "data")); err != nil {
		errs = append(errs, err)
	}
	if err := netlab.DeleteLink(n.Bridge); err != nil {
		errs = append(errs, fmt.Errorf("bridge %s: %w", n.Bridge, err))
	}
	if n.RouteMetric != 0 || l.legacyShared() {
		for _, dst := range n.Unreachable {
			if err := netlab.DeleteUnreachable(dst, n.RouteMetric); err != nil {
				errs = append(errs, fmt.Errorf("unreachable route %s: %w", dst, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lab %s: clean up its network: %w", l.Name, err)
	}
	fmt.Fprintf(out, "removed the lab's containers, mounts, namespaces, links and routes\n")
	return nil
}

// crashContainers ends an agent node's containers as a power cut would:
// its containerd namespace and its containers' network namespaces go.
func (l *Lab) crashContainers(p *Process) error {
	ns, netnsPrefix := p.ContainerdNamespace, p.ContainerdNamespace+"."
	if ns == "" {
		// A lab recorded before labs had namespaces of their own: its
		// agents used names every such lab shares, which are only its own
		// while no other lab is up.
		if !l.legacyShared() {
			return nil
		}
		ns, netnsPrefix = containerd.NamespacePrefix+p.Name, cni.NodeNetnsPrefix(p.Name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var errs []error
	if err := containerd.Purge(ctx, l.Network.Containerd, ns); err != nil {
		errs = append(errs, fmt.Errorf("containers of %s: %w", p.Name, err))
	}
	// The containers' namespaces, named by the agent's CNI network.
	left, err := netlab.ListNetns(netnsPrefix)
	if err != nil {
		errs = append(errs, err)
	}
	for _, name := range left {
		if err := netlab.DeleteNetns(name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Partition cuts nodes off the lab network (their veths go down), as a
// pulled cable would; Heal puts them back.
func (l *Lab) Partition(names ...string) error { return l.setLinks(names, netlab.Partition) }

// Heal restores the links of the named nodes, or of every node.
func (l *Lab) Heal(names ...string) error {
	if len(names) == 0 {
		for _, p := range l.Processes {
			names = append(names, p.Name)
		}
	}
	return l.setLinks(names, netlab.Heal)
}

func (l *Lab) setLinks(names []string, fn func(string) error) error {
	return l.locked(func() error {
		if l.Network == nil {
			return fmt.Errorf("lab %s runs %s: partitions need a containerd lab, whose nodes have links to cut (lab pause NODE freezes a sim node)", l.Name, l.Runtime)
		}
		var veths []string
		for _, name := range names {
			p, err := l.Process(name)
			if err != nil {
				return err
			}
			veths = append(veths, p.HostVeth)
		}
		for i, v := range veths {
			if err := fn(v); err != nil {
				return fmt.Errorf("%s: %w", names[i], err)
			}
		}
		return nil
	})
}

// nodeCommand is how a process starts: inside its node's namespace for
// a containerd lab (only the network namespace: the agent's own namespaces
// for containers must be visible to containerd on the host).
func (l *Lab) nodeCommand(p *Process) *exec.Cmd {
	if p.Netns == "" {
		return exec.Command(l.Binary, p.Args...)
	}
	args := append([]string{"--net=" + netlab.NetnsPath(p.Netns), "--", l.Binary}, p.Args...)
	return exec.Command("nsenter", args...)
}

// containerdArgs are the extra flags of a containerd lab's processes.
func (l *Lab) containerdArgs(p *Process) []string {
	ip := p.Address.Addr().String()
	if p.Role == RoleServer {
		return []string{"--cluster-cidr", labPodCIDR.String(), "--vip-cidr", labVIPCIDR.String()}
	}
	return []string{"--address", ip, "--containerd-socket", l.Network.Containerd, "--containerd-namespace", p.ContainerdNamespace}
}

// labAddr is ip:port on a node's lab address.
func labAddr(p *Process, port int) string {
	return netip.AddrPortFrom(p.Address.Addr(), uint16(port)).String()
}

// FirstAgentContainerdNamespace is the containerd namespace of a
// containerd lab's first agent node ("" for sim labs or without agents).
func (l *Lab) FirstAgentContainerdNamespace() string {
	for _, p := range l.Processes {
		if p.Role == RoleAgent {
			return p.ContainerdNamespace
		}
	}
	return ""
}

// FirstAgentNetns is the network namespace of a containerd lab's first
// agent node ("" for sim labs or without agents).
func (l *Lab) FirstAgentNetns() string {
	for _, p := range l.Processes {
		if p.Role == RoleAgent {
			return p.Netns
		}
	}
	return ""
}
