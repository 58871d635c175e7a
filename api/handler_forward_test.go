package api_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"flotilla/api"
)

// leaderServer is a "leader": a handler over its own fake backend, which
// records the forwarded header of every request it receives.
type leaderServer struct {
	*httptest.Server
	backend *fakeBackend

	mu        sync.Mutex
	forwarded []string
}

func newLeaderServer(t *testing.T, b *fakeBackend) *leaderServer {
	t.Helper()
	l := &leaderServer{backend: b}
	h := api.NewHandler(b, api.HandlerOptions{})
	l.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.forwarded = append(l.forwarded, r.Header.Get(forwardedHeader))
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(l.Close)
	return l
}

// Requests returns the forwarded header of each request received.
func (l *leaderServer) Requests() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.forwarded...)
}

// hostPort is a server's address as WriteTarget returns it.
func hostPort(srv *httptest.Server) string { return srv.Listener.Addr().String() }

// followerOf is a fake backend whose writes go to target.
func followerOf(target string) *fakeBackend {
	return &fakeBackend{WriteTargetFn: func(ctx context.Context) (string, error) { return target, nil }}
}

// deadAddress is the address of a listener that has been closed: nothing
// answers there.
func deadAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("close listener: %v", err)
	}
	return addr
}

func TestFollowerForwardsWritesToTheLeader(t *testing.T) {
	leader := newLeaderServer(t, &fakeBackend{
		ScaleServiceFn: func(ctx context.Context, namespace, name string, replicas int) (api.WriteResponse, error) {
			return api.WriteResponse{Index: 42}, nil
		},
	})
	follower := followerOf(hostPort(leader.Server))
	srv := newTestServer(t, follower, api.HandlerOptions{})

	resp := send(t, srv.URL, "POST", "/v1/services/prod/web/scale", `{"replicas": 5}`)
	if resp.status != http.StatusOK {
		t.Fatalf("status %d, body %s", resp.status, resp.body)
	}
	if got := strings.TrimSpace(string(resp.body)); got != `{"index":42}` {
		t.Errorf("client got %s, want the leader's answer {\"index\":42}", got)
	}
	if h := resp.header.Get(api.IndexHeader); h != "42" {
		t.Errorf("%s = %q, want the leader's 42", api.IndexHeader, h)
	}
	calls := leader.backend.CallsTo("ScaleService")
	if len(calls) != 1 || fmt.Sprint(calls[0].Args) != "[prod web 5]" {
		t.Errorf("leader's ScaleService calls = %+v, want one with prod web 5", calls)
	}
	if got := leader.Requests(); len(got) != 1 || got[0] == "" {
		t.Errorf("leader received forwarded headers %q, want one request carrying %s", got, forwardedHeader)
	}
	if w := follower.Writes(); len(w) != 0 {
		t.Errorf("the follower ran the write itself: %+v", w)
	}
}

func TestForwardedWritesAreEveryWrite(t *testing.T) {
	for _, r := range []struct{ method, path, body, method2 string }{
		{"PUT", "/v1/services/prod/web", validSpec, "ApplyService"},
		{"DELETE", "/v1/services/prod/web", "", "DeleteService"},
		{"PUT", "/v1/nodes/n1", `{"capacity": {"cpu": "1", "memory": "1Gi"}}`, "RegisterNode"},
		{"POST", "/v1/nodes/n1/heartbeat", `{}`, "Heartbeat"},
		{"POST", "/v1/nodes/n1/drain", `{"enable": true}`, "DrainNode"},
		{"POST", "/v1/nodes/n1/eligibility", `{"eligible": true}`, "SetEligibility"},
		{"POST", "/v1/nodes/n1/status", `{"status": "down"}`, "SetNodeStatus"},
		{"POST", "/v1/allocations/status", `{"node": "n1", "updates": []}`, "UpdateAllocations"},
	} {
		t.Run(r.method2, func(t *testing.T) {
			leader := newLeaderServer(t, &fakeBackend{})
			follower := followerOf(hostPort(leader.Server))
			srv := newTestServer(t, follower, api.HandlerOptions{})
			resp := send(t, srv.URL, r.method, r.path, r.body)
			if resp.status != http.StatusOK {
				t.Fatalf("status %d, body %s", resp.status, resp.body)
			}
			if n := len(leader.backend.CallsTo(r.method2)); n != 1 {
				t.Errorf("leader's %s ran %d times, want once", r.method2, n)
			}
			if w := follower.Writes(); len(w) != 0 {
				t.Errorf("the follower ran the write itself: %+v", w)
			}
		})
	}
}

func TestForwardedWriteKeepsTheLeadersError(t *testing.T) {
	leader := newLeaderServer(t, &fakeBackend{})
	follower := followerOf(hostPort(leader.Server))
	srv := newTestServer(t, follower, api.HandlerOptions{})

	// The follower does not decode; the leader refuses the unknown field.
	resp := send(t, srv.URL, "PUT", "/v1/services/prod/web",
		`{"kind": "Service", "name": "web", "namespace": "prod", "image": "i", "replicaz": 3}`)
	if resp.status != http.StatusBadRequest {
		t.Errorf("status %d, want the leader's 400 (body %s)", resp.status, resp.body)
	}
	if e := resp.errorBody(t); e.Field != "spec.replicaz" {
		t.Errorf("field %q, want spec.replicaz", e.Field)
	}
	if w := leader.backend.Writes(); len(w) != 0 {
		t.Errorf("bad input reached the leader's backend: %+v", w)
	}
}

func TestForwardedWriteAtAFollowerIsRefusedNotForwardedAgain(t *testing.T) {
	// Where this follower believes the leader is: it must not be reached.
	other := newLeaderServer(t, &fakeBackend{})
	follower := followerOf(hostPort(other.Server))
	srv := newTestServer(t, follower, api.HandlerOptions{})

	resp := send(t, srv.URL, "POST", "/v1/services/prod/web/scale", `{"replicas": 5}`, forwardedHeader, "1")
	if resp.status != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503 (body %s)", resp.status, resp.body)
	}
	if resp.header.Get("Retry-After") == "" {
		t.Errorf("a 503 without Retry-After")
	}
	resp.errorBody(t)
	if got := other.Requests(); len(got) != 0 {
		t.Errorf("the forwarded write was forwarded again (%d requests)", len(got))
	}
	if w := follower.Writes(); len(w) != 0 {
		t.Errorf("the follower ran the write itself: %+v", w)
	}
}

func TestForwardedWriteAtTheLeaderRuns(t *testing.T) {
	b := &fakeBackend{}
	srv := newTestServer(t, b, api.HandlerOptions{})
	resp := send(t, srv.URL, "POST", "/v1/services/prod/web/scale", `{"replicas": 5}`, forwardedHeader, "1")
	if resp.status != http.StatusOK {
		t.Fatalf("status %d, body %s", resp.status, resp.body)
	}
	if n := len(b.CallsTo("ScaleService")); n != 1 {
		t.Errorf("ScaleService ran %d times, want once", n)
	}
}

func TestReadsAreNeverForwarded(t *testing.T) {
	leader := newLeaderServer(t, &fakeBackend{})
	follower := followerOf(hostPort(leader.Server))
	srv := newTestServer(t, follower, api.HandlerOptions{})
	for _, path := range []string{
		"/v1/status/leader", "/v1/status/peers", "/v1/services", "/v1/services/prod/web",
		"/v1/services/prod/web/revisions", "/v1/nodes", "/v1/nodes/n1", "/v1/nodes/n1/allocations",
		"/v1/allocations", "/v1/allocations/a1", "/v1/evaluations", "/v1/events",
	} {
		resp := send(t, srv.URL, "GET", path, "", "Accept", "application/json")
		if resp.status != http.StatusOK {
			t.Errorf("GET %s: status %d, body %s", path, resp.status, resp.body)
		}
	}
	if got := leader.Requests(); len(got) != 0 {
		t.Errorf("reads reached the leader: %d requests", len(got))
	}
	if n := len(follower.CallsTo("WriteTarget")); n != 0 {
		t.Errorf("reads asked WriteTarget %d times", n)
	}
}

func TestWriteTargetErrorIs503(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("wait for an election: %w", api.ErrNoLeader),
		context.DeadlineExceeded,
	} {
		t.Run(err.Error(), func(t *testing.T) {
			b := &fakeBackend{WriteTargetFn: func(ctx context.Context) (string, error) { return "", err }}
			srv := newTestServer(t, b, api.HandlerOptions{})
			resp := send(t, srv.URL, "POST", "/v1/services/prod/web/scale", `{"replicas": 5}`)
			if resp.status != http.StatusServiceUnavailable {
				t.Errorf("status %d, want 503 (body %s)", resp.status, resp.body)
			}
			resp.errorBody(t)
			if errors.Is(err, api.ErrNoLeader) && resp.header.Get("Retry-After") == "" {
				t.Errorf("no leader, and no Retry-After")
			}
			if w := b.Writes(); len(w) != 0 {
				t.Errorf("the write ran without a leader: %+v", w)
			}
		})
	}
}

func TestUnreachableLeaderIs503(t *testing.T) {
	follower := followerOf(deadAddress(t))
	srv := newTestServer(t, follower, api.HandlerOptions{})
	resp := send(t, srv.URL, "POST", "/v1/services/prod/web/scale", `{"replicas": 5}`)
	if resp.status != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503 (body %s)", resp.status, resp.body)
	}
	if resp.header.Get("Retry-After") == "" {
		t.Errorf("a 503 without Retry-After")
	}
	resp.errorBody(t)
	if w := follower.Writes(); len(w) != 0 {
		t.Errorf("the follower ran the write itself: %+v", w)
	}
}

// A body over the limit is the client's mistake wherever it lands: 413,
// which the client does not retry, not a 503 "no leader" that it retries.
func TestForwardedBodyOverOneMiBIs413(t *testing.T) {
	leader := newLeaderServer(t, &fakeBackend{})
	follower := followerOf(hostPort(leader.Server))
	srv := newTestServer(t, follower, api.HandlerOptions{})
	big := `{"kind": "Service", "name": "web", "namespace": "prod", "image": "i", "env": {"PAD": "` +
		strings.Repeat("x", api.MaxBodyBytes) + `"}}`
	resp := send(t, srv.URL, "PUT", "/v1/services/prod/web", big)
	if resp.status != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413 (body %.300s)", resp.status, resp.body)
	}
	if w := leader.backend.Writes(); len(w) != 0 {
		t.Errorf("an oversized body reached the leader's backend")
	}
}

// A heartbeat forwarded while every connection for writes waits on the
// leader does not queue behind those writes.
func TestForwardedHeartbeatPassesWritesThatHoldEveryConnection(t *testing.T) {
	const conns = 2
	release := make(chan struct{})
	var inFlight sync.WaitGroup
	inFlight.Add(conns)
	var beats, arrived atomic.Int32
	leader := newLeaderServer(t, &fakeBackend{
		ScaleServiceFn: func(ctx context.Context, namespace, name string, replicas int) (api.WriteResponse, error) {
			if arrived.Add(1) <= conns { // the write that waited arrives once they are released
				inFlight.Done()
			}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return api.WriteResponse{Index: 7}, nil
		},
		HeartbeatFn: func(ctx context.Context, name string) (api.HeartbeatResponse, error) {
			beats.Add(1)
			return api.HeartbeatResponse{}, nil
		},
	})
	srv := httptest.NewServer(api.NewHandlerForwardingOver(followerOf(hostPort(leader.Server)), api.HandlerOptions{}, conns))
	t.Cleanup(srv.Close)

	// conns writes hold every connection, and one more waits for one.
	var writes sync.WaitGroup
	for range conns + 1 {
		writes.Add(1)
		go func() {
			defer writes.Done()
			resp, err := http.Post(srv.URL+"/v1/services/prod/web/scale", "application/json", strings.NewReader(`{"replicas": 5}`))
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	t.Cleanup(func() { close(release); writes.Wait() })
	inFlight.Wait()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/nodes/n1/heartbeat", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("heartbeat while the writes hold the connections: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || beats.Load() != 1 {
		t.Fatalf("heartbeat: status %d, %d heartbeats at the leader; want 200 and 1", resp.StatusCode, beats.Load())
	}
}
