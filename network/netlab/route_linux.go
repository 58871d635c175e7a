//go:build linux

package netlab

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// AddUnreachable installs `unreachable DST metric OWNER` in the main
// table of the calling thread's namespace, so traffic to any address in dst
// that has no more specific route is refused locally instead of following
// the default route off the machine. The metric says whose route it is:
// each owner (a lab) has its own route to dst, and a route of the same
// destination with another metric, or another owner's, is left alone. Its
// own route present already is success.
func AddUnreachable(dst netip.Prefix, owner uint32) error {
	if err := validPrefix(dst); err != nil {
		return fmt.Errorf("add unreachable route: %w", err)
	}
	existing, err := routesTo(dst)
	if err != nil {
		return fmt.Errorf("add unreachable route %s: %w", dst, err)
	}
	for _, r := range existing {
		if r.Type == unix.RTN_UNREACHABLE && uint32(r.Priority) == owner {
			return nil
		}
	}
	r := &netlink.Route{Dst: toIPNet(dst), Type: unix.RTN_UNREACHABLE, Table: unix.RT_TABLE_MAIN, Protocol: unix.RTPROT_STATIC, Priority: int(owner)}
	if err := netlink.RouteAdd(r); err != nil {
		return fmt.Errorf("add unreachable route %s metric %d: %w", dst, owner, err)
	}
	return nil
}

// DeleteUnreachable removes owner's unreachable route for dst; absent is
// success. Other owners' unreachable routes to dst, and routes of other
// types, are left alone.
func DeleteUnreachable(dst netip.Prefix, owner uint32) error {
	if err := validPrefix(dst); err != nil {
		return fmt.Errorf("delete unreachable route: %w", err)
	}
	existing, err := routesTo(dst)
	if err != nil {
		return fmt.Errorf("delete unreachable route %s: %w", dst, err)
	}
	for _, r := range existing {
		if r.Type != unix.RTN_UNREACHABLE || uint32(r.Priority) != owner {
			continue
		}
		if err := netlink.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("delete unreachable route %s metric %d: %w", dst, owner, err)
		}
	}
	return nil
}

// SyncRoutes makes the routes of protocol RouteProtocol in the main table
// of the calling thread's namespace exactly routes: it adds missing ones,
// replaces those whose gateway changed and deletes the rest of its own.
// Routes of other protocols are never changed; a wanted destination that
// one of them already holds is reported as an error (after the other
// routes are synced).
func SyncRoutes(routes []Route) error {
	want := make(map[netip.Prefix]netip.Addr, len(routes))
	for _, r := range routes {
		if err := validPrefix(r.Dst); err != nil {
			return fmt.Errorf("sync routes: %w", err)
		}
		if !r.Via.IsValid() || r.Via.Is4() != r.Dst.Addr().Is4() {
			return fmt.Errorf("sync routes: route to %s: gateway %q is not an address of the same family", r.Dst, r.Via)
		}
		if prev, dup := want[r.Dst]; dup && prev != r.Via {
			return fmt.Errorf("sync routes: two gateways for %s: %s and %s", r.Dst, prev, r.Via)
		}
		want[r.Dst] = r.Via.Unmap()
	}

	all, err := listRetry(func() ([]netlink.Route, error) {
		return netlink.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return fmt.Errorf("sync routes: list routes: %w", err)
	}
	ours := map[netip.Prefix]netlink.Route{}
	foreign := map[netip.Prefix]netlink.Route{}
	for _, r := range all {
		dst, ok := fromIPNet(r.Dst)
		if !ok { // the default route has no Dst
			continue
		}
		if r.Protocol == RouteProtocol && r.Type == unix.RTN_UNICAST {
			ours[dst] = r
		} else if _, wanted := want[dst]; wanted {
			foreign[dst] = r
		}
	}

	var errs []error
	for dst, r := range ours {
		if _, ok := want[dst]; ok {
			continue
		}
		if err := netlink.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("delete stale route to %s: %w", dst, err))
		}
	}
	dsts := make([]netip.Prefix, 0, len(want))
	for dst := range want {
		dsts = append(dsts, dst)
	}
	sort.Slice(dsts, func(i, j int) bool { return dsts[i].String() < dsts[j].String() })
	for _, dst := range dsts {
		via := want[dst]
		if r, ok := ours[dst]; ok {
			if gw, _ := netip.AddrFromSlice(r.Gw); gw.Unmap() == via {
				continue
			}
		}
		if r, ok := foreign[dst]; ok {
			errs = append(errs, fmt.Errorf("route to %s via %s: destination already routed by protocol %s, not ours (%d)", dst, via, r.Protocol, RouteProtocol))
			continue
		}
		r := &netlink.Route{Dst: toIPNet(dst), Gw: via.AsSlice(), Table: unix.RT_TABLE_MAIN, Protocol: RouteProtocol}
		if err := netlink.RouteReplace(r); err != nil {
			errs = append(errs, fmt.Errorf("install route to %s via %s: %w", dst, via, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sync routes: %w", err)
	}
	return nil
}

// routesTo lists the main-table routes whose destination is exactly dst.
func routesTo(dst netip.Prefix) ([]netlink.Route, error) {
	all, err := listRetry(func() ([]netlink.Route, error) {
		return netlink.RouteListFiltered(family(dst.Addr()), &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	var out []netlink.Route
	for _, r := range all {
		if p, ok := fromIPNet(r.Dst); ok && p == dst {
			out = append(out, r)
		}
	}
	return out, nil
}

func validPrefix(p netip.Prefix) error {
	if !p.IsValid() {
		return errors.New("destination prefix is not set")
	}
	if p.Masked() != p {
		return fmt.Errorf("destination %s has host bits set; did you mean %s", p, p.Masked())
	}
	return nil
}
