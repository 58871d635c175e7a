package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
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

func (p *Proxy) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := p.dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, &connectError{addr: addr, err: err}
	}
	return c, nil
}

type flightKey struct{}

// flight is one request's way through the proxy. Only the goroutine that
// serves the request touches it.
type flight struct {
	svc    *service
	pool   *portPool
	rev    int  // the revision the route table chose; -1 for none
	strict bool // only rev's endpoints (mirrors)
	cookie *route.Cookie

	tried    []*endpoint
	triedBuf [maxRetries + 1]*endpoint
	served   *target // the endpoint that answered
	status   int     // what the client got

	// For comparing with mirrors.
	mirrored       bool // a mirror is on its way
	captureBody    bool // a mirror compares bodies
	keepJSON       bool // ... after removing JSON fields
	capture        *bodyCapture
	upstreamHeader http.Header
}

func newFlight(svc *service, port int) *flight {
	f := &flight{svc: svc, pool: svc.ports[port], rev: -1}
	f.tried = f.triedBuf[:0]
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
	now := p.clock.Now()
	s := f.series(p)
	if f.served != nil {
		f.served.ep.inflight.Add(-1)
		s.end()
	}
	s.done(now, now.Sub(start), failed)
}

// ServeHTTP proxies one HTTP request of the listener's service.
func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := l.p
	start := p.clock.Now()
	svc := l.state.Load()
	fl := newFlight(svc, l.port)
	var mirrors []*mirrorCall
	if d, ok := svc.routes.Pick(routeRequest(svc.routes, r), p.rnd); ok {
		fl.rev, fl.cookie = d.Backend, d.SetCookie
		if len(d.Mirrors) > 0 {
			mirrors = p.startMirrors(r, fl, d.Mirrors)
		}
	}
	completed := false
	defer func() {
		// A response cut short (the endpoint or the client went away
		// mid-body) panics out of the reverse proxy with
		// http.ErrAbortHandler; it is counted and the panic goes on.
		clientGone := r.Context().Err() != nil
		if !completed && clientGone {
			fl.status = statusClientClosed
		}
		fl.finish(p, start, fl.status >= 500 || (!completed && !clientGone))
		if len(mirrors) > 0 {
			p.primaryDone(fl, mirrors, completed)
		}
	}()
	p.reverse.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), flightKey{}, fl)))
	completed = true
}

// routeRequest is what the route table sees of r; cookies are parsed only
// when the table reads them.
func routeRequest(c *route.Compiled, r *http.Request) route.Request {
	req := route.Request{Header: r.Header}
	if c.NeedsCookies() {
		if cs := r.Cookies(); len(cs) > 0 {
			req.Cookies = make(map[string]string, len(cs))
			for _, ck := range cs {
				if _, seen := req.Cookies[ck.Name]; !seen {
					req.Cookies[ck.Name] = ck.Value
				}
			}
		}
	}
	return req
}

// upstream is the reverse proxy's transport: it picks the endpoint of each
// attempt, retries failed connections on others, and marks the response.
type upstream struct{ p *Proxy }

func (u upstream) RoundTrip(req *http.Request) (*http.Response, error) {
	p := u.p
	fl, ok := req.Context().Value(flightKey{}).(*flight)
	if !ok {
		return nil, errors.New("proxy: request without a flight")
	}
	resp, err := p.send(req, fl)
	if err != nil {
		return nil, err
	}
	if fl.mirrored {
		// Kept before the proxy's own headers are added.
		fl.upstreamHeader = resp.Header.Clone()
		if fl.captureBody {
			fl.capture = newBodyCapture(resp.Body, fl.keepJSON)
			resp.Body = fl.capture
		}
	}
	ep := fl.served.ep
	h := resp.Header
	h.Set(HeaderRevision, strconv.Itoa(ep.revision))
	h.Set(HeaderEndpoint, ep.id)
	if p.cfg.Node != "" {
		h.Set(HeaderProxy, p.cfg.Node)
	}
	if fl.cookie != nil && ep.revision == fl.rev {
		c := &http.Cookie{Name: fl.cookie.Name, Value: fl.cookie.Value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
		h.Add("Set-Cookie", c.String())
	}
	return resp, nil
}

// send tries endpoints for req until one answers: a failed connection is
// retried on another endpoint (at most maxRetries times) as long as none
// of the body was sent, which after a failed connection is always so; a
// GET, HEAD or OPTIONS whose connection broke before the answer is too. On
// success the endpoint is in flight until the flight finishes.
func (p *Proxy) send(req *http.Request, fl *flight) (*http.Response, error) {
	var body *replayBody
	if req.Body != nil && req.Body != http.NoBody {
		body = &replayBody{rc: req.Body}
	}
	var lastErr error
	for attempt := 0; attempt <= maxRetries; attempt++ {
		t := fl.svc.pick(fl.pool, fl.rev, fl.strict, fl.tried, p.clock.Now().UnixNano(), p.rnd)
		if t == nil {
			break
		}
		fl.tried = append(fl.tried, t.ep)
		out := new(http.Request)
		*out = *req
		url := *req.URL
		url.Host = t.addr
		out.URL = &url
		if body != nil {
			out.Body = body
		}
		t.ep.inflight.Add(1)
		t.ep.series.begin()
		resp, err := p.transport.RoundTrip(out)
		if err == nil {
			fl.served, fl.status = t, resp.StatusCode
			p.observe(fl.svc, t.ep, resp.StatusCode >= 500, p.clock.Now())
			return resp, nil
		}
		t.ep.inflight.Add(-1)
		t.ep.series.end()
		if req.Context().Err() != nil {
			return nil, err // the client went away: no fault of the endpoint
		}
		p.observe(fl.svc, t.ep, true, p.clock.Now())
		var ce *connectError
		if !errors.As(err, &ce) && !safeToRepeat(req.Method) {
			return nil, err
		}
		t.ep.series.connectFailed()
		lastErr = err
		if body != nil && body.touched.Load() {
			break
		}
		p.log.Debug("retrying on another endpoint", "service", fl.svc.key, "endpoint", t.ep.id, "err", err)
	}
	if lastErr != nil {
		return nil, lastErr
	}
	return nil, errNoEndpoint
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

// replayBody lets a request body be offered to another endpoint after a
// failed connection: it is only closed once something read it.
type replayBody struct {
	rc      io.ReadCloser
	touched atomic.Bool
}

func (b *replayBody) Read(p []byte) (int, error) {
	b.touched.Store(true)
	return b.rc.Read(p)
}

func (b *replayBody) Close() error {
	if b.touched.Load() {
		return b.rc.Close()
	}
	return nil // the server closes it when the handler returns
}

// proxyError answers a request no endpoint answered.
func (p *Proxy) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	fl, _ := r.Context().Value(flightKey{}).(*flight)
	status, msg := http.StatusBadGateway, "bad gateway"
	var ce *connectError
	switch {
	case r.Context().Err() != nil:
		if fl != nil {
			fl.status = statusClientClosed
		}
		return // nobody to answer
	case errors.Is(err, errNoEndpoint):
		status, msg = http.StatusServiceUnavailable, "no ready endpoint"
	case errors.As(err, &ce):
		status, msg = http.StatusServiceUnavailable, "cannot connect to any endpoint"
	}
	svcKey := "?"
	if fl != nil {
		fl.status = status
		svcKey = fl.svc.key
	}
	p.log.Debug("request failed", "service", svcKey, "status", status, "err", err)
	if p.cfg.Node != "" {
		w.Header().Set(HeaderProxy, p.cfg.Node)
	}
	http.Error(w, fmt.Sprintf("flotilla proxy: service %s: %s", svcKey, msg), status)
}
