package proxy

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"flotilla/network/proxy/route"
)

// Response headers the proxy adds, for people watching a rollout.
const (
	HeaderRevision = "X-Flotilla-Revision" // the revision that answered
	HeaderEndpoint = "X-Flotilla-Endpoint" // the allocation that answered
	HeaderProxy    = "X-Flotilla-Proxy"    // the node whose proxy forwarded
)

// statusClientClosed records a request whose client went away first (as
// nginx's 499); it is not an error of the service.
const statusClientClosed = 499

var errNoEndpoint = errors.New("no ready endpoint")

// connectError is a failure to connect to an endpoint: nothing was sent,
// so another endpoint may be tried.
type connectError struct {
	addr string
	err  error
}

func (e *connectError) Error() string { return "connect to " + e.addr + ": " + e.err.Error() }
func (e *connectError) Unwrap() error { return e.err }

// flight is one request's way through the proxy. Only the goroutine that
// serves the request touches it.
type flight struct {
	svc    *service
	pool   *portPool
	rev    int  // the revision the route table chose; -1 for none
	strict bool // only rev's endpoints (mirrors)
	cookie *route.Cookie
	ab     bool   // the route table runs an A/B experiment ...
	user   uint64 // ... and this is the user's key hash

	tried    []*endpoint
	triedBuf [maxRetries + 1]*endpoint
	served   *target // the endpoint that answered
	status   int     // what the client got

	// For comparing with mirrors.
	mirrored       bool // a mirror is on its way
	captureBody    bool // a mirror compares bodies
	capture        *bodyCapture
	upstreamHeader http.Header
}

// reset makes f a new request's flight.
func (f *flight) reset(svc *service, port int) {
	*f = flight{svc: svc, pool: svc.ports[port], rev: -1}
	f.tried = f.triedBuf[:0]
}

func newFlight(svc *service, port int) *flight {
	f := new(flight)
	f.reset(svc, port)
	return f
}

// series is where the flight is counted.
func (f *flight) series(p *Proxy) *series {
	if f.served != nil {
		return f.served.ep.series
	}
	return p.metrics.series(f.svc.namespace, f.svc.name, max(f.rev, 0))
}

// finish counts the flight and releases its endpoint.
func (f *flight) finish(p *Proxy, start time.Time, failed bool) {
	f.finishAt(p, start, p.clock.Now(), failed)
}

// finishAt is finish when the time is known.
func (f *flight) finishAt(p *Proxy, start, now time.Time, failed bool) {
	s := f.series(p)
	if f.served != nil {
		f.served.ep.inflight.Add(-1)
		s.end()
	}
	s.done(now, now.Sub(start), failed)
}

// serveRequest proxies the request just read and reports whether the
// connection stays open for the next.
//
// Every request takes this path: bodies of up to 64 KiB are read first
// and sent with the header, larger or chunked ones stream (with
// 100-continue passed on), upgrades (WebSocket) are spliced after the
// endpoint's 101, and mirrored requests send their copies from goroutines
// of their own. Only CONNECT is turned down (501).
func (c *clientConn) serveRequest() bool {
	p := c.p
	req := &c.req
	start := p.clock.Now()
	c.start = start
	svc := c.s.l.state.Load()
	fl := &c.fl
	fl.reset(svc, c.s.l.port)
	c.continueSent, c.answering = false, false
	keep := !req.close

	if req.method == http.MethodConnect {
		c.answerPlain(http.StatusNotImplemented, "CONNECT is not supported")
		return false
	}
	if svc.holds() {
		// A service at zero: wait for its first replica, body unread.
		if d, ok := svc.routes.Pick(routeRequest(svc.routes, req), p.rnd); ok {
			fl.rev = d.Backend
		}
		held, err := p.hold(c.s.l, svc, fl.rev)
		if err != nil {
			fl.status = http.StatusServiceUnavailable
			c.answerProxyError(fl.status, err.Error(), false)
			fl.finish(p, start, true)
			c.flush()
			return false
		}
		svc = held
		fl.reset(svc, c.s.l.port)
	}
	expect := false
	if req.header.has(fieldExpect) {
		if !req.header.hasToken(fieldExpect, "100-continue") {
			c.answerPlain(http.StatusExpectationFailed, "")
			return false
		}
		if req.proto11() && req.hasBody() {
			expect = true
			c.reqBody = &continueReader{c: c, r: &c.body}
		}
	}
	var upgrade []byte
	if req.header.hasToken(fieldConnection, "upgrade") {
		upgrade, _ = req.header.first(fieldUpgrade)
		if !printableASCII(upgrade) {
			c.answerPlain(http.StatusBadRequest, "invalid Upgrade header")
			return false
		}
	}

	var mirrorRevs []int
	if d, ok := svc.routes.Pick(routeRequest(svc.routes, req), p.rnd); ok {
		fl.rev, fl.cookie, mirrorRevs = d.Backend, d.SetCookie, d.Mirrors
		fl.ab, fl.user = d.AB, d.User
	}
	out := &c.out
	*out = outbound{
		req:           req,
		clientIP:      c.clientIP,
		teTrailers:    req.header.hasToken(fieldTE, "trailers"),
		extraHop:      req.header.namesExtra(),
		upgrade:       upgrade,
		informational: c.forward1xx,
		slot:          &c.up,
	}
	switch {
	case !req.hasBody():
	case !req.chunked && req.length <= maxBufferedBody && !expect:
		out.body = make([]byte, req.length)
		if _, err := io.ReadFull(c.reqBody, out.body); err != nil {
			// The client went away, or sent less than it said.
			fl.status = statusClientClosed
			fl.finish(p, start, false)
			return false
		}
	default:
		length := req.length
		if req.chunked {
			length = -1
		}
		out.stream = &bodyStream{r: c.reqBody, length: length, trailer: &c.body.trailer, interrupt: c.interruptRead}
		out.expect = expect
	}
	var mirrors []*mirrorCall
	if len(mirrorRevs) > 0 {
		mirrors = p.startMirrors(c, out, fl, mirrorRevs)
	}

	uc, resp, err := p.send(fl, out, start)
	if len(mirrors) > 0 {
		primaryServed(mirrors, fl.served) // the baselines go to another replica
	}
	if err != nil {
		c.up.set(nil)
		keep = c.answerError(fl, out, err, keep, start)
		if len(mirrors) > 0 {
			p.primaryDone(fl, mirrors, true)
		}
		return c.flush() && keep
	}
	defer c.up.set(nil)
	if fl.ab && fl.svc.ab != nil {
		fl.svc.ab.count(req, resp, fl.served.ep.revision, fl.user)
	}
	var body io.Reader = &uc.body
	if fl.mirrored {
		fl.upstreamHeader = resp.header.httpHeader()
		if fl.captureBody && !resp.noBody { // an answer without a body compares as empty
			fl.capture = newBodyCapture(body)
			body = fl.capture
		}
	}
	if resp.status == http.StatusSwitchingProtocols {
		c.serveUpgrade(out, uc, resp, start)
		if len(mirrors) > 0 {
			p.primaryDone(fl, mirrors, true)
		}
		return false
	}

	// The answer's framing: its length when known, else chunks (or, for
	// an HTTP/1.0 client, the end of the connection).
	chunked := !resp.noBody && resp.length < 0 && req.proto11()
	if !resp.noBody && resp.length < 0 && !chunked {
		keep = false
	}
	if c.s.shuttingDown.Load() {
		keep = false
	}
	if out.expect {
		c.wmu.Lock()
		c.answering = true
		if !c.continueSent {
			keep = false // the body was never asked for, so it may never come
		}
		c.wmu.Unlock()
	}
	c.writeAnswerHead(resp, fl, chunked, keep)

	eof, clientErr := true, false
	if !resp.noBody {
		eof, clientErr = c.copyBody(body, uc, chunked)
	}
	completed := eof && !clientErr
	if !completed {
		keep = false
		if clientErr {
			fl.status = statusClientClosed
		}
	}
	now := p.clock.Now()
	out.release(uc, eof, now)
	keep = keep && c.bodyDone(out)
	fl.finishAt(p, start, now, fl.status >= 500 || (!completed && !clientErr))
	if len(mirrors) > 0 {
		p.primaryDone(fl, mirrors, completed)
	}
	return c.flush() && keep
}

// send tries endpoints for out until one answers: a failed connection is
// retried on another endpoint (at most maxRetries times) as long as none
// of the body was sent, which after a failed connection is always so; a
// GET, HEAD or OPTIONS whose connection broke before the answer is too. On
// success the endpoint is in flight until the flight finishes. start is
// when the request came, which is recent enough for skipping ejected
// endpoints.
func (p *Proxy) send(fl *flight, out *outbound, start time.Time) (*upstreamConn, *response, error) {
	var lastErr error
	refused := 0
	for attempt := 0; attempt <= maxRetries; attempt++ {
		t := fl.svc.pick(fl.pool, fl.rev, fl.strict, fl.tried, start.UnixNano(), p.rnd)
		if t == nil {
			break
		}
		fl.tried = append(fl.tried, t.ep)
		t.ep.inflight.Add(1)
		t.ep.series.begin()
		uc, resp, err := p.exchange(t, out, start)
		if err == nil {
			fl.served, fl.status = t, resp.status
			if resp.status >= 500 {
				p.observe(fl.svc, t.ep, true, p.clock.Now())
			} else {
				p.observe(fl.svc, t.ep, false, start) // the time is not used
			}
			return uc, resp, nil
		}
		t.ep.inflight.Add(-1)
		t.ep.series.end()
		if out.clientFault() || (out.ctx != nil && out.ctx.Err() != nil) {
			return nil, nil, err // the client went away: no fault of the endpoint
		}
		p.observe(fl.svc, t.ep, true, p.clock.Now())
		var ce *connectError
		if !errors.As(err, &ce) && !safeToRepeat(out.req.method) {
			return nil, nil, err
		}
		t.ep.series.connectFailed()
		lastErr = err
		if out.bodyTouched() {
			break
		}
		if errors.Is(err, syscall.ECONNREFUSED) && refused < maxRefusedRetries {
			// Refused at once, nothing sent: a replica that stopped while
			// the news of it is still on its way here (a rollout stops a
			// whole revision at once). It does not use up a retry.
			refused++
			attempt--
		}
		p.log.Debug("retrying on another endpoint", "service", fl.svc.key, "endpoint", t.ep.id, "err", err)
	}
	if lastErr != nil {
		return nil, nil, lastErr
	}
	return nil, nil, errNoEndpoint
}

// safeToRepeat reports whether a request may go to another endpoint after
// its connection broke before an answer came (an endpoint that died
// mid-request): only methods without effects, as Envoy's "reset" retries.
func safeToRepeat(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	return false
}

// clientFault reports whether the exchange failed because reading the
// client's body did.
func (out *outbound) clientFault() bool {
	return out.stream != nil && out.stream.readErr != nil && !out.stream.cut
}

// routeRequest is what the route table sees of r; headers and cookies are
// only gathered when the table reads them.
func routeRequest(c *route.Compiled, r *request) route.Request {
	var req route.Request
	if c.NeedsHeaders() {
		req.Header = r.header.httpHeader()
	}
	if c.NeedsCookies() {
		var lines []string
		for i := range r.header.fields {
			if r.header.fields[i].id == fieldCookie {
				lines = append(lines, string(r.header.bytes(r.header.fields[i].value)))
			}
		}
		if len(lines) > 0 {
			hr := http.Request{Header: http.Header{"Cookie": lines}}
			if cs := hr.Cookies(); len(cs) > 0 {
				req.Cookies = make(map[string]string, len(cs))
				for _, ck := range cs {
					if _, seen := req.Cookies[ck.Name]; !seen {
						req.Cookies[ck.Name] = ck.Value
					}
				}
			}
		}
	}
	return req
}

func printableASCII(s []byte) bool {
	for _, c := range s {
		if c < ' ' || c > '~' {
			return false
		}
	}
	return true
}

// hopRequest marks the request fields that describe the client's
// connection or that the proxy writes itself.
var hopRequest = fieldSet(fieldConnection, fieldProxyConnection, fieldKeepAlive, fieldProxyAuthenticate,
	fieldProxyAuthorization, fieldTE, fieldTrailer, fieldTransferEncoding, fieldUpgrade, fieldHost,
	fieldContentLength, fieldForwarded, fieldXForwardedFor, fieldXForwardedHost, fieldXForwardedProto)

// hopResponse marks the answer's fields that describe the endpoint's
// connection or that the proxy writes itself; hopUpgrade those of a 101.
var (
	hopResponse = fieldSet(fieldConnection, fieldProxyConnection, fieldKeepAlive, fieldProxyAuthenticate,
		fieldProxyAuthorization, fieldTE, fieldTrailer, fieldTransferEncoding, fieldUpgrade,
		fieldContentLength, fieldRevision, fieldEndpoint)
	hopUpgrade = fieldSet(fieldRevision, fieldEndpoint)
)

func fieldSet(ids ...fieldID) (set [256]bool) {
	for _, id := range ids {
		set[id] = true
	}
	return set
}

// writeAnswerHead writes the endpoint's status line and header, less
// hop-by-hop fields, with the proxy's fields and its own framing.
func (c *clientConn) writeAnswerHead(resp *response, fl *flight, chunked, keep bool) {
	w := c.bw
	w.WriteString("HTTP/1.1 ")
	w.Write(resp.line)
	w.WriteString("\r\n")
	c.writeEndpointHeader(resp, fl, &hopResponse)
	switch {
	case resp.noBody:
		if resp.status != http.StatusNoContent {
			if v, ok := resp.header.first(fieldContentLength); ok { // what a GET would get
				w.WriteString("Content-Length: ")
				w.Write(v)
				w.WriteString("\r\n")
			}
		}
	case chunked:
		w.WriteString("Transfer-Encoding: chunked\r\n")
		writeFields(w, &resp.header, fieldTrailer)
	case resp.length >= 0:
		writeContentLength(w, resp.length)
	}
	switch {
	case !keep && c.req.proto11():
		w.WriteString("Connection: close\r\n")
	case keep && !c.req.proto11():
		w.WriteString("Connection: keep-alive\r\n")
	}
	w.WriteString("\r\n")
}

// writeEndpointHeader writes the answer's fields but those in skip (and
// those its Connection field names), then the proxy's own.
func (c *clientConn) writeEndpointHeader(resp *response, fl *flight, skip *[256]bool) {
	w := c.bw
	p := c.p
	h := &resp.header
	node := p.cfg.Node
	extra := skip == &hopResponse && h.namesExtra()
	for i := range h.fields {
		f := &h.fields[i]
		if skip[f.id] || (f.id == fieldProxy && node != "") || (extra && h.connectionNamed(i)) {
			continue
		}
		w.Write(h.bytes(f.name))
		w.WriteString(": ")
		w.Write(h.bytes(f.value))
		w.WriteString("\r\n")
	}
	ep := fl.served.ep
	writeHeaderLine(w, HeaderRevision, ep.revisionText)
	writeHeaderLine(w, HeaderEndpoint, ep.id)
	if node != "" {
		writeHeaderLine(w, HeaderProxy, node)
	}
	if fl.cookie != nil && (fl.cookie.User || ep.revision == fl.rev) {
		ck := &http.Cookie{Name: fl.cookie.Name, Value: fl.cookie.Value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
		if fl.cookie.User {
			ck.MaxAge = route.UserCookieMaxAge // the user keeps its variant
		}
		writeHeaderLine(w, "Set-Cookie", ck.String())
	}
	if !h.has(fieldDate) {
		writeHeaderLine(w, "Date", p.dates.get(c.start))
	}
}

// copyBody streams the answer's body to the client, chunked if asked,
// flushing whenever the endpoint has nothing more buffered so that a slow
// or endless body reaches the client as it comes. It reports whether the
// body was read to its end and whether writing to the client failed.
func (c *clientConn) copyBody(body io.Reader, uc *upstreamConn, chunked bool) (eof, clientErr bool) {
	w := c.bw
	var buf []byte
	if chunked {
		bp := copyPool.Get().(*[]byte)
		defer copyPool.Put(bp)
		buf = *bp
	}
	for {
		if !chunked {
			// Read straight into the client's buffer.
			if w.Available() < 1024 && w.Flush() != nil {
				return false, true
			}
			buf = w.AvailableBuffer()[:w.Available()]
		}
		n, err := body.Read(buf)
		if n > 0 {
			if chunked {
				writeChunkHeader(w, n)
			}
			w.Write(buf[:n])
			if chunked {
				w.WriteString("\r\n")
			}
		}
		if err == io.EOF {
			eof = true
			break
		}
		if err != nil {
			break // the endpoint broke off
		}
		if uc.br.Buffered() == 0 {
			if w.Flush() != nil {
				return false, true
			}
		}
	}
	if eof && chunked {
		w.WriteString("0\r\n")
		writeFieldsExcept(w, &uc.body.trailer, &hopRequest)
		w.WriteString("\r\n")
	}
	return eof, c.bwFailed()
}

// bwFailed reports whether writing to the client has failed: bufio keeps
// the first error.
func (c *clientConn) bwFailed() bool {
	_, err := c.bw.Write(nil)
	return err != nil
}

// flush sends what is buffered; false when the client is gone.
func (c *clientConn) flush() bool { return c.bw.Flush() == nil }

// bodyDone reports whether the request's body was read to its end, so
// that the next request can follow on the connection; a body nobody read
// is read and dropped, up to maxDrainBody.
func (c *clientConn) bodyDone(out *outbound) bool {
	switch {
	case !c.req.hasBody() || out.body != nil:
		return true
	case out.stream != nil && out.stream.started:
		return out.stream.eof
	}
	n, err := io.CopyN(io.Discard, c.reqBody, maxDrainBody+1)
	return err == io.EOF && n <= maxDrainBody
}

// interruptRead makes a read of the client's body that waits return.
func (c *clientConn) interruptRead() { c.setDeadline(time.Unix(1, 0)) }

// informational passes an endpoint's 1xx answer on to the client
// (HTTP/1.0 clients get none); forward1xx is it as a func value.
func (c *clientConn) informational(resp *response) error {
	if !c.req.proto11() {
		return nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if resp.status == http.StatusContinue {
		if c.continueSent || c.answering {
			return nil
		}
		c.continueSent = true
	}
	w := c.bw
	w.WriteString("HTTP/1.1 ")
	w.Write(resp.line)
	w.WriteString("\r\n")
	writeFieldsExcept(w, &resp.header, &hopResponse)
	w.WriteString("\r\n")
	return w.Flush()
}

// answerError answers a request no endpoint answered and counts it; it
// reports whether the connection may stay open.
func (c *clientConn) answerError(fl *flight, out *outbound, err error, keep bool, start time.Time) bool {
	p := c.p
	if out.clientFault() {
		fl.status = statusClientClosed // nobody to answer
		fl.finish(p, start, false)
		return false
	}
	status, msg := http.StatusBadGateway, "bad gateway"
	var ce *connectError
	switch {
	case errors.Is(err, errNoEndpoint):
		status, msg = http.StatusServiceUnavailable, "no ready endpoint"
	case errors.As(err, &ce):
		status, msg = http.StatusServiceUnavailable, "cannot connect to any endpoint"
	case errors.As(err, new(*responseTimeoutError)):
		status, msg = http.StatusGatewayTimeout, "no answer from the endpoint in time"
	}
	fl.status = status
	p.log.Debug("request failed", "service", fl.svc.key, "status", status, "err", err)
	if out.expect {
		c.wmu.Lock()
		c.answering = true
		c.wmu.Unlock()
	}
	keep = keep && !c.s.shuttingDown.Load() && c.bodyDone(out)
	c.answerProxyError(status, msg, keep)
	fl.finish(p, start, true)
	return keep
}

// answerProxyError writes an answer of the proxy's own, as http.Error
// does.
func (c *clientConn) answerProxyError(status int, msg string, keep bool) {
	p := c.p
	body := "flotilla proxy: service " + c.fl.svc.key + ": " + msg + "\n"
	w := c.bw
	w.WriteString("HTTP/1.1 ")
	w.WriteString(strconv.Itoa(status))
	w.WriteByte(' ')
	w.WriteString(http.StatusText(status))
	w.WriteString("\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n")
	if p.cfg.Node != "" {
		writeHeaderLine(w, HeaderProxy, p.cfg.Node)
	}
	writeHeaderLine(w, "Date", p.dates.get(c.start))
	writeContentLength(w, int64(len(body)))
	switch {
	case !keep && c.req.proto11():
		w.WriteString("Connection: close\r\n")
	case keep && !c.req.proto11():
		w.WriteString("Connection: keep-alive\r\n")
	}
	w.WriteString("\r\n")
	if c.req.method != http.MethodHead {
		w.WriteString(body)
	}
}

// serveUpgrade passes on an endpoint's 101 Switching Protocols and then
// copies bytes both ways until both sides are done, as for TCP.
func (c *clientConn) serveUpgrade(out *outbound, uc *upstreamConn, resp *response, start time.Time) {
	p := c.p
	fl := &c.fl
	got, _ := resp.header.first(fieldUpgrade)
	if len(out.upgrade) == 0 || !equalFold(got, out.upgrade) {
		p.log.Debug("endpoint switched protocol unasked", "service", fl.svc.key, "asked", string(out.upgrade), "got", string(got))
		out.release(uc, false, start)
		fl.status = http.StatusBadGateway
		c.answerProxyError(http.StatusBadGateway, "bad gateway", false)
		fl.finish(p, start, true)
		c.flush()
		return
	}
	w := c.bw
	w.WriteString("HTTP/1.1 ")
	w.Write(resp.line)
	w.WriteString("\r\n")
	c.writeEndpointHeader(resp, fl, &hopUpgrade)
	w.WriteString("\r\n")
	if !c.flush() {
		uc.Close()
		fl.status = statusClientClosed
		fl.finish(p, start, false)
		return
	}
	splice(c.conn, c.br, uc.conn, uc.br)
	uc.Close()
	fl.finish(p, start, false)
}
