package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"

	"github.com/spf13/pflag"

	"flotilla/agent"
	"flotilla/api"
	"flotilla/network/cni"
	"flotilla/network/netlab"
	"flotilla/runtime/containerd"
	"flotilla/scenarios/lab"
)

// realNodeFlags are the flags of an agent on a real node (or a containerd
// lab's network namespace): containerd, CNI and the node's interfaces.
type realNodeFlags struct {
	socket    string
	namespace string
	cniDirs   []string
	vipDevice string
}

func (r *realNodeFlags) flags(f *pflag.FlagSet) {
	f.StringVar(&r.socket, "containerd-socket", lab.DefaultContainerdSocket(), "containerd's socket, with --runtime containerd ($"+lab.ContainerdSocketEnv+")")
	f.StringVar(&r.namespace, "containerd-namespace", "", "containerd namespace of this node's containers (default flotilla-NODE); its containers' network namespaces are then NAMESPACE.ID (a lab gives each node its own)")
	f.StringSliceVar(&r.cniDirs, "cni-bin-dir", []string{"/usr/lib/cni", "/opt/cni/bin"}, "where the CNI plugins are (Debian's containernetworking-plugins: /usr/lib/cni)")
	f.StringVar(&r.vipDevice, "vip-interface", "flotilla-vip", "dummy interface that carries the services' VIPs, owned by this node's proxy")
}

// setup makes the node's network the agent's and returns the factory of
// its containerd runtime, which waits for the node's pod subnet.
func (r *realNodeFlags) setup(ctx context.Context, cfg *agent.Config) (agent.RuntimeFactory, error) {
	if cfg.Address == "" {
		host, _, err := net.SplitHostPort(cfg.HTTP)
		if ip, perr := netip.ParseAddr(host); err != nil || perr != nil || ip.IsUnspecified() {
			return nil, fmt.Errorf("--address: the node address other nodes reach it at is required with --runtime containerd when --http (%s) does not name one", cfg.HTTP)
		}
		cfg.Address = host
	}
	cfg.Network = nodeNetwork{vipDevice: r.vipDevice}
	dataDir, logger, dnsListen := cfg.DataDir, cfg.Logger, cfg.DNS
	return func(node *api.Node) (agent.Runtime, error) {
		subnet, err := netip.ParsePrefix(node.Subnet)
		if err != nil {
			return nil, fmt.Errorf("node %s has no pod subnet (%q): do the servers run with --cluster-cidr?", node.Name, node.Subnet)
		}
		// A namespace of its own also names the containers' network
		// namespaces: "." cannot be in a lab's or node's name, so one
		// lab's prefix is never the start of another's names.
		netnsPrefix := cni.NodeNetnsPrefix(node.Name)
		if r.namespace != "" {
			netnsPrefix = r.namespace + "."
		}
		network, err := cni.New(cni.Config{Subnet: subnet, PluginDirs: r.cniDirs, DataDir: filepath.Join(dataDir, "cni"),
			NetnsPrefix: netnsPrefix})
		if err != nil {
			return nil, err
		}
		return containerd.New(ctx, containerd.Config{Address: r.socket, Node: node.Name, Namespace: r.namespace, Network: network,
			StateDir: filepath.Join(dataDir, "containers"), DNS: containerDNS(dnsListen, network.Gateway()), Logger: logger})
	}, nil
}

// containerDNS is the nameserver containers get: the node's DNS server
// when it listens on port 53 of an address they can reach (its own, or
// every address, where the pod gateway reaches it).
func containerDNS(listen string, gateway netip.Addr) []string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port != "53" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	switch {
	case host == "" || (err == nil && ip.IsUnspecified()):
		return []string{gateway.String()}
	case err != nil || ip.IsLoopback():
		return nil
	}
	return []string{ip.String()}
}

// nodeNetwork is agent.NodeNetwork through netlink, in the agent's own
// network namespace.
type nodeNetwork struct{ vipDevice string }

func (n nodeNetwork) SetVIPs(vips []netip.Addr) error { return netlab.SyncVIPs(n.vipDevice, vips) }

func (n nodeNetwork) SetRoutes(routes []agent.PeerRoute) error {
	out := make([]netlab.Route, len(routes))
	for i, r := range routes {
		out[i] = netlab.Route{Dst: r.Subnet, Via: r.Via}
	}
	return netlab.SyncRoutes(out)
}
