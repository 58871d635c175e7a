package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"flotilla/api"
)

// forwardedHeader is the header a follower puts on a write it forwards
// (api's forwardedHeader, which is unexported).
const forwardedHeader = "X-Flotilla-Forwarded"

// newTestServer serves api.NewHandler over b.
func newTestServer(t *testing.T, b api.Backend, opts api.HandlerOptions) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(api.NewHandler(b, opts))
	t.Cleanup(srv.Close)
	return srv
}

// response is what a test request got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

// send makes one request; header holds name, value pairs.
func send(t *testing.T, base, method, path, body string, header ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		t.Fatalf("new request %s %s: %v", method, path, err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// errorBody decodes the {"error", "field"} body of a failed request.
func (r response) errorBody(t *testing.T) api.ErrorResponse {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var e api.ErrorResponse
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", r.body, err)
	}
	if e.Error == "" {
		t.Errorf("error body %s has no message", r.body)
	}
	return e
}

// validSpec is a service document whose URL is /v1/services/prod/web.
const validSpec = `{"kind": "Service", "name": "web", "namespace": "prod", "image": "flotilla.local/demo:v1", "replicas": 2}`

func mustDecodeSpec(t *testing.T, body string) api.ServiceSpec {
	t.Helper()
	spec, err := api.DecodeServiceJSON("request", []byte(body))
	if err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return spec
}

func TestEveryRouteReachesItsBackendMethod(t *testing.T) {
	nodeReg := `{"address": "127.0.0.1", "capacity": {"cpu": "2000m", "memory": "1Gi"}, "labels": {"zone": "a"}, "heartbeat": true}`
	batch := `{"node": "n1", "updates": [{"id": "a1", "status": "running", "ready": true, "address": "127.0.0.1:8080", "restarts": 1}]}`
	none := api.QueryOptions{}
	jsonAccept := []string{"Accept", "application/json"}
	cases := []struct {
		name         string
		method, path string
		body         string
		header       []string
		want         backendCall
		write        bool
	}{
		{name: "leader", method: "GET", path: "/v1/status/leader", want: backendCall{"Leader", nil}},
		{name: "peers", method: "GET", path: "/v1/status/peers", want: backendCall{"Peers", nil}},
		{name: "list services", method: "GET", path: "/v1/services", want: backendCall{"Services", []any{none}}},
		{name: "read service", method: "GET", path: "/v1/services/prod/web", want: backendCall{"Service", []any{"prod", "web", none}}},
		{name: "apply service", method: "PUT", path: "/v1/services/prod/web", body: validSpec, write: true,
			want: backendCall{"ApplyService", []any{mustDecodeSpec(t, validSpec)}}},
		{name: "delete service", method: "DELETE", path: "/v1/services/prod/web", write: true,
			want: backendCall{"DeleteService", []any{"prod", "web"}}},
		{name: "revisions", method: "GET", path: "/v1/services/prod/web/revisions", want: backendCall{"Revisions", []any{"prod", "web", none}}},
		{name: "scale", method: "POST", path: "/v1/services/prod/web/scale", body: `{"replicas": 4}`, write: true,
			want: backendCall{"ScaleService", []any{"prod", "web", 4}}},
		{name: "scale to zero", method: "POST", path: "/v1/services/default/web/scale", body: `{"replicas": 0}`, write: true,
			want: backendCall{"ScaleService", []any{"default", "web", 0}}},
		{name: "list nodes", method: "GET", path: "/v1/nodes", want: backendCall{"Nodes", []any{none}}},
		{name: "read node", method: "GET", path: "/v1/nodes/n1", want: backendCall{"Node", []any{"n1", none}}},
		{name: "register node", method: "PUT", path: "/v1/nodes/n1", body: nodeReg, write: true,
			want: backendCall{"RegisterNode", []any{"n1", api.NodeRegistration{
				Address:   "127.0.0.1",
				Capacity:  api.Resources{CPU: 2000, Memory: 1 << 30},
				Labels:    map[string]string{"zone": "a"},
				Heartbeat: true,
			}}}},
		{name: "heartbeat", method: "POST", path: "/v1/nodes/n1/heartbeat", body: `{}`, write: true,
			want: backendCall{"Heartbeat", []any{"n1"}}},
		{name: "heartbeat without body", method: "POST", path: "/v1/nodes/n1/heartbeat", write: true,
			want: backendCall{"Heartbeat", []any{"n1"}}},
		{name: "drain", method: "POST", path: "/v1/nodes/n1/drain", body: `{"enable": true}`, write: true,
			want: backendCall{"DrainNode", []any{"n1", true}}},
		{name: "cancel drain", method: "POST", path: "/v1/nodes/n1/drain", body: `{"enable": false}`, write: true,
			want: backendCall{"DrainNode", []any{"n1", false}}},
		{name: "eligibility", method: "POST", path: "/v1/nodes/n1/eligibility", body: `{"eligible": false}`, write: true,
			want: backendCall{"SetEligibility", []any{"n1", false}}},
		{name: "node down", method: "POST", path: "/v1/nodes/n1/status", body: `{"status": "down", "message": "rack power"}`, write: true,
			want: backendCall{"SetNodeStatus", []any{"n1", "down", "rack power"}}},
		{name: "node ready", method: "POST", path: "/v1/nodes/n1/status", body: `{"status": "ready"}`, write: true,
			want: backendCall{"SetNodeStatus", []any{"n1", "ready", ""}}},
		{name: "node allocations", method: "GET", path: "/v1/nodes/n1/allocations",
			want: backendCall{"Allocations", []any{api.AllocFilter{Node: "n1", ToRun: true}, none}}},
		{name: "all allocations", method: "GET", path: "/v1/allocations",
			want: backendCall{"Allocations", []any{api.AllocFilter{}, none}}},
		{name: "allocations of a service default to namespace default", method: "GET", path: "/v1/allocations?service=web",
			want: backendCall{"Allocations", []any{api.AllocFilter{Namespace: "default", Service: "web"}, none}}},
		{name: "allocations with every filter", method: "GET", path: "/v1/allocations?namespace=prod&service=web&node=n2",
			want: backendCall{"Allocations", []any{api.AllocFilter{Namespace: "prod", Service: "web", Node: "n2"}, none}}},
		{name: "allocations of a node keep namespace empty", method: "GET", path: "/v1/allocations?node=n2",
			want: backendCall{"Allocations", []any{api.AllocFilter{Node: "n2"}, none}}},
		{name: "one allocation", method: "GET", path: "/v1/allocations/3f2a9c",
			want: backendCall{"Allocation", []any{"3f2a9c"}}},
		{name: "allocation status", method: "POST", path: "/v1/allocations/status", body: batch, write: true,
			want: backendCall{"UpdateAllocations", []any{api.AllocStatusBatch{Node: "n1", Updates: []api.AllocStatusUpdate{
				{ID: "a1", Status: "running", Ready: true, Address: "127.0.0.1:8080", Restarts: 1},
			}}}}},
		{name: "all evaluations", method: "GET", path: "/v1/evaluations",
			want: backendCall{"Evaluations", []any{"", "", none}}},
		{name: "evaluations of a service default to namespace default", method: "GET", path: "/v1/evaluations?service=web",
			want: backendCall{"Evaluations", []any{"default", "web", none}}},
		{name: "evaluations of a namespace", method: "GET", path: "/v1/evaluations?namespace=prod",
			want: backendCall{"Evaluations", []any{"prod", "", none}}},
		{name: "events of a service default to namespace default", method: "GET", path: "/v1/events?service=web", header: jsonAccept,
			want: backendCall{"Events", []any{api.EventFilter{Namespace: "default", Service: "web"}, none}}},
		{name: "events of a node", method: "GET", path: "/v1/events?node=n1", header: jsonAccept,
			want: backendCall{"Events", []any{api.EventFilter{Node: "n1"}, none}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := &fakeBackend{}
			srv := newTestServer(t, b, api.HandlerOptions{})
			resp := send(t, srv.URL, tc.method, tc.path, tc.body, tc.header...)
			if resp.status != http.StatusOK {
				t.Fatalf("%s %s: status %d, body %s", tc.method, tc.path, resp.status, resp.body)
			}
			if ct := resp.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if got := b.Calls("WriteTarget"); !reflect.DeepEqual(got, []backendCall{tc.want}) {
				t.Errorf("backend calls = %+v\nwant [%+v]", got, tc.want)
			}
			targets := len(b.CallsTo("WriteTarget"))
			if tc.write && targets != 1 {
				t.Errorf("a write asked WriteTarget %d times, want once", targets)
			}
			if !tc.write && targets != 0 {
				t.Errorf("a read asked WriteTarget %d times, want never", targets)
			}
		})
	}
}

func TestAnswersCarryTheBackendsValues(t *testing.T) {
	b := &fakeBackend{
		LeaderFn: func() api.Leader { return api.Leader{Leader: "s1", Address: "127.0.0.1:4647"} },
		PeersFn: func() ([]api.Peer, error) {
			return []api.Peer{{ID: "s1", Address: "127.0.0.1:4647", Leader: true}, {ID: "s2", Address: "127.0.0.1:5647"}}, nil
		},
		ApplyServiceFn: func(ctx context.Context, spec api.ServiceSpec) (api.ApplyResponse, error) {
			return api.ApplyResponse{Index: 12, Revision: 3, Changed: true, EvalID: "e1"}, nil
		},
		HeartbeatFn: func(ctx context.Context, name string) (api.HeartbeatResponse, error) {
			return api.HeartbeatResponse{TTL: api.Duration(10 * time.Second)}, nil
		},
		AllocationFn: func(ctx context.Context, id string) (*api.Allocation, uint64, error) {
			return &api.Allocation{ID: "3f2a9c01", Service: "web", Namespace: "prod", Status: api.AllocRunning}, 8, nil
		},
	}
	srv := newTestServer(t, b, api.HandlerOptions{})

	t.Run("leader", func(t *testing.T) {
		resp := send(t, srv.URL, "GET", "/v1/status/leader", "")
		var got map[string]string
		if err := json.Unmarshal(resp.body, &got); err != nil {
			t.Fatalf("body %s: %v", resp.body, err)
		}
		if want := map[string]string{"leader": "s1", "address": "127.0.0.1:4647"}; !reflect.DeepEqual(got, want) {
			t.Errorf("leader = %v, want %v", got, want)
		}
	})
	t.Run("peers", func(t *testing.T) {
		resp := send(t, srv.URL, "GET", "/v1/status/peers", "")
		var got []api.Peer
		if err := json.Unmarshal(resp.body, &got); err != nil {
			t.Fatalf("body %s: %v", resp.body, err)
		}
		if len(got) != 2 || got[0].ID != "s1" || !got[0].Leader || got[1].ID != "s2" {
			t.Errorf("peers = %+v", got)
		}
	})
	t.Run("apply", func(t *testing.T) {
		resp := send(t, srv.URL, "PUT", "/v1/services/prod/web", validSpec)
		var got api.ApplyResponse
		if err := json.Unmarshal(resp.body, &got); err != nil {
			t.Fatalf("body %s: %v", resp.body, err)
		}
		if want := (api.ApplyResponse{Index: 12, Revision: 3, Changed: true, EvalID: "e1"}); got != want {
			t.Errorf("apply answered %+v, want %+v", got, want)
		}
		if h := resp.header.Get(api.IndexHeader); h != "12" {
			t.Errorf("%s = %q, want 12", api.IndexHeader, h)
		}
	})
	t.Run("heartbeat", func(t *testing.T) {
		resp := send(t, srv.URL, "POST", "/v1/nodes/n1/heartbeat", "{}")
		if !strings.Contains(string(resp.body), `"ttl":"10s"`) {
			t.Errorf("heartbeat answered %s, want ttl 10s", resp.body)
		}
	})
	t.Run("allocation by prefix", func(t *testing.T) {
		resp := send(t, srv.URL, "GET", "/v1/allocations/3f2a", "")
		var got api.Allocation
		if err := json.Unmarshal(resp.body, &got); err != nil {
			t.Fatalf("body %s: %v", resp.body, err)
		}
		if got.ID != "3f2a9c01" || got.Status != api.AllocRunning {
			t.Errorf("allocation = %+v", got)
		}
		if h := resp.header.Get(api.IndexHeader); h != "8" {
			t.Errorf("%s = %q, want 8", api.IndexHeader, h)
		}
	})
}

func TestBackendErrorsMapToStatuses(t *testing.T) {
	cases := []struct {
		name       string
		err        error
		status     int
		field      string
		retryAfter bool
	}{
		{name: "field error", err: &api.FieldError{Field: "spec.ports[0].port", Message: "must be between 1 and 65535"},
			status: http.StatusBadRequest, field: "spec.ports[0].port"},
		{name: "wrapped field error", err: fmt.Errorf("apply prod/web: %w", &api.FieldError{Field: "spec.image", Message: "required"}),
			status: http.StatusBadRequest, field: "spec.image"},
		{name: "not found", err: fmt.Errorf("service prod/web: %w", api.ErrNotFound), status: http.StatusNotFound},
		{name: "conflict", err: fmt.Errorf("service prod/web changed meanwhile: %w", api.ErrConflict), status: http.StatusConflict},
		{name: "no leader", err: fmt.Errorf("read service: %w", api.ErrNoLeader), status: http.StatusServiceUnavailable, retryAfter: true},
		{name: "anything else", err: errors.New("disk on fire"), status: http.StatusInternalServerError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := &fakeBackend{
				ServiceFn: func(ctx context.Context, namespace, name string, q api.QueryOptions) (*api.Service, uint64, error) {
					return nil, 0, tc.err
				},
				ScaleServiceFn: func(ctx context.Context, namespace, name string, replicas int) (api.WriteResponse, error) {
					return api.WriteResponse{}, tc.err
				},
			}
			srv := newTestServer(t, b, api.HandlerOptions{})
			for _, r := range []struct{ method, path, body string }{
				{"GET", "/v1/services/prod/web", ""},
				{"POST", "/v1/services/prod/web/scale", `{"replicas": 2}`},
			} {
				resp := send(t, srv.URL, r.method, r.path, r.body)
				if resp.status != tc.status {
					t.Errorf("%s %s: status %d, want %d (body %s)", r.method, r.path, resp.status, tc.status, resp.body)
				}
				e := resp.errorBody(t)
				if e.Field != tc.field {
					t.Errorf("%s %s: field %q, want %q", r.method, r.path, e.Field, tc.field)
				}
				if !strings.Contains(e.Error, tc.err.Error()) {
					t.Errorf("%s %s: error %q does not say %q", r.method, r.path, e.Error, tc.err)
				}
				if got := resp.header.Get("Retry-After"); (got != "") != tc.retryAfter {
					t.Errorf("%s %s: Retry-After = %q, want one: %v", r.method, r.path, got, tc.retryAfter)
				}
			}
		})
	}
}

func TestUnknownEndpointIsJSON404(t *testing.T) {
	b := &fakeBackend{}
	srv := newTestServer(t, b, api.HandlerOptions{})
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/nope"},
		{"GET", "/v2/services"},
		{"GET", "/"},
		{"POST", "/v1/services/prod/web/rollback"},
		{"GET", "/metrics"}, // no Metrics handler given
	} {
		resp := send(t, srv.URL, r.method, r.path, "")
		if resp.status != http.StatusNotFound {
			t.Errorf("%s %s: status %d, want 404", r.method, r.path, resp.status)
		}
		e := resp.errorBody(t)
		if !strings.Contains(e.Error, r.path) {
			t.Errorf("%s %s: error %q does not name the path", r.method, r.path, e.Error)
		}
	}
	if calls := b.Calls(); len(calls) != 0 {
		t.Errorf("unknown endpoints reached the backend: %+v", calls)
	}
}

func TestAKnownPathUnderAnotherMethodIs405(t *testing.T) {
	b := &fakeBackend{}
	srv := newTestServer(t, b, api.HandlerOptions{})
	for _, r := range []struct{ method, path, allow string }{
		{"PATCH", "/v1/services/default/web", "GET, PUT, DELETE"},
		{"GET", "/v1/services/default/web/scale", "POST"},
		{"DELETE", "/v1/nodes", "GET"},
	} {
		resp := send(t, srv.URL, r.method, r.path, "")
		if resp.status != http.StatusMethodNotAllowed || resp.header.Get("Allow") != r.allow {
			t.Errorf("%s %s: status %d, Allow %q; want 405 and %q", r.method, r.path, resp.status, resp.header.Get("Allow"), r.allow)
		}
		if e := resp.errorBody(t); !strings.Contains(e.Error, "method not allowed (allowed: "+r.allow+")") {
			t.Errorf("%s %s: error %q", r.method, r.path, e.Error)
		}
	}
	if calls := b.Calls(); len(calls) != 0 {
		t.Errorf("refused methods reached the backend: %+v", calls)
	}
}

func TestApplyServiceRefusesBadInputWithoutCallingTheBackend(t *testing.T) {
	cases := []struct {
		name, path, body string
		field            string // "" when the input as a whole is wrong
		status           int
	}{
		{name: "unknown field", body: `{"kind": "Service", "name": "web", "namespace": "prod", "image": "i", "replicaz": 3}`,
			field: "spec.replicaz"},
		{name: "unknown nested field", body: `{"kind": "Service", "name": "web", "namespace": "prod", "image": "i", "resources": {"cpus": "1"}}`,
			field: "spec.resources.cpus"},
		{name: "wrong kind of value", body: `{"kind": "Service", "name": "web", "namespace": "prod", "image": "i", "replicas": "three"}`,
			field: "spec.replicas"},
		{name: "bad quantity", body: `{"kind": "Service", "name": "web", "namespace": "prod", "image": "i", "resources": {"cpu": "lots"}}`,
			field: "spec.resources.cpu"},
		{name: "port out of range", body: `{"kind": "Service", "name": "web", "namespace": "prod", "image": "i", "ports": [{"name": "http", "port": 70000}]}`,
			field: "spec.ports[0].port"},
		{name: "replicas out of range", body: `{"kind": "Service", "name": "web", "namespace": "prod", "image": "i", "replicas": 1000001}`,
			field: "spec.replicas"},
		{name: "missing kind", body: `{"name": "web", "namespace": "prod", "image": "i"}`, field: "spec.kind"},
		{name: "name differs from the URL", path: "/v1/services/prod/api", body: validSpec, field: "spec.name"},
		{name: "namespace differs from the URL", path: "/v1/services/staging/web", body: validSpec, field: "spec.namespace"},
		{name: "body is null", body: `null`, field: "spec"},
		{name: "body is a list", body: `[]`, field: "spec"},
		{name: "syntax error", body: `{"kind": "Service",`},
		{name: "two documents", body: validSpec + validSpec},
		{name: "empty body", body: ``},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := &fakeBackend{}
			srv := newTestServer(t, b, api.HandlerOptions{})
			path := tc.path
			if path == "" {
				path = "/v1/services/prod/web"
			}
			resp := send(t, srv.URL, "PUT", path, tc.body)
			if resp.status != http.StatusBadRequest {
				t.Errorf("status %d, want 400 (body %s)", resp.status, resp.body)
			}
			if e := resp.errorBody(t); e.Field != tc.field {
				t.Errorf("field %q, want %q (error %q)", e.Field, tc.field, e.Error)
			}
			if w := b.Writes(); len(w) != 0 {
				t.Errorf("bad input reached the backend: %+v", w)
			}
		})
	}
}

func TestApplyServiceRefusesABodyOverOneMiB(t *testing.T) {
	b := &fakeBackend{}
	srv := newTestServer(t, b, api.HandlerOptions{})
	big := `{"kind": "Service", "name": "web", "namespace": "prod", "image": "i", "env": {"PAD": "` +
		strings.Repeat("x", api.MaxBodyBytes) + `"}}`
	resp := send(t, srv.URL, "PUT", "/v1/services/prod/web", big)
	if resp.status != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413 (body %.200s)", resp.status, resp.body)
	}
	resp.errorBody(t)
	if w := b.Writes(); len(w) != 0 {
		t.Errorf("an oversized body reached the backend: %d writes", len(w))
	}
}

func TestApplyServiceDefaultsTheSpecBeforeTheBackendSeesIt(t *testing.T) {
	got := make(chan api.ServiceSpec, 1)
	b := &fakeBackend{
		ApplyServiceFn: func(ctx context.Context, spec api.ServiceSpec) (api.ApplyResponse, error) {
			got <- spec
			return api.ApplyResponse{Index: 3, Revision: 1, Created: true, Changed: true}, nil
		},
	}
	srv := newTestServer(t, b, api.HandlerOptions{})
	// No namespace, replicas, resources, placement or restart policy.
	resp := send(t, srv.URL, "PUT", "/v1/services/default/web",
		`{"kind": "Service", "name": "web", "image": "flotilla.local/demo:v1", "ports": [{"name": "http", "port": 8080}]}`)
	if resp.status != http.StatusOK {
		t.Fatalf("status %d, body %s", resp.status, resp.body)
	}
	var spec api.ServiceSpec
	select {
	case spec = <-got:
	default:
		t.Fatal("the backend was not called")
	}
	if spec.Namespace != api.DefaultNamespace {
		t.Errorf("namespace = %q, want %q", spec.Namespace, api.DefaultNamespace)
	}
	if spec.Replicas == nil || *spec.Replicas != 1 {
		t.Errorf("replicas = %v, want 1", spec.Replicas)
	}
	if spec.Resources.CPU == 0 || spec.Resources.Memory == 0 {
		t.Errorf("resources = %+v, want defaults", spec.Resources)
	}
	if spec.Ports[0].Protocol != api.ProtocolTCP {
		t.Errorf("port protocol = %q, want %q", spec.Ports[0].Protocol, api.ProtocolTCP)
	}
	if spec.Placement.Strategy != api.StrategySpread {
		t.Errorf("placement strategy = %q, want %q", spec.Placement.Strategy, api.StrategySpread)
	}
	if spec.Restart.Policy == "" {
		t.Errorf("restart policy left empty")
	}
	// What the backend saw is exactly what decoding a document gives.
	want := mustDecodeSpec(t, `{"kind": "Service", "name": "web", "image": "flotilla.local/demo:v1", "ports": [{"name": "http", "port": 8080}]}`)
	if !reflect.DeepEqual(spec, want) {
		t.Errorf("backend got %+v\nwant %+v", spec, want)
	}
}

func TestRequestBodiesAreDecodedStrictly(t *testing.T) {
	const capacity = `"capacity": {"cpu": "2000m", "memory": "1Gi"}`
	cases := []struct {
		name, method, path, body string
		field                    string
	}{
		{"scale: unknown field", "POST", "/v1/services/prod/web/scale", `{"replicaz": 3}`, "replicaz"},
		{"scale: empty body", "POST", "/v1/services/prod/web/scale", ``, ""},
		{"scale: blank body", "POST", "/v1/services/prod/web/scale", " \n", ""},
		{"scale: negative", "POST", "/v1/services/prod/web/scale", `{"replicas": -1}`, "replicas"},
		{"scale: too many", "POST", "/v1/services/prod/web/scale", `{"replicas": 1000001}`, "replicas"},
		{"scale: fraction", "POST", "/v1/services/prod/web/scale", `{"replicas": 1.5}`, "replicas"},
		{"scale: string", "POST", "/v1/services/prod/web/scale", `{"replicas": "3"}`, "replicas"},
		{"register: unknown field", "PUT", "/v1/nodes/n1", `{` + capacity + `, "zone": "a"}`, "zone"},
		{"register: unknown nested field", "PUT", "/v1/nodes/n1", `{"capacity": {"cpu": "1", "memory": "1Gi", "disk": "1Gi"}}`, "capacity.disk"},
		{"register: empty body", "PUT", "/v1/nodes/n1", ``, ""},
		{"register: bad name", "PUT", "/v1/nodes/Bad_Name", `{` + capacity + `}`, "name"},
		{"register: name too long", "PUT", "/v1/nodes/" + strings.Repeat("n", 64), `{` + capacity + `}`, "name"},
		{"register: no capacity", "PUT", "/v1/nodes/n1", `{"address": "127.0.0.1"}`, "capacity.cpu"},
		{"register: zero cpu", "PUT", "/v1/nodes/n1", `{"capacity": {"cpu": "0m", "memory": "1Gi"}}`, "capacity.cpu"},
		{"register: zero memory", "PUT", "/v1/nodes/n1", `{"capacity": {"cpu": "1", "memory": "0"}}`, "capacity.memory"},
		{"register: bad label key", "PUT", "/v1/nodes/n1", `{` + capacity + `, "labels": {"a b": "c"}}`, `labels["a b"]`},
		{"drain: unknown field", "POST", "/v1/nodes/n1/drain", `{"enabel": true}`, "enabel"},
		{"drain: empty body", "POST", "/v1/nodes/n1/drain", ``, ""},
		{"drain: not a boolean", "POST", "/v1/nodes/n1/drain", `{"enable": "yes"}`, "enable"},
		{"eligibility: unknown field", "POST", "/v1/nodes/n1/eligibility", `{"eligble": true}`, "eligble"},
		{"eligibility: empty body", "POST", "/v1/nodes/n1/eligibility", ``, ""},
		{"status: draining is not settable", "POST", "/v1/nodes/n1/status", `{"status": "draining"}`, "status"},
		{"status: missing", "POST", "/v1/nodes/n1/status", `{"message": "x"}`, "status"},
		{"status: unknown field", "POST", "/v1/nodes/n1/status", `{"status": "down", "why": "x"}`, "why"},
		{"status: empty body", "POST", "/v1/nodes/n1/status", ``, ""},
		{"alloc status: unknown field in an update", "POST", "/v1/allocations/status",
			`{"node": "n1", "updates": [{"id": "a1", "status": "running"}, {"id": "a2", "stauts": "failed"}]}`, "updates[1].stauts"},
		{"alloc status: no node", "POST", "/v1/allocations/status", `{"updates": []}`, "node"},
		{"alloc status: empty body", "POST", "/v1/allocations/status", ``, ""},
		{"alloc status: syntax error", "POST", "/v1/allocations/status", `{"node": "n1"`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := &fakeBackend{}
			srv := newTestServer(t, b, api.HandlerOptions{})
			resp := send(t, srv.URL, tc.method, tc.path, tc.body)
			if resp.status != http.StatusBadRequest {
				t.Errorf("%s %s: status %d, want 400 (body %s)", tc.method, tc.path, resp.status, resp.body)
			}
			if e := resp.errorBody(t); e.Field != tc.field {
				t.Errorf("field %q, want %q (error %q)", e.Field, tc.field, e.Error)
			}
			if w := b.Writes(); len(w) != 0 {
				t.Errorf("bad input reached the backend: %+v", w)
			}
		})
	}
}

func TestBlockingQueryOptionsReachTheBackend(t *testing.T) {
	cases := []struct {
		query string
		want  api.QueryOptions
	}{
		{"", api.QueryOptions{}},
		{"?index=5&wait=2s", api.QueryOptions{Index: 5, Wait: 2 * time.Second}},
		{"?index=5&wait=1500ms", api.QueryOptions{Index: 5, Wait: 1500 * time.Millisecond}},
		{"?index=5", api.QueryOptions{Index: 5, Wait: api.DefaultWait}},
		{"?index=5&wait=10m", api.QueryOptions{Index: 5, Wait: api.MaxWait}},
		{"?index=5&wait=24h", api.QueryOptions{Index: 5, Wait: api.MaxWait}},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			type seen struct {
				q           api.QueryOptions
				deadline    time.Time
				hasDeadline bool
			}
			got := make(chan seen, 1)
			b := &fakeBackend{
				ServicesFn: func(ctx context.Context, q api.QueryOptions) ([]*api.Service, uint64, error) {
					d, ok := ctx.Deadline()
					got <- seen{q, d, ok}
					return []*api.Service{{Name: "web", Namespace: "default"}}, 17, nil
				},
			}
			srv := newTestServer(t, b, api.HandlerOptions{})
			start := time.Now()
			resp := send(t, srv.URL, "GET", "/v1/services"+tc.query, "")
			if resp.status != http.StatusOK {
				t.Fatalf("status %d, body %s", resp.status, resp.body)
			}
			s := <-got
			if s.q != tc.want {
				t.Errorf("backend got %+v, want %+v", s.q, tc.want)
			}
			// A blocking query's context ends when its wait does, so
			// that the backend answers what it has by then.
			if tc.want.Index > 0 {
				if !s.hasDeadline {
					t.Errorf("a blocking query's context has no deadline")
				} else if s.deadline.After(start.Add(tc.want.Wait + 5*time.Second)) {
					t.Errorf("deadline %v is past the wait %v", s.deadline.Sub(start), tc.want.Wait)
				}
			}
			if h := resp.header.Get(api.IndexHeader); h != "17" {
				t.Errorf("%s = %q, want 17", api.IndexHeader, h)
			}
		})
	}
}

func TestBlockingQueryRefusesBadParameters(t *testing.T) {
	for _, tc := range []struct{ query, field string }{
		{"?index=abc", "index"},
		{"?index=-1", "index"},
		{"?index=5&wait=soon", "wait"},
		{"?index=5&wait=-1s", "wait"},
	} {
		for _, path := range []string{"/v1/services", "/v1/nodes", "/v1/allocations", "/v1/nodes/n1/allocations", "/v1/evaluations", "/v1/services/prod/web"} {
			t.Run(path+tc.query, func(t *testing.T) {
				b := &fakeBackend{}
				srv := newTestServer(t, b, api.HandlerOptions{})
				resp := send(t, srv.URL, "GET", path+tc.query, "", "Accept", "application/json")
				if resp.status != http.StatusBadRequest {
					t.Errorf("status %d, want 400 (body %s)", resp.status, resp.body)
				}
				if e := resp.errorBody(t); e.Field != tc.field {
					t.Errorf("field %q, want %q", e.Field, tc.field)
				}
				if calls := b.Calls(); len(calls) != 0 {
					t.Errorf("a bad query reached the backend: %+v", calls)
				}
			})
		}
	}
}

func TestIndexHeaderCarriesTheBackendsIndex(t *testing.T) {
	b := &fakeBackend{
		NodesFn: func(ctx context.Context, q api.QueryOptions) ([]*api.Node, uint64, error) {
			return []*api.Node{{Name: "n1"}}, 1234, nil
		},
		AllocationsFn: func(ctx context.Context, f api.AllocFilter, q api.QueryOptions) ([]*api.Allocation, uint64, error) {
			return nil, 99, nil
		},
		EventsFn: func(ctx context.Context, f api.EventFilter, q api.QueryOptions) ([]*api.Event, uint64, error) {
			return []*api.Event{{ID: 7, Type: api.EventNodeRegistered}}, 7, nil
		},
	}
	srv := newTestServer(t, b, api.HandlerOptions{})
	for path, want := range map[string]string{
		"/v1/nodes?index=3":                "1234",
		"/v1/nodes/n1/allocations?index=3": "99",
		"/v1/allocations":                  "99",
		"/v1/events?index=3":               "7",
	} {
		resp := send(t, srv.URL, "GET", path, "", "Accept", "application/json")
		if got := resp.header.Get(api.IndexHeader); got != want {
			t.Errorf("GET %s: %s = %q, want %q", path, api.IndexHeader, got, want)
		}
	}
}

// Every list endpoint answers a JSON array, never null, even when the
// backend has nothing (a nil slice).
func TestNilListsEncodeAsEmptyArrays(t *testing.T) {
	for _, path := range []string{
		"/v1/services",
		"/v1/services/prod/web/revisions",
		"/v1/nodes",
		"/v1/nodes/n1/allocations",
		"/v1/allocations",
		"/v1/evaluations",
		"/v1/events",
		"/v1/status/peers",
	} {
		t.Run(path, func(t *testing.T) {
			srv := newTestServer(t, &fakeBackend{}, api.HandlerOptions{})
			resp := send(t, srv.URL, "GET", path, "", "Accept", "application/json")
			if resp.status != http.StatusOK {
				t.Fatalf("status %d, body %s", resp.status, resp.body)
			}
			if got := strings.TrimSpace(string(resp.body)); got != "[]" {
				t.Errorf("GET %s answered %s, want []", path, got)
			}
		})
	}
}

func TestMetricsAreServedWhenGiven(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintln(w, "flotilla_up 1")
	})
	b := &fakeBackend{}
	srv := newTestServer(t, b, api.HandlerOptions{Metrics: metrics})
	resp := send(t, srv.URL, "GET", "/metrics", "")
	if resp.status != http.StatusOK {
		t.Fatalf("status %d, body %s", resp.status, resp.body)
	}
	if !strings.Contains(string(resp.body), "flotilla_up 1") {
		t.Errorf("/metrics answered %q", resp.body)
	}
	if calls := b.Calls(); len(calls) != 0 {
		t.Errorf("/metrics reached the backend: %+v", calls)
	}
}
