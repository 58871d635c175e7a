//go:build linux

package netlab

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"flotilla/internal/testutil"
)

func vipsOn(t *testing.T, dummy string) []string {
	t.Helper()
	link, err := netlink.LinkByName(dummy)
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range addrs {
		out = append(out, a.IPNet.String())
	}
	slices.Sort(out)
	return out
}

func TestSyncVIPsAddsAndRemovesHostAddresses(t *testing.T) {
	testutil.RequireRoot(t, "network namespaces and netlink")
	ns := testNetns(t, "vips")
	const dummy = "fltvip0"
	ip := netip.MustParseAddr
	steps := []struct {
		vips []netip.Addr
		want []string
	}{
		{[]netip.Addr{ip("10.96.0.10"), ip("10.96.0.11")}, []string{"10.96.0.10/32", "10.96.0.11/32"}},
		{[]netip.Addr{ip("10.96.0.11"), ip("10.96.0.12")}, []string{"10.96.0.11/32", "10.96.0.12/32"}},
		{[]netip.Addr{ip("10.96.0.11"), ip("10.96.0.12")}, []string{"10.96.0.11/32", "10.96.0.12/32"}},
		{nil, nil},
	}
	for i, s := range steps {
		inNetns(t, ns, func() error {
			if err := SyncVIPs(dummy, s.vips); err != nil {
				return err
			}
			if got := vipsOn(t, dummy); !slices.Equal(got, s.want) {
				return fmt.Errorf("step %d: addresses on %s = %v, want %v", i, dummy, got, s.want)
			}
			link, err := netlink.LinkByName(dummy)
			if err != nil {
				return err
			}
			// A portless bridge where the kernel has no dummy driver.
			if (link.Type() != "dummy" && link.Type() != "bridge") || link.Attrs().Flags&net.FlagUp == 0 {
				return fmt.Errorf("%s is a %s, up=%v; want an up dummy", dummy, link.Type(), link.Attrs().Flags&net.FlagUp != 0)
			}
			return nil
		})
	}
	if err := Do(ns, func() error { return SyncVIPs("fltest-too-long-name", nil) }); err == nil {
		t.Fatal("SyncVIPs accepted a 20-byte interface name")
	}
}

func TestEnsureBridgeIsIdempotentAndRefusesOtherLinkTypes(t *testing.T) {
	testutil.RequireRoot(t, "network namespaces and netlink")
	ns := testNetns(t, "bridge")
	addr := netip.MustParsePrefix("10.206.0.1/24")
	inNetns(t, ns, func() error {
		for i := 0; i < 2; i++ {
			if err := EnsureBridge("fltestbr0", addr); err != nil {
				return err
			}
		}
		if got := vipsOn(t, "fltestbr0"); !slices.Equal(got, []string{addr.String()}) {
			return fmt.Errorf("bridge addresses = %v, want %s", got, addr)
		}
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "fltestv0"}, PeerName: "fltestv1"}
		if err := netlink.LinkAdd(veth); err != nil {
			return err
		}
		if err := EnsureBridge("fltestv0", netip.Prefix{}); err == nil {
			return fmt.Errorf("EnsureBridge accepted an existing veth")
		}
		for i := 0; i < 2; i++ {
			if err := DeleteLink("fltestbr0"); err != nil {
				return err
			}
		}
		return nil
	})
}

func TestAVIPAcceptsConnectionsInItsNamespace(t *testing.T) {
	testutil.RequireRoot(t, "network namespaces and netlink")
	ns := testNetns(t, "vipdial")
	vip := netip.MustParseAddr("10.96.0.20")
	inNetns(t, ns, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetUp(lo); err != nil {
			return err
		}
		return SyncVIPs("fltvip0", []netip.Addr{vip})
	})
	srv := listenIn(t, ns, netip.AddrPortFrom(vip, 0), "vip")
	testutil.Eventually(t, 5*time.Second, "dial the VIP", func() error {
		got, err := dialFrom(ns, srv, time.Second)
		if err == nil && got != "vip" {
			err = fmt.Errorf("got %q", got)
		}
		return err
	})
}
