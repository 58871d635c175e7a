package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestAgentStoppedBeforeRegisteringExitsZero: an agent whose servers do
// not answer yet keeps trying to register; a stop asked for then (SIGTERM
// cancels the command's context) is no failure, as it is not for an agent
// that registered. It runs on the processors --procs gives it, and gives
// the process back its own when it returns.
func TestAgentStoppedBeforeRegisteringExitsZero(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	asked := make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(asked) })
		http.Error(w, `{"error":"not yet"}`, http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"agent", "--name", "n1", "--data-dir", t.TempDir(), "--servers", srv.URL,
		"--http", "127.0.0.1:0", "--gossip", "127.0.0.1:0", "--dns", "", "--proxy=false", "--log-level", "error", "--procs", "3"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	select {
	case <-asked: // the agent is trying to register
		if got := runtime.GOMAXPROCS(0); got != 3 {
			t.Errorf("an agent run with --procs 3 runs on %d processors", got)
		}
	case err := <-done:
		t.Fatalf("agent ended before it asked a server: %v\n%s", err, out.String())
	case <-time.After(30 * time.Second):
		t.Fatal("the agent never asked the server")
	}
	cancel() // what SIGTERM does
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("an agent stopped before it registered: got %v, want nil (exit 0)", err)
		}
		if got := runtime.GOMAXPROCS(0); got != procs {
			t.Errorf("after the agent, the process runs on %d processors, want its own %d", got, procs)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the agent did not stop")
	}
}
