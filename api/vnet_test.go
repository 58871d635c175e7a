package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"flotilla/api"
	"flotilla/internal/vnet"
)

// memoryServerAddr is where the tests' servers listen on their simulated
// network: nothing listens there on the host, so a request that went to
// the host's network would fail.
const memoryServerAddr = "127.77.0.1:4646"

// serveOnMemory serves h, with the servers' protocols (HTTP/1.1 and h2c),
// at memoryServerAddr on n, and reports each request's major protocol
// version to proto. It stops when the test ends.
func serveOnMemory(t *testing.T, n vnet.Net, h http.Handler, proto *atomic.Int32) {
	t.Helper()
	ln, err := n.Listen("tcp", memoryServerAddr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if proto != nil {
			proto.Store(int32(r.ProtoMajor))
		}
		h.ServeHTTP(w, r)
	})}
	srv.Protocols, srv.HTTP2 = api.ServerProtocols()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// TestClientUseNetDialsThroughTheNet: a client given a Net reaches a
// server that exists only there, whichever of KeepAlivePerHost and
// Multiplex it was also set up with, before or after.
func TestClientUseNetDialsThroughTheNet(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(c *api.Client, n vnet.Net)
		proto int32
	}{
		{"alone", func(c *api.Client, n vnet.Net) { c.UseNet(n) }, 1},
		{"then keep-alive", func(c *api.Client, n vnet.Net) { c.UseNet(n); c.KeepAlivePerHost(8) }, 1},
		{"after keep-alive", func(c *api.Client, n vnet.Net) { c.KeepAlivePerHost(8); c.UseNet(n) }, 1},
		{"then multiplex", func(c *api.Client, n vnet.Net) { c.UseNet(n); c.Multiplex() }, 2},
		{"after multiplex", func(c *api.Client, n vnet.Net) { c.Multiplex(); c.UseNet(n) }, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := vnet.NewMemory()
				var proto atomic.Int32
				serveOnMemory(t, n, api.NewHandler(&fakeBackend{}, api.HandlerOptions{}), &proto)
				c, err := api.NewClient("http://" + memoryServerAddr)
				if err != nil {
					t.Fatal(err)
				}
				c.RetryFor = 0
				tc.setup(c, n)
				if _, err := c.Leader(context.Background()); err != nil {
					t.Fatalf("through the simulated network: %v", err)
				}
				if got := proto.Load(); got != tc.proto {
					t.Errorf("the request came over HTTP/%d, want HTTP/%d", got, tc.proto)
				}
			})
		})
	}
}

// TestFollowerForwardsThroughItsNet: HandlerOptions.Net carries the writes
// a follower forwards to a leader that exists only on that network.
func TestFollowerForwardsThroughItsNet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := vnet.NewMemory()
		leader := &fakeBackend{
			ScaleServiceFn: func(ctx context.Context, namespace, name string, replicas int) (api.WriteResponse, error) {
				return api.WriteResponse{Index: 42}, nil
			},
		}
		serveOnMemory(t, n, api.NewHandler(leader, api.HandlerOptions{}), nil)
		follower := api.NewHandler(followerOf(memoryServerAddr), api.HandlerOptions{Net: n})

		req := httptest.NewRequest("POST", "/v1/services/prod/web/scale", strings.NewReader(`{"replicas": 5}`))
		rec := httptest.NewRecorder()
		follower.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != `{"index":42}` {
			t.Errorf("forwarded write: %d %s, want the leader's 200 {\"index\":42}", rec.Code, rec.Body)
		}
		if calls := leader.CallsTo("ScaleService"); len(calls) != 1 {
			t.Errorf("the leader's ScaleService ran %d times, want once", len(calls))
		}
	})
}
