package api_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
	"flotilla/internal/testutil"
)

func TestNewClientParsesAddresses(t *testing.T) {
	cases := []struct {
		name, address, env string
		want               []string
	}{
		{name: "host and port", address: "127.0.0.1:4646", want: []string{"http://127.0.0.1:4646"}},
		{name: "with scheme", address: "http://127.0.0.1:4646", want: []string{"http://127.0.0.1:4646"}},
		{name: "trailing slash", address: "http://127.0.0.1:4646/", want: []string{"http://127.0.0.1:4646"}},
		{name: "https kept", address: "https://127.0.0.1:4646", want: []string{"https://127.0.0.1:4646"}},
		{name: "several, mixed, with spaces", address: "127.0.0.1:4646, http://127.0.0.2:4646 ,127.0.0.3:4646",
			want: []string{"http://127.0.0.1:4646", "http://127.0.0.2:4646", "http://127.0.0.3:4646"}},
		{name: "empty entries skipped", address: "127.0.0.1:4646,,", want: []string{"http://127.0.0.1:4646"}},
		{name: "from FLOTILLA_ADDR", env: "127.0.0.5:4646,127.0.0.6:4646",
			want: []string{"http://127.0.0.5:4646", "http://127.0.0.6:4646"}},
		{name: "the flag wins over FLOTILLA_ADDR", address: "127.0.0.1:1", env: "127.0.0.5:4646",
			want: []string{"http://127.0.0.1:1"}},
		{name: "default", want: []string{api.DefaultAddress}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(api.AddressEnv, tc.env)
			c, err := api.NewClient(tc.address)
			if err != nil {
				t.Fatalf("NewClient(%q): %v", tc.address, err)
			}
			if got := c.Addresses(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("NewClient(%q) with %s=%q: addresses %q, want %q", tc.address, api.AddressEnv, tc.env, got, tc.want)
			}
		})
	}
}

func TestNewClientRefusesBadAddresses(t *testing.T) {
	for _, address := range []string{",", " , ", "http://", "http://[::1"} {
		t.Run(address, func(t *testing.T) {
			t.Setenv(api.AddressEnv, "")
			if c, err := api.NewClient(address); err == nil {
				t.Errorf("NewClient(%q) = %q, want an error", address, c.Addresses())
			}
		})
	}
}

// countingServer answers every request with handler and counts them.
type countingServer struct {
	*httptest.Server
	hits atomic.Int64
}

func newCountingServer(t *testing.T, handler http.Handler) *countingServer {
	t.Helper()
	s := &countingServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// answering always answers status with an API error body.
func answering(status int, field string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		body := `{"error": "` + http.StatusText(status) + `"`
		if field != "" {
			body += `, "field": "` + field + `"`
		}
		w.Write([]byte(body + "}\n"))
	})
}

func newClient(t *testing.T, addresses string) *api.Client {
	t.Helper()
	c, err := api.NewClient(addresses)
	if err != nil {
		t.Fatalf("NewClient(%q): %v", addresses, err)
	}
	return c
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestClientMovesPastADeadServer(t *testing.T) {
	b := &fakeBackend{LeaderFn: func() api.Leader { return api.Leader{Leader: "s2", Address: "127.0.0.1:4647"} }}
	live := newTestServer(t, b, api.HandlerOptions{})
	c := newClient(t, deadAddress(t)+","+live.URL)

	l, err := c.Leader(testContext(t))
	if err != nil {
		t.Fatalf("Leader: %v", err)
	}
	if l.Leader != "s2" {
		t.Errorf("leader = %+v, want s2's answer", l)
	}
	// The client keeps to the server that answered.
	if _, err := c.Leader(testContext(t)); err != nil {
		t.Fatalf("second Leader: %v", err)
	}
	if n := len(b.CallsTo("Leader")); n != 2 {
		t.Errorf("live server answered %d times, want 2", n)
	}
}

func TestClientMovesPastAServerWithoutLeader(t *testing.T) {
	noLeader := newCountingServer(t, answering(http.StatusServiceUnavailable, ""))
	b := &fakeBackend{ScaleServiceFn: func(ctx context.Context, namespace, name string, replicas int) (api.WriteResponse, error) {
		return api.WriteResponse{Index: 9}, nil
	}}
	live := newTestServer(t, b, api.HandlerOptions{})
	c := newClient(t, noLeader.URL+","+live.URL)

	w, err := c.ScaleService(testContext(t), "prod", "web", 3)
	if err != nil {
		t.Fatalf("ScaleService: %v", err)
	}
	if w.Index != 9 {
		t.Errorf("answer %+v, want index 9", w)
	}
	if noLeader.hits.Load() != 1 {
		t.Errorf("the 503 server was asked %d times, want once", noLeader.hits.Load())
	}
	if n := len(b.CallsTo("ScaleService")); n != 1 {
		t.Errorf("the write ran %d times, want once", n)
	}
}

func TestClientReturnsABadRequestAtOnce(t *testing.T) {
	first := newCountingServer(t, answering(http.StatusBadRequest, "spec.replicaz"))
	second := newCountingServer(t, answering(http.StatusOK, ""))
	c := newClient(t, first.URL+","+second.URL)

	_, err := c.ScaleService(testContext(t), "prod", "web", 3)
	var apiErr *api.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v (%T), want *api.Error", err, err)
	}
	if apiErr.Status != http.StatusBadRequest || apiErr.Field != "spec.replicaz" || apiErr.Message == "" {
		t.Errorf("err = %+v, want status 400, field spec.replicaz and a message", apiErr)
	}
	if first.hits.Load() != 1 || second.hits.Load() != 0 {
		t.Errorf("hits = %d, %d, want 1, 0: a 400 is not retried", first.hits.Load(), second.hits.Load())
	}
}

func TestClientErrorsMatchSentinels(t *testing.T) {
	for _, tc := range []struct {
		backendErr error
		want       error
		status     int
	}{
		{api.ErrNotFound, api.ErrNotFound, http.StatusNotFound},
		{api.ErrConflict, api.ErrConflict, http.StatusConflict},
	} {
		t.Run(tc.want.Error(), func(t *testing.T) {
			b := &fakeBackend{ServiceFn: func(ctx context.Context, namespace, name string, q api.QueryOptions) (*api.Service, uint64, error) {
				return nil, 0, tc.backendErr
			}}
			srv := newTestServer(t, b, api.HandlerOptions{})
			c := newClient(t, srv.URL)
			s, _, err := c.Service(testContext(t), "prod", "web", api.QueryOptions{})
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want errors.Is %v", err, tc.want)
			}
			var apiErr *api.Error
			if !errors.As(err, &apiErr) || apiErr.Status != tc.status {
				t.Errorf("err = %#v, want *api.Error with status %d", err, tc.status)
			}
			if s != nil {
				t.Errorf("service = %+v on error, want nil", s)
			}
			if n := len(b.CallsTo("Service")); n != 1 {
				t.Errorf("asked %d times, want once", n)
			}
		})
	}
}

func TestClientGivesUpAfterRetryFor(t *testing.T) {
	down := newCountingServer(t, answering(http.StatusServiceUnavailable, ""))
	c := newClient(t, down.URL)
	c.RetryFor = 200 * time.Millisecond

	start := time.Now()
	_, err := c.Leader(testContext(t))
	elapsed := time.Since(start)
	if !errors.Is(err, api.ErrNoLeader) {
		t.Errorf("err = %v, want errors.Is ErrNoLeader", err)
	}
	if elapsed > 5*time.Second {
		t.Errorf("gave up after %v, want about RetryFor (200ms)", elapsed)
	}
	if down.hits.Load() < 2 {
		t.Errorf("asked %d times, want retries within RetryFor", down.hits.Load())
	}
}

// A request that runs out of time while one server answers "no leader"
// and the others do not answer at all says so: the answer, and which
// servers were silent (not how the last attempt happened to fail).
func TestClientGivingUpSaysWhoAnsweredAndWhoDidNot(t *testing.T) {
	noLeader := newCountingServer(t, answering(http.StatusServiceUnavailable, ""))
	dead := deadAddress(t)
	c := newClient(t, dead+","+noLeader.URL)
	c.RetryFor = 300 * time.Millisecond
	_, err := c.ScaleService(testContext(t), "prod", "web", 3)
	if !errors.Is(err, api.ErrNoLeader) {
		t.Fatalf("err = %v, want errors.Is ErrNoLeader (the answer)", err)
	}
	if want := "(no answer from http://" + dead + ")"; !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("err = %v, want it to end %q", err, want)
	}
	if noLeader.hits.Load() < 2 {
		t.Errorf("the answering server was asked %d times, want retries", noLeader.hits.Load())
	}
}

// A Stale client makes every read a stale one (?stale), and leaves
// writes alone.
func TestAStaleClientReadsStale(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		_, stale := r.URL.Query()["stale"]
		asked = append(asked, fmt.Sprintf("%s %s stale=%v", r.Method, r.URL.Path, stale))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodGet {
			fmt.Fprint(w, "[]")
			return
		}
		fmt.Fprint(w, "{}")
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL)
	ctx := testContext(t)
	if _, _, err := c.Services(ctx, api.QueryOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Stale = true
	if _, _, err := c.Services(ctx, api.QueryOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Allocations(ctx, api.AllocFilter{Service: "web"}, api.QueryOptions{}); err != nil { // a query string of its own
		t.Fatal(err)
	}
	if _, err := c.ScaleService(ctx, "default", "web", 2); err != nil {
		t.Fatal(err)
	}
	want := []string{"GET /v1/services stale=false", "GET /v1/services stale=true", "GET /v1/allocations stale=true",
		"POST /v1/services/default/web/scale stale=false"}
	if !slices.Equal(asked, want) {
		t.Fatalf("requests %q, want %q", asked, want)
	}
}

// When no server answers at all, the error names every address the
// client tried, once, and keeps the cause.
func TestClientNamesEveryServerWhenNoneAnswers(t *testing.T) {
	var addrs []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, "http://"+ln.Addr().String())
		ln.Close() // refused from now on
	}
	c := newClient(t, strings.Join(addrs, ","))
	_, err := c.Leader(testContext(t))
	want := "no server answered at " + strings.Join(addrs, ", ") + ": dial tcp "
	if err == nil || !strings.HasPrefix(err.Error(), want) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v, want one beginning %q, and ECONNREFUSED", err, want)
	}
	if strings.Count(err.Error(), "http://") != 2 {
		t.Errorf("err = %v: want each address named once", err)
	}
}

// The pauses between rounds and RetryFor are on the client's Clock: with a
// fake one, the client asks again only when it is advanced, and gives up
// once an hour of it has passed, however little wall time went by.
func TestClientRetriesOnItsClock(t *testing.T) {
	down := newCountingServer(t, answering(http.StatusServiceUnavailable, ""))
	c := newClient(t, down.URL)
	fake := clock.NewFake(time.Unix(1_700_000_000, 0))
	c.Clock, c.RetryFor = fake, time.Hour
	done := make(chan error, 1)
	go func() {
		_, err := c.Leader(testContext(t))
		done <- err
	}()
	pausing := func() error {
		if fake.Waiters() != 1 {
			return fmt.Errorf("%d timers armed, want the pause's", fake.Waiters())
		}
		return nil
	}
	testutil.Eventually(t, 5*time.Second, "the first pause", pausing)
	if n := down.hits.Load(); n != 1 {
		t.Fatalf("asked %d times before the clock moved, want once", n)
	}
	// The first pause only (the client's backoff starts at 50 ms and
	// doubles): Advance fires, in order, every timer due by its target,
	// those armed meanwhile too, so a longer step could take the second
	// pause as well when the client re-arms quickly.
	fake.Advance(50 * time.Millisecond)
	testutil.Eventually(t, 5*time.Second, "the second pause", func() error {
		if n := down.hits.Load(); n != 2 {
			return fmt.Errorf("asked %d times, want twice", n)
		}
		return pausing()
	})
	fake.Advance(2 * time.Hour)
	select {
	case err := <-done:
		if !errors.Is(err, api.ErrNoLeader) {
			t.Errorf("err = %v, want errors.Is ErrNoLeader", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still retrying after the fake clock passed RetryFor")
	}
	// The two hours fire the pauses armed meanwhile too (Advance fires,
	// in order, every timer due by its target): how many rounds that is
	// depends on how fast the client re-arms; at least one more.
	if n := down.hits.Load(); n < 3 {
		t.Errorf("asked %d times, want at least 3", n)
	}
}

func TestClientStopsRetryingWhenTheContextEnds(t *testing.T) {
	down := newCountingServer(t, answering(http.StatusServiceUnavailable, ""))
	c := newClient(t, down.URL)
	c.RetryFor = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()

	start := time.Now()
	_, err := c.Leader(ctx)
	if err == nil {
		t.Fatal("Leader succeeded against a server without leader")
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("returned after %v, want soon after the context's 300ms", elapsed)
	}
}

func TestClientSendsBlockingQueriesAndReturnsTheIndex(t *testing.T) {
	got := make(chan api.QueryOptions, 1)
	b := &fakeBackend{
		AllocationsFn: func(ctx context.Context, f api.AllocFilter, q api.QueryOptions) ([]*api.Allocation, uint64, error) {
			got <- q
			return []*api.Allocation{{ID: "a1", Node: "n1"}}, 31, nil
		},
	}
	srv := newTestServer(t, b, api.HandlerOptions{})
	c := newClient(t, srv.URL)

	allocs, index, err := c.NodeAllocations(testContext(t), "n1", api.QueryOptions{Index: 30, Wait: 2 * time.Second})
	if err != nil {
		t.Fatalf("NodeAllocations: %v", err)
	}
	if q := <-got; q != (api.QueryOptions{Index: 30, Wait: 2 * time.Second}) {
		t.Errorf("backend got %+v, want index 30 wait 2s", q)
	}
	if index != 31 {
		t.Errorf("index = %d, want the header's 31", index)
	}
	if len(allocs) != 1 || allocs[0].ID != "a1" {
		t.Errorf("allocations = %+v", allocs)
	}
}

// Every client method reaches the backend method it names, with its
// arguments, through the real handler.
func TestClientMethodsRoundTripThroughTheHandler(t *testing.T) {
	q := api.QueryOptions{Index: 4, Wait: 3 * time.Second}
	none := api.QueryOptions{}
	reg := api.NodeRegistration{Address: "127.0.0.1", Capacity: api.Resources{CPU: 1000, Memory: 1 << 30}, Runtime: "sim"}
	batch := api.AllocStatusBatch{Node: "n1", Updates: []api.AllocStatusUpdate{{ID: "a1", Status: api.AllocRunning, Ready: true}}}
	cases := []struct {
		want backendCall
		call func(ctx context.Context, c *api.Client) error
	}{
		{backendCall{"Leader", nil}, func(ctx context.Context, c *api.Client) error {
			_, err := c.Leader(ctx)
			return err
		}},
		{backendCall{"Peers", nil}, func(ctx context.Context, c *api.Client) error {
			_, err := c.Peers(ctx)
			return err
		}},
		{backendCall{"Services", []any{q}}, func(ctx context.Context, c *api.Client) error {
			_, _, err := c.Services(ctx, q)
			return err
		}},
		{backendCall{"Service", []any{"prod", "web", q}}, func(ctx context.Context, c *api.Client) error {
			_, _, err := c.Service(ctx, "prod", "web", q)
			return err
		}},
		{backendCall{"Service", []any{"default", "web", none}}, func(ctx context.Context, c *api.Client) error {
			_, _, err := c.Service(ctx, "", "web", none)
			return err
		}},
		{backendCall{"Revisions", []any{"prod", "web", none}}, func(ctx context.Context, c *api.Client) error {
			_, err := c.Revisions(ctx, "prod", "web")
			return err
		}},
		{backendCall{"DeleteService", []any{"prod", "web"}}, func(ctx context.Context, c *api.Client) error {
			_, err := c.DeleteService(ctx, "prod", "web")
			return err
		}},
		{backendCall{"ScaleService", []any{"default", "web", 7}}, func(ctx context.Context, c *api.Client) error {
			_, err := c.ScaleService(ctx, "", "web", 7)
			return err
		}},
		{backendCall{"Nodes", []any{q}}, func(ctx context.Context, c *api.Client) error {
			_, _, err := c.Nodes(ctx, q)
			return err
		}},
		{backendCall{"Node", []any{"n1", none}}, func(ctx context.Context, c *api.Client) error {
			_, err := c.Node(ctx, "n1")
			return err
		}},
		{backendCall{"RegisterNode", []any{"n1", reg}}, func(ctx context.Context, c *api.Client) error {
			_, err := c.RegisterNode(ctx, "n1", reg)
			return err
		}},
		{backendCall{"Heartbeat", []any{"n1"}}, func(ctx context.Context, c *api.Client) error {
			_, err := c.Heartbeat(ctx, "n1")
			return err
		}},
		{backendCall{"DrainNode", []any{"n1", true}}, func(ctx context.Context, c *api.Client) error {
			_, err := c.DrainNode(ctx, "n1", true)
			return err
		}},
		{backendCall{"SetEligibility", []any{"n1", false}}, func(ctx context.Context, c *api.Client) error {
			_, err := c.SetEligibility(ctx, "n1", false)
			return err
		}},
		{backendCall{"SetNodeStatus", []any{"n1", "down", "maintenance"}}, func(ctx context.Context, c *api.Client) error {
			_, err := c.SetNodeStatus(ctx, "n1", api.NodeDown, "maintenance")
			return err
		}},
		{backendCall{"Allocations", []any{api.AllocFilter{Namespace: "default", Service: "web"}, q}}, func(ctx context.Context, c *api.Client) error {
			_, _, err := c.Allocations(ctx, api.AllocFilter{Service: "web"}, q)
			return err
		}},
		{backendCall{"Allocations", []any{api.AllocFilter{Node: "n1", ToRun: true}, none}}, func(ctx context.Context, c *api.Client) error {
			_, _, err := c.NodeAllocations(ctx, "n1", none)
			return err
		}},
		{backendCall{"Allocation", []any{"3f2a"}}, func(ctx context.Context, c *api.Client) error {
			_, err := c.Allocation(ctx, "3f2a")
			return err
		}},
		{backendCall{"UpdateAllocations", []any{batch}}, func(ctx context.Context, c *api.Client) error {
			_, err := c.UpdateAllocations(ctx, batch)
			return err
		}},
		{backendCall{"Evaluations", []any{"prod", "web", q}}, func(ctx context.Context, c *api.Client) error {
			_, _, err := c.Evaluations(ctx, "prod", "web", q)
			return err
		}},
		{backendCall{"Events", []any{api.EventFilter{Namespace: "prod", Node: "n1"}, q}}, func(ctx context.Context, c *api.Client) error {
			_, _, err := c.Events(ctx, api.EventFilter{Namespace: "prod", Node: "n1"}, q)
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.want), func(t *testing.T) {
			b := &fakeBackend{}
			srv := newTestServer(t, b, api.HandlerOptions{})
			c := newClient(t, srv.URL)
			if err := tc.call(testContext(t), c); err != nil {
				t.Fatalf("%v", err)
			}
			if got := b.Calls("WriteTarget"); !reflect.DeepEqual(got, []backendCall{tc.want}) {
				t.Errorf("backend calls = %+v\nwant [%+v]", got, tc.want)
			}
		})
	}
}

// A spec built in Go, with nothing defaulted, goes through the strict
// decoder of the handler and arrives defaulted.
func TestClientAppliesASpecBuiltInGo(t *testing.T) {
	got := make(chan api.ServiceSpec, 1)
	b := &fakeBackend{ApplyServiceFn: func(ctx context.Context, spec api.ServiceSpec) (api.ApplyResponse, error) {
		got <- spec
		return api.ApplyResponse{Index: 5, Revision: 1, Created: true, Changed: true}, nil
	}}
	srv := newTestServer(t, b, api.HandlerOptions{})
	c := newClient(t, srv.URL)

	three := 3
	resp, err := c.ApplyService(testContext(t), api.ServiceSpec{
		Kind:     api.KindService,
		Name:     "web",
		Image:    "flotilla.local/demo:v1",
		Replicas: &three,
		Ports:    []api.Port{{Name: "http", Port: 8080, Protocol: api.ProtocolHTTP}},
	})
	if err != nil {
		t.Fatalf("ApplyService: %v", err)
	}
	if resp != (api.ApplyResponse{Index: 5, Revision: 1, Created: true, Changed: true}) {
		t.Errorf("answer %+v", resp)
	}
	spec := <-got
	if spec.Namespace != api.DefaultNamespace || spec.Name != "web" || spec.ReplicaCount() != 3 {
		t.Errorf("backend got %s/%s with %d replicas, want default/web with 3", spec.Namespace, spec.Name, spec.ReplicaCount())
	}
	if spec.Resources.CPU == 0 || spec.Placement.Strategy == "" {
		t.Errorf("backend got an undefaulted spec: %+v", spec)
	}

	// What the API answers can be applied again unchanged.
	again, err := c.ApplyService(testContext(t), spec)
	if err != nil {
		t.Fatalf("re-apply the defaulted spec: %v", err)
	}
	if again.Index != 5 {
		t.Errorf("answer %+v", again)
	}
	if spec2 := <-got; !reflect.DeepEqual(spec2, spec) {
		t.Errorf("re-applied spec changed:\n%+v\n%+v", spec2, spec)
	}
}

// A server that has known no leader for LeaderlessGiveUp says how long
// (api.NoLeaderError, over HTTP in a header): when every other server is
// silent too, no majority answers, and the client gives up at once
// rather than at its RetryFor, with what the server said. A server that
// has waited less (an election may be under way) is asked again.
func TestClientStopsWhenNoServerKnowsALeader(t *testing.T) {
	for _, tc := range []struct {
		leaderless time.Duration
		wantCalls  func(int) bool
		want       string
	}{
		{41 * time.Second, func(n int) bool { return n == 1 }, "once"},
		{api.LeaderlessGiveUp - time.Second, func(n int) bool { return n >= 2 }, "again until RetryFor"},
	} {
		t.Run(tc.leaderless.String(), func(t *testing.T) {
			b := &fakeBackend{ScaleServiceFn: func(ctx context.Context, namespace, name string, replicas int) (api.WriteResponse, error) {
				return api.WriteResponse{}, fmt.Errorf("scale: %w", &api.NoLeaderError{Server: "s3", For: tc.leaderless})
			}}
			survivor := newTestServer(t, b, api.HandlerOptions{})
			dead := deadAddress(t)
			c := newClient(t, dead+","+survivor.URL)
			c.RetryFor = 300 * time.Millisecond
			if tc.leaderless >= api.LeaderlessGiveUp {
				c.RetryFor = time.Hour // it must not matter
			}
			_, err := c.ScaleService(testContext(t), "prod", "web", 3)
			if !errors.Is(err, api.ErrNoLeader) {
				t.Fatalf("err = %v, want errors.Is ErrNoLeader", err)
			}
			want := "server s3: no known leader for " + tc.leaderless.String() + " (no answer from http://" + dead + ")"
			if !strings.Contains(err.Error(), want) {
				t.Errorf("err = %v, want it to say %q", err, want)
			}
			if n := len(b.CallsTo("ScaleService")); !tc.wantCalls(n) {
				t.Errorf("the survivor was asked %d times, want %s", n, tc.want)
			}
		})
	}
}

// A server without a leader for long does not stop the client from
// asking the others: a server cut off from the majority is one of them.
func TestClientAsksTheOthersPastAServerCutOff(t *testing.T) {
	cutOff := &fakeBackend{ScaleServiceFn: func(ctx context.Context, namespace, name string, replicas int) (api.WriteResponse, error) {
		return api.WriteResponse{}, &api.NoLeaderError{Server: "s3", For: time.Minute}
	}}
	majority := &fakeBackend{ScaleServiceFn: func(ctx context.Context, namespace, name string, replicas int) (api.WriteResponse, error) {
		return api.WriteResponse{Index: 7}, nil
	}}
	c := newClient(t, newTestServer(t, cutOff, api.HandlerOptions{}).URL+","+newTestServer(t, majority, api.HandlerOptions{}).URL)
	w, err := c.ScaleService(testContext(t), "prod", "web", 3)
	if err != nil || w.Index != 7 {
		t.Fatalf("ScaleService = %+v, %v; want index 7 from the majority", w, err)
	}
}
