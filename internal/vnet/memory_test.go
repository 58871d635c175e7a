package vnet_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"flotilla/internal/vnet"
)

// listen listens on m or fails the test; the listener is closed at the
// end of the test.
func listen(t *testing.T, m *vnet.Memory, address string) net.Listener {
	t.Helper()
	l, err := m.Listen("tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// pair dials l and accepts, returning the client and server ends.
func pair(t *testing.T, m *vnet.Memory, l net.Listener) (client, server net.Conn) {
	t.Helper()
	client, err := m.DialContext(context.Background(), "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// within fails the test unless a value arrives on ch in time.
func within[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("%s: nothing within %s", what, d)
		panic("unreachable")
	}
}

func TestEchoAndAddresses(t *testing.T) {
	m := vnet.NewMemory()
	l := listen(t, m, "127.0.0.1:7000")
	client, server := pair(t, m, l)
	go io.Copy(server, server) // echo

	if _, err := client.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 5)
	if _, err := io.ReadFull(client, got); err != nil || string(got) != "hello" {
		t.Fatalf("echo = %q, %v", got, err)
	}

	local := client.LocalAddr().(*net.TCPAddr)
	if !local.IP.Equal(net.IPv4(127, 0, 0, 1)) || local.Port < 40000 {
		t.Errorf("client local address %s, want 127.0.0.1 and an ephemeral port", local)
	}
	if client.RemoteAddr().String() != "127.0.0.1:7000" || l.Addr().String() != "127.0.0.1:7000" {
		t.Errorf("client remote %s, listener %s, want 127.0.0.1:7000", client.RemoteAddr(), l.Addr())
	}
	if server.LocalAddr().String() != client.RemoteAddr().String() || server.RemoteAddr().String() != local.String() {
		t.Errorf("server addresses %s <- %s do not mirror the client's %s -> %s",
			server.LocalAddr(), server.RemoteAddr(), local, client.RemoteAddr())
	}
}

func TestDialFromAppearsFromTheSource(t *testing.T) {
	m := vnet.NewMemory()
	l := listen(t, m, "10.0.0.1:80")
	client, err := m.DialFrom(context.Background(), "tcp", "10.0.0.2", "10.0.0.1:80")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	if ip := server.RemoteAddr().(*net.TCPAddr).IP; !ip.Equal(net.ParseIP("10.0.0.2")) {
		t.Fatalf("server sees the client at %s, want 10.0.0.2", server.RemoteAddr())
	}
}

func TestDialWithoutListenerIsRefused(t *testing.T) {
	m := vnet.NewMemory()
	_, err := m.DialContext(context.Background(), "tcp", "127.0.0.1:7000")
	var op *net.OpError
	if !errors.Is(err, syscall.ECONNREFUSED) || !errors.As(err, &op) || op.Op != "dial" {
		t.Fatalf("dial = %v, want a dial *net.OpError wrapping ECONNREFUSED", err)
	}

	// Closing a listener frees its address: dials are refused again, and
	// the address can be listened on again.
	l, err := m.Listen("tcp", "127.0.0.1:7000")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := m.DialContext(context.Background(), "tcp", "127.0.0.1:7000"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial after close = %v, want ECONNREFUSED", err)
	}
	listen(t, m, "127.0.0.1:7000")

	if _, err := m.DialContext(context.Background(), "tcp", "localhost:7000"); err == nil {
		t.Fatal("dialing a host name succeeded; names are not resolved")
	}
}

func TestAddressInUse(t *testing.T) {
	m := vnet.NewMemory()
	listen(t, m, "127.0.0.1:7000")
	listen(t, m, "0.0.0.0:7001")
	for _, address := range []string{"127.0.0.1:7000", "0.0.0.0:7000", ":7001", "10.0.0.1:7001"} {
		_, err := m.Listen("tcp", address)
		if err == nil || !strings.Contains(err.Error(), "address already in use") || !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("listen %s = %v, want address already in use", address, err)
		}
	}
	// Another IP on the same port is free, and so is UDP on the same port.
	listen(t, m, "127.0.0.2:7000")
	p, err := m.ListenPacket("udp", "127.0.0.1:7000")
	if err != nil {
		t.Fatalf("udp on a tcp port: %v", err)
	}
	p.Close()
}

func TestWildcardListenTakesEveryIP(t *testing.T) {
	m := vnet.NewMemory()
	l := listen(t, m, "0.0.0.0:0")
	addr := l.Addr().(*net.TCPAddr)
	if !addr.IP.Equal(net.IPv4zero) || addr.Port < 40000 {
		t.Fatalf("wildcard listener address %s, want 0.0.0.0 and an ephemeral port", addr)
	}
	target := fmt.Sprintf("10.1.2.3:%d", addr.Port)
	client, err := m.DialContext(context.Background(), "tcp", target)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	if server.LocalAddr().String() != target {
		t.Fatalf("server local address %s, want the dialed %s", server.LocalAddr(), target)
	}

	// A listener on one IP takes no dials to another.
	specific := listen(t, m, "10.0.0.1:0")
	port := specific.Addr().(*net.TCPAddr).Port
	if _, err := m.DialContext(context.Background(), "tcp", fmt.Sprintf("10.0.0.2:%d", port)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial to another IP = %v, want ECONNREFUSED", err)
	}
}

func TestPortZeroPicksDistinctFreePorts(t *testing.T) {
	m := vnet.NewMemory()
	listen(t, m, "127.0.0.1:40000") // taken: skipped
	a := listen(t, m, "127.0.0.1:0").Addr().(*net.TCPAddr).Port
	b := listen(t, m, "127.0.0.1:0").Addr().(*net.TCPAddr).Port
	if a < 40000 || b < 40000 || a == b || a == 40000 || b == 40000 {
		t.Fatalf("ports %d and %d, want distinct free ephemeral ports", a, b)
	}
}

func TestHalfCloseAndClose(t *testing.T) {
	m := vnet.NewMemory()
	client, server := pair(t, m, listen(t, m, "127.0.0.1:0"))

	client.Write([]byte("request"))
	if err := client.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Write([]byte("more")); err == nil {
		t.Fatal("write after CloseWrite succeeded")
	}
	got, err := io.ReadAll(server)
	if err != nil || string(got) != "request" {
		t.Fatalf("server read %q, %v; want the request then EOF", got, err)
	}
	server.Write([]byte("response"))
	server.Close()
	got, err = io.ReadAll(client)
	if err != nil || string(got) != "response" {
		t.Fatalf("client read %q, %v; want the response then EOF", got, err)
	}

	if err := server.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := server.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after own close = %v, want net.ErrClosed", err)
	}
	if _, err := server.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after own close = %v, want net.ErrClosed", err)
	}
	client2, server2 := pair(t, m, listen(t, m, "127.0.0.1:0"))
	server2.Close()
	if _, err := client2.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("write after the peer closed = %v, want broken pipe", err)
	}
}

func TestLargeTransferBothWays(t *testing.T) {
	const size = 8 << 20
	m := vnet.NewMemory()
	client, server := pair(t, m, listen(t, m, "127.0.0.1:0"))
	// A deadlock fails the test rather than hanging it.
	client.SetDeadline(time.Now().Add(time.Minute))
	server.SetDeadline(time.Now().Add(time.Minute))

	data := func(seed byte) []byte {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(i*7) + seed
		}
		return b
	}
	up, down := data(1), data(2)
	errs := make(chan error, 4)
	send := func(c net.Conn, b []byte) {
		_, err := c.Write(b)
		errs <- err
	}
	receive := func(c net.Conn, want []byte) {
		got := make([]byte, len(want))
		_, err := io.ReadFull(c, got)
		if err == nil && !bytes.Equal(got, want) {
			err = errors.New("received bytes differ from those sent")
		}
		errs <- err
	}
	go send(client, up)
	go send(server, down)
	go receive(server, up)
	go receive(client, down)
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadDeadline(t *testing.T) {
	m := vnet.NewMemory()
	client, server := pair(t, m, listen(t, m, "127.0.0.1:0"))

	client.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := client.Read(make([]byte, 1))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline = %v, want a timeout", err)
	}

	// A deadline set while a read waits ends it.
	done := make(chan error, 1)
	client.SetReadDeadline(time.Time{})
	go func() {
		_, err := client.Read(make([]byte, 1))
		done <- err
	}()
	client.SetReadDeadline(time.Unix(1, 0))
	if err := within(t, done, 5*time.Second, "read after a past deadline"); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read = %v, want os.ErrDeadlineExceeded", err)
	}

	// Clearing it makes reads work again.
	client.SetReadDeadline(time.Time{})
	server.Write([]byte("x"))
	if n, err := client.Read(make([]byte, 1)); n != 1 || err != nil {
		t.Fatalf("read after clearing the deadline = %d, %v", n, err)
	}
}

func TestListenerCloseEndsAcceptAndQueuedConns(t *testing.T) {
	m := vnet.NewMemory()
	l, err := m.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan error, 1)
	go func() {
		_, err := l.Accept() // waits: nobody dials
		accepted <- err
	}()
	l.Close()
	if err := within(t, accepted, 5*time.Second, "Accept after Close"); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close = %v, want net.ErrClosed", err)
	}

	// A connection still queued when the listener closes is closed.
	l2, err := m.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.DialContext(context.Background(), "tcp", l2.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l2.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("read from a conn never accepted = %d, %v; want EOF", n, err)
	}
}

// serveHello serves "hello" over l until the returned stop is called,
// which waits for the server to end.
func serveHello(l net.Listener) (stop func()) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.URL.Path)
	})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l)
	}()
	return func() {
		srv.Close()
		<-done
	}
}

// get fetches url over m.
func get(m *vnet.Memory, url string) (string, error) {
	tr := &http.Transport{DialContext: m.DialContext}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestHTTPOverMemory(t *testing.T) {
	m := vnet.NewMemory()
	l := listen(t, m, "127.0.0.1:8080")
	defer serveHello(l)()
	body, err := get(m, "http://127.0.0.1:8080/x")
	if err != nil || body != "hello /x" {
		t.Fatalf("GET = %q, %v", body, err)
	}
}

func TestPackets(t *testing.T) {
	m := vnet.NewMemory()
	a, err := m.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := m.ListenPacket("udp", "0.0.0.0:5353")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, ok := b.LocalAddr().(*net.UDPAddr); !ok {
		t.Fatalf("LocalAddr is %T, want *net.UDPAddr", b.LocalAddr())
	}

	msg := []byte("ping")
	if n, err := a.WriteTo(msg, &net.UDPAddr{IP: net.ParseIP("10.9.9.9"), Port: 5353}); n != 4 || err != nil {
		t.Fatalf("WriteTo = %d, %v", n, err)
	}
	copy(msg, "XXXX") // the datagram is a copy
	buf := make([]byte, 100)
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := b.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "ping" || from.String() != a.LocalAddr().String() {
		t.Fatalf("ReadFrom = %q from %v, %v; want ping from %s", buf[:n], from, err, a.LocalAddr())
	}

	// Nothing bound: dropped, yet WriteTo succeeds.
	if n, err := a.WriteTo([]byte("lost"), &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: 6000}); n != 4 || err != nil {
		t.Fatalf("WriteTo nobody = %d, %v; want 4, nil", n, err)
	}
	late, err := m.ListenPacket("udp", "127.0.0.1:6000")
	if err != nil {
		t.Fatal(err)
	}
	late.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, _, err := late.ReadFrom(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadFrom on an endpoint bound after the send = %v, want a timeout (the datagram was dropped)", err)
	}
	late.Close()
	if _, _, err := late.ReadFrom(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("ReadFrom after Close = %v, want net.ErrClosed", err)
	}
}

func TestVirtualTimeDeadlinesAndDials(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := vnet.NewMemory()
		l, err := m.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		client, err := m.DialContext(context.Background(), "tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()

		// An hour's read deadline elapses at once, and exactly.
		start := time.Now()
		client.SetReadDeadline(start.Add(time.Hour))
		if _, err := client.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read = %v, want a timeout", err)
		}
		if waited := time.Since(start); waited != time.Hour {
			t.Fatalf("read gave up after %s of virtual time, want 1h", waited)
		}

		// A dial waits while the backlog (1024, client included) is full,
		// until its context ends.
		for i := 0; ; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			c, err := m.DialContext(ctx, "tcp", l.Addr().String())
			cancel()
			if err != nil {
				if !errors.Is(err, context.DeadlineExceeded) || i != 1023 {
					t.Fatalf("dial %d = %v, want the backlog to fill then the dial to time out", i, err)
				}
				break
			}
			defer c.Close()
		}
		// A packet read deadline too.
		p, err := m.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		p.SetReadDeadline(time.Now().Add(24 * time.Hour))
		if _, _, err := p.ReadFrom(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("ReadFrom = %v, want a timeout", err)
		}
	})
}

func TestHTTPInsideABubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := vnet.NewMemory()
		l, err := m.Listen("tcp", "10.0.0.1:80")
		if err != nil {
			t.Fatal(err)
		}
		stop := serveHello(l)
		defer stop()
		for _, path := range []string{"/a", "/b"} {
			body, err := get(m, "http://10.0.0.1"+path)
			if err != nil || body != "hello "+path {
				t.Fatalf("GET %s = %q, %v", path, body, err)
			}
		}
	})
}
