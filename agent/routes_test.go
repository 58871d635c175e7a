package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
)

// endpointsFeed is fakeServers whose endpoints a test sets; every index the
// agent asks past goes to asked, so that a test knows when the agent has
// applied an answer (it asks again only after).
type endpointsFeed struct {
	*fakeServers
	mu      sync.Mutex
	list    []*api.ServiceEndpoints
	index   uint64
	changed chan struct{}
	asked   chan uint64
}

func newEndpointsFeed() *endpointsFeed {
	return &endpointsFeed{fakeServers: newFakeServers(), changed: make(chan struct{}), asked: make(chan uint64, 64)}
}

func (f *endpointsFeed) set(index uint64, list ...*api.ServiceEndpoints) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list, f.index = list, index
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *endpointsFeed) Endpoints(ctx context.Context, q api.QueryOptions) ([]*api.ServiceEndpoints, uint64, error) {
	select {
	case f.asked <- q.Index:
	default:
	}
	for {
		f.mu.Lock()
		list, index, changed := f.list, f.index, f.changed
		f.mu.Unlock()
		if index > q.Index {
			out := make([]*api.ServiceEndpoints, len(list))
			for i, se := range list {
				c := *se
				out[i] = &c
			}
			return out, index, nil
		}
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-changed:
		}
	}
}

// waitAsked waits until the agent asks for what comes after index.
func (f *endpointsFeed) waitAsked(t *testing.T, index uint64) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case got := <-f.asked:
			if got >= index {
				return
			}
		case <-deadline:
			t.Fatalf("the agent did not apply the endpoints at index %d", index)
		}
	}
}

// headless is a service the proxy routes without binding any address.
func headless(name string, index uint64) *api.ServiceEndpoints {
	return &api.ServiceEndpoints{Namespace: "default", Name: name, Headless: true, Ports: []api.Port{},
		Endpoints: []api.Endpoint{}, Routes: api.RouteTable{Split: []api.WeightedBackend{{Backend: 1, Weight: 100}}}, ModifyIndex: index}
}

func getRoutes(t *testing.T, addr string) RoutesView {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/v1/agent/routes")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/agent/routes: %s", resp.Status)
	}
	var v RoutesView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestAgentServesTheRouteVersionItsProxyAppliedAndWhen(t *testing.T) {
	feed := newEndpointsFeed()
	start := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	fake := clock.NewFake(start)
	a, err := New(Config{Name: "n1", HTTP: "127.0.0.1:0", Proxy: true, Runtime: "sim",
		Capacity: api.Resources{CPU: 4000, Memory: 4 << 30}, Clock: fake},
		feed, func(*api.Node) (Runtime, error) { return NewNullRuntime(), nil })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ta := &testAgent{t: t, agent: a, servers: feed.fakeServers, clock: fake, cancel: cancel, done: make(chan error, 1)}
	go func() { ta.done <- a.Run(ctx) }()
	t.Cleanup(ta.stop)
	feed.waitAsked(t, 0)

	if v := getRoutes(t, a.HTTPAddr()); len(v.Services) != 0 {
		t.Fatalf("before any update: %+v, want no services", v)
	}

	feed.set(5, headless("web", 5), headless("api", 3))
	feed.waitAsked(t, 5)
	web5, api3 := RouteVersion{5, start}, RouteVersion{3, start}
	checkRoutes(t, "first update", getRoutes(t, a.HTTPAddr()), map[string]AppliedRoute{
		"default/web": {RouteVersion: web5}, "default/api": {RouteVersion: api3}})

	// web's routes change; api comes again unchanged and keeps its time.
	fake.Advance(time.Second)
	feed.set(7, headless("web", 7), headless("api", 3))
	feed.waitAsked(t, 7)
	web7 := RouteVersion{7, start.Add(time.Second)}
	checkRoutes(t, "web changed", getRoutes(t, a.HTTPAddr()), map[string]AppliedRoute{
		"default/web": {RouteVersion: web7, Previous: []RouteVersion{web5}}, "default/api": {RouteVersion: api3}})

	// api is deleted: it leaves the record; web keeps its time.
	fake.Advance(time.Second)
	feed.set(8, headless("web", 7))
	feed.waitAsked(t, 8)
	checkRoutes(t, "api deleted", getRoutes(t, a.HTTPAddr()), map[string]AppliedRoute{
		"default/web": {RouteVersion: web7, Previous: []RouteVersion{web5}}})
}

func TestAppliedRoutesKeepABoundedHistoryOldestFirst(t *testing.T) {
	r := &appliedRoutes{services: map[string]AppliedRoute{}}
	start := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	for i := 1; i <= maxPreviousRoutes+5; i++ {
		r.record([]api.ServiceEndpoints{*headless("web", uint64(i))}, start.Add(time.Duration(i)*time.Second))
	}
	got := r.view().Services["default/web"]
	if n := maxPreviousRoutes + 5; got.ModifyIndex != uint64(n) || len(got.Previous) != maxPreviousRoutes {
		t.Fatalf("current %d with %d earlier versions, want %d with %d", got.ModifyIndex, len(got.Previous), n, maxPreviousRoutes)
	}
	for i, v := range got.Previous {
		if want := uint64(i + 5); v.ModifyIndex != want || !v.AppliedAt.Equal(start.Add(time.Duration(want)*time.Second)) {
			t.Fatalf("previous[%d] = %+v, want index %d", i, v, want)
		}
	}
}

func checkRoutes(t *testing.T, when string, got RoutesView, want map[string]AppliedRoute) {
	t.Helper()
	same := func(a, b RouteVersion) bool { return a.ModifyIndex == b.ModifyIndex && a.AppliedAt.Equal(b.AppliedAt) }
	if len(got.Services) != len(want) {
		t.Fatalf("%s: services %+v, want %+v", when, got.Services, want)
	}
	for key, w := range want {
		g, ok := got.Services[key]
		if !ok || !same(g.RouteVersion, w.RouteVersion) || len(g.Previous) != len(w.Previous) {
			t.Fatalf("%s: %s is %+v, want %+v", when, key, g, w)
		}
		for i := range w.Previous {
			if !same(g.Previous[i], w.Previous[i]) {
				t.Fatalf("%s: %s is %+v, want %+v", when, key, g, w)
			}
		}
	}
}

func TestAgentWithoutAProxyServesNoRoutes(t *testing.T) {
	servers, rt := newFakeServers(), NewNullRuntime()
	a := runTestAgent(t, Config{HTTP: "127.0.0.1:0", Clock: clock.NewFake(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))},
		servers, servers, rt, rt).registered().agent
	if v := getRoutes(t, a.HTTPAddr()); v.Services == nil || len(v.Services) != 0 {
		t.Fatalf("got %+v, want an empty services object", v)
	}
}
