package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The HTTP/1.1 side facing clients: one goroutine per client connection
// reads a request, proxies it (http.go) and reads the next, so that a
// request costs no goroutine hand-off. It keeps what net/http's Server
// gives the proxy: header size and time limits, keep-alive with an idle
// timeout, pipelining (requests are answered in turn), HTTP/1.0 clients,
// and a graceful shutdown that closes idle connections and lets requests
// in flight finish.

const (
	// maxHeaderBytes bounds a request's line and header.
	maxHeaderBytes = 1 << 20
	// readHeaderTimeout bounds reading a request's line and header.
	readHeaderTimeout = 30 * time.Second
	// clientIdleTimeout closes a client's kept-alive connection that
	// sends no next request.
	clientIdleTimeout = 2 * time.Minute
	// deadlineSlack is how stale the idle deadline may grow before it is
	// moved on.
	deadlineSlack = 5 * time.Second
	// maxDrainBody is how much of a request body the proxy reads and
	// drops, after answering without it, to keep the connection.
	maxDrainBody = 256 << 10
)

// httpServer serves one HTTP listener.
type httpServer struct {
	l            *listener
	conns        tracker // client connections; their closers are *clientConn
	shuttingDown atomic.Bool
}

// serve accepts connections until the listener closes.
func (s *httpServer) serve() {
	s.l.accept(func(c net.Conn) bool {
		cc := newClientConn(s, c)
		if !s.conns.add(cc) { // shutting down
			return false
		}
		go cc.serve()
		return true
	})
}

// shutdown closes idle connections, lets the others finish the request
// they are on (they close after it) and waits for them until ctx ends.
func (s *httpServer) shutdown(ctx context.Context) error {
	s.shuttingDown.Store(true)
	s.conns.each(func(c io.Closer) {
		if cc := c.(*clientConn); cc.state.CompareAndSwap(connIdle, connClosed) {
			cc.conn.Close()
		}
	})
	return s.conns.closeAndWait(ctx)
}

// closeAll cuts every connection, with the endpoint connection it uses.
func (s *httpServer) closeAll() { s.conns.closeAll() }

// Client connection states, for shutdown: only idle connections are
// closed at once.
const (
	connActive int32 = iota // reading or answering a request (or new)
	connIdle                // waiting for the next request
	connClosed              // closed by shutdown
)

// clientConn is one client connection.
type clientConn struct {
	s          *httpServer
	p          *Proxy
	conn       net.Conn
	br         *bufio.Reader
	bw         *bufio.Writer
	lines      lineReader
	remoteAddr string
	clientIP   string // for X-Forwarded-For; empty when the address does not parse
	state      atomic.Int32
	deadline   time.Time // the read deadline; zero for none
	// up is the endpoint connection in use, cut when the client's is.
	up connSlot

	// The current request's, reused.
	req        request
	body       bodyReader
	reqBody    io.Reader // body, or what reads it (a 100 Continue, a mirror's copy)
	start      time.Time
	fl         flight
	out        outbound
	forward1xx func(*response) error

	// The answer and a 100 Continue sent when a streamed body is first
	// read (by another goroutine) must not interleave.
	wmu          sync.Mutex
	continueSent bool
	answering    bool
}

func newClientConn(s *httpServer, c net.Conn) *clientConn {
	cc := &clientConn{s: s, p: s.l.p, conn: c, remoteAddr: c.RemoteAddr().String()}
	if ip, _, err := net.SplitHostPort(cc.remoteAddr); err == nil {
		cc.clientIP = ip
	}
	cc.forward1xx = cc.informational
	return cc
}

// Close cuts the connection and the endpoint connection it uses.
func (c *clientConn) Close() error {
	err := c.conn.Close()
	c.up.cut()
	return err
}

// connSlot holds the endpoint connection a client connection uses, so
// that cutting the one (when Close runs out of patience) cuts the other,
// even while it is being taken.
type connSlot struct {
	up      atomic.Pointer[upstreamConn]
	cutting atomic.Bool
}

// set publishes uc; nil when the exchange is over.
func (s *connSlot) set(uc *upstreamConn) {
	s.up.Store(uc)
	// cut stores its flag before it looks, so one of the two sees the
	// other.
	if uc != nil && s.cutting.Load() {
		uc.Close()
	}
}

func (s *connSlot) cut() {
	s.cutting.Store(true)
	if uc := s.up.Load(); uc != nil {
		uc.Close()
	}
}

func (c *clientConn) serve() {
	defer c.s.conns.done()
	defer c.s.conns.forget(c)
	defer c.conn.Close()
	rw := newSockIO(c.conn)
	c.br = newReader(rw)
	c.bw = newWriter(rw)
	defer func() {
		c.br.Reset(nil)
		readerPool.Put(c.br)
		c.bw.Reset(nil)
		writerPool.Put(c.bw)
	}()
	// Few read deadlines: the idle timeout also bounds the header,
	// unless the header is still arriving when the request's first bytes
	// are in (then the header timeout does); it is moved on only every
	// deadlineSlack (a kept-alive connection closes after two minutes
	// idle, give or take that); and it is lifted only for requests whose
	// body or upgrade needs reading.
	c.setDeadline(time.Now().Add(readHeaderTimeout))
	first := true
	for {
		if !first && c.br.Buffered() == 0 { // no pipelined request waiting
			if !c.goIdle() {
				return
			}
			if now := time.Now(); c.deadline.Sub(now) < clientIdleTimeout-deadlineSlack {
				c.setDeadline(now.Add(clientIdleTimeout))
			}
			if _, err := c.br.Peek(1); err != nil {
				return
			}
			if !c.state.CompareAndSwap(connIdle, connActive) {
				return // shutdown closed it meanwhile
			}
			if !headerBuffered(c.br) {
				c.setDeadline(time.Now().Add(readHeaderTimeout))
			}
		} else if now := time.Now(); !first && !c.deadline.After(now) {
			c.setDeadline(now.Add(readHeaderTimeout)) // none, or an interrupted body's
		}
		first = false
		if !c.readRequest() {
			return
		}
		if c.req.hasBody() || c.req.header.has(fieldUpgrade) {
			c.setDeadline(time.Time{}) // bodies take their time
		}
		if !c.serveRequest() || c.s.shuttingDown.Load() {
			return
		}
	}
}

// setDeadline sets the connection's read deadline.
func (c *clientConn) setDeadline(t time.Time) {
	c.deadline = t
	c.conn.SetReadDeadline(t)
}

// headerBuffered reports whether a request's whole header is buffered.
func headerBuffered(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	return bytes.Contains(b, []byte("\r\n\r\n"))
}

// goIdle marks the connection idle; false when shutting down.
func (c *clientConn) goIdle() bool {
	c.state.Store(connIdle)
	// shutdown sets its flag before it looks for idle connections, so
	// one of the two sees the other.
	return !c.s.shuttingDown.Load()
}

// readRequest reads the next request's head, answering a bad one itself
// as net/http's Server does.
func (c *clientConn) readRequest() bool {
	c.lines.start(c.br, maxHeaderBytes)
	err := c.lines.readRequest(&c.req)
	if err == nil {
		c.body.reset(c.br, c.req.chunked, c.req.length)
		c.reqBody = &c.body
		return true
	}
	var ne net.Error
	switch {
	case err == io.EOF, errors.Is(err, net.ErrClosed), errors.As(err, &ne):
		// The client went or said nothing in time: nobody to answer.
	case err == errHeaderTooLarge:
		c.answerPlain(http.StatusRequestHeaderFieldsTooLarge, "")
	case err == errUnsupportedTE:
		c.answerPlain(http.StatusNotImplemented, "Unsupported transfer encoding")
	case err == errVersion:
		c.answerPlain(http.StatusHTTPVersionNotSupported, "unsupported protocol version")
	case err == errMissingHost, err == errBadHost, err == errTooManyHosts, err == errBothLengths, err == errBadLength:
		c.answerPlain(http.StatusBadRequest, err.Error())
	default:
		c.answerPlain(http.StatusBadRequest, "")
	}
	return false
}

// answerPlain writes a short plain-text answer of the proxy's own, after
// which the connection closes.
func (c *clientConn) answerPlain(status int, detail string) {
	msg := http.StatusText(status)
	if detail != "" {
		msg += ": " + detail
	}
	c.bw.WriteString("HTTP/1.1 ")
	c.bw.WriteString(strconv.Itoa(status))
	c.bw.WriteByte(' ')
	c.bw.WriteString(http.StatusText(status))
	c.bw.WriteString("\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n")
	body := strconv.Itoa(status) + " " + msg
	writeContentLength(c.bw, int64(len(body)))
	c.bw.WriteString("\r\n")
	c.bw.WriteString(body)
	c.bw.Flush()
}

// sendContinue tells the client to send its body (100 Continue) unless it
// was told already; once the answer has begun it is too late, and the
// body is not read.
func (c *clientConn) sendContinue() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.continueSent {
		return nil
	}
	if c.answering {
		return errNoContinue
	}
	c.continueSent = true
	c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
	return c.bw.Flush()
}

var errNoContinue = errors.New("answered before the body was asked for")

// continueReader asks for the client's body when it is first read.
type continueReader struct {
	c     *clientConn
	r     io.Reader
	asked bool
}

func (cr *continueReader) Read(p []byte) (int, error) {
	if !cr.asked {
		cr.asked = true
		if err := cr.c.sendContinue(); err != nil {
			return 0, err
		}
	}
	return cr.r.Read(p)
}
