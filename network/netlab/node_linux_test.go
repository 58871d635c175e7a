//go:build linux

package netlab

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"flotilla/internal/testutil"
)

func TestAddNodeTwiceIsIdempotent(t *testing.T) {
	l := newLab(t)
	n := l.node(1)
	l.addNode(n)
	inNetns(t, l.host, func() error { return AddNode(n) })

	inNetns(t, l.host, func() error {
		host, err := netlink.LinkByName(n.HostVeth)
		if err != nil {
			return err
		}
		br, err := netlink.LinkByName(l.bridge)
		if err != nil {
			return err
		}
		if host.Attrs().MasterIndex != br.Attrs().Index {
			return fmt.Errorf("%s not enslaved to %s", n.HostVeth, l.bridge)
		}
		if host.Attrs().Flags&net.FlagUp == 0 {
			return fmt.Errorf("%s is down", n.HostVeth)
		}
		return nil
	})
	inNetns(t, n.Netns, func() error {
		eth0, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		if eth0.Attrs().Flags&net.FlagUp == 0 {
			return errors.New("eth0 is down")
		}
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		if lo.Attrs().Flags&net.FlagUp == 0 {
			return errors.New("lo is down")
		}
		addrs, err := netlink.AddrList(eth0, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		if len(addrs) != 1 || addrs[0].IPNet.String() != n.Addr.String() {
			return fmt.Errorf("eth0 addresses = %v, want only %s", addrs, n.Addr)
		}
		routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, r := range routes {
			if r.Dst == nil || r.Dst.String() == "0.0.0.0/0" {
				return fmt.Errorf("node has a default route: %v", r)
			}
		}
		fwd, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
		if err != nil {
			return err
		}
		if string(bytes.TrimSpace(fwd)) != "1" {
			return fmt.Errorf("ip_forward = %q inside the node, want 1", fwd)
		}
		return nil
	})
	if got, err := ListNetns(n.Netns); err != nil || len(got) != 1 {
		t.Fatalf("ListNetns(%s) = %v, %v; want exactly one", n.Netns, got, err)
	}
}

func TestAddNodeRebuildsAMissingVeth(t *testing.T) {
	l := newLab(t)
	n := l.node(1)
	l.addNode(n)
	inNetns(t, l.host, func() error { return DeleteLink(n.HostVeth) })
	inNetns(t, l.host, func() error { return AddNode(n) })
	inNetns(t, n.Netns, func() error {
		_, err := netlink.LinkByName("eth0")
		return err
	})
}

func TestRemoveNodeToleratesAbsence(t *testing.T) {
	l := newLab(t)
	n := l.node(1)
	l.addNode(n)
	for i := 0; i < 2; i++ {
		inNetns(t, l.host, func() error { return RemoveNode(n) })
	}
	if ok, err := NetnsExists(n.Netns); err != nil || ok {
		t.Fatalf("NetnsExists after RemoveNode = %v, %v", ok, err)
	}
	inNetns(t, l.host, func() error {
		if _, err := netlink.LinkByName(n.HostVeth); err == nil {
			return fmt.Errorf("%s still exists", n.HostVeth)
		}
		return nil
	})
}

func TestNodeValidationRejectsLongInterfaceNames(t *testing.T) {
	n := Node{Netns: "fltest-x", HostVeth: "a-very-long-veth-name", Bridge: "br0", Addr: netip.MustParsePrefix("10.204.0.2/24")}
	if err := AddNode(n); err == nil {
		t.Fatal("AddNode accepted a 21-byte interface name")
	}
	n.HostVeth = "ok0"
	n.Addr = netip.MustParsePrefix("10.204.0.0/24")
	if err := AddNode(n); err == nil {
		t.Fatal("AddNode accepted a network address as the node address")
	}
}

func TestNodesOnTheLabBridgeReachEachOtherUntilPartitioned(t *testing.T) {
	l := newLab(t)
	a, b := l.node(1), l.node(2)
	l.addNode(a)
	l.addNode(b)
	srv := listenIn(t, b.Netns, netip.AddrPortFrom(b.Addr.Addr(), 0), "hello from b")

	reachable := func() error {
		got, err := dialFrom(a.Netns, srv, 500*time.Millisecond)
		if err != nil {
			return err
		}
		if got != "hello from b" {
			return fmt.Errorf("got %q", got)
		}
		return nil
	}
	unreachable := func() error {
		if err := reachable(); err == nil {
			return errors.New("b is still reachable from a")
		}
		return nil
	}
	testutil.Eventually(t, 5*time.Second, "a reaches b", reachable)

	inNetns(t, l.host, func() error { return Partition(b.HostVeth) })
	testutil.Eventually(t, 5*time.Second, "partition cuts b off", unreachable)

	inNetns(t, l.host, func() error { return Heal(b.HostVeth) })
	testutil.Eventually(t, 10*time.Second, "heal restores a -> b", reachable)

	if err := Do(l.host, func() error { return Partition(l.bridge) }); err == nil {
		t.Fatal("Partition accepted a bridge, want only veths")
	}
}
