package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"flotilla/api"
)

// aclBackend is a fakeBackend with ACLs: tokens by secret, each with what it
// may do; "" is the anonymous token, which may do nothing.
type aclBackend struct {
	*fakeBackend
	enabled  bool
	tokensMu sync.Mutex
	tokens   map[string]*api.ACLPermissions
	// listed is what ACLTokens answers (secrets included, to prove the
	// handler drops them).
	listed []*api.ACLToken
	// aclIndex is the tokens' index, which revoke moves; aclMoved is
	// closed when it does (ACLTokens' blocking queries wait on it).
	aclIndex uint64
	aclMoved chan struct{}
}

// revoke deletes a token as the servers do: a new tokens index, which
// wakes blocking queries on the tokens.
func (b *aclBackend) revoke(secret string) {
	b.tokensMu.Lock()
	defer b.tokensMu.Unlock()
	delete(b.tokens, secret)
	b.aclIndex++
	close(b.aclMoved)
	b.aclMoved = make(chan struct{})
}

var (
	_ api.ACLResolver = (*aclBackend)(nil)
	_ api.ACLStore    = (*aclBackend)(nil)
)

// Test tokens.
const (
	mgmtToken     = "mgmt-secret-0000000000"
	readerToken   = "reader-secret-000000000" // default: read
	writerToken   = "writer-secret-000000000" // default: write
	execToken     = "exec-secret-00000000000" // default: read, exec
	wildcardToken = "wild-secret-00000000000" // *: read
	agentToken    = "agent-secret-0000000000" // node: write
	opsToken      = "ops-secret-000000000000" // operator: read, node: read
)

func newACLBackend(b *fakeBackend) *aclBackend {
	if b == nil {
		b = &fakeBackend{}
	}
	return &aclBackend{fakeBackend: b, enabled: true, aclIndex: 1, aclMoved: make(chan struct{}), tokens: map[string]*api.ACLPermissions{
		mgmtToken:     api.ManagementPermissions(),
		readerToken:   api.MergeACLRules(api.ACLRules{Namespaces: map[string][]string{"default": {"read"}}}),
		writerToken:   api.MergeACLRules(api.ACLRules{Namespaces: map[string][]string{"default": {"write"}}}),
		execToken:     api.MergeACLRules(api.ACLRules{Namespaces: map[string][]string{"default": {"read", "exec"}}}),
		wildcardToken: api.MergeACLRules(api.ACLRules{Namespaces: map[string][]string{"*": {"read"}}}),
		agentToken:    api.MergeACLRules(api.ACLRules{Node: "write"}),
		opsToken:      api.MergeACLRules(api.ACLRules{Operator: "read", Node: "read"}),
	}}
}

func (b *aclBackend) ACLEnabled() bool { return b.enabled }

func (b *aclBackend) ResolveToken(ctx context.Context, secret string) (*api.ACLToken, *api.ACLPermissions, error) {
	if secret == "" {
		return &api.ACLToken{AccessorID: "anonymous", Name: "anonymous", Type: api.TokenClient}, &api.ACLPermissions{}, nil
	}
	b.tokensMu.Lock()
	p, ok := b.tokens[secret]
	b.tokensMu.Unlock()
	if !ok {
		return nil, nil, &api.PermissionError{Reason: "the token is unknown"}
	}
	return &api.ACLToken{AccessorID: "acc-" + secret[:4], Name: secret[:4], Type: api.TokenClient}, p, nil
}

func (b *aclBackend) ACLBootstrap(ctx context.Context) (*api.ACLToken, error) {
	b.record("ACLBootstrap")
	return &api.ACLToken{AccessorID: "boot", SecretID: "boot-secret", Type: api.TokenManagement, CreateIndex: 7}, nil
}
func (b *aclBackend) UpsertACLPolicy(ctx context.Context, p api.ACLPolicy) (api.WriteResponse, error) {
	b.record("UpsertACLPolicy", p)
	return api.WriteResponse{Index: 3}, nil
}
func (b *aclBackend) DeleteACLPolicy(ctx context.Context, name string) (api.WriteResponse, error) {
	b.record("DeleteACLPolicy", name)
	return api.WriteResponse{Index: 4}, nil
}
func (b *aclBackend) ACLPolicies(ctx context.Context, q api.QueryOptions) ([]*api.ACLPolicy, uint64, error) {
	return nil, 1, nil
}
func (b *aclBackend) ACLPolicy(ctx context.Context, name string, q api.QueryOptions) (*api.ACLPolicy, uint64, error) {
	return &api.ACLPolicy{Name: name, Rules: "node: read\n"}, 1, nil
}
func (b *aclBackend) CreateACLToken(ctx context.Context, req api.ACLTokenRequest) (*api.ACLToken, error) {
	b.record("CreateACLToken", req)
	return &api.ACLToken{AccessorID: "new", SecretID: "new-secret", Name: req.Name, Type: api.TokenClient, Policies: req.Policies, CreateIndex: 9}, nil
}
func (b *aclBackend) DeleteACLToken(ctx context.Context, accessor string) (api.WriteResponse, error) {
	b.record("DeleteACLToken", accessor)
	return api.WriteResponse{Index: 5}, nil
}
func (b *aclBackend) ACLTokens(ctx context.Context, q api.QueryOptions) ([]*api.ACLToken, uint64, error) {
	b.tokensMu.Lock()
	index, moved := b.aclIndex, b.aclMoved
	b.tokensMu.Unlock()
	if q.Index > 0 && index <= q.Index {
		select {
		case <-moved:
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-time.After(q.Wait):
		}
		b.tokensMu.Lock()
		index = b.aclIndex
		b.tokensMu.Unlock()
	}
	out := make([]*api.ACLToken, len(b.listed))
	for i, t := range b.listed {
		c := *t
		out[i] = &c
	}
	return out, index, nil
}
func (b *aclBackend) ACLToken(ctx context.Context, accessor string, q api.QueryOptions) (*api.ACLToken, uint64, error) {
	for _, t := range b.listed {
		if t.AccessorID == accessor {
			c := *t
			return &c, 1, nil
		}
	}
	return nil, 0, api.ErrNotFound
}

// asToken is the header pair that sends a token.
func asToken(token string) []string { return []string{api.TokenHeader, token} }

func TestACLRefusesWhatATokenMayNotDoNamingThePermission(t *testing.T) {
	for _, tc := range []struct {
		name, token, method, path, body string
		want                            string // "" for allowed
		backend                         string // the backend method a refusal must not reach
	}{
		{"read cannot write", readerToken, "PUT", "/v1/services/default/web", strings.Replace(validSpec, `"prod"`, `"default"`, 1),
			`permission denied: needs namespace "default" write`, "ApplyService"},
		{"read cannot delete", readerToken, "DELETE", "/v1/services/default/web", "", `permission denied: needs namespace "default" write`, "DeleteService"},
		{"read cannot scale", readerToken, "POST", "/v1/services/default/web/scale", `{"replicas": 2}`, `needs namespace "default" write`, "ScaleService"},
		{"read cannot promote", readerToken, "POST", "/v1/services/default/web/rollout/promote", `{}`, `needs namespace "default" write`, "RolloutAction"},
		{"read reads", readerToken, "GET", "/v1/services/default/web", "", "", ""},
		{"read of default is not read of prod", readerToken, "GET", "/v1/services/prod/web", "", `permission denied: needs namespace "prod" read`, "Service"},
		{"write reads too", writerToken, "GET", "/v1/services/default/web/rollout", "", "", ""},
		{"write writes", writerToken, "POST", "/v1/services/default/web/scale", `{"replicas": 2}`, "", ""},
		{"* reads every namespace", wildcardToken, "GET", "/v1/services/prod/web", "", "", ""},
		{"* read cannot write", wildcardToken, "PUT", "/v1/services/prod/web", validSpec, `needs namespace "prod" write`, "ApplyService"},
		{"namespace rights are no node rights", writerToken, "POST", "/v1/nodes/n1/drain", `{"enable": true}`, "permission denied: needs node write", "DrainNode"},
		{"node read cannot drain", opsToken, "POST", "/v1/nodes/n1/drain", `{"enable": true}`, "needs node write", "DrainNode"},
		{"node read reads nodes", opsToken, "GET", "/v1/nodes", "", "", ""},
		{"operator read cannot remove a peer", opsToken, "DELETE", "/v1/operator/raft/peers/s2", "", "permission denied: needs operator write", ""},
		{"a snapshot needs management", opsToken, "GET", "/v1/operator/snapshot", "", "permission denied: needs a management token", ""},
		{"tokens need management", writerToken, "GET", "/v1/acl/tokens", "", "needs a management token", ""},
		{"policies need management", writerToken, "PUT", "/v1/acl/policy/p", `{"rules": "node: read"}`, "needs a management token", "UpsertACLPolicy"},
		{"agents register", agentToken, "PUT", "/v1/nodes/n1", `{"capacity": {"cpu": "1", "memory": "1Gi"}}`, "", ""},
		{"agents fetch any revision", agentToken, "GET", "/v1/services/prod/web/revisions/1", "", "", ""},
		{"agents report", agentToken, "POST", "/v1/allocations/status", `{"node": "n1"}`, "", ""},
		{"agents cannot apply", agentToken, "PUT", "/v1/services/prod/web", validSpec, `needs namespace "prod" write`, "ApplyService"},
		{"anonymous cannot read", "", "GET", "/v1/services/default/web", "", `needs namespace "default" read`, "Service"},
		{"an unknown token is refused", "nobody-knows-this-0000", "GET", "/v1/services", "", "permission denied: the token is unknown", "Services"},
		{"an allocation is read by its namespace", readerToken, "GET", "/v1/allocations/p1", "", `needs namespace "prod" read`, ""},
		{"status is open", "", "GET", "/v1/status/leader", "", "", ""},
		{"peers are open", "nobody-knows-this-0000", "GET", "/v1/status/peers", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeBackend{AllocationFn: func(ctx context.Context, id string) (*api.Allocation, uint64, error) {
				return &api.Allocation{ID: id, Namespace: "prod", Service: "web"}, 1, nil
			}}
			b := newACLBackend(fake)
			srv := newTestServer(t, b, api.HandlerOptions{})
			var header []string
			if tc.token != "" {
				header = asToken(tc.token)
			}
			resp := send(t, srv.URL, tc.method, tc.path, tc.body, header...)
			if tc.want == "" {
				if resp.status != http.StatusOK {
					t.Fatalf("%s %s: %d %s, want 200", tc.method, tc.path, resp.status, resp.body)
				}
				return
			}
			if resp.status != http.StatusForbidden {
				t.Fatalf("%s %s: %d %s, want 403", tc.method, tc.path, resp.status, resp.body)
			}
			if e := resp.errorBody(t); e.Error != tc.want && !strings.HasSuffix(e.Error, strings.TrimPrefix(tc.want, "permission denied: ")) {
				t.Errorf("error %q, want %q", e.Error, tc.want)
			} else if !strings.HasPrefix(e.Error, "permission denied: ") || strings.Contains(e.Error, "\n") {
				t.Errorf("error %q is not one line starting with permission denied", e.Error)
			}
			if tc.backend != "" && len(b.CallsTo(tc.backend)) != 0 {
				t.Errorf("a refused request reached the backend's %s", tc.backend)
			}
			if len(b.Writes()) != 0 {
				t.Errorf("a refused request wrote: %+v", b.Writes())
			}
		})
	}
}

func TestTheTokenMayComeAsABearer(t *testing.T) {
	srv := newTestServer(t, newACLBackend(nil), api.HandlerOptions{})
	if resp := send(t, srv.URL, "GET", "/v1/nodes", "", "Authorization", "Bearer "+opsToken); resp.status != http.StatusOK {
		t.Fatalf("GET /v1/nodes with a bearer token: %d %s", resp.status, resp.body)
	}
	if resp := send(t, srv.URL, "GET", "/v1/nodes", "", "Authorization", "Basic "+opsToken); resp.status != http.StatusForbidden {
		t.Fatalf("GET /v1/nodes with basic auth: %d %s, want 403", resp.status, resp.body)
	}
}

// aclListData is a cluster of two namespaces.
func aclListData() *fakeBackend {
	return &fakeBackend{
		ServicesFn: func(ctx context.Context, q api.QueryOptions) ([]*api.Service, uint64, error) {
			return []*api.Service{{Name: "web", Namespace: "default"}, {Name: "api", Namespace: "prod"}}, 5, nil
		},
		AllocationsFn: func(ctx context.Context, f api.AllocFilter, q api.QueryOptions) ([]*api.Allocation, uint64, error) {
			return []*api.Allocation{{ID: "d1", Namespace: "default", Node: "n1"}, {ID: "p1", Namespace: "prod", Node: "n1"}}, 5, nil
		},
		EvaluationsFn: func(ctx context.Context, ns, svc string, q api.QueryOptions) ([]*api.Evaluation, uint64, error) {
			return []*api.Evaluation{{ID: "e1", Namespace: "default"}, {ID: "e2", Namespace: "prod"}}, 5, nil
		},
		EventsFn: newEventLog(
			&api.Event{ID: 1, Type: "ServiceRegistered", Namespace: "default", Service: "web"},
			&api.Event{ID: 2, Type: "ServiceRegistered", Namespace: "prod", Service: "api"},
			&api.Event{ID: 3, Type: "NodeRegistered", Node: "n1"},
		).Events,
	}
}

// ids reads a JSON list's "id" (or "name") of each element.
func ids(t *testing.T, body []byte) []string {
	t.Helper()
	var items []map[string]any
	if err := json.Unmarshal(body, &items); err != nil {
		t.Fatalf("not a JSON list: %s", body)
	}
	out := []string{}
	for _, it := range items {
		switch {
		case it["id"] != nil:
			out = append(out, toString(it["id"]))
		default:
			out = append(out, toString(it["name"]))
		}
	}
	return out
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return strings.Trim(string(b), `"`)
}

func TestListsShowOnlyTheNamespacesATokenMayRead(t *testing.T) {
	srv := newTestServer(t, newACLBackend(aclListData()), api.HandlerOptions{})
	lists := []struct{ path, all, defaultOnly string }{
		{"/v1/services", "web api", "web"},
		{"/v1/allocations", "d1 p1", "d1"},
		{"/v1/nodes/n1/allocations", "d1 p1", "d1"},
		{"/v1/evaluations", "e1 e2", "e1"},
		{"/v1/events", "1 2 3", "1"},
	}
	json := []string{"Accept", "application/json"}
	for _, l := range lists {
		for _, tc := range []struct{ who, token, want string }{
			{"anonymous", "", ""},
			{"a reader of default", readerToken, l.defaultOnly},
			{"management", mgmtToken, l.all},
		} {
			header := json
			if tc.token != "" {
				header = append(asToken(tc.token), json...)
			}
			resp := send(t, srv.URL, "GET", l.path, "", header...)
			if resp.status != http.StatusOK {
				t.Fatalf("%s lists %s: %d %s", tc.who, l.path, resp.status, resp.body)
			}
			if got := strings.Join(ids(t, resp.body), " "); got != tc.want {
				t.Errorf("%s lists %s: [%s], want [%s]", tc.who, l.path, got, tc.want)
			}
		}
	}
	// Nodes are no namespace's: anonymous requests are refused them.
	if resp := send(t, srv.URL, "GET", "/v1/nodes", ""); resp.status != http.StatusForbidden || !strings.Contains(resp.errorBody(t).Error, "needs node read") {
		t.Errorf("anonymous GET /v1/nodes: %d %s", resp.status, resp.body)
	}
	// An agent (node write) sees every namespace's allocations on its node.
	if resp := send(t, srv.URL, "GET", "/v1/nodes/n1/allocations", "", asToken(agentToken)...); strings.Join(ids(t, resp.body), " ") != "d1 p1" {
		t.Errorf("an agent's allocations: %s", resp.body)
	}
}

func TestTheEventStreamShowsOnlyWhatATokenMayRead(t *testing.T) {
	srv := newTestServer(t, newACLBackend(aclListData()), api.HandlerOptions{})
	firstBlock := func(token string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/events", nil)
		if token != "" {
			req.Header.Set(api.TokenHeader, token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /v1/events: %s", resp.Status)
		}
		// The first batch: every event line up to the keep-alive or the
		// last event of the batch.
		var lines []string
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			lines = append(lines, line)
			if strings.HasPrefix(line, ": keep-alive") || strings.HasPrefix(line, "data:") && (token == readerToken || strings.Contains(line, `"id":3`)) {
				break
			}
		}
		return strings.Join(lines, "\n")
	}
	if got := firstBlock(""); strings.Contains(got, "data:") || !strings.Contains(got, ": keep-alive") {
		t.Errorf("anonymous event stream:\n%s\nwant nothing but a keep-alive", got)
	}
	if got := firstBlock(readerToken); !strings.Contains(got, `"namespace":"default"`) || strings.Contains(got, "prod") {
		t.Errorf("a reader of default's event stream:\n%s", got)
	}
	if got := firstBlock(mgmtToken); !strings.Contains(got, "id: 3") {
		t.Errorf("management's event stream:\n%s", got)
	}
}

// TestManagementMayDoEverything sends one request of every route with a
// management token: none is refused.
func TestManagementMayDoEverything(t *testing.T) {
	nodeReg := `{"capacity": {"cpu": "1", "memory": "1Gi"}}`
	routes := [][3]string{
		{"GET", "/v1/services", ""}, {"GET", "/v1/services/prod/web", ""}, {"PUT", "/v1/services/prod/web", validSpec},
		{"DELETE", "/v1/services/prod/web", ""}, {"GET", "/v1/services/prod/web/revisions", ""},
		{"POST", "/v1/services/prod/web/scale", `{"replicas": 1}`}, {"POST", "/v1/services/prod/web/wake", ""},
		{"GET", "/v1/services/prod/web/rollout", ""}, {"POST", "/v1/services/prod/web/rollout/undo", `{}`},
		{"POST", "/v1/services/prod/web/rollout/pause", `{}`}, {"GET", "/v1/nodes", ""}, {"GET", "/v1/nodes/n1", ""},
		{"PUT", "/v1/nodes/n1", nodeReg}, {"POST", "/v1/nodes/n1/heartbeat", ""}, {"POST", "/v1/nodes/n1/drain", `{"enable": true}`},
		{"POST", "/v1/nodes/n1/eligibility", `{"eligible": true}`}, {"POST", "/v1/nodes/n1/status", `{"status": "ready"}`},
		{"GET", "/v1/nodes/n1/allocations", ""}, {"GET", "/v1/allocations", ""}, {"GET", "/v1/allocations/a1", ""},
		{"POST", "/v1/allocations/status", `{"node": "n1"}`}, {"GET", "/v1/evaluations", ""}, {"GET", "/v1/endpoints", ""},
		{"POST", "/v1/nodes/n1/traffic", `{}`}, {"GET", "/v1/services/prod/web/traffic", ""},
		{"POST", "/v1/nodes/n1/usage", `{}`}, {"GET", "/v1/top/allocations", ""},
		{"GET", "/v1/acl/policies", ""}, {"GET", "/v1/acl/policy/p", ""}, {"PUT", "/v1/acl/policy/p", `{"rules": "node: read"}`},
		{"DELETE", "/v1/acl/policy/p", ""}, {"GET", "/v1/acl/tokens", ""}, {"POST", "/v1/acl/token", `{"name": "x", "policies": ["p"]}`},
		{"DELETE", "/v1/acl/token/x", ""}, {"GET", "/v1/acl/token/self", ""},
	}
	fake := &fakeBackend{AllocationFn: func(ctx context.Context, id string) (*api.Allocation, uint64, error) {
		return &api.Allocation{ID: id, Namespace: "prod"}, 1, nil
	}, ServiceFn: func(ctx context.Context, namespace, name string, q api.QueryOptions) (*api.Service, uint64, error) {
		return &api.Service{Name: name, Namespace: namespace}, 1, nil
	}, NodeFn: func(ctx context.Context, name string, q api.QueryOptions) (*api.Node, uint64, error) {
		return &api.Node{Name: name}, 1, nil
	}, RolloutFn: func(ctx context.Context, namespace, name string, q api.QueryOptions) (*api.Rollout, uint64, error) {
		return &api.Rollout{}, 1, nil
	}}
	srv := newTestServer(t, newACLBackend(fake), api.HandlerOptions{})
	for _, r := range routes {
		resp := send(t, srv.URL, r[0], r[1], r[2], asToken(mgmtToken)...)
		if resp.status == http.StatusForbidden || resp.status >= 500 {
			t.Errorf("management %s %s: %d %s", r[0], r[1], resp.status, resp.body)
		}
	}
}

func TestTokenAnswersNeverListSecrets(t *testing.T) {
	b := newACLBackend(nil)
	b.listed = []*api.ACLToken{{AccessorID: "a1", SecretID: "leaked-secret-1", Name: "one"}, {AccessorID: "a2", SecretID: "leaked-secret-2", Name: "two"}}
	srv := newTestServer(t, b, api.HandlerOptions{})
	for _, path := range []string{"/v1/acl/tokens", "/v1/acl/token/a1"} {
		resp := send(t, srv.URL, "GET", path, "", asToken(mgmtToken)...)
		if resp.status != http.StatusOK || !strings.Contains(string(resp.body), "a1") {
			t.Fatalf("GET %s: %d %s", path, resp.status, resp.body)
		}
		if strings.Contains(string(resp.body), "leaked-secret") || strings.Contains(string(resp.body), "secretID") {
			t.Errorf("GET %s shows a secret: %s", path, resp.body)
		}
	}
	// Token self shows the holder's own secret and what it may do.
	resp := send(t, srv.URL, "GET", "/v1/acl/token/self", "", asToken(readerToken)...)
	var self api.ACLToken
	if err := json.Unmarshal(resp.body, &self); err != nil || self.SecretID != readerToken || !self.Permissions.AllowNamespace("default", "read") || self.Permissions.AllowNamespace("default", "write") {
		t.Fatalf("token self: %d %s", resp.status, resp.body)
	}
}

func TestACLRoutesAnswer501WithoutACLs(t *testing.T) {
	b := newACLBackend(nil)
	b.enabled = false
	srv := newTestServer(t, b, api.HandlerOptions{})
	for _, path := range []string{"/v1/acl/token/self", "/v1/acl/tokens"} {
		resp := send(t, srv.URL, "GET", path, "")
		if resp.status != http.StatusNotImplemented || !strings.Contains(resp.errorBody(t).Error, "ACLs are disabled") {
			t.Errorf("GET %s without ACLs: %d %s", path, resp.status, resp.body)
		}
	}
	if resp := send(t, srv.URL, "POST", "/v1/acl/bootstrap", ""); resp.status != http.StatusNotImplemented || len(b.CallsTo("ACLBootstrap")) != 0 {
		t.Errorf("bootstrap without ACLs: %d %s", resp.status, resp.body)
	}
	// Everything else is allowed, without a token, as before ACLs.
	if resp := send(t, srv.URL, "PUT", "/v1/services/prod/web", validSpec); resp.status != http.StatusOK {
		t.Errorf("a write without ACLs: %d %s", resp.status, resp.body)
	}
	// And the client maps 501 and 403 to their sentinels.
	c, err := api.NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ACLTokenSelf(context.Background()); err == nil || !strings.Contains(err.Error(), "disabled") || !errors.Is(err, api.ErrACLDisabled) {
		t.Errorf("client token self without ACLs: %v", err)
	}
}

func TestBadACLRequestsAreRefusedNamingTheField(t *testing.T) {
	b := newACLBackend(nil)
	srv := newTestServer(t, b, api.HandlerOptions{})
	for _, tc := range []struct{ method, path, body, field string }{
		{"PUT", "/v1/acl/policy/p", `{"rules": "namespaces: {default: [fly]}"}`, "namespaces.default[0]"},
		{"PUT", "/v1/acl/policy/p", `{"rules": "node: admin"}`, "node"},
		{"PUT", "/v1/acl/policy/p", `{"rules": "nodes: read"}`, "nodes"},
		{"PUT", "/v1/acl/policy/p", `{"rules": "namespaces: {Default: [read]}"}`, "namespaces.Default"},
		{"PUT", "/v1/acl/policy/p", `{"rules": "node: read", "color": "red"}`, "color"},
		{"PUT", "/v1/acl/policy/bad%20name", `{"rules": "node: read"}`, "name"},
		{"POST", "/v1/acl/token", `{"policies": ["p"]}`, "name"},
		{"POST", "/v1/acl/token", `{"name": "x"}`, "policies"},
		{"POST", "/v1/acl/token", `{"name": "x", "type": "root"}`, "type"},
		{"POST", "/v1/acl/token", `{"name": "x", "type": "management", "policies": ["p"]}`, "policies"},
		{"POST", "/v1/acl/token", `{"name": "x", "policies": ["p", "p"]}`, "policies[1]"},
		{"POST", "/v1/acl/token", `{"name": "x", "policies": ["p"], "ttl": "soon"}`, "ttl"},
	} {
		resp := send(t, srv.URL, tc.method, tc.path, tc.body, asToken(mgmtToken)...)
		if resp.status != http.StatusBadRequest {
			t.Errorf("%s %s %s: %d %s, want 400", tc.method, tc.path, tc.body, resp.status, resp.body)
			continue
		}
		if e := resp.errorBody(t); !strings.HasPrefix(e.Field, tc.field) {
			t.Errorf("%s %s: field %q (%s), want %q", tc.method, tc.path, e.Field, e.Error, tc.field)
		}
	}
	if w := b.Calls(); len(w) != 0 {
		for _, c := range w {
			if c.Method == "UpsertACLPolicy" || c.Method == "CreateACLToken" {
				t.Errorf("a refused request reached the backend: %+v", c)
			}
		}
	}
}

func TestForwardedWritesKeepTheirToken(t *testing.T) {
	leaderBackend := newACLBackend(&fakeBackend{})
	leader := httptest.NewServer(api.NewHandler(leaderBackend, api.HandlerOptions{}))
	t.Cleanup(leader.Close)
	follower := newACLBackend(followerOf(hostPort(leader)))
	srv := newTestServer(t, follower, api.HandlerOptions{})

	resp := send(t, srv.URL, "POST", "/v1/services/default/web/scale", `{"replicas": 5}`, asToken(writerToken)...)
	if resp.status != http.StatusOK || len(leaderBackend.CallsTo("ScaleService")) != 1 {
		t.Fatalf("a forwarded write with a token: %d %s; leader calls %+v", resp.status, resp.body, leaderBackend.Calls())
	}
	resp = send(t, srv.URL, "POST", "/v1/services/default/web/scale", `{"replicas": 5}`, "Authorization", "Bearer "+writerToken)
	if resp.status != http.StatusOK || len(leaderBackend.CallsTo("ScaleService")) != 2 {
		t.Fatalf("a forwarded write with a bearer token: %d %s", resp.status, resp.body)
	}
	// A follower refuses before forwarding.
	resp = send(t, srv.URL, "POST", "/v1/services/default/web/scale", `{"replicas": 5}`, asToken(readerToken)...)
	if resp.status != http.StatusForbidden || len(leaderBackend.CallsTo("ScaleService")) != 2 {
		t.Fatalf("a refused write: %d %s", resp.status, resp.body)
	}
}

// readersEventStream opens the event stream with the reader's token on an
// ACL backend whose event log holds one event; the stream ends with the
// test.
func readersEventStream(t *testing.T) (*aclBackend, *eventLog, *bufio.Scanner) {
	t.Helper()
	events := newEventLog(&api.Event{ID: 1, Type: "ServiceRegistered", Namespace: "default", Service: "web"})
	b := newACLBackend(&fakeBackend{EventsFn: events.Events})
	srv := newTestServer(t, b, api.HandlerOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/events", nil)
	req.Header.Set(api.TokenHeader, readerToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return b, events, bufio.NewScanner(resp.Body)
}

// The stream ends at once when its token is deleted, without waiting for
// an event or the end of its wait.
func TestAQuietEventStreamEndsWhenItsTokenIsDeleted(t *testing.T) {
	b, _, sc := readersEventStream(t)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "id: 1") {
	}
	b.revoke(readerToken)
	revoked := time.Now()
	var refusal string
	for sc.Scan() && sc.Text() != "event: error" {
	}
	if sc.Scan() {
		refusal = sc.Text()
	}
	if !strings.Contains(refusal, "the token is unknown") {
		t.Fatalf("after the token was deleted the stream said %q (%v), want its refusal", refusal, sc.Err())
	}
	if took := time.Since(revoked); took > 5*time.Second {
		t.Fatalf("the stream ended %s after the token was deleted", took)
	}
}

func TestTheEventStreamEndsWhenItsTokenIsDeleted(t *testing.T) {
	b, events, sc := readersEventStream(t)
	next := func(prefix string) string {
		t.Helper()
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), prefix) {
				return sc.Text()
			}
		}
		t.Fatalf("the stream ended before a line starting %q: %v", prefix, sc.Err())
		return ""
	}
	next("id: 1")
	b.tokensMu.Lock()
	delete(b.tokens, readerToken)
	b.tokensMu.Unlock()
	events.Append(&api.Event{ID: 2, Type: "ServiceUpdated", Namespace: "default", Service: "web"})
	next("event: error")
	if line := next("data:"); !strings.Contains(line, "the token is unknown") {
		t.Fatalf("after the token was deleted the stream said %q, want its refusal", line)
	}
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "id: 2") {
			t.Fatal("the stream went on with a deleted token")
		}
	}
}
