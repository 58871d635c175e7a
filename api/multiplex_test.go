package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/internal/testutil"
)

// TestMultiplexOpensAConnectionPerStreamLimit: a burst of requests from a
// multiplexing client, all held by the server at once, shares HTTP/2
// connections up to the server's stream limit rather than each request
// that finds them full dialing a connection of its own (which the client
// then drops as soon as one of the others is added).
func TestMultiplexOpensAConnectionPerStreamLimit(t *testing.T) {
	const requests = 1000
	release := make(chan struct{})
	var inFlight atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inFlight.Add(1)
		<-release
		json.NewEncoder(w).Encode(api.Leader{Leader: "s1"})
	}))
	srv.Config.Protocols, srv.Config.HTTP2 = api.ServerProtocols()
	var dialed atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dialed.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	var once sync.Once
	done := func() { once.Do(func() { close(release) }) }
	defer done()

	c, err := api.NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c.Multiplex()
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Leader(context.Background()); err != nil {
				failed.Add(1)
			}
		}()
	}
	testutil.Eventually(t, 20*time.Second, "the server holds every request", func() error {
		if n := inFlight.Load(); n != requests {
			return fmt.Errorf("%d of %d", n, requests)
		}
		return nil
	})
	done()
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d requests failed", n)
	}
	// 1000 streams at 256 a connection need 4; a few more may be dialed
	// as the burst begins (4 to 8 in 60 runs here), not one per request
	// (1,320 before the transport dialed one at a time).
	need := (requests + api.MaxStreamsPerConnection - 1) / api.MaxStreamsPerConnection
	n := int(dialed.Load())
	t.Logf("%d requests held at once opened %d connections", requests, n)
	if n > 3*need {
		t.Errorf("%d requests held at once opened %d connections, want at most %d", requests, n, 3*need)
	}

	// Connections the server closes are dialed again.
	srv.CloseClientConnections()
	before := dialed.Load()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Leader(ctx); err != nil {
		t.Fatalf("after the server closed its connections: %v", err)
	}
	if dialed.Load() == before {
		t.Error("the request after the server closed its connections dialed none")
	}
}
