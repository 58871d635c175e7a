package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"flotilla/api"
	"flotilla/internal/clock"
)

// ErrClosed is returned by Update after Close.
var ErrClosed = errors.New("proxy closed")

// Port protocols.
const (
	ProtocolHTTP = "http"
	ProtocolTCP  = "tcp"
)

// Proxy is one node's service proxy: it owns the VIP:port listeners of
// every service and sends each request or connection to a ready endpoint
// by the service's route table and balancing policy. Its methods are safe
// for concurrent use.
type Proxy struct {
	cfg     Config
	log     *slog.Logger
	clock   clock.Clock
	rnd     func() float64
	dialer  *net.Dialer
	metrics *metrics
	dates   dateCache

	// ctx ends when Close has let in-flight work finish; requests,
	// connections and mirrors still running are then cancelled.
	ctx    context.Context
	cancel context.CancelFunc

	mirrorSlots chan struct{}
	mirrors     tracker // mirrored requests in flight
	shadows     *shadowBook
	abs         *abBook // A/B experiments' visitors (ab.go)
	conns       tracker // TCP connections in flight (both sides)
	wg          sync.WaitGroup

	mu        sync.Mutex // guards the fields below
	closed    bool
	listeners map[string]*listener       // by VIP:port
	runtimes  map[string]*serviceRuntime // by namespace/name
	current   map[string]*service        // the latest snapshots
}

// New makes a proxy that serves nothing until Update.
func New(cfg Config) *Proxy {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		cfg:         cfg,
		log:         cfg.Logger.With("component", "proxy", "node", cfg.Node),
		clock:       cfg.Clock,
		rnd:         randFunc(cfg.Rand),
		dialer:      &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second},
		metrics:     newMetrics(cfg.LatencyWindow),
		ctx:         ctx,
		cancel:      cancel,
		mirrorSlots: make(chan struct{}, cfg.MaxMirrorsInFlight),
		shadows:     newShadowBook(),
		abs:         newABBook(),
		listeners:   map[string]*listener{},
		runtimes:    map[string]*serviceRuntime{},
		current:     map[string]*service{},
	}
	return p
}

// Collectors are the proxy's Prometheus figures, per service and
// revision: requests, errors, latency, in flight, connect failures,
// ejections and mirror comparisons.
func (p *Proxy) Collectors() []prometheus.Collector { return p.metrics.collectors() }

// Traffic reports, per service revision, the cumulative counts and latency
// histogram since the proxy started (the servers subtract successive
// reports for figures over a window) and the p50/p99 latency of the last
// one to two LatencyWindows; the candidate revision of a shadow rollout
// also carries its comparison figures.
func (p *Proxy) Traffic() []api.TrafficReport {
	now := p.clock.Now()
	p.shadows.expire(now)
	all := p.metrics.all()
	out := make([]api.TrafficReport, 0, len(all))
	for _, s := range all {
		r := s.report(now)
		r.At = now
		r.Shadow, r.ShadowRollout = p.shadows.report(shadowKey{s.key.namespace, s.key.service, s.key.revision})
		r.AB = p.abs.report(s.key.namespace, s.key.service, s.key.revision)
		out = append(out, r)
	}
	return out
}

// Update reconciles the proxy with services, the full list of services
// this node serves: it opens a listener on each VIP:port (headless and
// VIP-less services get none), closes those whose service or port went,
// and swaps in the new endpoints and route tables. Requests in flight keep
// the endpoint they have; endpoints no longer ready get no new ones. A
// listener that cannot be opened, or a service that is partly wrong, is
// logged and reported in the joined error without stopping the others; the
// next Update tries again.
func (p *Proxy) Update(services []api.ServiceEndpoints) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	type wanted struct {
		svc      *service
		port     api.Port
		protocol string
	}
	var errs []error
	want := map[string]wanted{}
	runtimes := map[string]*serviceRuntime{}
	current := map[string]*service{}
	for i := range services {
		se := &services[i]
		key := se.Namespace + "/" + se.Name
		if _, dup := current[key]; dup {
			errs = append(errs, fmt.Errorf("service %s: listed twice; the first is served", key))
			continue
		}
		rt := p.runtimes[key]
		if rt == nil {
			rt = newServiceRuntime()
		}
		svc, err := p.buildService(se, rt, p.current[key])
		if err != nil {
			errs = append(errs, fmt.Errorf("service %s: %w", key, err))
		}
		runtimes[key], current[key] = rt, svc
		if se.Headless || se.VIP == "" {
			continue
		}
		for _, port := range se.Ports {
			protocol := port.Protocol
			switch protocol {
			case "":
				protocol = ProtocolTCP
			case ProtocolTCP, ProtocolHTTP:
			default:
				errs = append(errs, fmt.Errorf("service %s port %s: unknown protocol %q", key, port.Name, port.Protocol))
				continue
			}
			addr := net.JoinHostPort(se.VIP, strconv.Itoa(port.Port))
			if other, taken := want[addr]; taken {
				errs = append(errs, fmt.Errorf("service %s port %s: %s is already service %s's", key, port.Name, addr, other.svc.key))
				continue
			}
			want[addr] = wanted{svc: svc, port: port, protocol: protocol}
		}
	}
	// Close first, so that an address changing hands is free again.
	for addr, l := range p.listeners {
		if w, ok := want[addr]; ok && w.svc.key == l.svcKey && w.protocol == l.protocol {
			continue
		}
		p.log.Info("closing listener", "service", l.svcKey, "address", addr)
		p.stopListener(l)
		delete(p.listeners, addr)
	}
	addrs := make([]string, 0, len(want))
	for addr := range want {
		addrs = append(addrs, addr)
	}
	sort.Strings(addrs)
	for _, addr := range addrs {
		w := want[addr]
		if l := p.listeners[addr]; l != nil {
			l.state.Store(w.svc)
			continue
		}
		l, err := p.startListener(addr, w.svc, w.port, w.protocol)
		if err != nil {
			err = fmt.Errorf("service %s port %s: listen on %s: %w", w.svc.key, w.port.Name, addr, err)
			p.log.Error("cannot open listener", "err", err)
			errs = append(errs, err)
			continue
		}
		p.log.Info("listening", "service", w.svc.key, "address", addr, "protocol", w.protocol)
		p.listeners[addr] = l
	}
	for key, rt := range p.runtimes {
		if runtimes[key] == nil {
			rt.closeConns() // the service left
		}
	}
	p.runtimes, p.current = runtimes, current
	p.shadows.serving(current, p.clock.Now())
	p.abs.serving(current)
	// Only now does every listener serve the new snapshots: requests held
	// for a replica may go.
	for key, svc := range current {
		if len(svc.ready) > 0 || !svc.scaleToZero {
			runtimes[key].wake.readyNow()
		}
	}
	return errors.Join(errs...)
}

// Close closes every listener, lets requests and connections in flight
// finish for up to ShutdownTimeout, then cuts what remains.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	listeners := p.listeners
	p.listeners = map[string]*listener{}
	p.mu.Unlock()

	ctx, cancel := clock.WithTimeout(context.Background(), p.cfg.Clock, p.cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	for _, l := range listeners {
		if err := l.ln.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close listener %s: %w", l.addr, err))
		}
	}
	var wg sync.WaitGroup
	for _, l := range listeners {
		if l.srv != nil {
			wg.Go(func() {
				if l.srv.shutdown(ctx) != nil {
					l.srv.closeAll()
				}
			})
		}
	}
	wg.Go(func() {
		if p.conns.closeAndWait(ctx) != nil {
			p.conns.closeAll()
		}
	})
	wg.Go(func() { p.mirrors.closeAndWait(ctx) })
	wg.Wait()
	p.cancel() // whatever still runs (mirrors, stuck handlers) ends now
	p.mirrors.closeAndWait(context.Background())
	for _, l := range listeners {
		if l.srv != nil {
			l.srv.conns.closeAndWait(context.Background()) // cut above: ending
		}
	}
	p.wg.Wait()
	p.mu.Lock()
	for _, rt := range p.runtimes {
		rt.closeConns()
	}
	p.mu.Unlock()
	return errors.Join(errs...)
}

// listener is one VIP:port of one service.
type listener struct {
	p        *Proxy
	addr     string
	svcKey   string
	protocol string
	port     int
	ln       net.Listener
	state    atomic.Pointer[service]
	srv      *httpServer // HTTP only
}

func (p *Proxy) startListener(addr string, svc *service, port api.Port, protocol string) (*listener, error) {
	ln, err := p.cfg.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	l := &listener{p: p, addr: addr, svcKey: svc.key, protocol: protocol, port: port.Port,
		ln: &onceCloseListener{Listener: ln}}
	l.state.Store(svc)
	if protocol == ProtocolHTTP {
		l.srv = &httpServer{l: l}
	}
	p.wg.Go(func() {
		if l.srv != nil {
			l.srv.serve()
		} else {
			l.serveTCP()
		}
	})
	return l, nil
}

// stopListener closes l's listener at once and lets its requests in flight
// finish in the background; the caller holds p.mu.
func (p *Proxy) stopListener(l *listener) {
	l.ln.Close()
	if l.srv == nil {
		return // TCP connections drain by themselves; Close cuts them
	}
	p.wg.Go(func() {
		ctx, cancel := clock.WithTimeout(p.ctx, p.cfg.Clock, p.cfg.ShutdownTimeout)
		defer cancel()
		if l.srv.shutdown(ctx) != nil {
			l.srv.closeAll()
		}
	})
}

type onceCloseListener struct {
	net.Listener
	once sync.Once
	err  error
}

func (l *onceCloseListener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}

// tracker counts work in flight that Close must wait for, and remembers
// what to close if it must cut it short. Unlike a WaitGroup it refuses new
// work once closing has begun.
type tracker struct {
	mu      sync.Mutex
	n       int
	closing bool
	zero    chan struct{}
	closers map[io.Closer]struct{}
}

// add registers one piece of work and the closers that cut it short; it
// returns false once closing has begun.
func (t *tracker) add(closers ...io.Closer) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return false
	}
	t.n++
	t.track(closers)
	return true
}

// track adds closers to work already registered.
func (t *tracker) track(closers []io.Closer) {
	if len(closers) == 0 {
		return
	}
	if t.closers == nil {
		t.closers = map[io.Closer]struct{}{}
	}
	for _, c := range closers {
		t.closers[c] = struct{}{}
	}
}

// also adds closers to work already registered.
func (t *tracker) also(closers ...io.Closer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.track(closers)
}

// forget drops closers that are closed already.
func (t *tracker) forget(closers ...io.Closer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range closers {
		delete(t.closers, c)
	}
}

// done ends one piece of work.
func (t *tracker) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n--
	if t.n == 0 && t.zero != nil {
		close(t.zero)
		t.zero = nil
	}
}

// closeAndWait refuses new work and waits for the work in flight.
func (t *tracker) closeAndWait(ctx context.Context) error {
	t.mu.Lock()
	t.closing = true
	if t.n == 0 {
		t.mu.Unlock()
		return nil
	}
	if t.zero == nil {
		t.zero = make(chan struct{})
	}
	zero := t.zero
	t.mu.Unlock()
	select {
	case <-zero:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// each calls f with every closer registered.
func (t *tracker) each(f func(io.Closer)) {
	t.mu.Lock()
	closers := make([]io.Closer, 0, len(t.closers))
	for c := range t.closers {
		closers = append(closers, c)
	}
	t.mu.Unlock()
	for _, c := range closers {
		f(c)
	}
}

func (t *tracker) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c := range t.closers {
		c.Close()
	}
}
