//go:build linux

package netlab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// SyncVIPs makes the addresses on the dummy interface called dummy (in the
// calling thread's namespace) exactly vips, each as a host address (/32 or
// /128). The interface is created and set up if needed; addresses of other
// prefix lengths on it are removed too, since it is flotilla's. On a kernel
// without the dummy driver (CONFIG_DUMMY unset, as in the lab's Firecracker
// VMs) the interface is a bridge without ports instead: it holds local
// addresses the same way and, having no ports, sends nothing anywhere.
func SyncVIPs(dummy string, vips []netip.Addr) error {
	if err := ValidateInterfaceName(dummy); err != nil {
		return fmt.Errorf("sync vips: %w", err)
	}
	want := make(map[netip.Prefix]bool, len(vips))
	for _, v := range vips {
		if !v.IsValid() {
			return fmt.Errorf("sync vips on %s: invalid address in %v", dummy, vips)
		}
		v = v.Unmap()
		want[netip.PrefixFrom(v, v.BitLen())] = true
	}
	link, err := ensureVIPLink(dummy)
	if err != nil {
		return fmt.Errorf("sync vips on %s: %w", dummy, err)
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		if err := netlink.LinkSetUp(link); err != nil {
			return fmt.Errorf("sync vips on %s: set up: %w", dummy, err)
		}
	}
	have, err := listRetry(func() ([]netlink.Addr, error) { return netlink.AddrList(link, netlink.FAMILY_ALL) })
	if err != nil {
		return fmt.Errorf("sync vips on %s: list addresses: %w", dummy, err)
	}
	present := map[netip.Prefix]bool{}
	for _, a := range have {
		p, ok := fromIPNet(a.IPNet)
		if !ok {
			continue
		}
		if p.Addr().Is6() && p.Addr().IsLinkLocalUnicast() {
			continue // the kernel's own fe80:: address
		}
		if want[p] {
			present[p] = true
			continue
		}
		if err := netlink.AddrDel(link, &a); err != nil {
			return fmt.Errorf("sync vips on %s: remove %s: %w", dummy, p, err)
		}
	}
	for p := range want {
		if present[p] {
			continue
		}
		if err := netlink.AddrAdd(link, toNetlinkAddr(p)); err != nil {
			return fmt.Errorf("sync vips on %s: add %s: %w", dummy, p, err)
		}
	}
	return nil
}

// ensureVIPLink returns the VIP interface, creating a dummy, or a portless
// bridge where the kernel has no dummy driver.
func ensureVIPLink(name string) (netlink.Link, error) {
	link, err := linkByName(name)
	if err != nil {
		return nil, fmt.Errorf("look up: %w", err)
	}
	if link == nil {
		err := netlink.LinkAdd(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: name}})
		if errors.Is(err, unix.EOPNOTSUPP) {
			err = netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}})
		}
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("create: %w", err)
		}
		if link, err = netlink.LinkByName(name); err != nil {
			return nil, fmt.Errorf("look up after create: %w", err)
		}
	}
	switch link.Type() {
	case "dummy":
	case "bridge":
		ports, err := listRetry(func() ([]netlink.Link, error) { return netlink.LinkList() })
		if err != nil {
			return nil, fmt.Errorf("list links: %w", err)
		}
		for _, p := range ports {
			if p.Attrs().MasterIndex == link.Attrs().Index {
				return nil, fmt.Errorf("%s is a bridge with port %s, not a VIP interface", name, p.Attrs().Name)
			}
		}
	default:
		return nil, fmt.Errorf("%s exists as a %s, want a dummy", name, link.Type())
	}
	return link, nil
}
