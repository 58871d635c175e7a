// Package netlab is flotilla's netlink layer: named network namespaces,
// the lab's bridge and nodes, fault injection, and the two things an agent
// programs in its node's namespace, service VIPs and host-gw routes.
//
// Namespaces (like `ip netns add/del`; pinned at /run/netns/NAME, which is
// made a shared mount):
//
//	CreateNetns(name) error          create, or reuse an existing one
//	DeleteNetns(name) error          absent is success
//	NetnsPath(name) string
//	NetnsExists(name) (bool, error)
//	ListNetns(prefix) ([]string, error)
//	Do(name, fn func() error) error  run fn on a locked OS thread inside name
//
// Lab host side (everything is idempotent):
//
//	EnsureBridge(name, addr)         bridge, up, with addr (also usable inside a node for flotilla0)
//	DeleteLink(name)                 absent is success
//	SetLinkAlias(name, alias) / LinkAlias(name)
//	                                 a link's alias: a lab marks its bridge with its owner
//	AddUnreachable(dst, owner) / DeleteUnreachable(dst, owner)
//	                                 `unreachable DST metric OWNER`, so no lab packet for the
//	                                 cluster CIDR or VIP range can follow the default route off
//	                                 the machine; each lab has its own (the metric), and
//	                                 removes only its own
//	AddNode(Node) / RemoveNode(Node) a node: netns with eth0 <-> HostVeth on the lab bridge,
//	                                 lo and eth0 up, ip_forward=1, no default route
//	Partition(hostVeth) / Heal(hostVeth)
//	                                 cut / restore a node by setting its host veth down / up
//
// Agent side, called in the node's own namespace:
//
//	SyncVIPs(dummy, vips)            the dummy interface holds exactly vips, as /32 (/128)
//	SyncRoutes([]Route)              the routes of protocol RouteProtocol (201) are exactly these
//
// Every function other than Do acts on the namespace of the calling thread
// (the process's own, unless called inside Do); AddNode reaches into the
// node's namespace itself. Interface names are checked against Linux's
// 15-byte limit before anything is changed.
//
// The package must not decide anything: which subnets, VIPs and routes a
// node has comes from its callers (the agent, the lab launcher). It must
// not touch routes, addresses or links it does not own: SyncRoutes only
// changes protocol-201 routes, SyncVIPs only its dummy interface,
// DeleteUnreachable only its owner's route. It never
// adds a default route or NAT, so nothing it builds can send a packet to an
// address off the machine. Only Linux is supported; elsewhere every
// function returns ErrUnsupported.
package netlab
