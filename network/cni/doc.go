// Package cni attaches containers to the node's bridge network through
// libcni and Debian's reference plugins (containernetworking-plugins).
//
// A Network is one node's pod subnet behind one bridge (flotilla0): the
// plugin chain is bridge (gateway on the bridge at the subnet's first
// address, hairpin on, no masquerading) with host-local IPAM, plus portmap
// when a container asks for host ports. Each container gets a named network
// namespace, /run/netns/NETNSPREFIX+ID, created by Setup and deleted by
// Remove; its loopback is brought up with netlink.
//
// Setup runs DEL before ADD, so retrying it after a failure or an agent
// crash is safe, and it asks host-local for the address the container had
// before, so a retry keeps the IP when it can. Remove uses the configuration
// libcni cached at ADD time (so portmap removes the rules it made) and
// treats a missing namespace or attachment as success. Plugin calls are
// serialised per Network. Everything the plugins store (IPAM leases,
// libcni's result cache) lives under Config.DataDir, never under
// /var/lib/cni, because several lab nodes share one host's filesystem.
//
// The plugins are executed in the calling thread's network namespace: that
// namespace gets the bridge. A lab node (a network namespace of its own)
// calls Setup, Remove and Check inside netlab.Do.
//
// The package owns the CNI configuration and the container namespaces. It
// must not route between nodes, own service VIPs (network/netlab does) or
// masquerade: no packet of a container is NATed to leave the machine.
// Only Linux is supported; elsewhere New returns an error.
package cni
