package proxy

import (
	"bytes"
	"net/http"
	"strings"
	"sync"

	"flotilla/api"
	"flotilla/internal/sketch"
)

// A/B experiments. The route table gives each request of an A/B service
// its variant and its user's salted key hash (network/proxy/route/ab.go);
// once an endpoint answers, the proxy counts the user as a visitor of the
// revision that answered and, when the request or the answer meets the
// goal, as a converted one. Visitors are counted in HyperLogLog sketches
// (internal/sketch: 16 KiB at most each, four per experiment), not sets,
// so memory stays bounded however many users come; Traffic reports each
// variant's sketches whole, every second, with its revision's figures.
// The servers merge the sketches of every proxy, so a user who reaches
// several proxies counts once, and a report sent again counts nobody
// twice.

// abBook holds the experiments this proxy counts, by service.
type abBook struct {
	mu       sync.Mutex
	counters map[string]*abCounter // by namespace/name
}

func newABBook() *abBook { return &abBook{counters: map[string]*abCounter{}} }

// abCounter is one experiment's figures on this proxy. Its settings do not
// change; a new experiment (a new salt) gets a new counter.
type abCounter struct {
	salt       string
	a, b       int
	goalPath   string
	goalMethod string
	goalHeader []byte // lower case; empty when the goal is a path

	variants [2]abVariant // A, B
}

type abVariant struct {
	mu                  sync.Mutex
	visitors, converted sketch.HyperLogLog
}

// forService returns the counter of se's experiment, keeping the one it
// had when the experiment is the same; nil when se runs none.
func (b *abBook) forService(se *api.ServiceEndpoints) *abCounter {
	r := se.Routes.AB
	key := se.Namespace + "/" + se.Name
	b.mu.Lock()
	defer b.mu.Unlock()
	if r == nil {
		delete(b.counters, key)
		return nil
	}
	if c := b.counters[key]; c != nil && c.salt == r.Salt && c.a == r.A && c.b == r.B {
		return c
	}
	c := &abCounter{salt: r.Salt, a: r.A, b: r.B, goalPath: r.Goal.Path, goalMethod: r.Goal.Method,
		goalHeader: []byte(strings.ToLower(r.Goal.Header))}
	b.counters[key] = c
	return c
}

// serving forgets the experiments of services that left.
func (b *abBook) serving(current map[string]*service) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for key := range b.counters {
		if current[key] == nil {
			delete(b.counters, key)
		}
	}
}

// report is what the proxy counted of revision rev of a service as a
// variant; nil when it is none or nobody came.
func (b *abBook) report(namespace, service string, rev int) *api.ABReport {
	b.mu.Lock()
	c := b.counters[namespace+"/"+service]
	b.mu.Unlock()
	if c == nil {
		return nil
	}
	v := c.variant(rev)
	if v == nil {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.visitors.Empty() {
		return nil
	}
	visitors, _ := v.visitors.MarshalBinary() // never fails
	converted, _ := v.converted.MarshalBinary()
	return &api.ABReport{Salt: c.salt, Visitors: visitors, Converted: converted}
}

func (c *abCounter) variant(rev int) *abVariant {
	switch rev {
	case c.a:
		return &c.variants[0]
	case c.b:
		return &c.variants[1]
	}
	return nil
}

// count records one answered request of user, served by revision rev.
func (c *abCounter) count(req *request, resp *response, rev int, user uint64) {
	v := c.variant(rev)
	if v == nil {
		return // a revision outside the experiment (a fallback endpoint)
	}
	converted := c.converted(req, resp)
	v.mu.Lock()
	v.visitors.Add(user)
	if converted {
		v.converted.Add(user)
	}
	v.mu.Unlock()
}

// converted reports whether an answered request meets the goal: the
// answer carries the goal header with a value other than "", "0" or
// "false"; or the request is to the goal's path (and method) and was
// answered 2xx or 3xx.
func (c *abCounter) converted(req *request, resp *response) bool {
	if len(c.goalHeader) > 0 {
		h := &resp.header
		for i := range h.fields {
			if equalFold(h.bytes(h.fields[i].name), c.goalHeader) && converts(h.bytes(h.fields[i].value)) {
				return true
			}
		}
		return false
	}
	if resp.status < http.StatusOK || resp.status >= http.StatusBadRequest {
		return false
	}
	if c.goalMethod != "" && req.method != c.goalMethod {
		return false
	}
	path := req.targetOrigin()
	if i := bytes.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	return string(path) == c.goalPath
}

// converts reports whether a goal header's value marks a conversion, as
// flotilla load reads it.
func converts(v []byte) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && !(len(v) == 1 && v[0] == '0') && !equalFold(v, []byte("false"))
}
