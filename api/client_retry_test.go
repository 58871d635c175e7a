package api_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"flotilla/api"
)

// brokenServer answers every request by dropping the connection after
// reading it: the client cannot know whether a write was applied.
func brokenServer(t *testing.T, calls *atomic.Int32) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestClientDoesNotRepeatAWriteThatMayHaveBeenApplied(t *testing.T) {
	var calls atomic.Int32
	client, err := api.NewClient(brokenServer(t, &calls))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.DeleteService(context.Background(), "default", "web"); err == nil {
		t.Fatal("delete over a broken connection succeeded")
	}
	if calls.Load() != 1 {
		t.Fatalf("the delete was sent %d times, want once", calls.Load())
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
