//go:build linux

package netlab

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"flotilla/internal/testutil"
)

// testNetns creates a namespace named fltest-<label>-<random> and deletes it
// when the test ends.
func testNetns(t *testing.T, label string) string {
	t.Helper()
	name := "fltest-" + label + "-" + testutil.RandomHex(t, 4)
	if err := CreateNetns(name); err != nil {
		t.Fatalf("CreateNetns(%s): %v", name, err)
	}
	t.Cleanup(func() {
		if err := DeleteNetns(name); err != nil {
			t.Errorf("cleanup: DeleteNetns(%s): %v", name, err)
		}
	})
	return name
}

// inNetns runs fn inside the namespace and fails the test on error.
func inNetns(t *testing.T, name string, fn func() error) {
	t.Helper()
	if err := Do(name, fn); err != nil {
		t.Fatalf("in netns %s: %v", name, err)
	}
}

// listenIn opens a TCP listener inside netns name that writes reply to
// every connection; it is closed when the test ends.
func listenIn(t *testing.T, name string, addr netip.AddrPort, reply string) netip.AddrPort {
	t.Helper()
	var ln net.Listener
	inNetns(t, name, func() error {
		var err error
		ln, err = net.Listen("tcp", addr.String())
		return err
	})
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

// dialFrom connects from inside netns name and returns what the peer sent.
func dialFrom(name string, to netip.AddrPort, timeout time.Duration) (string, error) {
	var got []byte
	err := Do(name, func() error {
		c, err := net.DialTimeout("tcp", to.String(), timeout)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
			return err
		}
		got, err = io.ReadAll(c)
		return err
	})
	return string(got), err
}

// lab is a private "host" namespace with a lab bridge in it, standing in
// for the machine's own namespace so tests never touch its links.
type lab struct {
	t      *testing.T
	host   string
	bridge string
	subnet netip.Prefix // the bridge's network; the bridge has .1
	suffix string
}

func newLab(t *testing.T) *lab {
	t.Helper()
	testutil.RequireRoot(t, "network namespaces and netlink")
	l := &lab{t: t, suffix: testutil.RandomHex(t, 2)}
	l.host = testNetns(t, "labhost")
	l.bridge = "fltest" + l.suffix
	l.subnet = netip.MustParsePrefix(fmt.Sprintf("10.204.%d.0/24", int(testutil.RandomHex(t, 1)[0])%200+1))
	t.Cleanup(func() {
		if err := Do(l.host, func() error { return DeleteLink(l.bridge) }); err != nil {
			t.Errorf("cleanup: delete bridge: %v", err)
		}
	})
	inNetns(t, l.host, func() error {
		return EnsureBridge(l.bridge, netip.PrefixFrom(l.subnet.Addr().Next(), l.subnet.Bits()))
	})
	return l
}

// node returns the i-th node description (address .(i+1)).
func (l *lab) node(i int) Node {
	a := l.subnet.Addr().Next()
	for j := 0; j < i; j++ {
		a = a.Next()
	}
	return Node{
		Netns:    fmt.Sprintf("fltest-node%d-%s", i, l.suffix),
		HostVeth: fmt.Sprintf("fltv%d%s", i, l.suffix),
		Bridge:   l.bridge,
		Addr:     netip.PrefixFrom(a, l.subnet.Bits()),
	}
}

func (l *lab) addNode(n Node) {
	l.t.Helper()
	l.t.Cleanup(func() {
		if err := Do(l.host, func() error { return RemoveNode(n) }); err != nil {
			l.t.Errorf("cleanup: RemoveNode(%s): %v", n.Netns, err)
		}
	})
	inNetns(l.t, l.host, func() error { return AddNode(n) })
}
