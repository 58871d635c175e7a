//go:build linux

package proxy

import (
	"bufio"
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// sockIO reads and writes a TCP connection as net.Conn does, but makes the
// read and write calls as raw system calls inside the connection's
// RawConn callbacks: the socket is non-blocking, so they never block (the
// callback reports EAGAIN and the runtime's poller waits, deadlines
// included, exactly as for net.Conn's own Read and Write).
//
// A plain system call tells the scheduler it may block: the goroutine's P
// is marked in a syscall, and sysmon hands it to another thread when the
// call lasts more than one of its ticks (20 µs) while goroutines are
// waiting. A write on a loopback or local TCP socket does the receiving
// side's TCP processing and wakes its reader before it returns, so on a
// busy host it often lasts that long; the hand-off then costs a thread
// wake-up, the returning thread a trip through the scheduler, and sysmon,
// finding work each time, keeps polling every 20 µs. nginx pays none of
// this; under `bench proxy` it was about a tenth of the proxy's CPU.
//
// It also saves the read that finds nothing when the proxy sends a request
// to an endpoint and waits for the answer (flushAwaitingReply).
type sockIO struct {
	conn net.Conn
	rc   syscall.RawConn
	r    rawOp // only the reader touches it
	w    rawOp // only the writer touches it

	// awaitReply makes the next Write the request of flushAwaitingReply;
	// awaitFn is awaitWrite as a func value, waited says it was written
	// and the wait for readability began.
	awaitReply bool
	waited     bool
	awaitFn    func(fd uintptr) bool
	nwrites    uint64 // Write calls, for flushAwaitingReply's callers
}

// rawOp is one direction's call in progress, and its callback (a method
// value made once, so that a call allocates nothing).
type rawOp struct {
	p     []byte
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

// newSockIO is what the proxy's buffered readers and writers of c use: a
// sockIO for a TCP connection, c itself for any other.
func newSockIO(c net.Conn) io.ReadWriter {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	s := &sockIO{conn: c, rc: rc}
	s.r.fn = s.rawRead
	s.w.fn = s.rawWrite
	s.awaitFn = s.awaitWrite
	return s
}

func (s *sockIO) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.r.p, s.r.n, s.r.errno = p, 0, 0
	err := s.rc.Read(s.r.fn)
	n, errno := s.r.n, s.r.errno
	s.r.p = nil
	switch {
	case err != nil: // closed, or the deadline passed
		return n, err
	case errno != 0:
		return 0, s.opError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (s *sockIO) rawRead(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&s.r.p[0])), uintptr(len(s.r.p)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait until readable
		case 0:
			s.r.n = int(n)
		default:
			s.r.errno = e
		}
		return true
	}
}

func (s *sockIO) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.nwrites++
	s.w.p, s.w.n, s.w.errno = p, 0, 0
	if s.awaitReply {
		s.awaitReply, s.waited = false, false
		// The write, then the wait for the answer, within the
		// connection's read: see flushAwaitingReply. A socket too full
		// to take it all, a deadline already past or a closed
		// connection end that early, and the rest is written below.
		s.rc.Read(s.awaitFn)
		if n, errno := s.w.n, s.w.errno; errno != 0 || n == len(p) {
			s.w.p = nil
			if errno != 0 {
				return n, s.opError("write", errno)
			}
			return n, nil
		}
	}
	err := s.rc.Write(s.w.fn)
	n, errno := s.w.n, s.w.errno
	s.w.p = nil
	switch {
	case err != nil:
		return n, err
	case errno != 0:
		return n, s.opError("write", errno)
	}
	return n, nil
}

func (s *sockIO) rawWrite(fd uintptr) bool {
	for s.w.n < len(s.w.p) {
		rest := s.w.p[s.w.n:]
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&rest[0])), uintptr(len(rest)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait until writable, then go on
		case 0:
			s.w.n += int(n)
		default:
			s.w.errno = e
			return true
		}
	}
	return true
}

// flushAwaitingReply flushes bw, which holds a whole request and writes
// to s, and waits until the answer can be read, without the read that
// finds nothing yet (EAGAIN) and parks the goroutine.
//
// A read must normally come first because the runtime's poller forgets,
// when a read or wait begins, that the socket turned readable before; a
// wait that began without a read could sleep through bytes already there.
// Here the request is written inside the read (RawConn.Read: the poller
// is reset, then the callback writes), so nothing it answers can have
// come before the reset: the wait sees the answer's arrival. Only an
// endpoint that said something unasked before the request (a 408 or the
// end of a kept-alive connection it closed) is not seen until its next
// word, and one that closed answers the request with a reset, which ends
// the wait too; the read deadline bounds it as before.
func (s *sockIO) flushAwaitingReply(bw *bufio.Writer) error {
	s.awaitReply = true
	err := bw.Flush()
	s.awaitReply = false
	return err
}

func (s *sockIO) writes() uint64 { return s.nwrites }

// awaitWrite is flushAwaitingReply's callback: it writes the request,
// then has the runtime wait until the connection is readable.
func (s *sockIO) awaitWrite(fd uintptr) bool {
	if s.waited {
		return true // readable (or closed, or past the deadline)
	}
	if !s.rawWrite(fd) || s.w.errno != 0 {
		return true // the socket is full (Write goes on), or it failed
	}
	s.waited = true
	return false
}

// WriteTo copies what is left to w with the connection's own means
// (splice between TCP connections), for upgraded connections.
func (s *sockIO) WriteTo(w io.Writer) (int64, error) {
	if rf, ok := w.(io.ReaderFrom); ok {
		return rf.ReadFrom(s.conn)
	}
	return io.Copy(w, s.conn)
}

// opError wraps errno as net.Conn's Read and Write do.
func (s *sockIO) opError(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: s.conn.LocalAddr().Network(), Source: s.conn.LocalAddr(),
		Addr: s.conn.RemoteAddr(), Err: os.NewSyscallError(op, errno)}
}
