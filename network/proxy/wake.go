package proxy

import (
	"errors"
	"sync"
	"time"

	"flotilla/internal/clock"
)

// Holding requests for a service at zero replicas (autoscale min 0): while
// such a service has no ready endpoint, the proxy holds its requests (at
// most MaxHeld per service, each for at most WakeTimeout) instead of
// answering 503, asks the cluster once to wake the service, and serves
// them as soon as an Update brings a ready endpoint. Held requests count
// as in flight in the traffic figures, so that the autoscaler's panic mode
// sees a crowd waiting behind the first replica.

var (
	// errHoldTimeout: no replica became ready within WakeTimeout.
	errHoldTimeout = errors.New("no replica became ready in time")
	// errHoldFull: MaxHeld requests of the service are held already.
	errHoldFull = errors.New("too many requests waiting for a replica to start")
)

const (
	// wakeRetry spaces the calls of a wake that failed.
	wakeRetry = time.Second
	// wakeRepeat is how long a wake that succeeded waits for a ready
	// endpoint before asking again (the write may have been lost with a
	// leader, or the service scaled to zero again).
	wakeRepeat = 5 * time.Second
)

// wakeState is one service's held requests, kept across snapshots in its
// serviceRuntime.
type wakeState struct {
	mu   sync.Mutex
	held int
	// ready is closed when a ready endpoint appears; nil while none is
	// awaited.
	ready chan struct{}
	// calling is set while a goroutine asks the cluster to wake the
	// service, so that a burst of requests makes one call.
	calling bool
}

// readyNow wakes the requests held: the service has a ready endpoint in
// the snapshot every listener now serves.
func (w *wakeState) readyNow() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ready != nil {
		close(w.ready)
		w.ready = nil
	}
}

// holds reports whether a request for svc must wait for a replica.
func (svc *service) holds() bool {
	return svc.scaleToZero && len(svc.ready) == 0
}

// hold waits until the service l serves has a ready endpoint and returns
// that snapshot; it fails with errHoldFull at once when too many requests
// wait, and with errHoldTimeout when none came within WakeTimeout (or the
// proxy closes). rev is the revision held requests count towards.
func (p *Proxy) hold(l *listener, svc *service, rev int) (*service, error) {
	w := &svc.rt.wake
	w.mu.Lock()
	if cur := l.state.Load(); !cur.holds() {
		w.mu.Unlock()
		return cur, nil
	}
	if w.held >= p.cfg.MaxHeld {
		w.mu.Unlock()
		return nil, errHoldFull
	}
	if w.ready == nil {
		w.ready = make(chan struct{})
	}
	ready := w.ready
	w.held++
	call := !w.calling && p.cfg.Wake != nil
	if call {
		w.calling = true
	}
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.held--
		w.mu.Unlock()
	}()
	if call {
		p.wg.Go(func() { p.wake(svc.namespace, svc.name, w, ready) })
	}

	s := p.metrics.series(svc.namespace, svc.name, max(rev, 0))
	s.begin()
	defer s.end()
	expired := make(chan struct{})
	t := p.clock.AfterFunc(p.cfg.WakeTimeout, func() { close(expired) })
	defer t.Stop()
	select {
	case <-ready:
		return l.state.Load(), nil
	case <-expired:
		return nil, errHoldTimeout
	case <-p.ctx.Done():
		return nil, errHoldTimeout
	}
}

// wake asks the cluster to wake a service until ready is closed, nobody
// waits any more or the proxy closes: once, and again after wakeRetry when
// the call failed or after wakeRepeat when no replica came of it.
func (p *Proxy) wake(namespace, name string, w *wakeState, ready chan struct{}) {
	key := namespace + "/" + name
	for {
		ctx, cancel := clock.WithTimeout(p.ctx, p.cfg.Clock, p.cfg.WakeTimeout)
		err := p.cfg.Wake(ctx, namespace, name)
		cancel()
		wait := wakeRepeat
		if err != nil {
			wait = wakeRetry
			p.log.Warn("cannot wake service", "service", key, "err", err)
		} else {
			p.log.Info("asked to wake service", "service", key)
		}
		pause := make(chan struct{})
		t := p.clock.AfterFunc(wait, func() { close(pause) })
		select {
		case <-ready:
		case <-p.ctx.Done():
		case <-pause:
		}
		t.Stop()
		w.mu.Lock()
		if p.ctx.Err() != nil || w.held == 0 || w.ready == nil {
			w.calling = false
			w.mu.Unlock()
			return
		}
		// Still waiting, or waiting again since ready was closed (the
		// service went back to zero): ask again.
		ready = w.ready
		w.mu.Unlock()
	}
}
