package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"flotilla/api"
)

// consistentBackend is a fakeBackend that also offers consistent reads; it
// records barrier and index waits, and the request ID writes carry.
type consistentBackend struct {
	*fakeBackend
	BarrierErr error
	meta       api.QueryMeta

	mu         sync.Mutex
	barriers   int
	waits      []uint64
	requestIDs []string
}

func newConsistentBackend() *consistentBackend {
	b := &consistentBackend{fakeBackend: &fakeBackend{}, meta: api.QueryMeta{KnownLeader: true, LastContact: 42 * time.Millisecond}}
	b.ScaleServiceFn = func(ctx context.Context, namespace, name string, replicas int) (api.WriteResponse, error) {
		b.mu.Lock()
		b.requestIDs = append(b.requestIDs, api.RequestIDFrom(ctx))
		b.mu.Unlock()
		return api.WriteResponse{Index: 7}, nil
	}
	return b
}

func (b *consistentBackend) ReadBarrier(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.barriers++
	return b.BarrierErr
}

func (b *consistentBackend) ReadIndex(ctx context.Context) (uint64, error) { return 99, nil }

func (b *consistentBackend) WaitForIndex(ctx context.Context, index uint64) error {
	b.mu.Lock()
	b.waits = append(b.waits, index)
	b.mu.Unlock()
	return nil
}

func (b *consistentBackend) QueryMeta() api.QueryMeta { return b.meta }

func (b *consistentBackend) counts() (int, []uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.barriers, append([]uint64(nil), b.waits...)
}

func TestReadsAreConsistentUnlessStale(t *testing.T) {
	for _, tc := range []struct {
		path     string
		barriers int
		waits    []uint64
	}{
		{"/v1/services", 1, nil},
		{"/v1/services/default/web", 1, nil},
		{"/v1/nodes/n1", 1, nil},
		{"/v1/allocations/abc", 1, nil},
		{"/v1/services/default/web/revisions/1", 1, nil},
		{"/v1/services?stale", 0, nil},
		{"/v1/services?stale=true", 0, nil},
		{"/v1/services?stale=false", 1, nil},
		// A watch going on: any server, once it reached the index.
		{"/v1/nodes/n1/allocations?stale&index=12&wait=10ms", 0, []uint64{12}},
		{"/v1/endpoints?index=5&wait=10ms", 1, nil},
		// Event IDs are not Raft indexes: nothing to wait for.
		{"/v1/events?stale&index=3&wait=10ms", 0, nil},
		// Status endpoints say what this server knows: never a barrier.
		{"/v1/status/leader", 0, nil},
		{"/v1/status/peers", 0, nil},
	} {
		t.Run(tc.path, func(t *testing.T) {
			b := newConsistentBackend()
			b.RevisionFn = func(ctx context.Context, namespace, name string, revision int) (*api.Revision, error) {
				return &api.Revision{}, nil
			}
			srv := newTestServer(t, b, api.HandlerOptions{})
			accept := []string{"Accept", "application/json"}
			resp := send(t, srv.URL, http.MethodGet, tc.path, "", accept...)
			if resp.status >= 500 {
				t.Fatalf("GET %s: %d %s", tc.path, resp.status, resp.body)
			}
			barriers, waits := b.counts()
			if barriers != tc.barriers || fmt.Sprint(waits) != fmt.Sprint(tc.waits) {
				t.Fatalf("GET %s: %d barriers and index waits %v, want %d and %v", tc.path, barriers, waits, tc.barriers, tc.waits)
			}
			if got := resp.header.Get(api.KnownLeaderHeader); got != "true" {
				t.Errorf("%s = %q, want true", api.KnownLeaderHeader, got)
			}
			if got := resp.header.Get(api.LastContactHeader); got != "42" {
				t.Errorf("%s = %q, want 42 (ms)", api.LastContactHeader, got)
			}
		})
	}
}

func TestAReadThatCannotBeMadeConsistentIs503AndReadsNothing(t *testing.T) {
	b := newConsistentBackend()
	b.BarrierErr = fmt.Errorf("server s2: consistent read: no known leader: %w", api.ErrNoLeader)
	b.meta = api.QueryMeta{KnownLeader: false, LastContact: -1}
	srv := newTestServer(t, b, api.HandlerOptions{})
	resp := send(t, srv.URL, http.MethodGet, "/v1/services/default/web", "")
	if resp.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d %s, want 503", resp.status, resp.body)
	}
	if len(b.CallsTo("Service")) != 0 {
		t.Fatal("the backend was read although the read could not be made consistent")
	}
	if resp.header.Get(api.KnownLeaderHeader) != "false" || resp.header.Get(api.LastContactHeader) != "-1" {
		t.Fatalf("headers %v, want no known leader and last contact -1", resp.header)
	}
	// The same read, stale, is answered.
	if resp := send(t, srv.URL, http.MethodGet, "/v1/services?stale", ""); resp.status != http.StatusOK {
		t.Fatalf("stale read: %d %s", resp.status, resp.body)
	}
}

func TestTheRequestIDOfAWriteReachesTheBackend(t *testing.T) {
	b := newConsistentBackend()
	srv := newTestServer(t, b, api.HandlerOptions{})
	resp := send(t, srv.URL, http.MethodPost, "/v1/services/default/web/scale", `{"replicas": 3}`, api.RequestIDHeader, "abc-123")
	if resp.status != http.StatusOK {
		t.Fatalf("scale: %d %s", resp.status, resp.body)
	}
	resp = send(t, srv.URL, http.MethodPost, "/v1/services/default/web/scale", `{"replicas": 3}`, api.RequestIDHeader, "no spaces allowed")
	if resp.status != http.StatusBadRequest {
		t.Fatalf("a bad request ID: %d %s, want 400", resp.status, resp.body)
	}
	if len(b.requestIDs) != 1 || b.requestIDs[0] != "abc-123" {
		t.Fatalf("backend saw request IDs %q, want [abc-123]", b.requestIDs)
	}
}

func TestAForwardedWriteKeepsItsRequestID(t *testing.T) {
	leader := newConsistentBackend()
	ls := newTestServer(t, leader, api.HandlerOptions{})
	follower := newTestServer(t, followerOf(ls.Listener.Addr().String()), api.HandlerOptions{})
	resp := send(t, follower.URL, http.MethodPost, "/v1/services/default/web/scale", `{"replicas": 3}`, api.RequestIDHeader, "fwd-1")
	if resp.status != http.StatusOK || len(leader.requestIDs) != 1 || leader.requestIDs[0] != "fwd-1" {
		t.Fatalf("forwarded scale: %d %s; leader saw %q", resp.status, resp.body, leader.requestIDs)
	}
}

// TestAWriteMovesOnFromAServerThatHangsWithTheSameRequestID: a paused
// server accepts the connection and never answers; the write is given up
// on after the attempt timeout and sent, with the same request ID, to the
// next server, where it succeeds.
func TestAWriteMovesOnFromAServerThatHangsWithTheSameRequestID(t *testing.T) {
	release := make(chan struct{})
	var hungID, goodID atomic.Value
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hungID.Store(r.Header.Get(api.RequestIDHeader))
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hung.Close()
	defer close(release)
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		goodID.Store(r.Header.Get(api.RequestIDHeader))
		w.Write([]byte(`{"index": 9}`))
	}))
	defer good.Close()
	client, err := api.NewClient(hung.URL + "," + good.URL)
	if err != nil {
		t.Fatal(err)
	}
	client.AttemptTimeout = 200 * time.Millisecond
	start := time.Now()
	resp, err := client.ScaleService(context.Background(), "default", "web", 7)
	if err != nil {
		t.Fatalf("scale past a hung server: %v", err)
	}
	if resp.Index != 9 {
		t.Fatalf("answer %+v", resp)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("took %s", took)
	}
	h, g := hungID.Load(), goodID.Load()
	if h == nil || g == nil || h.(string) == "" || h != g {
		t.Fatalf("request IDs: hung server %v, good server %v; want the same ID on both", h, g)
	}
}

func TestAWriteWithoutAnswerIsNotRetriedOnceTheCallersContextEnds(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hung.Close()
	defer close(release)
	client, err := api.NewClient(hung.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := client.ScaleService(ctx, "default", "web", 7); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the caller's deadline", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("sent %d times after the caller gave up", calls.Load())
	}
}

func TestBlockingQueriesAreSentStaleAndOneShotReadsConsistent(t *testing.T) {
	var mu sync.Mutex
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		mu.Unlock()
		w.Header().Set(api.IndexHeader, "8")
		w.Write([]byte(`[]`))
	}))
	defer srv.Close()
	client, err := api.NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	client.Endpoints(ctx, api.QueryOptions{})
	client.Endpoints(ctx, api.QueryOptions{Index: 8, Wait: time.Second})
	client.Nodes(ctx, api.QueryOptions{Stale: true})
	want := []string{"", "index=8&stale=&wait=1s", "stale="}
	if fmt.Sprint(queries) != fmt.Sprint(want) {
		t.Fatalf("queries %q, want %q", queries, want)
	}
}

// A server that knows the leader from Raft but not its API address says
// so with every read (X-Flotilla-Leader-Api: unknown), so that status
// shows why it serves nothing; the others say nothing of it.
func TestAServerThatCannotReachTheLeadersAPISaysSo(t *testing.T) {
	for _, unknown := range []bool{true, false} {
		b := newConsistentBackend()
		b.meta.LeaderAPIUnknown = unknown
		srv := newTestServer(t, b, api.HandlerOptions{})
		resp := send(t, srv.URL, http.MethodGet, "/v1/services?stale", "")
		want := ""
		if unknown {
			want = "unknown"
		}
		if got := resp.header.Get(api.LeaderAPIHeader); got != want {
			t.Errorf("LeaderAPIUnknown %v: %s = %q, want %q", unknown, api.LeaderAPIHeader, got, want)
		}
	}
}
