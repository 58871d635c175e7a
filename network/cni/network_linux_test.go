//go:build linux

package cni

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"flotilla/internal/testutil"
	"flotilla/network/netlab"
)

// requireTools skips (or fails in CI) when a plugin or program is missing.
func requireTools(t *testing.T, plugins []string, programs ...string) {
	t.Helper()
	var missing []string
	for _, p := range plugins {
		if _, err := invoke.FindInPath(p, DefaultPluginDirs); err != nil {
			missing = append(missing, "CNI plugin "+p)
		}
	}
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return
	}
	testutil.SkipOrFail(t, "missing %s (install containernetworking-plugins / iptables)", strings.Join(missing, ", "))
}

// testEnv is a Network whose "host" is a private namespace made for the
// test: the bridge, the host ends of the veths, forwarding and any iptables
// rules live there, so nothing touches the machine's own network and no
// packet has a way out. Deleting that namespace removes all of it.
type testEnv struct {
	t      *testing.T
	host   string // netns the plugins run in
	cfg    Config
	net    *Network
	prefix string
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	testutil.RequireRoot(t, "network namespaces and netlink")
	requireTools(t, []string{"bridge", "host-local"})
	suffix := testutil.RandomHex(t, 2)
	x, err := rand.Int(rand.Reader, big.NewInt(250))
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, host: "fltest-cnihost-" + suffix, prefix: "fltest-c" + suffix + "-"}
	if err := netlab.CreateNetns(e.host); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := netlab.DeleteNetns(e.host); err != nil {
			t.Errorf("cleanup: delete host netns: %v", err)
		}
	})
	e.cfg = Config{
		Bridge:      "fltest" + suffix,
		Subnet:      netip.MustParsePrefix(fmt.Sprintf("10.203.%d.0/24", x.Int64()+1)),
		DataDir:     t.TempDir(),
		NetnsPrefix: e.prefix,
	}
	e.net, err = New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Remove whatever a failed test left, then the bridge.
		names, _ := netlab.ListNetns(e.prefix)
		for _, name := range names {
			id := strings.TrimPrefix(name, e.prefix)
			if err := e.inHost(func() error { return e.net.Remove(context.Background(), id) }); err != nil {
				t.Errorf("cleanup: remove %s: %v", id, err)
			}
			if err := netlab.DeleteNetns(name); err != nil {
				t.Errorf("cleanup: delete netns %s: %v", name, err)
			}
		}
		err := e.inHost(func() error {
			br, err := netlink.LinkByName(e.cfg.Bridge)
			if errors.As(err, new(netlink.LinkNotFoundError)) {
				return nil
			} else if err != nil {
				return err
			}
			return netlink.LinkDel(br)
		})
		if err != nil {
			t.Errorf("cleanup: delete bridge %s: %v", e.cfg.Bridge, err)
		}
	})
	// lo up, so the host side can dial its own addresses (portmap test).
	if err := e.inHost(func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *testEnv) inHost(fn func() error) error { return netlab.Do(e.host, fn) }

func (e *testEnv) setup(id string, ports ...PortMapping) (string, netip.Addr) {
	e.t.Helper()
	var path string
	var ip netip.Addr
	err := e.inHost(func() error {
		var err error
		path, ip, err = e.net.Setup(context.Background(), id, ports)
		return err
	})
	if err != nil {
		e.t.Fatalf("Setup(%s): %v", id, err)
	}
	return path, ip
}

func (e *testEnv) remove(id string) error {
	return e.inHost(func() error { return e.net.Remove(context.Background(), id) })
}

// leases lists the addresses host-local has handed out.
func (e *testEnv) leases() []string {
	e.t.Helper()
	entries, err := os.ReadDir(filepath.Join(e.cfg.DataDir, "ipam", e.net.cfg.Name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, en := range entries {
		if _, err := netip.ParseAddr(en.Name()); err == nil {
			out = append(out, en.Name())
		}
	}
	return out
}

// listen opens a TCP listener inside netns name that answers every
// connection with reply, and closes it when the test ends.
func listen(t *testing.T, name string, addr netip.AddrPort, reply string) netip.AddrPort {
	t.Helper()
	var ln net.Listener
	if err := netlab.Do(name, func() error {
		var err error
		ln, err = net.Listen("tcp", addr.String())
		return err
	}); err != nil {
		t.Fatalf("listen on %s in %s: %v", addr, name, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, reply)
			c.Close()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

// dial connects from inside netns name and returns what the peer sent.
func dial(name string, to netip.AddrPort) (string, error) {
	var got []byte
	err := netlab.Do(name, func() error {
		c, err := net.DialTimeout("tcp", to.String(), time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
			return err
		}
		got, err = io.ReadAll(c)
		return err
	})
	return string(got), err
}

func expectReply(t *testing.T, from string, to netip.AddrPort, want string) {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, fmt.Sprintf("dial %s from %s", to, from), func() error {
		got, err := dial(from, to)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("got %q, want %q", got, want)
		}
		return nil
	})
}

func eth0Addrs(t *testing.T, netnsPath string) ([]netip.Prefix, []netlink.Route) {
	t.Helper()
	ns, err := netns.GetFromPath(netnsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	link, err := h.LinkByName("eth0")
	if err != nil {
		t.Fatalf("eth0 in %s: %v", netnsPath, err)
	}
	addrs, err := h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Prefix
	for _, a := range addrs {
		ip, _ := netip.AddrFromSlice(a.IP.To4())
		ones, _ := a.Mask.Size()
		out = append(out, netip.PrefixFrom(ip, ones))
	}
	routes, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	return out, routes
}

func TestSetupGivesEachContainerAnAddressAndTheyReachEachOther(t *testing.T) {
	e := newTestEnv(t)
	pathA, ipA := e.setup("a")
	pathB, ipB := e.setup("b")

	if pathA != netlab.NetnsPath(e.prefix+"a") {
		t.Errorf("netns path = %s, want %s", pathA, netlab.NetnsPath(e.prefix+"a"))
	}
	if ipA == ipB || !e.cfg.Subnet.Contains(ipA) || !e.cfg.Subnet.Contains(ipB) || ipA == e.net.Gateway() {
		t.Fatalf("ips %s, %s: want two distinct addresses of %s other than the gateway", ipA, ipB, e.cfg.Subnet)
	}
	for _, c := range []struct {
		path string
		ip   netip.Addr
	}{{pathA, ipA}, {pathB, ipB}} {
		addrs, routes := eth0Addrs(t, c.path)
		if len(addrs) != 1 || addrs[0] != netip.PrefixFrom(c.ip, e.cfg.Subnet.Bits()) {
			t.Errorf("eth0 in %s has %v, want %s/%d", c.path, addrs, c.ip, e.cfg.Subnet.Bits())
		}
		var viaGateway bool
		for _, r := range routes {
			if (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") && r.Gw.Equal(net.IP(e.net.Gateway().AsSlice())) {
				viaGateway = true
			}
		}
		if !viaGateway {
			t.Errorf("routes in %s = %v, want a default route via %s", c.path, routes, e.net.Gateway())
		}
	}

	b := listen(t, e.prefix+"b", netip.AddrPortFrom(ipB, 0), "from b")
	expectReply(t, e.prefix+"a", b, "from b")
	gw := listen(t, e.host, netip.AddrPortFrom(e.net.Gateway(), 0), "from host")
	expectReply(t, e.prefix+"a", gw, "from host")

	if err := e.inHost(func() error { return e.net.Check(context.Background(), "a") }); err != nil {
		t.Fatalf("Check(a): %v", err)
	}
}

func TestSetupAgainKeepsTheAddressAndLeaksNoLease(t *testing.T) {
	e := newTestEnv(t)
	_, ipA := e.setup("a")
	e.setup("b")
	_, again := e.setup("a")
	if again != ipA {
		t.Errorf("second Setup(a) gave %s, first gave %s", again, ipA)
	}
	if got := e.leases(); len(got) != 2 {
		t.Fatalf("leases after Setup a, b, a = %v, want 2", got)
	}
	addrs, _ := eth0Addrs(t, netlab.NetnsPath(e.prefix+"a"))
	if len(addrs) != 1 || addrs[0].Addr() != again {
		t.Fatalf("eth0 in a has %v after the retry, want only %s", addrs, again)
	}
}

func TestRemoveIsIdempotentAndForgetsTheAttachment(t *testing.T) {
	e := newTestEnv(t)
	e.setup("a")
	e.setup("b")
	for i := 0; i < 2; i++ {
		if err := e.remove("a"); err != nil {
			t.Fatalf("Remove(a) #%d: %v", i+1, err)
		}
	}
	if err := e.remove("never-set-up"); err != nil {
		t.Fatalf("Remove of an unknown id: %v", err)
	}
	if names, _ := netlab.ListNetns(e.prefix); len(names) != 1 || names[0] != e.prefix+"b" {
		t.Fatalf("netns left = %v, want only %sb", names, e.prefix)
	}
	if got := e.leases(); len(got) != 1 {
		t.Fatalf("leases after removing a = %v, want only b's", got)
	}
	err := e.inHost(func() error {
		_, err := e.net.Lookup(context.Background(), "a")
		return err
	})
	if !errors.Is(err, ErrNotAttached) {
		t.Errorf("Lookup(a) after Remove = %v, want ErrNotAttached", err)
	}
	err = e.inHost(func() error { return e.net.Check(context.Background(), "a") })
	if !errors.Is(err, ErrNotAttached) {
		t.Errorf("Check(a) after Remove = %v, want ErrNotAttached", err)
	}
	if err := e.remove("b"); err != nil {
		t.Fatal(err)
	}
	if got := e.leases(); len(got) != 0 {
		t.Fatalf("leases after removing everything = %v", got)
	}
}

func TestRemoveAfterTheNetnsVanishedReleasesTheLease(t *testing.T) {
	e := newTestEnv(t)
	e.setup("a")
	if got := e.leases(); len(got) != 1 {
		t.Fatalf("leases after Setup(a) = %v, want 1", got)
	}
	if err := netlab.DeleteNetns(e.prefix + "a"); err != nil {
		t.Fatal(err)
	}
	if err := e.remove("a"); err != nil {
		t.Fatalf("Remove with the netns gone: %v", err)
	}
	if got := e.leases(); len(got) != 0 {
		t.Fatalf("leases = %v, want none", got)
	}
}

func TestLookupAfterRestartReturnsTheCachedAddress(t *testing.T) {
	e := newTestEnv(t)
	_, ip := e.setup("a")
	restarted, err := New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := restarted.Lookup(context.Background(), "a")
	if err != nil || got != ip {
		t.Fatalf("Lookup(a) = %s, %v; want %s", got, err, ip)
	}
	if _, err := restarted.Lookup(context.Background(), "unknown"); !errors.Is(err, ErrNotAttached) {
		t.Fatalf("Lookup(unknown) = %v, want ErrNotAttached", err)
	}
}

func TestHostPortReachesTheContainer(t *testing.T) {
	e := newTestEnv(t)
	requireTools(t, []string{"portmap"}, "iptables")
	const hostPort = 28080 // in the test's own namespace, so it cannot clash
	_, ip := e.setup("web", PortMapping{HostPort: hostPort, ContainerPort: 8080})
	listen(t, e.prefix+"web", netip.AddrPortFrom(ip, 8080), "from web")
	// Dialling the node's own (bridge) address goes through portmap's
	// OUTPUT DNAT rule to the container.
	expectReply(t, e.host, netip.AddrPortFrom(e.net.Gateway(), uint16(hostPort)), "from web")

	if err := e.remove("web"); err != nil {
		t.Fatal(err)
	}
	var rules []byte
	err := e.inHost(func() error {
		var err error
		rules, err = exec.Command("iptables-save", "-t", "nat").CombinedOutput()
		return err
	})
	if err != nil {
		t.Fatalf("iptables-save: %v: %s", err, rules)
	}
	if strings.Contains(string(rules), fmt.Sprintf("--dport %d", hostPort)) {
		t.Fatalf("portmap rule for %d left after Remove:\n%s", hostPort, rules)
	}
}

func TestConcurrentSetupsGetDistinctAddresses(t *testing.T) {
	e := newTestEnv(t)
	const n = 4
	ips := make(chan netip.Addr, n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			id := fmt.Sprintf("c%d", i)
			err := e.inHost(func() error {
				_, ip, err := e.net.Setup(context.Background(), id, nil)
				ips <- ip
				return err
			})
			errs <- err
		}()
	}
	seen := map[netip.Addr]bool{}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("Setup: %v", err)
		}
		seen[<-ips] = true
	}
	if len(seen) != n {
		t.Fatalf("%d concurrent Setups gave %d distinct addresses: %v", n, len(seen), seen)
	}
}

func TestSetupHonoursCancelledContext(t *testing.T) {
	e := newTestEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := e.inHost(func() error {
		_, _, err := e.net.Setup(ctx, "a", nil)
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Setup with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestNewRejectsMissingPlugins(t *testing.T) {
	_, err := New(Config{
		Subnet:      netip.MustParsePrefix("10.203.0.0/24"),
		DataDir:     t.TempDir(),
		NetnsPrefix: "fltest-",
		PluginDirs:  []string{t.TempDir()},
	})
	if err == nil || !strings.Contains(err.Error(), `"bridge"`) {
		t.Fatalf("New with an empty plugin dir = %v, want an error naming the bridge plugin", err)
	}
}
