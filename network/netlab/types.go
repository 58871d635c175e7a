package netlab

import "net/netip"

// RouteProtocol marks the routes SyncRoutes owns (rtnetlink's protocol
// field; /etc/iproute2/rt_protos calls unknown numbers by their value).
// Routes of any other protocol are never touched by SyncRoutes.
const RouteProtocol = 201

// Node is a lab node: a network namespace whose eth0 is one end of a veth
// pair; the other end, HostVeth, is in the caller's namespace and enslaved
// to Bridge.
type Node struct {
	Netns    string       // namespace name, pinned at /run/netns/Netns
	HostVeth string       // host end of the veth, at most 15 bytes
	Bridge   string       // the lab bridge HostVeth is enslaved to
	Addr     netip.Prefix // address of eth0 inside the node, e.g. 10.100.0.2/24
}

// Route is a host-gw route: Dst (another node's pod subnet) via that
// node's address, which must be on a directly connected network.
type Route struct {
	Dst netip.Prefix
	Via netip.Addr
}
