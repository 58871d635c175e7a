//go:build linux

package cni

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/utils"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"flotilla/network/netlab"
)

// Network is one node's bridge network. Its methods are safe for
// concurrent use; plugin calls are serialised.
type Network struct {
	cfg     Config
	gateway netip.Addr
	cni     *libcni.CNIConfig
	plain   *libcni.NetworkConfigList // bridge + host-local
	ported  *libcni.NetworkConfigList // plain + portmap
	sem     chan struct{}             // one plugin call sequence at a time
}

// New validates cfg, fills in defaults and checks that the bridge and
// host-local plugins are installed. portmap (and iptables) are only needed,
// and only checked, when a container asks for host ports.
func New(cfg Config) (*Network, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("cni network config: %w", err)
	}
	for _, plugin := range []string{"bridge", "host-local"} {
		if _, err := invoke.FindInPath(plugin, cfg.PluginDirs); err != nil {
			return nil, fmt.Errorf("cni network %s: find plugin %q in %v: %w", cfg.Name, plugin, cfg.PluginDirs, err)
		}
	}
	ipamDir := filepath.Join(cfg.DataDir, "ipam")
	n := &Network{
		cfg:     cfg,
		gateway: gateway(cfg.Subnet),
		cni:     libcni.NewCNIConfigWithCacheDir(cfg.PluginDirs, filepath.Join(cfg.DataDir, "cache"), nil),
		sem:     make(chan struct{}, 1),
	}
	for _, c := range []struct {
		dst     **libcni.NetworkConfigList
		portmap bool
	}{{&n.plain, false}, {&n.ported, true}} {
		raw, err := configList(cfg, ipamDir, c.portmap)
		if err != nil {
			return nil, err
		}
		list, err := libcni.ConfListFromBytes(raw)
		if err != nil {
			return nil, fmt.Errorf("cni network %s: parse generated config: %w", cfg.Name, err)
		}
		*c.dst = list
	}
	return n, nil
}

// Gateway is the bridge's address, the containers' default route.
func (n *Network) Gateway() netip.Addr { return n.gateway }

// Setup creates (or reuses) the container's namespace and attaches it to
// the bridge. It detaches first (unless there was nothing to detach), so a
// retry after any failure is safe, and
// asks IPAM for the address a previous attachment had. On error no IPAM
// lease is kept, but the namespace is: a retry reuses it, Remove deletes it.
func (n *Network) Setup(ctx context.Context, id string, hostPorts []PortMapping) (netnsPath string, ip netip.Addr, err error) {
	fail := func(what string, err error) (string, netip.Addr, error) {
		return "", netip.Addr{}, fmt.Errorf("cni setup %s on %s: %s: %w", id, n.cfg.Name, what, err)
	}
	ports, err := validatePortMappings(hostPorts)
	if err != nil {
		return fail("validate host ports", err)
	}
	list := n.plain
	if len(ports) > 0 {
		if err := n.checkPortmap(); err != nil {
			return fail("host ports", err)
		}
		list = n.ported
	}
	name, err := n.netnsName(id)
	if err != nil {
		return fail("validate id", err)
	}
	if err := n.lock(ctx); err != nil {
		return fail("wait for plugin lock", err)
	}
	defer n.unlock()

	existed, err := netlab.NetnsExists(name)
	if err != nil {
		return fail("look for the netns", err)
	}
	if err := netlab.CreateNetns(name); err != nil {
		return fail("create netns", err)
	}
	path := netlab.NetnsPath(name)
	prev, _ := n.cachedIP(id) // best effort: a corrupt cache only costs the old IP
	// A container that never had a namespace nor an attachment has nothing
	// to detach (a crash during an ADD leaves the namespace, made first);
	// skipping the DEL halves the plugin runs of a first start, which are
	// serialised per node.
	if list, _, cerr := n.cached(id, path); existed || list != nil || cerr != nil {
		if err := n.detach(ctx, id); err != nil {
			return fail("detach previous attachment", err)
		}
	}
	if err := bringUpLoopback(path); err != nil {
		return fail("bring up lo", err)
	}

	rt := n.runtimeConf(id, path)
	if len(ports) > 0 {
		rt.CapabilityArgs = map[string]any{"portMappings": portMappingArgs(ports)}
	}
	res, err := n.add(ctx, list, rt, prev)
	if err != nil {
		return fail("attach", err)
	}
	ip, err = resultIP(res)
	if err != nil {
		_ = n.cni.DelNetworkList(context.WithoutCancel(ctx), list, rt)
		return fail("read plugin result", err)
	}
	return path, ip, nil
}

// add runs ADD, first asking for prev (if valid); when that address cannot
// be had it cleans up and lets IPAM choose. A failed ADD is followed by a
// DEL so no lease or half-made interface is left.
func (n *Network) add(ctx context.Context, list *libcni.NetworkConfigList, rt *libcni.RuntimeConf, prev netip.Addr) (types.Result, error) {
	if prev.IsValid() && n.cfg.Subnet.Contains(prev) {
		withIP := *rt
		withIP.Args = [][2]string{{"IgnoreUnknown", "1"}, {"IP", prev.String()}}
		res, err := n.cni.AddNetworkList(ctx, list, &withIP)
		if err == nil {
			return res, nil
		}
		if derr := n.cni.DelNetworkList(context.WithoutCancel(ctx), list, &withIP); derr != nil {
			return nil, fmt.Errorf("add with previous ip %s: %w; then delete: %w", prev, err, derr)
		}
	}
	res, err := n.cni.AddNetworkList(ctx, list, rt)
	if err != nil {
		if derr := n.cni.DelNetworkList(context.WithoutCancel(ctx), list, rt); derr != nil {
			return nil, fmt.Errorf("%w; then delete: %w", err, derr)
		}
		return nil, err
	}
	return res, nil
}

// Remove detaches the container (CNI DEL with the configuration cached at
// ADD time, when there is one) and deletes its namespace. A container that
// is not attached or has no namespace is removed successfully.
func (n *Network) Remove(ctx context.Context, id string) error {
	name, err := n.netnsName(id)
	if err != nil {
		return fmt.Errorf("cni remove %s on %s: validate id: %w", id, n.cfg.Name, err)
	}
	if err := n.lock(ctx); err != nil {
		return fmt.Errorf("cni remove %s on %s: wait for plugin lock: %w", id, n.cfg.Name, err)
	}
	defer n.unlock()
	if err := n.detach(ctx, id); err != nil {
		return fmt.Errorf("cni remove %s on %s: detach: %w", id, n.cfg.Name, err)
	}
	if err := netlab.DeleteNetns(name); err != nil {
		return fmt.Errorf("cni remove %s on %s: %w", id, n.cfg.Name, err)
	}
	return nil
}

// Check runs CNI CHECK on an existing attachment; ErrNotAttached when
// there is none or its namespace is gone.
func (n *Network) Check(ctx context.Context, id string) error {
	name, err := n.netnsName(id)
	if err != nil {
		return fmt.Errorf("cni check %s on %s: validate id: %w", id, n.cfg.Name, err)
	}
	if err := n.lock(ctx); err != nil {
		return fmt.Errorf("cni check %s on %s: wait for plugin lock: %w", id, n.cfg.Name, err)
	}
	defer n.unlock()
	if ok, err := netlab.NetnsExists(name); err != nil {
		return fmt.Errorf("cni check %s on %s: %w", id, n.cfg.Name, err)
	} else if !ok {
		return fmt.Errorf("cni check %s on %s: netns %s missing: %w", id, n.cfg.Name, name, ErrNotAttached)
	}
	list, rt, err := n.cached(id, netlab.NetnsPath(name))
	if err != nil {
		return fmt.Errorf("cni check %s on %s: %w", id, n.cfg.Name, err)
	}
	if list == nil {
		return fmt.Errorf("cni check %s on %s: %w", id, n.cfg.Name, ErrNotAttached)
	}
	if err := n.cni.CheckNetworkList(ctx, list, rt); err != nil {
		return fmt.Errorf("cni check %s on %s: %w", id, n.cfg.Name, err)
	}
	return nil
}

// Lookup returns the address of an existing attachment from libcni's
// cached result, for an agent that restarted and re-adopts its containers.
// ErrNotAttached when there is no cached result or no namespace.
func (n *Network) Lookup(ctx context.Context, id string) (netip.Addr, error) {
	name, err := n.netnsName(id)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("cni lookup %s on %s: validate id: %w", id, n.cfg.Name, err)
	}
	if err := n.lock(ctx); err != nil {
		return netip.Addr{}, fmt.Errorf("cni lookup %s on %s: wait for plugin lock: %w", id, n.cfg.Name, err)
	}
	defer n.unlock()
	if ok, err := netlab.NetnsExists(name); err != nil {
		return netip.Addr{}, fmt.Errorf("cni lookup %s on %s: %w", id, n.cfg.Name, err)
	} else if !ok {
		return netip.Addr{}, fmt.Errorf("cni lookup %s on %s: netns %s missing: %w", id, n.cfg.Name, name, ErrNotAttached)
	}
	ip, err := n.cachedIP(id)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("cni lookup %s on %s: %w", id, n.cfg.Name, err)
	}
	if !ip.IsValid() {
		return netip.Addr{}, fmt.Errorf("cni lookup %s on %s: %w", id, n.cfg.Name, ErrNotAttached)
	}
	return ip, nil
}

// detach runs DEL with the cached configuration if there is one, else with
// the plain chain (which still releases the IPAM lease). Without a
// namespace the plugins are given none, which they take as "only release".
func (n *Network) detach(ctx context.Context, id string) error {
	name, _ := n.netnsName(id)
	path := ""
	if ok, err := netlab.NetnsExists(name); err != nil {
		return err
	} else if ok {
		path = netlab.NetnsPath(name)
	}
	list, rt, err := n.cached(id, path)
	if err != nil || list == nil {
		// No (usable) cache: DEL what this config would have made.
		list, rt = n.plain, n.runtimeConf(id, path)
	}
	if err := n.cni.DelNetworkList(ctx, list, rt); err != nil {
		return err
	}
	return nil
}

// cached returns the configuration and runtime arguments libcni stored at
// ADD time, or a nil list when there are none.
func (n *Network) cached(id, netnsPath string) (*libcni.NetworkConfigList, *libcni.RuntimeConf, error) {
	raw, rt, err := n.cni.GetNetworkListCachedConfig(n.plain, n.runtimeConf(id, netnsPath))
	if err != nil {
		return nil, nil, fmt.Errorf("read cached config: %w", err)
	}
	if raw == nil {
		return nil, nil, nil
	}
	list, err := libcni.ConfListFromBytes(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("parse cached config: %w", err)
	}
	rt.NetNS = netnsPath
	return list, rt, nil
}

// cachedIP is the container address in the cached ADD result, or the zero
// Addr when nothing is cached.
func (n *Network) cachedIP(id string) (netip.Addr, error) {
	res, err := n.cni.GetNetworkListCachedResult(n.plain, n.runtimeConf(id, ""))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("read cached result: %w", err)
	}
	if res == nil {
		return netip.Addr{}, nil
	}
	return resultIP(res)
}

func (n *Network) runtimeConf(id, netnsPath string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: id, NetNS: netnsPath, IfName: containerIfName}
}

func (n *Network) netnsName(id string) (string, error) {
	if err := utils.ValidateContainerID(id); err != nil {
		return "", err
	}
	name := n.cfg.NetnsPrefix + id
	if err := netlab.ValidateNetnsName(name); err != nil {
		return "", err
	}
	return name, nil
}

func (n *Network) checkPortmap() error {
	if _, err := invoke.FindInPath("portmap", n.cfg.PluginDirs); err != nil {
		return fmt.Errorf("find plugin \"portmap\" in %v: %w", n.cfg.PluginDirs, err)
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		return fmt.Errorf("portmap needs iptables, which is not installed: %w", err)
	}
	return nil
}

func (n *Network) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case n.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (n *Network) unlock() { <-n.sem }

func portMappingArgs(ports []PortMapping) []map[string]any {
	out := make([]map[string]any, len(ports))
	for i, p := range ports {
		out[i] = map[string]any{"hostPort": p.HostPort, "containerPort": p.ContainerPort, "protocol": p.Protocol}
	}
	return out
}

// resultIP picks the container's address from an ADD result: the first
// IPv4 address on an interface inside a sandbox, else the first IPv4.
func resultIP(res types.Result) (netip.Addr, error) {
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("convert result: %w", err)
	}
	var first netip.Addr
	for _, ipc := range r.IPs {
		a, ok := netip.AddrFromSlice(ipc.Address.IP.To4())
		if !ok {
			continue
		}
		if ipc.Interface != nil && *ipc.Interface >= 0 && *ipc.Interface < len(r.Interfaces) &&
			r.Interfaces[*ipc.Interface].Sandbox != "" {
			return a, nil
		}
		if !first.IsValid() {
			first = a
		}
	}
	if !first.IsValid() {
		return netip.Addr{}, errors.New("result has no IPv4 address")
	}
	return first, nil
}

func bringUpLoopback(netnsPath string) error {
	ns, err := netns.GetFromPath(netnsPath)
	if err != nil {
		return fmt.Errorf("open %s: %w", netnsPath, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", netnsPath, err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo in %s: %w", netnsPath, err)
	}
	if lo.Attrs().Flags&net.FlagUp != 0 {
		return nil
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up in %s: %w", netnsPath, err)
	}
	return nil
}
