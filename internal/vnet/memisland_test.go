package vnet_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"flotilla/internal/vnet"
)

// TestAnIsolatedMachineReachesOnlyItself: a machine cut off with its
// containers' subnet still reaches them, but nothing across the cut, in
// either direction; open connections across it close; datagrams across
// it are dropped; Rejoin puts it back. A Machine dials from its own IP.
func TestAnIsolatedMachineReachesOnlyItself(t *testing.T) {
	m := vnet.NewMemory()
	a, b := m.Machine("10.0.2.1"), m.Machine("10.0.2.2")
	// Dials complete into the listeners' backlogs: nobody need accept.
	listen(t, m, "10.0.2.1:4746")
	listen(t, m, "127.128.1.5:8080")
	listen(t, m, "10.0.2.2:4746")
	ctx := context.Background()
	open, err := a.DialContext(ctx, "tcp", "10.0.2.2:4746")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if got := open.LocalAddr().(*net.TCPAddr).IP.String(); got != "10.0.2.1" {
		t.Fatalf("a Machine's connection comes from %s, want its IP 10.0.2.1", got)
	}

	if err := m.Isolate(netip.MustParsePrefix("10.0.2.1/32"), netip.MustParsePrefix("127.128.1.0/24")); err != nil {
		t.Fatal(err)
	}
	open.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := open.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a connection across the cut: Read = %v, want it closed", err)
	}
	for _, c := range []struct {
		from vnet.Net
		to   string
		ok   bool
	}{
		{a, "127.128.1.5:8080", true},  // its own container
		{a, "10.0.2.2:4746", false},    // out
		{b, "10.0.2.1:4746", false},    // in
		{b, "127.128.1.5:8080", false}, // its containers, from outside
		{m, "10.0.2.1:4746", false},    // from 127.0.0.1, off the island
		{m, "10.0.2.2:4746", true},     // the rest meet as before
	} {
		conn, err := c.from.DialContext(ctx, "tcp", c.to)
		if c.ok && err != nil {
			t.Errorf("dial %s from %v: %v, want it through", c.to, c.from, err)
		}
		if !c.ok && !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial %s from %v: %v, want refused across the cut", c.to, c.from, err)
		}
		if conn != nil {
			conn.Close()
		}
	}

	in, err := m.ListenPacket("udp", "10.0.2.2:4748")
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := m.ListenPacket("udp", "10.0.2.1:4748")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	to := &net.UDPAddr{IP: net.ParseIP("10.0.2.2"), Port: 4748}
	out.WriteTo([]byte("lost"), to)
	in.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, _, err := in.ReadFrom(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a datagram across the cut: ReadFrom = %v, want nothing (dropped)", err)
	}

	m.Rejoin(netip.MustParsePrefix("10.0.2.1/32"), netip.MustParsePrefix("127.128.1.0/24"))
	conn, err := a.DialContext(ctx, "tcp", "10.0.2.2:4746")
	if err != nil {
		t.Fatalf("after Rejoin: %v", err)
	}
	conn.Close()
	out.WriteTo([]byte("back"), to)
	buf := make([]byte, 10)
	in.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _, err := in.ReadFrom(buf); err != nil || string(buf[:n]) != "back" {
		t.Fatalf("a datagram after Rejoin: %q, %v", buf[:n], err)
	}
}

// TestAVIPSharedByMachinesSkipsOneCutOff: proxies on two machines share a
// VIP; with one machine cut off, every dial from outside reaches the
// other one, and connections its listener accepted close.
func TestAVIPSharedByMachinesSkipsOneCutOff(t *testing.T) {
	m := vnet.NewMemory()
	a, b := m.Machine("10.0.2.1"), m.Machine("10.0.2.2")
	la, err := a.ListenShared("tcp", "127.64.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	defer la.Close()
	lb, err := b.ListenShared("tcp", "127.64.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	ctx := context.Background()
	// Before any cut: in turn, a then b.
	toA, err := m.DialContext(ctx, "tcp", "127.64.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	defer toA.Close()
	accepted, err := la.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer accepted.Close()

	if err := m.Isolate(netip.MustParsePrefix("10.0.2.1/32")); err != nil {
		t.Fatal(err)
	}
	toA.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := toA.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a connection the cut-off machine accepted on the VIP: Read = %v, want it closed", err)
	}
	for i := range 4 {
		c, err := m.DialContext(ctx, "tcp", "127.64.0.1:8080")
		if err != nil {
			t.Fatalf("dial %d to the VIP: %v", i, err)
		}
		c.Close()
		got, err := lb.Accept()
		if err != nil {
			t.Fatalf("dial %d did not reach the machine left: %v", i, err)
		}
		got.Close()
	}
	// From inside the island, only its own proxy answers.
	c, err := a.DialContext(ctx, "tcp", "127.64.0.1:8080")
	if err != nil {
		t.Fatalf("the cut-off machine dialling the VIP: %v", err)
	}
	c.Close()
	if got, err := la.Accept(); err != nil {
		t.Fatalf("the cut-off machine's dial to the VIP did not reach its own proxy: %v", err)
	} else {
		got.Close()
	}
}
