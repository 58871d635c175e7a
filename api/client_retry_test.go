package api_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"flotilla/api"
)

// brokenServer answers every request by dropping the connection after
// reading it: the client cannot know whether a write was applied. It
// records the request ID of every request.
func brokenServer(t *testing.T, calls *atomic.Int32, ids ...*[]string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		brokenMu.Lock()
		for _, list := range ids {
			*list = append(*list, r.Header.Get(api.RequestIDHeader))
		}
		brokenMu.Unlock()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// brokenMu guards the request IDs broken servers record.
var brokenMu sync.Mutex

// A write whose connection broke may have been applied: the client sends
// it again only with the same request ID, which the servers apply once.
func TestClientRepeatsAWriteThatMayHaveBeenAppliedOnlyWithItsRequestID(t *testing.T) {
	var calls atomic.Int32
	var first, second []string
	for _, ids := range []*[]string{&first, &second} {
		client, err := api.NewClient(brokenServer(t, &calls, ids))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.DeleteService(context.Background(), "default", "web"); err == nil {
			t.Fatal("delete over a broken connection succeeded")
		}
	}
	brokenMu.Lock()
	defer brokenMu.Unlock()
	if len(first) < 2 || first[0] == "" {
		t.Fatalf("the delete was sent with IDs %q, want it sent again with its ID", first)
	}
	for _, id := range first {
		if id != first[0] {
			t.Fatalf("the attempts carried different request IDs: %q", first)
		}
	}
	if len(second) == 0 || second[0] == first[0] {
		t.Fatalf("two writes shared the request ID %q", first[0])
	}
}

func TestClientRetriesAReadOverABrokenConnection(t *testing.T) {
	var calls atomic.Int32
	broken := brokenServer(t, &calls)
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`[]`))
	}))
	defer good.Close()
	client, err := api.NewClient(broken + "," + good.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := client.Nodes(context.Background(), api.QueryOptions{}); err != nil {
		t.Fatalf("read: %v", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("broken server saw %d reads", calls.Load())
	}
}

func TestClientRetriesAWriteThatNeverConnected(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	var got atomic.Int32
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.Write([]byte(`{"index": 3}`))
	}))
	defer good.Close()
	client, err := api.NewClient(dead + "," + good.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.DeleteService(context.Background(), "default", "web"); err != nil || got.Load() != 1 {
		t.Fatalf("delete: %v, reached the live server %d times", err, got.Load())
	}
}

// TestClientMovesOnFromAServerThatHangs: a frozen server (paused, a dead
// VM) accepts connections and never answers; a request bounded by its
// context gives up on it, and the next request goes to another server.
func TestClientMovesOnFromAServerThatHangs(t *testing.T) {
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hung.Close()
	defer close(release)
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"ttl": "5s"}`))
	}))
	defer good.Close()
	client, err := api.NewClient(hung.URL + "," + good.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err = client.Heartbeat(ctx, "n1")
	cancel()
	if err == nil {
		t.Fatal("a heartbeat to a hung server succeeded")
	}
	if _, err := client.Heartbeat(context.Background(), "n1"); err != nil {
		t.Fatalf("the next heartbeat did not move on to the live server: %v", err)
	}
}

func TestAttemptTimeoutGivesUpOnAHungServerAndReadsFromTheNext(t *testing.T) {
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hung.Close()
	defer close(release)
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`[]`))
	}))
	defer good.Close()
	client, err := api.NewClient(hung.URL + "," + good.URL)
	if err != nil {
		t.Fatal(err)
	}
	client.AttemptTimeout = 200 * time.Millisecond
	start := time.Now()
	if _, _, err := client.Nodes(context.Background(), api.QueryOptions{}); err != nil {
		t.Fatalf("read past a hung server: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("took %s", took)
	}
}
