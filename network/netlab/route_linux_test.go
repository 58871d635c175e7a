//go:build linux

package netlab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"flotilla/internal/testutil"
)

func TestAddUnreachableInstallsAnUnreachableRoute(t *testing.T) {
	testutil.RequireRoot(t, "network namespaces and netlink")
	ns := testNetns(t, "unreach")
	dst := netip.MustParsePrefix("10.200.0.0/16")
	inNetns(t, ns, func() error {
		for i := 0; i < 2; i++ {
			if err := AddUnreachable(dst, 7); err != nil {
				return fmt.Errorf("AddUnreachable #%d: %w", i+1, err)
			}
		}
		routes, err := routesTo(dst)
		if err != nil {
			return err
		}
		if len(routes) != 1 || routes[0].Type != unix.RTN_UNREACHABLE {
			return fmt.Errorf("routes to %s = %v, want one of type unreachable", dst, routes)
		}
		// The kernel refuses the lookup itself: no packet is ever built.
		if _, err := netlink.RouteGet(net.ParseIP("10.200.5.5")); !errors.Is(err, unix.EHOSTUNREACH) {
			return fmt.Errorf("route get 10.200.5.5 = %v, want EHOSTUNREACH", err)
		}
		for i := 0; i < 2; i++ {
			if err := DeleteUnreachable(dst, 7); err != nil {
				return fmt.Errorf("DeleteUnreachable #%d: %w", i+1, err)
			}
		}
		if routes, err = routesTo(dst); err != nil || len(routes) != 0 {
			return fmt.Errorf("routes to %s after delete = %v, %v", dst, routes, err)
		}
		if err := AddUnreachable(netip.MustParsePrefix("10.200.0.1/16"), 7); err == nil {
			return errors.New("AddUnreachable accepted a prefix with host bits")
		}
		return nil
	})
}

// Two labs' unreachable routes to the same block are two routes, one per
// owner (metric): removing one lab's leaves the other's, and the block
// stays unreachable until the last owner removes its own.
func TestUnreachableRoutesOfTwoOwnersAreApart(t *testing.T) {
	testutil.RequireRoot(t, "network namespaces and netlink")
	ns := testNetns(t, "unreach2")
	dst := netip.MustParsePrefix("10.200.0.0/16")
	unreachable := func() error {
		if _, err := netlink.RouteGet(net.ParseIP("10.200.1.3")); !errors.Is(err, unix.EHOSTUNREACH) {
			return fmt.Errorf("route get 10.200.1.3 = %v, want EHOSTUNREACH", err)
		}
		return nil
	}
	metrics := func() ([]int, error) {
		routes, err := routesTo(dst)
		var out []int
		for _, r := range routes {
			if r.Type == unix.RTN_UNREACHABLE {
				out = append(out, r.Priority)
			}
		}
		sort.Ints(out)
		return out, err
	}
	inNetns(t, ns, func() error {
		for _, owner := range []uint32{1001, 2002, 1001} {
			if err := AddUnreachable(dst, owner); err != nil {
				return err
			}
		}
		if m, err := metrics(); err != nil || fmt.Sprint(m) != "[1001 2002]" {
			return fmt.Errorf("unreachable routes to %s have metrics %v (%v), want one per owner: [1001 2002]", dst, m, err)
		}
		if err := DeleteUnreachable(dst, 1001); err != nil {
			return err
		}
		if m, err := metrics(); err != nil || fmt.Sprint(m) != "[2002]" {
			return fmt.Errorf("after owner 1001 removed its route: metrics %v (%v), want [2002]", m, err)
		}
		if err := unreachable(); err != nil {
			return fmt.Errorf("after owner 1001 removed its route: %w", err)
		}
		// Absent is success, and touches no one else's.
		if err := DeleteUnreachable(dst, 1001); err != nil {
			return err
		}
		if err := unreachable(); err != nil {
			return err
		}
		return DeleteUnreachable(dst, 2002)
	})
}

// routeTable renders the main table's non-kernel routes as "DST via GW proto P".
func routeTable(t *testing.T) []string {
	t.Helper()
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range routes {
		if r.Protocol == unix.RTPROT_KERNEL {
			continue
		}
		out = append(out, fmt.Sprintf("%s via %s proto %d", r.Dst, r.Gw, r.Protocol))
	}
	sort.Strings(out)
	return out
}

func TestSyncRoutesChangesOnlyItsOwnRoutes(t *testing.T) {
	testutil.RequireRoot(t, "network namespaces and netlink")
	ns := testNetns(t, "routes")
	r := func(dst, via string) Route {
		return Route{Dst: netip.MustParsePrefix(dst), Via: netip.MustParseAddr(via)}
	}
	check := func(step string, want ...string) {
		t.Helper()
		var got []string
		inNetns(t, ns, func() error { got = routeTable(t); return nil })
		sort.Strings(want)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("%s: routes\n  %s\nwant\n  %s", step, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
	inNetns(t, ns, func() error {
		// An on-link network for the gateways, and a route someone else owns.
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "fltestr0"}, PeerName: "fltestr1"}); err != nil {
			return err
		}
		for _, name := range []string{"fltestr1", "fltestr0"} {
			if err := netlink.LinkSetUp(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}}); err != nil {
				return err
			}
		}
		link, err := netlink.LinkByName("fltestr0")
		if err != nil {
			return err
		}
		if err := ensureAddr(link, netip.MustParsePrefix("10.205.0.1/24")); err != nil {
			return err
		}
		_, manual, _ := net.ParseCIDR("10.99.0.0/16")
		return netlink.RouteAdd(&netlink.Route{Dst: manual, Gw: net.ParseIP("10.205.0.254"), Protocol: unix.RTPROT_STATIC})
	})
	manual := "10.99.0.0/16 via 10.205.0.254 proto 4"

	inNetns(t, ns, func() error {
		return SyncRoutes([]Route{r("10.210.1.0/24", "10.205.0.2"), r("10.210.2.0/24", "10.205.0.3")})
	})
	check("add", manual, "10.210.1.0/24 via 10.205.0.2 proto 201", "10.210.2.0/24 via 10.205.0.3 proto 201")

	inNetns(t, ns, func() error { return SyncRoutes([]Route{r("10.210.1.0/24", "10.205.0.4")}) })
	check("replace gateway, drop stale", manual, "10.210.1.0/24 via 10.205.0.4 proto 201")

	inNetns(t, ns, func() error { return SyncRoutes([]Route{r("10.210.1.0/24", "10.205.0.4")}) })
	check("unchanged", manual, "10.210.1.0/24 via 10.205.0.4 proto 201")

	err := Do(ns, func() error {
		return SyncRoutes([]Route{r("10.99.0.0/16", "10.205.0.5"), r("10.210.3.0/24", "10.205.0.6")})
	})
	if err == nil || !strings.Contains(err.Error(), "not ours") {
		t.Fatalf("SyncRoutes over a foreign route = %v, want an error saying it is not ours", err)
	}
	check("foreign route kept, others synced", manual, "10.210.3.0/24 via 10.205.0.6 proto 201")

	inNetns(t, ns, func() error { return SyncRoutes(nil) })
	check("empty", manual)
}
