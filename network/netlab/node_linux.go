//go:build linux

package netlab

import (
	"fmt"
	"net"
	"os"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// AddNode creates or completes a lab node: namespace n.Netns (reused if
// present), a veth pair n.HostVeth (in the calling thread's namespace,
// enslaved to n.Bridge and up) <-> eth0 (inside, up, with n.Addr), lo up
// and IPv4 forwarding on inside. It installs no default route, so the node
// reaches only what is routed to it explicitly. n.Bridge must exist. Safe
// to call again; a half-made node is completed.
func AddNode(n Node) error {
	if err := n.validate(); err != nil {
		return fmt.Errorf("add node %s: %w", n.Netns, err)
	}
	if err := addNode(n); err != nil {
		return fmt.Errorf("add node %s: %w", n.Netns, err)
	}
	return nil
}

func addNode(n Node) error {
	br, err := linkByName(n.Bridge)
	if err != nil {
		return fmt.Errorf("look up bridge %s: %w", n.Bridge, err)
	}
	if br == nil {
		return fmt.Errorf("bridge %s does not exist (EnsureBridge first)", n.Bridge)
	}
	if br.Type() != "bridge" {
		return fmt.Errorf("%s is a %s, not a bridge", n.Bridge, br.Type())
	}
	if err := CreateNetns(n.Netns); err != nil {
		return err
	}
	ns, err := netns.GetFromPath(NetnsPath(n.Netns))
	if err != nil {
		return fmt.Errorf("open netns: %w", err)
	}
	defer ns.Close()
	inside, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in netns: %w", err)
	}
	defer inside.Close()

	host, err := linkByName(n.HostVeth)
	if err != nil {
		return fmt.Errorf("look up %s: %w", n.HostVeth, err)
	}
	if host != nil && host.Type() != "veth" {
		return fmt.Errorf("%s exists as a %s, want a veth", n.HostVeth, host.Type())
	}
	eth0, err := inside.LinkByName("eth0")
	if isNotFound(err) {
		eth0 = nil
	} else if err != nil {
		return fmt.Errorf("look up eth0: %w", err)
	}
	// A pair is only reused when both ends are where they should be and
	// are each other's peer; anything else is rebuilt.
	if host != nil && (eth0 == nil || !peers(host, eth0)) {
		if err := netlink.LinkDel(host); err != nil && !isNotFound(err) {
			return fmt.Errorf("delete mismatched %s: %w", n.HostVeth, err)
		}
		host = nil
	}
	if host == nil {
		if eth0 != nil {
			if err := inside.LinkDel(eth0); err != nil && !isNotFound(err) {
				return fmt.Errorf("delete stray eth0: %w", err)
			}
		}
		veth := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: n.HostVeth, MTU: br.Attrs().MTU},
			PeerName:      "eth0",
			PeerNamespace: netlink.NsFd(int(ns)),
		}
		if err := netlink.LinkAdd(veth); err != nil {
			return fmt.Errorf("create veth %s <-> eth0: %w", n.HostVeth, err)
		}
		if host, err = netlink.LinkByName(n.HostVeth); err != nil {
			return fmt.Errorf("look up %s after create: %w", n.HostVeth, err)
		}
		if eth0, err = inside.LinkByName("eth0"); err != nil {
			return fmt.Errorf("look up eth0 after create: %w", err)
		}
	}
	if host.Attrs().MasterIndex != br.Attrs().Index {
		if err := netlink.LinkSetMaster(host, br); err != nil {
			return fmt.Errorf("enslave %s to %s: %w", n.HostVeth, n.Bridge, err)
		}
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("set %s up: %w", n.HostVeth, err)
	}
	if err := inside.AddrReplace(eth0, toNetlinkAddr(n.Addr)); err != nil {
		return fmt.Errorf("add %s to eth0: %w", n.Addr, err)
	}
	for _, l := range []string{"lo", "eth0"} {
		link, err := inside.LinkByName(l)
		if err != nil {
			return fmt.Errorf("look up %s: %w", l, err)
		}
		if link.Attrs().Flags&net.FlagUp == 0 {
			if err := inside.LinkSetUp(link); err != nil {
				return fmt.Errorf("set %s up: %w", l, err)
			}
		}
	}
	// /proc/sys/net is the namespace of the thread that opens it.
	if err := Do(n.Netns, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644)
	}); err != nil {
		return fmt.Errorf("enable ip_forward: %w", err)
	}
	return nil
}

// peers reports whether host (in this namespace) and eth0 (in the node's)
// are the two ends of one veth pair: each names the other as its link.
func peers(host, eth0 netlink.Link) bool {
	return host.Attrs().ParentIndex == eth0.Attrs().Index && eth0.Attrs().ParentIndex == host.Attrs().Index
}

// RemoveNode deletes the node's host veth (which takes eth0 with it) and
// its namespace. An absent node, or an absent part of one, is success.
func RemoveNode(n Node) error {
	if err := ValidateInterfaceName(n.HostVeth); err != nil {
		return fmt.Errorf("remove node %s: %w", n.Netns, err)
	}
	if err := DeleteLink(n.HostVeth); err != nil {
		return fmt.Errorf("remove node %s: %w", n.Netns, err)
	}
	if err := DeleteNetns(n.Netns); err != nil {
		return fmt.Errorf("remove node %s: %w", n.Netns, err)
	}
	return nil
}

// Partition cuts a node off by setting its host veth down: the node's eth0
// loses carrier and nothing passes either way until Heal.
func Partition(hostVeth string) error {
	if err := setVeth(hostVeth, false); err != nil {
		return fmt.Errorf("partition %s: %w", hostVeth, err)
	}
	return nil
}

// Heal undoes Partition by setting the host veth up again.
func Heal(hostVeth string) error {
	if err := setVeth(hostVeth, true); err != nil {
		return fmt.Errorf("heal %s: %w", hostVeth, err)
	}
	return nil
}

func setVeth(name string, up bool) error {
	if err := ValidateInterfaceName(name); err != nil {
		return err
	}
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("look up: %w", err)
	}
	if link.Type() != "veth" {
		return fmt.Errorf("%s is a %s, not a node's veth", name, link.Type())
	}
	if up {
		err = netlink.LinkSetUp(link)
	} else {
		err = netlink.LinkSetDown(link)
	}
	if err != nil {
		return fmt.Errorf("set up=%t: %w", up, err)
	}
	return nil
}
