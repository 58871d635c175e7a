package proxy

import (
	"errors"
	"io"
	"net"
	"time"

	"flotilla/network/proxy/route"
)

// serveTCP accepts connections until the listener closes.
func (l *listener) serveTCP() {
	l.accept(func(c net.Conn) bool {
		if !l.p.conns.add(c) { // closing
			return false
		}
		go l.serveConn(c)
		return true
	})
}

// accept hands every connection to serve until the listener closes or
// serve refuses one (the proxy is closing), which closes it.
func (l *listener) accept(serve func(net.Conn) bool) {
	var delay time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off as
			// net/http does rather than spin.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.p.log.Warn("accept failed", "address", l.addr, "err", err, "retry in", delay)
			select {
			case <-l.p.cfg.Clock.After(delay):
			case <-l.p.ctx.Done():
				return
			}
			continue
		}
		delay = 0
		if !serve(c) {
			c.Close()
			return
		}
	}
}

// serveConn proxies one TCP connection to an endpoint of the revision the
// route table picks (rules and stickiness need HTTP, so only the split
// applies), retrying failed connections on other endpoints. A connection
// that no endpoint takes is closed and counted as an error.
func (l *listener) serveConn(client net.Conn) {
	p := l.p
	defer p.conns.done()
	defer p.conns.forget(client)
	defer client.Close()
	start := p.clock.Now()
	svc := l.state.Load()
	fl := newFlight(svc, l.port)
	if d, ok := svc.routes.Pick(route.Request{}, p.rnd); ok {
		fl.rev = d.Backend
	}
	if svc.holds() {
		// A service at zero: the connection waits for its first replica.
		held, err := p.hold(l, svc, fl.rev)
		if err != nil {
			p.log.Debug("no replica for the connection", "service", svc.key, "err", err)
			fl.finish(p, start, true)
			return
		}
		rev := fl.rev
		svc = held
		fl = newFlight(svc, l.port)
		fl.rev = rev
	}
	up, err := p.dialEndpoint(fl)
	if err != nil {
		p.log.Debug("no endpoint took the connection", "service", svc.key, "err", err)
		fl.finish(p, start, true)
		return
	}
	p.conns.also(up)
	defer p.conns.forget(up)
	defer up.Close()
	splice(client, client, up, up)
	fl.finish(p, start, false)
}

// dialEndpoint connects to an endpoint, trying another after a failure at
// most maxRetries times. The endpoint is in flight until the flight
// finishes.
func (p *Proxy) dialEndpoint(fl *flight) (net.Conn, error) {
	var lastErr error
	for attempt := 0; attempt <= maxRetries; attempt++ {
		t := fl.svc.pick(fl.pool, fl.rev, false, fl.tried, p.clock.Now().UnixNano(), p.rnd)
		if t == nil {
			break
		}
		fl.tried = append(fl.tried, t.ep)
		t.ep.inflight.Add(1)
		t.ep.series.begin()
		c, err := p.dialContext(p.ctx, "tcp", t.addr)
		if err == nil {
			fl.served = t
			p.observe(fl.svc, t.ep, false, p.clock.Now())
			return c, nil
		}
		t.ep.inflight.Add(-1)
		t.ep.series.end()
		if p.ctx.Err() != nil {
			return nil, err
		}
		t.ep.series.connectFailed()
		p.observe(fl.svc, t.ep, true, p.clock.Now())
		lastErr = err
	}
	if lastErr != nil {
		return nil, lastErr
	}
	return nil, errNoEndpoint
}

// splice copies both ways until both sides are done, reading each side
// from its reader (which may hold bytes already received). When one side
// stops sending, the other is told so (half-close) and may go on
// answering; an error on either side tears both down.
func splice(client net.Conn, fromClient io.Reader, up net.Conn, fromUp io.Reader) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		pipe(up, client, fromClient)
	}()
	pipe(client, up, fromUp)
	<-done
}

// pipe copies src (read through r) to dst and then half-closes dst; on an
// error it closes both, which ends the other direction too.
func pipe(dst, src net.Conn, r io.Reader) {
	_, err := io.Copy(dst, r)
	if err == nil {
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			err = cw.CloseWrite()
		}
	}
	if err != nil {
		dst.Close()
		src.Close()
	}
}
