package vnet

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// packetQueue is how many datagrams an endpoint holds unread; more are
// dropped, as a full socket buffer drops them.
const packetQueue = 4096

// errMissingAddress is WriteTo's error for a nil address.
var errMissingAddress = errors.New("missing address")

// datagram is one packet waiting to be read.
type datagram struct {
	b    []byte
	from *net.UDPAddr
}

// memPacketConn is a datagram endpoint of a Memory. Datagrams are
// delivered whole, or dropped silently like UDP's: when nothing is bound
// at the destination or its queue is full.
type memPacketConn struct {
	m     *Memory
	ip    netip.Addr
	port  int
	local *net.UDPAddr
	// from is the sender's address as receivers see it: 127.0.0.1 when
	// bound to the unspecified IP.
	from *net.UDPAddr

	mu                          sync.Mutex
	cond                        sync.Cond // broadcast on queue, closed and deadline changes
	queue                       []datagram
	closed                      bool
	readDeadline, writeDeadline deadline
}

var _ net.PacketConn = (*memPacketConn)(nil)

func newMemPacketConn(m *Memory, ip netip.Addr, port int) *memPacketConn {
	c := &memPacketConn{m: m, ip: ip, port: port, local: udpAddr(ip, port), from: udpAddr(orLoopback(ip), port)}
	c.cond.L = &c.mu
	return c
}

// ReadFrom waits for the next datagram and copies it into b (truncated if
// b is too short), returning the sender's address.
func (c *memPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		switch {
		case c.closed:
			return 0, nil, c.opError("read", nil, net.ErrClosed)
		case c.readDeadline.expired:
			return 0, nil, c.opError("read", nil, os.ErrDeadlineExceeded)
		case len(c.queue) > 0:
			d := c.queue[0]
			c.queue[0] = datagram{}
			c.queue = c.queue[1:]
			return copy(b, d.b), d.from, nil
		}
		c.cond.Wait()
	}
}

// WriteTo sends a copy of b to addr, an IP:port. It never waits: a
// datagram nobody can take is dropped, and WriteTo still succeeds.
func (c *memPacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if addr == nil {
		return 0, c.opError("write", nil, errMissingAddress)
	}
	ip, port, err := parseAddr(addr.String())
	if err != nil {
		return 0, c.opError("write", addr, err)
	}
	c.mu.Lock()
	closed, expired := c.closed, c.writeDeadline.expired
	c.mu.Unlock()
	switch {
	case closed:
		return 0, c.opError("write", addr, net.ErrClosed)
	case expired:
		return 0, c.opError("write", addr, os.ErrDeadlineExceeded)
	}
	if dst, ok := c.m.findPacket(orLoopback(ip), port); ok && c.m.delivers(orLoopback(c.ip), orLoopback(ip)) {
		dst.deliver(datagram{b: append([]byte(nil), b...), from: c.from})
	}
	return len(b), nil
}

// deliver queues d unless the endpoint is closed or its queue full.
func (c *memPacketConn) deliver(d datagram) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || len(c.queue) >= packetQueue {
		return
	}
	c.queue = append(c.queue, d)
	c.cond.Broadcast()
}

// Close frees the address and makes reads fail with net.ErrClosed.
func (c *memPacketConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.queue = nil
	c.readDeadline.stop()
	c.writeDeadline.stop()
	c.cond.Broadcast()
	c.mu.Unlock()
	c.m.unbindPacket(c)
	return nil
}

// LocalAddr is the address bound (0.0.0.0 for any IP).
func (c *memPacketConn) LocalAddr() net.Addr { return c.local }

// SetDeadline sets both the read and the write deadline.
func (c *memPacketConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readDeadline.set(&c.cond, t)
	c.writeDeadline.set(&c.cond, t)
	return nil
}

// SetReadDeadline sets when a waiting or future ReadFrom fails with
// os.ErrDeadlineExceeded; the zero time clears it.
func (c *memPacketConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readDeadline.set(&c.cond, t)
	return nil
}

// SetWriteDeadline sets when WriteTo starts failing with
// os.ErrDeadlineExceeded (it never waits); the zero time clears it.
func (c *memPacketConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeDeadline.set(&c.cond, t)
	return nil
}

func (c *memPacketConn) opError(op string, addr net.Addr, err error) error {
	return &net.OpError{Op: op, Net: "udp", Source: c.local, Addr: addr, Err: err}
}
