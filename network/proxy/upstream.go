package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"flotilla/internal/clock"
)

// The connections to endpoints. Each endpoint port has a pool of idle
// kept-alive connections; a request takes one (or dials), writes itself,
// reads the answer's header, and the connection goes back to the pool once
// the answer's body was read to its end, if the endpoint lets it.
//
// Unlike http.Transport there is no goroutine per connection: the client's
// goroutine does the whole exchange, and only a request body that streams
// (too large or not yet arrived) is written by a goroutine of its own, so
// that an endpoint answering early cannot deadlock the exchange.

const (
	// defaultMaxIdlePerEndpoint is Config.MaxIdlePerEndpoint's default:
	// the pool is sized by demand below it.
	defaultMaxIdlePerEndpoint = 1024
	// idleConnTimeout closes connections idle for this long.
	idleConnTimeout = 90 * time.Second
	// continueTimeout is how long a request with "Expect: 100-continue"
	// waits for the endpoint's go-ahead before its body is sent anyway.
	continueTimeout = time.Second
	// max1xxResponses bounds the informational answers before the final
	// one, as net/http does.
	max1xxResponses = 5
	// maxBufferedBody is the largest request body (of known length) read
	// into memory before it is sent: such a body is sent with the header
	// and can be sent again to another endpoint.
	maxBufferedBody = 64 << 10
	// checkIdleAfter is how long a connection may stay idle before it is
	// checked, before being used again, for having been closed or having
	// something unasked to say (a 408, say), which endpoints do after a
	// while.
	checkIdleAfter = time.Second
	// streamGrace is how long a finished exchange waits for its request
	// body's goroutine before cutting it short.
	streamGrace = 10 * time.Millisecond
	// connBufferSize sizes the buffered reader and writer of every
	// connection, both sides.
	connBufferSize = 4 << 10
)

// upstreamConn is one connection to an endpoint.
type upstreamConn struct {
	conn net.Conn
	rw   io.ReadWriter   // what br and bw read and write: conn, or a sockIO on it
	raw  syscall.RawConn // for the liveness check; nil when unavailable
	br   *bufio.Reader
	bw   *bufio.Writer
	pool *connPool

	// The answer being read, reused.
	lines lineReader
	resp  response
	body  bodyReader

	idleSince time.Time // while in the pool
	closed    atomic.Bool
	// readDeadline is the read deadline set last (setReadDeadline), kept
	// by the goroutine using the connection.
	readDeadline time.Time
}

// setReadDeadline sets the connection's read deadline and remembers it.
func (uc *upstreamConn) setReadDeadline(t time.Time) {
	uc.readDeadline = t
	uc.conn.SetReadDeadline(t)
}

// deadlineFresh reports whether a read deadline set for an earlier
// request, cur, can serve one that wants want: it is set, not later, and
// earlier by at most a sixteenth of the response timeout. Moving a
// deadline costs a timer update in the runtime; a kept-alive connection
// under load then moves it about once a second (at the default 15s), not
// twice per request.
func deadlineFresh(cur, want time.Time, timeout time.Duration) bool {
	return !cur.IsZero() && !cur.After(want) && want.Sub(cur) <= timeout/16
}

// Close closes the connection; it may be called more than once, from any
// goroutine.
func (uc *upstreamConn) Close() error {
	if uc.closed.Swap(true) {
		return nil
	}
	return uc.conn.Close()
}

// connPool keeps the idle connections to one endpoint port, newest last.
// A closed pool keeps none: the endpoint left or is not ready.
//
// It is sized by demand: a connection is dialed only when none is idle, so
// the pool never holds more than were in use at once, and every one that
// comes back is kept (up to maxIdle), so that a steady load, however many
// requests it has in flight, opens no new connections. Those the load no
// longer needs sink to the bottom (the newest is used first) and are closed
// after idleConnTimeout. A fixed small cap instead (128 before) closed and
// redialed a connection on most requests once more were in flight.
type connPool struct {
	addr    string
	clock   clock.Clock
	maxIdle int

	mu     sync.Mutex
	idle   []*upstreamConn // by idleSince, oldest first
	closed bool
	reaper clock.Timer // pending while idle is not empty
}

func newConnPool(addr string, clk clock.Clock, maxIdle int) *connPool {
	return &connPool{addr: addr, clock: clk, maxIdle: maxIdle}
}

// get returns the most recently used idle connection, or nil. One that
// was idle for a while, or that must not fail for a request that cannot
// be repeated (check), is first checked for being still open and silent;
// a request that can be repeated instead goes to a new connection if the
// one it took turns out closed (see exchange), which costs less than
// checking every time.
func (cp *connPool) get(check bool, now time.Time) *upstreamConn {
	for {
		cp.mu.Lock()
		n := len(cp.idle)
		if n == 0 {
			cp.mu.Unlock()
			return nil
		}
		uc := cp.idle[n-1]
		cp.idle[n-1] = nil
		cp.idle = cp.idle[:n-1]
		cp.mu.Unlock()
		if uc.closed.Load() {
			continue
		}
		if !check && now.Sub(uc.idleSince) < checkIdleAfter {
			return uc
		}
		if !uc.readDeadline.IsZero() {
			// One left from the last request may have passed, which
			// would fail the check.
			uc.setReadDeadline(time.Time{})
		}
		if uc.alive() {
			return uc
		}
		uc.Close()
	}
}

// put keeps uc for another request, or closes it when the pool is closed
// or full; now is when it turned idle.
func (cp *connPool) put(uc *upstreamConn, now time.Time) {
	cp.mu.Lock()
	if cp.closed || len(cp.idle) >= cp.maxIdle || uc.closed.Load() {
		cp.mu.Unlock()
		uc.Close()
		return
	}
	uc.idleSince = now
	cp.idle = append(cp.idle, uc)
	if cp.reaper == nil {
		cp.reaper = cp.clock.AfterFunc(idleConnTimeout, cp.reap)
	}
	cp.mu.Unlock()
}

// reap closes the connections idle for idleConnTimeout and waits for the
// next to be.
func (cp *connPool) reap() {
	now := cp.clock.Now()
	cp.mu.Lock()
	cp.reaper = nil
	i := 0
	for i < len(cp.idle) && now.Sub(cp.idle[i].idleSince) >= idleConnTimeout {
		i++
	}
	expired := append([]*upstreamConn(nil), cp.idle[:i]...)
	cp.idle = append(cp.idle[:0], cp.idle[i:]...)
	clear(cp.idle[len(cp.idle):cap(cp.idle)])
	if len(cp.idle) > 0 && !cp.closed {
		cp.reaper = cp.clock.AfterFunc(idleConnTimeout-now.Sub(cp.idle[0].idleSince), cp.reap)
	}
	cp.mu.Unlock()
	for _, uc := range expired {
		uc.Close()
	}
}

// setOpen opens or closes the pool; closing closes its idle connections,
// and connections in use are closed when they come back.
func (cp *connPool) setOpen(open bool) {
	cp.mu.Lock()
	cp.closed = !open
	var idle []*upstreamConn
	if !open {
		idle, cp.idle = cp.idle, nil
		if cp.reaper != nil {
			cp.reaper.Stop()
			cp.reaper = nil
		}
	}
	cp.mu.Unlock()
	for _, uc := range idle {
		uc.Close()
	}
}

// connBuffers recycles the buffered readers and writers of connections.
var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, connBufferSize) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, connBufferSize) }}
	copyPool   = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
)

func newReader(r io.Reader) *bufio.Reader {
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

func newWriter(w io.Writer) *bufio.Writer {
	bw := writerPool.Get().(*bufio.Writer)
	bw.Reset(w)
	return bw
}

func (p *Proxy) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	var err error
	if p.cfg.Dial != nil {
		dialCtx, cancel := clock.WithTimeout(ctx, p.cfg.Clock, p.cfg.DialTimeout)
		c, err = p.cfg.Dial(dialCtx, network, addr)
		cancel()
	} else {
		c, err = p.dialer.DialContext(ctx, network, addr)
	}
	if err != nil {
		return nil, &connectError{addr: addr, err: err}
	}
	return c, nil
}

// dialUpstream opens a new connection to t.
func (p *Proxy) dialUpstream(ctx context.Context, t *target) (*upstreamConn, error) {
	c, err := p.dialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	rw := newSockIO(c)
	uc := &upstreamConn{conn: c, rw: rw, pool: t.conns,
		br: bufio.NewReaderSize(rw, connBufferSize), bw: bufio.NewWriterSize(rw, connBufferSize)}
	if sc, ok := c.(syscall.Conn); ok {
		uc.raw, _ = sc.SyscallConn()
	}
	return uc, nil
}

// outbound is a request as an endpoint receives it.
type outbound struct {
	req      *request // method, target and header as the client sent them
	clientIP string   // added to X-Forwarded-For; none when empty
	// The header drops what describes the client's connection, extraHop
	// when its Connection field names more, and adds the forwarding
	// fields.
	extraHop   bool
	teTrailers bool   // the client accepts trailers
	upgrade    []byte // the protocol the client asks to switch to

	// The body: in memory (sent with the header, so it can be sent
	// again), streamed, or none.
	body   []byte
	stream *bodyStream
	expect bool // Expect: 100-continue, with a streamed body

	// ctx, when set, bounds the exchange (mirrors): its deadline is the
	// connection's and its end cuts the connection; stop ends that.
	ctx  context.Context
	stop func() bool
	// informational is told of the endpoint's 1xx answers before the
	// final one; 100 Continue included, 101 not.
	informational func(*response) error
	// slot, when set, is where the connection in use is published.
	slot *connSlot
	// headerDeadline bounds the wait for the answer's header (the
	// response timeout, or ctx's deadline when sooner); zero for none.
	headerDeadline time.Time

	writer chan struct{} // closed when the streaming goroutine is done; nil when none runs
}

// bodyStream is a request body that is written to the endpoint as it is
// read from the client, by a goroutine of its own. Its fields are read
// once that goroutine is done.
type bodyStream struct {
	r       io.Reader
	length  int64   // -1: unknown, sent chunked
	trailer *header // the client's, once its body was read
	// interrupt makes a read of the client's body that waits return, for
	// when the exchange ends first.
	interrupt func()

	started bool          // the goroutine was started: the body may be partly read
	conn    *upstreamConn // where it writes
	cut     bool          // the exchange cut it short

	// Written by the goroutine.
	eof     bool  // the client's body was read to its end
	readErr error // reading the client's body failed
	sent    bool  // the body was written to the endpoint whole
}

// bodyTouched reports whether the streamed body may have been read, so
// that the request cannot be sent again.
func (out *outbound) bodyTouched() bool { return out.stream != nil && out.stream.started }

var errUnasked408 = errors.New("408 on a kept-alive connection")

// exchange sends out to t, on an idle connection or a new one, and reads
// the answer's header. A kept-alive connection that the endpoint had
// closed is replaced by a new one when that cannot repeat the request: it
// failed while being written, or the method has no effects.
func (p *Proxy) exchange(t *target, out *outbound, now time.Time) (*upstreamConn, *response, error) {
	ctx := p.ctx
	if out.ctx != nil {
		ctx = out.ctx
	}
	uc := t.conns.get(!safeToRepeat(out.req.method) || out.stream != nil, now)
	for {
		reused := uc != nil
		if !reused {
			var err error
			if uc, err = p.dialUpstream(ctx, t); err != nil {
				return nil, nil, err
			}
		}
		if out.slot != nil {
			out.slot.set(uc)
		}
		if out.ctx != nil {
			if dl, ok := out.ctx.Deadline(); ok {
				uc.conn.SetDeadline(dl)
				uc.readDeadline = dl
			}
			cut := uc
			out.stop = context.AfterFunc(out.ctx, func() { cut.Close() })
		}
		// Real time: socket deadlines are the kernel's, not a schedule.
		out.headerDeadline = time.Now().Add(p.cfg.ResponseTimeout)
		if dl := deadlineOf(out.ctx); !dl.IsZero() && dl.Before(out.headerDeadline) {
			out.headerDeadline = dl
		}
		if out.ctx == nil && out.stream == nil && deadlineFresh(uc.readDeadline, out.headerDeadline, p.cfg.ResponseTimeout) {
			out.headerDeadline = uc.readDeadline
		} else {
			uc.setReadDeadline(out.headerDeadline)
		}
		resp, wrote, received, err := uc.roundTrip(out)
		if err == nil && reused && resp.status == http.StatusRequestTimeout && safeToRepeat(out.req.method) && !out.bodyTouched() {
			// Most likely said while the connection was idle, before the
			// request was even sent: net/http's Transport drops these too.
			err, received = errUnasked408, false
		}
		if err == nil {
			return uc, resp, nil
		}
		if out.stop != nil {
			out.stop()
			out.stop = nil
		}
		uc.Close()
		out.join(false)
		if isTimeout(err) {
			// The endpoint did not answer in time: a new connection to it
			// would wait as long; the caller may try another endpoint.
			return nil, nil, &responseTimeoutError{err: err}
		}
		if reused && !received && !out.bodyTouched() && (!wrote || safeToRepeat(out.req.method)) &&
			(out.ctx == nil || out.ctx.Err() == nil) {
			uc = nil // a stale connection: once more on a new one
			continue
		}
		return nil, nil, err
	}
}

// release ends uc's exchange: the connection goes back to its pool when
// reusable (the answer was read to its end, the endpoint keeps the
// connection and the request was written whole), else it is closed. It
// waits for a body still streaming.
func (out *outbound) release(uc *upstreamConn, reusable bool, now time.Time) {
	if out.stream != nil {
		out.join(reusable)
		reusable = reusable && out.stream.sent
	}
	if out.stop != nil {
		out.stop()
		out.stop = nil
	}
	if !reusable || uc.resp.close || !uc.body.done() || uc.closed.Load() {
		uc.Close()
		return
	}
	if out.ctx != nil {
		uc.conn.SetDeadline(time.Time{})
		uc.readDeadline = time.Time{}
	}
	uc.pool.put(uc, now)
}

// join waits for the body's goroutine. When the exchange failed, or the
// goroutine is not done a moment after the answer was read whole, it may
// wait on an endpoint that reads no more or on a client that sends no
// more: it is cut short by closing the connection and interrupting the
// client's read.
func (out *outbound) join(completed bool) {
	if out.writer == nil {
		return
	}
	defer func() { out.writer = nil }()
	select {
	case <-out.writer:
		return
	default:
	}
	if completed {
		// Real time: this is a socket-level grace, not a schedule.
		t := time.NewTimer(streamGrace)
		select {
		case <-out.writer:
			t.Stop()
			return
		case <-t.C:
		}
	}
	out.stream.cut = true
	out.stream.conn.Close()
	if out.stream.interrupt != nil {
		out.stream.interrupt()
	}
	<-out.writer
}

// roundTrip writes out and reads the answer's header, forwarding 1xx
// answers. wrote says whether the request was written (a write error on a
// kept-alive connection means the endpoint had closed it); received
// whether any of the answer came.
func (uc *upstreamConn) roundTrip(out *outbound) (resp *response, wrote, received bool, err error) {
	// A request that fits the buffer whole, with no body to stream, is
	// sent by flushAwaitingReply when it can be: nothing of it was
	// written before, so nothing of the answer can come before.
	rf, await := uc.rw.(replyFlusher)
	await = await && out.stream == nil
	var writes uint64
	if await {
		writes = rf.writes()
	}
	writeRequestHead(uc.bw, out, uc.pool.addr)
	if out.body != nil {
		uc.bw.Write(out.body)
	}
	if await && rf.writes() == writes {
		err = rf.flushAwaitingReply(uc.bw)
	} else {
		err = uc.bw.Flush()
	}
	if err != nil {
		return nil, false, false, err
	}
	if out.stream != nil {
		if out.expect {
			// Wait a moment for the endpoint's go-ahead or refusal.
			cont := time.Now().Add(continueTimeout)
			if !out.headerDeadline.IsZero() && out.headerDeadline.Before(cont) {
				cont = out.headerDeadline
			}
			uc.setReadDeadline(cont)
			_, err := uc.br.Peek(1)
			uc.setReadDeadline(out.headerDeadline)
			var ne net.Error
			switch {
			case err == nil: // it answered: see below
			case errors.As(err, &ne) && ne.Timeout():
				uc.startStreaming(out)
			default:
				return nil, true, false, err
			}
		} else {
			uc.startStreaming(out)
		}
	}
	if _, err := uc.br.Peek(1); err != nil {
		return nil, true, false, err
	}
	resp = &uc.resp
	for n := 0; ; n++ {
		uc.lines.start(uc.br, maxResponseHeaderBytes)
		if err := uc.lines.readResponse(resp, out.req.method); err != nil {
			return nil, true, true, err
		}
		if resp.status >= 200 || resp.status == http.StatusSwitchingProtocols {
			uc.body.reset(uc.br, resp.chunked, resp.length)
			// The body may take as long as it takes; one already read
			// whole with the header is not read from the connection, and
			// the next request may keep the deadline.
			if out.ctx != nil || resp.status == http.StatusSwitchingProtocols || resp.chunked ||
				resp.length < 0 || int64(uc.br.Buffered()) < resp.length {
				uc.setReadDeadline(deadlineOf(out.ctx))
			}
			return resp, true, true, nil
		}
		if n == max1xxResponses {
			return nil, true, true, errors.New("too many 1xx informational answers")
		}
		if out.informational != nil {
			if err := out.informational(resp); err != nil {
				return nil, true, true, err
			}
		}
		if resp.status == http.StatusContinue && out.stream != nil {
			uc.startStreaming(out) // now that the client was told
		}
	}
}

// responseTimeoutError: the endpoint did not begin its answer within the
// response timeout.
type responseTimeoutError struct{ err error }

func (e *responseTimeoutError) Error() string {
	return "no answer within the response timeout: " + e.err.Error()
}
func (e *responseTimeoutError) Unwrap() error { return e.err }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// deadlineOf is ctx's deadline, zero for none.
func deadlineOf(ctx context.Context) time.Time {
	if ctx == nil {
		return time.Time{}
	}
	dl, _ := ctx.Deadline()
	return dl
}

// startStreaming starts the goroutine that writes the streamed body.
func (uc *upstreamConn) startStreaming(out *outbound) {
	s := out.stream
	if s.started {
		return
	}
	done := make(chan struct{})
	out.writer = done
	s.started, s.conn = true, uc
	go func() {
		defer close(done)
		s.write(uc)
	}()
}

// write copies the body to the endpoint: as is when its length is known,
// chunked (with trailers) when not. When the client's side fails, the
// connection is closed, so that the exchange waiting for an answer ends.
func (s *bodyStream) write(uc *upstreamConn) {
	bp := copyPool.Get().(*[]byte)
	defer copyPool.Put(bp)
	buf := *bp
	w := uc.bw
	var written int64
	var werr error
	for werr == nil {
		n, err := s.r.Read(buf)
		if n > 0 {
			if s.length < 0 {
				writeChunkHeader(w, n)
			}
			_, werr = w.Write(buf[:n])
			if s.length < 0 && werr == nil {
				_, werr = w.WriteString("\r\n")
			}
			written += int64(n)
			if werr == nil && n < len(buf) {
				werr = w.Flush() // it may be a while before more comes
			}
		}
		if err == io.EOF {
			s.eof = true
			break
		}
		if err != nil {
			s.readErr = err
			uc.Close()
			return
		}
	}
	if werr != nil {
		return
	}
	if s.length < 0 {
		w.WriteString("0\r\n")
		if s.trailer != nil {
			writeFieldsExcept(w, s.trailer, &hopRequest)
		}
		w.WriteString("\r\n")
	} else if written != s.length {
		return
	}
	s.sent = w.Flush() == nil
}

// replyFlusher is a sockIO: flushAwaitingReply writes a request and waits
// for its answer with one system call less.
type replyFlusher interface {
	flushAwaitingReply(bw *bufio.Writer) error
	writes() uint64 // Write calls so far
}

// alive reports whether an idle connection is still open and silent: the
// endpoint may have closed it (or, worse, said something) meanwhile.
func (uc *upstreamConn) alive() bool {
	if uc.raw == nil {
		return true
	}
	return peekAlive(uc.raw)
}
