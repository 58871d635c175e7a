package proxy

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"flotilla/api"
	"flotilla/network/proxy/route"
)

// service is an immutable snapshot of one service as the proxy serves it:
// its compiled route table and its ready endpoints per port and revision.
// Update builds a new one and swaps it in atomically; requests keep the
// snapshot they started with.
type service struct {
	namespace, name string
	key             string // namespace/name
	rt              *serviceRuntime
	routes          *route.Compiled
	policy          string
	scaleToZero     bool              // requests wait for a replica while none is ready
	ready           []*endpoint       // every ready endpoint: the base of the ejection caps
	ports           map[int]*portPool // by port number
	shadows         map[int]*shadow   // the route table's mirrors, by candidate revision
	ab              *abCounter        // the route table's A/B experiment; nil when none
}

// portPool is where one port of a service sends traffic.
type portPool struct {
	port       api.Port
	all        *pool         // every ready endpoint: the fallback
	byRevision map[int]*pool // the ready endpoints of each revision
}

// pool is a set of targets with a round-robin cursor that outlives
// snapshots, so that an Update does not restart the rotation.
type pool struct {
	targets []target
	next    *atomic.Uint64
}

// target is an endpoint reached on one port.
type target struct {
	ep    *endpoint
	addr  string    // IP:port
	conns *connPool // kept-alive connections to addr
}

// endpoint is one replica. It outlives snapshots (while the replica stays
// listed) so that its requests in flight and its outlier state carry over.
type endpoint struct {
	id           string // allocation ID
	ip           string
	revision     int
	revisionText string // for the X-Flotilla-Revision header
	series       *series

	inflight     atomic.Int64
	failures     atomic.Int32 // consecutive
	ejectedUntil atomic.Int64 // unix nanoseconds; 0 when never ejected

	// Guarded by serviceRuntime.mu.
	ejections  int       // in a row, for the doubling
	returnedAt time.Time // when the last ejection ended

	// Only Update and Close touch it, under Proxy.mu.
	conns map[int]*connPool // by port
}

// connPool returns the endpoint's pool of connections to port, making it.
func (e *endpoint) connPool(port int, addr string, p *Proxy) *connPool {
	cp := e.conns[port]
	if cp == nil {
		if e.conns == nil {
			e.conns = map[int]*connPool{}
		}
		cp = newConnPool(addr, p.clock, p.cfg.MaxIdlePerEndpoint)
		e.conns[port] = cp
	}
	return cp
}

// closeConns closes the endpoint's pools: it gets no new requests.
func (e *endpoint) closeConns() {
	for _, cp := range e.conns {
		cp.setOpen(false)
	}
}

func (e *endpoint) ejected(now int64) bool {
	u := e.ejectedUntil.Load()
	return u != 0 && now < u
}

// serviceRuntime is what the proxy keeps about a service across updates.
type serviceRuntime struct {
	mu sync.Mutex // serialises ejection decisions

	// Only Update touches these, under Proxy.mu.
	endpoints map[endpointKey]*endpoint
	cursors   map[cursorKey]*atomic.Uint64

	wake wakeState // requests held while the service is at zero
}

type endpointKey struct{ id, ip string }

type cursorKey struct{ port, revision int }

// allRevisions is the cursor key of a port's fallback pool.
const allRevisions = -1

func newServiceRuntime() *serviceRuntime {
	return &serviceRuntime{
		endpoints: map[endpointKey]*endpoint{},
		cursors:   map[cursorKey]*atomic.Uint64{},
	}
}

// closeConns closes the connections to every endpoint: the service left.
func (rt *serviceRuntime) closeConns() {
	for _, ep := range rt.endpoints {
		ep.closeConns()
	}
}

func (rt *serviceRuntime) cursor(port, revision int) *atomic.Uint64 {
	k := cursorKey{port, revision}
	c := rt.cursors[k]
	if c == nil {
		c = new(atomic.Uint64)
		rt.cursors[k] = c
	}
	return c
}

// buildService makes the snapshot of se. It always returns a usable
// snapshot: a route table that does not compile is reported and the
// previous one (or none, which serves any ready endpoint) is kept. The
// kept-alive connections of endpoints that left or are not ready are
// closed.
func (p *Proxy) buildService(se *api.ServiceEndpoints, rt *serviceRuntime, prev *service) (*service, error) {
	var errs []error
	s := &service{
		namespace: se.Namespace,
		name:      se.Name,
		key:       se.Namespace + "/" + se.Name,
		rt:        rt,
		policy:    se.LoadBalancing,
		ports:     map[int]*portPool{},

		scaleToZero: se.ScaleToZero,
	}
	routes, err := route.Compile(&se.Routes)
	switch {
	case err == nil:
		s.routes = routes
	case prev != nil:
		s.routes = prev.routes
		errs = append(errs, fmt.Errorf("routes: %w (keeping the previous route table)", err))
	default:
		s.routes, _ = route.Compile(nil)
		errs = append(errs, fmt.Errorf("routes: %w (serving any ready endpoint)", err))
	}
	shadows, err := p.shadows.forService(se.Namespace, se.Name, se.Routes.Mirrors)
	if err != nil {
		errs = append(errs, fmt.Errorf("routes: %w", err))
	}
	s.shadows = shadows
	s.ab = p.abs.forService(se)
	switch s.policy {
	case api.BalanceRoundRobin, api.BalanceLeastRequest, api.BalanceP2C:
	case "":
		s.policy = api.BalanceRoundRobin
	default:
		errs = append(errs, fmt.Errorf("loadBalancing: unknown policy %q (using %s)", s.policy, api.BalanceRoundRobin))
		s.policy = api.BalanceRoundRobin
	}

	// Endpoints: keep the ones still listed, ready or not, so that one
	// turning ready again keeps its outlier history.
	listed := make(map[endpointKey]*endpoint, len(se.Endpoints))
	ready := map[*endpoint]bool{}
	for _, e := range se.Endpoints {
		if e.IP == "" {
			continue
		}
		k := endpointKey{e.ID, e.IP}
		ep := rt.endpoints[k]
		if ep == nil || ep.revision != e.Revision {
			ep = &endpoint{id: e.ID, ip: e.IP, revision: e.Revision, revisionText: strconv.Itoa(e.Revision),
				series: p.metrics.series(se.Namespace, se.Name, e.Revision)}
		}
		listed[k] = ep
		if e.Ready {
			s.ready = append(s.ready, ep)
			ready[ep] = true
		}
	}
	for k, ep := range rt.endpoints {
		if listed[k] != ep {
			ep.closeConns() // it left (or came back as another revision)
		}
	}
	rt.endpoints = listed

	ports := map[int]bool{}
	for _, port := range se.Ports {
		ports[port.Port] = true
		pp := &portPool{
			port:       port,
			all:        &pool{next: rt.cursor(port.Port, allRevisions)},
			byRevision: map[int]*pool{},
		}
		portStr := strconv.Itoa(port.Port)
		for _, ep := range s.ready {
			addr := net.JoinHostPort(ep.ip, portStr)
			t := target{ep: ep, addr: addr, conns: ep.connPool(port.Port, addr, p)}
			pp.all.targets = append(pp.all.targets, t)
			pl := pp.byRevision[ep.revision]
			if pl == nil {
				pl = &pool{next: rt.cursor(port.Port, ep.revision)}
				pp.byRevision[ep.revision] = pl
			}
			pl.targets = append(pl.targets, t)
		}
		s.ports[port.Port] = pp
	}
	// Ready endpoints keep their connections to the service's ports; the
	// others get no new requests and keep none.
	for _, ep := range listed {
		for port, cp := range ep.conns {
			cp.setOpen(ready[ep] && ports[port])
		}
	}
	return s, errors.Join(errs...)
}
