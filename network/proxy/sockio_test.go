package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (a, b net.Conn) {
	t.Helper()
	ln := listenLoopback(t, 0)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// The proxy's own reads and writes on TCP connections (raw system calls on
// Linux) behave as net.Conn's: whole writes however large (the socket
// fills and the writer waits), reads of what came, io.EOF at the end, the
// read deadline as a timeout, a closed connection as net.ErrClosed, and
// errors of the peer as *net.OpError.
func TestSockIOBehavesAsNetConn(t *testing.T) {
	a, b := tcpPair(t)
	wa, rb := newSockIO(a), newSockIO(b)
	if _, plain := wa.(net.Conn); plain && runtime.GOOS == "linux" {
		t.Fatal("newSockIO on Linux returned the connection itself")
	}

	// Far more than the socket buffers hold: the write waits for the
	// reader, which takes its time.
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	wrote := make(chan error, 1)
	go func() {
		n, err := wa.Write(big)
		if err == nil && n != len(big) {
			err = io.ErrShortWrite
		}
		wrote <- err
	}()
	got := make([]byte, 0, len(big))
	buf := make([]byte, 3000)
	for len(got) < len(big) {
		n, err := rb.Read(buf)
		if err != nil {
			t.Fatalf("read after %d bytes: %v", len(got), err)
		}
		got = append(got, buf[:n]...)
	}
	if err := <-wrote; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, big) {
		t.Fatal("the bytes read are not those written")
	}
	if n, err := rb.Read(nil); n != 0 || err != nil {
		t.Fatalf("empty read: %d, %v", n, err)
	}

	// The read deadline.
	b.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := rb.Read(buf)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
	b.SetReadDeadline(time.Time{})

	// The end of the stream, after what was still to read.
	wa.Write([]byte("last"))
	a.(*net.TCPConn).CloseWrite()
	if all, err := io.ReadAll(rb); err != nil || string(all) != "last" {
		t.Fatalf("read to the end: %q, %v", all, err)
	}
	if n, err := rb.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("read at the end: %d, %v; want io.EOF", n, err)
	}

	// Writing to a peer that is gone fails, as *net.OpError.
	a.Close()
	var opErr *net.OpError
	for range 100 {
		if _, err = rb.(io.Writer).Write([]byte("x")); err != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if !errors.As(err, &opErr) || opErr.Op != "write" {
		t.Fatalf("write to a closed peer: %v, want a *net.OpError", err)
	}

	// Reading or writing a closed connection.
	b.Close()
	if _, err := rb.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read of a closed connection: %v", err)
	}
	if _, err := rb.(io.Writer).Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write to a closed connection: %v", err)
	}
}

// A read that waits is cut short by closing the connection, as the proxy
// does to interrupt an exchange.
func TestSockIOCloseInterruptsARead(t *testing.T) {
	a, _ := tcpPair(t)
	ra := newSockIO(a)
	done := make(chan error, 1)
	go func() {
		_, err := ra.Read(make([]byte, 10))
		done <- err
	}()
	// Either way round the read must end with net.ErrClosed; the pause
	// makes the read that waits the likely one.
	time.Sleep(20 * time.Millisecond)
	a.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the read did not end when the connection closed")
	}
}

// Reading and writing allocate nothing.
func TestSockIOAllocatesNothing(t *testing.T) {
	a, b := tcpPair(t)
	wa, rb := newSockIO(a), newSockIO(b)
	msg := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	buf := make([]byte, 100)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := wa.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(rb, buf[:len(msg)]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per write and read", allocs)
	}
}
