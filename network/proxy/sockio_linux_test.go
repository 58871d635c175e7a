package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// flushAwaitingReply writes a request and waits for the answer without a
// read first: it must never sleep through an answer, however soon it
// comes; an answer of the peer arrives every time.
func TestFlushAwaitingReplySeesEveryAnswer(t *testing.T) {
	a, b := tcpPair(t)
	s := newSockIO(a).(*sockIO)
	br, bw := bufio.NewReader(s), bufio.NewWriter(s)
	go func() { // an echo server, answering at once
		r := bufio.NewReader(b)
		for {
			line, err := r.ReadSlice('\n')
			if err != nil {
				return
			}
			if _, err := b.Write(line); err != nil {
				return
			}
		}
	}()
	for i := range 5000 {
		a.SetReadDeadline(time.Now().Add(5 * time.Second))
		msg := strconv.Itoa(i) + "\n"
		bw.WriteString(msg)
		if err := s.flushAwaitingReply(bw); err != nil {
			t.Fatalf("round %d: flush: %v", i, err)
		}
		got, err := br.ReadString('\n')
		if err != nil || got != msg {
			t.Fatalf("round %d: read %q, %v; want %q", i, got, err, msg)
		}
	}
}

// A peer that closed the connection before the request (a kept-alive
// connection an endpoint closed meanwhile) ends the wait at once: the
// request is answered with a reset, which is seen.
func TestFlushAwaitingReplyOnAConnectionThePeerClosed(t *testing.T) {
	a, b := tcpPair(t)
	s := newSockIO(a).(*sockIO)
	br, bw := bufio.NewReader(s), bufio.NewWriter(s)
	b.Close()
	waitEndOfStream(t, a)
	a.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	bw.WriteString("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	err := s.flushAwaitingReply(bw)
	if err == nil {
		_, err = br.Peek(1)
	}
	if err == nil || isTimeout(err) {
		t.Fatalf("request on a closed connection: %v, want the end of the stream or a reset", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("the failure took %v", d)
	}
}

// The read deadline still bounds the wait; a deadline already past and a
// closed connection end it at once.
func TestFlushAwaitingReplyKeepsTheDeadline(t *testing.T) {
	a, _ := tcpPair(t)
	s := newSockIO(a).(*sockIO)
	br, bw := bufio.NewReader(s), bufio.NewWriter(s)
	a.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	bw.WriteString("hello\n")
	if err := s.flushAwaitingReply(bw); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if _, err := br.Peek(1); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %v, want the deadline", err)
	}
	// Past already: the request is still written.
	bw.WriteString("again\n")
	if err := s.flushAwaitingReply(bw); err != nil {
		t.Fatalf("flush with the deadline past: %v", err)
	}
	a.Close()
	bw.WriteString("closed\n")
	if err := s.flushAwaitingReply(bw); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("flush on a closed connection: %v, want net.ErrClosed", err)
	}
}

// A socket too full to take the request at once: it is written whole as
// the peer reads, then the answer is read.
func TestFlushAwaitingReplyOnAFullSocket(t *testing.T) {
	a, b := tcpPair(t)
	s := newSockIO(a).(*sockIO)
	br, bw := bufio.NewReader(s), bufio.NewWriter(s)
	// Fill the socket: the peer reads nothing yet.
	a.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	filled, _ := s.Write(bytes.Repeat([]byte("f"), 64<<20))
	a.SetWriteDeadline(time.Time{})
	if filled == 64<<20 {
		t.Skip("the socket took 64 MiB")
	}
	req := "GET / HTTP/1.1\r\n\r\n"
	go func() {
		if _, err := io.CopyN(io.Discard, b, int64(filled+len(req))); err != nil {
			return
		}
		b.Write([]byte("answer\n"))
	}()
	a.SetReadDeadline(time.Now().Add(10 * time.Second))
	bw.WriteString(req)
	if err := s.flushAwaitingReply(bw); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if got, err := br.ReadString('\n'); err != nil || got != "answer\n" {
		t.Fatalf("read %q, %v", got, err)
	}
}

// waitEndOfStream polls c's socket until the peer's end of stream is in
// it (a peek reads 0 bytes), for up to 5 s.
func waitEndOfStream(t *testing.T, c net.Conn) {
	t.Helper()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n int
		var rerr error
		rc.Control(func(fd uintptr) {
			n, _, rerr = syscall.Recvfrom(int(fd), make([]byte, 1), syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		})
		if rerr == nil && n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no end of stream from the peer after 5 s (peek: %d, %v)", n, rerr)
		}
		time.Sleep(time.Millisecond)
	}
}
