package vnet

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// pipeCapacity is how many bytes one direction of a connection buffers
// before its writer waits for the reader.
const pipeCapacity = 4 << 20

// memConn is one end of a connection of a Memory: it reads from one pipe
// and writes to the other, which its peer reads.
type memConn struct {
	in, out       *pipe
	local, remote *net.TCPAddr
	// owner is the machine whose listener accepted the connection, when
	// one listened as a Machine, and client the IP that dialled: a cut
	// between them cuts the connection, whatever address the listener
	// has (a VIP is every proxy's).
	owner, client netip.Addr
	closed        atomic.Bool
	// onClose, when set, runs once when the connection closes (the
	// Memory forgets it).
	onClose func()
}

var _ net.Conn = (*memConn)(nil)

// newConnPair returns the two ends of a connection from client to server.
func newConnPair(client, server *net.TCPAddr) (clientEnd, serverEnd *memConn) {
	up, down := newPipe(), newPipe()
	clientEnd = &memConn{in: down, out: up, local: client, remote: server}
	serverEnd = &memConn{in: up, out: down, local: server, remote: client}
	return clientEnd, serverEnd
}

// Read reads what the peer wrote, waiting for it if there is none yet; it
// returns io.EOF once the peer has closed (or closed its writing) and
// everything it wrote has been read.
func (c *memConn) Read(b []byte) (int, error) {
	n, err := c.in.read(b)
	if err != nil && err != io.EOF {
		err = c.opError("read", err)
	}
	return n, err
}

// Write buffers b for the peer, waiting while the buffer is full.
func (c *memConn) Write(b []byte) (int, error) {
	n, err := c.out.write(b)
	if err != nil {
		err = c.opError("write", err)
	}
	return n, err
}

// Close closes both directions: the peer reads EOF once it has read what
// was written, and its writes fail. Closing again does nothing.
func (c *memConn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.out.closeWriter()
	c.in.closeReader()
	if c.onClose != nil {
		c.onClose()
	}
	return nil
}

// CloseWrite closes the writing direction only: the peer reads EOF once
// it has read what was written.
func (c *memConn) CloseWrite() error {
	if c.closed.Load() {
		return c.opError("close", net.ErrClosed)
	}
	c.out.endWrites()
	return nil
}

// LocalAddr is this end's address.
func (c *memConn) LocalAddr() net.Addr { return c.local }

// RemoteAddr is the peer's address.
func (c *memConn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets both the read and the write deadline.
func (c *memConn) SetDeadline(t time.Time) error {
	c.in.setDeadline(&c.in.readDeadline, t)
	c.out.setDeadline(&c.out.writeDeadline, t)
	return nil
}

// SetReadDeadline sets when a waiting or future Read fails with
// os.ErrDeadlineExceeded; the zero time clears it.
func (c *memConn) SetReadDeadline(t time.Time) error {
	c.in.setDeadline(&c.in.readDeadline, t)
	return nil
}

// SetWriteDeadline sets when a waiting or future Write fails with
// os.ErrDeadlineExceeded; the zero time clears it.
func (c *memConn) SetWriteDeadline(t time.Time) error {
	c.out.setDeadline(&c.out.writeDeadline, t)
	return nil
}

func (c *memConn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.local, Addr: c.remote, Err: err}
}

// pipe is one direction of a connection: a bounded byte buffer that one
// end writes and the other reads. Waiters wait on cond, which every change
// (data, room, closing, deadlines) broadcasts.
type pipe struct {
	mu   sync.Mutex
	cond sync.Cond
	buf  bytes.Buffer
	// writerClosed: the writing end was closed (its writes fail with
	// net.ErrClosed). eof: it writes no more (Close or CloseWrite); the
	// reader sees io.EOF once buf is empty. readerClosed: the reading end
	// was closed (its reads fail with net.ErrClosed, writes with EPIPE).
	writerClosed, eof, readerClosed bool
	readDeadline, writeDeadline     deadline
}

func newPipe() *pipe {
	p := &pipe{}
	p.cond.L = &p.mu
	return p
}

func (p *pipe) read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		switch {
		case p.readerClosed:
			return 0, net.ErrClosed
		case p.readDeadline.expired:
			return 0, os.ErrDeadlineExceeded
		case p.buf.Len() > 0:
			n, _ := p.buf.Read(b)
			p.cond.Broadcast() // room for a waiting writer
			return n, nil
		case p.eof:
			return 0, io.EOF
		case len(b) == 0:
			return 0, nil
		}
		p.cond.Wait()
	}
}

func (p *pipe) write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	written := 0
	for {
		switch {
		case p.writerClosed:
			return written, net.ErrClosed
		case p.eof, p.readerClosed:
			return written, syscall.EPIPE
		case p.writeDeadline.expired:
			return written, os.ErrDeadlineExceeded
		case len(b) == 0:
			return written, nil
		}
		if room := pipeCapacity - p.buf.Len(); room > 0 {
			n := min(room, len(b))
			p.buf.Write(b[:n])
			b = b[n:]
			written += n
			p.cond.Broadcast() // data for a waiting reader
			continue
		}
		p.cond.Wait()
	}
}

// closeWriter is the writing end's Close.
func (p *pipe) closeWriter() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.writerClosed, p.eof = true, true
	p.writeDeadline.stop()
	p.cond.Broadcast()
}

// endWrites is the writing end's CloseWrite.
func (p *pipe) endWrites() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.eof = true
	p.cond.Broadcast()
}

// closeReader is the reading end's Close: what was not read is dropped.
func (p *pipe) closeReader() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.readerClosed = true
	p.buf = bytes.Buffer{}
	p.readDeadline.stop()
	p.cond.Broadcast()
}

// setDeadline sets d, one of p's deadlines.
func (p *pipe) setDeadline(d *deadline, t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d.set(&p.cond, t)
}

// deadline is when waiting reads or writes give up. Its timer is a
// time.AfterFunc, so that it runs on the fake clock in a synctest bubble.
// It is guarded by the lock of the cond it is set with.
type deadline struct {
	timer *time.Timer
	// gen tells the current timer from stopped ones that fire anyway.
	gen     uint64
	expired bool
}

// set makes the deadline t (none for the zero time) and wakes the waiters
// on cond, whose lock is held, so they see the change; they are woken
// again when t passes.
func (d *deadline) set(cond *sync.Cond, t time.Time) {
	d.stop()
	d.expired = false
	cond.Broadcast()
	if t.IsZero() {
		return
	}
	wait := time.Until(t)
	if wait <= 0 {
		d.expired = true
		return
	}
	gen := d.gen
	d.timer = time.AfterFunc(wait, func() {
		cond.L.Lock()
		defer cond.L.Unlock()
		if d.gen == gen {
			d.expired = true
			cond.Broadcast()
		}
	})
}

// stop cancels the timer, if any.
func (d *deadline) stop() {
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}
