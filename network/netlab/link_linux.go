//go:build linux

package netlab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// EnsureBridge makes sure a bridge called name exists in the calling
// thread's namespace, is up and has addr (if valid). Existing bridges and
// addresses are kept; another kind of link with that name is an error.
func EnsureBridge(name string, addr netip.Prefix) error {
	if err := ValidateInterfaceName(name); err != nil {
		return fmt.Errorf("ensure bridge: %w", err)
	}
	link, err := ensureLink(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}})
	if err != nil {
		return fmt.Errorf("ensure bridge %s: %w", name, err)
	}
	if addr.IsValid() {
		if err := ensureAddr(link, addr); err != nil {
			return fmt.Errorf("ensure bridge %s: %w", name, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("ensure bridge %s: set up: %w", name, err)
	}
	return nil
}

// DeleteLink deletes the link called name in the calling thread's
// namespace; an absent link is success.
func DeleteLink(name string) error {
	if err := ValidateInterfaceName(name); err != nil {
		return fmt.Errorf("delete link: %w", err)
	}
	link, err := linkByName(name)
	if err != nil {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	if link == nil {
		return nil
	}
	if err := netlink.LinkDel(link); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}

// SetLinkAlias sets the alias (ifalias, `ip link set NAME alias TEXT`) of
// the link called name in the calling thread's namespace: a lab marks its
// bridge with its owner there.
func SetLinkAlias(name, alias string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("set alias of %s: %w", name, err)
	}
	if err := netlink.LinkSetAlias(link, alias); err != nil {
		return fmt.Errorf("set alias of %s: %w", name, err)
	}
	return nil
}

// LinkAlias is the alias of the link called name; ok is false when there
// is no such link.
func LinkAlias(name string) (alias string, ok bool, err error) {
	link, err := linkByName(name)
	if err != nil || link == nil {
		return "", false, err
	}
	return link.Attrs().Alias, true, nil
}

// linkByName returns nil, nil when there is no such link.
func linkByName(name string) (netlink.Link, error) {
	link, err := netlink.LinkByName(name)
	if isNotFound(err) {
		return nil, nil
	}
	return link, err
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, errNoDevice)
}

// ensureLink returns the link named like want, creating it when missing;
// an existing link must be of the same type.
func ensureLink(want netlink.Link) (netlink.Link, error) {
	name := want.Attrs().Name
	link, err := linkByName(name)
	if err != nil {
		return nil, fmt.Errorf("look up: %w", err)
	}
	if link == nil {
		if err := netlink.LinkAdd(want); err != nil {
			return nil, fmt.Errorf("create %s: %w", want.Type(), err)
		}
		if link, err = netlink.LinkByName(name); err != nil {
			return nil, fmt.Errorf("look up after create: %w", err)
		}
	}
	if link.Type() != want.Type() {
		return nil, fmt.Errorf("exists as a %s, want a %s", link.Type(), want.Type())
	}
	return link, nil
}

// ensureAddr adds addr to link unless it is there already.
func ensureAddr(link netlink.Link, addr netip.Prefix) error {
	if err := netlink.AddrReplace(link, toNetlinkAddr(addr)); err != nil {
		return fmt.Errorf("add address %s: %w", addr, err)
	}
	return nil
}

func toNetlinkAddr(p netip.Prefix) *netlink.Addr {
	return &netlink.Addr{IPNet: toIPNet(p)}
}

func toIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func fromIPNet(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	ones, bits := n.Mask.Size()
	if bits == 0 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, ones), true
}

func family(a netip.Addr) int {
	if a.Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}
