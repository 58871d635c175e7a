package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// registeredPatterns reads every route pattern the package's handlers
// register (mux.HandleFunc / mux.Handle with a string literal).
func registeredPatterns(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`mux\.Handle(?:Func)?\("([^"]+)"`)
	var out []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(data), -1) {
			out = append(out, m[1])
		}
	}
	if len(out) < 40 {
		t.Fatalf("found only %d routes: is the pattern still how routes are registered?", len(out))
	}
	return out
}

// TestEveryRouteHasAnACLRule: with ACLs on, a route without a rule is
// refused to everyone, management included; so every route must have one.
func TestEveryRouteHasAnACLRule(t *testing.T) {
	for _, p := range registeredPatterns(t) {
		if aclCheckFor(p) == nil {
			t.Errorf("route %q has no ACL rule (acl_routes.go): it is refused while ACLs are on", p)
		}
	}
}

// routeResolver is an ACLResolver with one token: management.
type routeResolver struct{}

func (routeResolver) ACLEnabled() bool { return true }
func (routeResolver) ResolveToken(ctx context.Context, secret string) (*ACLToken, *ACLPermissions, error) {
	if secret == "mgmt" {
		return &ACLToken{Type: TokenManagement}, ManagementPermissions(), nil
	}
	return &ACLToken{}, &ACLPermissions{}, nil
}

func TestARouteWithoutARuleIsRefusedEvenToManagement(t *testing.T) {
	h := &handler{aclResolver: routeResolver{}}
	mux := http.NewServeMux()
	served := false
	mux.HandleFunc("GET /v1/brand-new-thing", func(w http.ResponseWriter, r *http.Request) { served = true })
	srv := httptest.NewServer(h.authorize(mux))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/v1/brand-new-thing", nil)
	req.Header.Set(TokenHeader, "mgmt")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || served {
		t.Fatalf("a route without a rule: %s (served %v), want 403", resp.Status, served)
	}
}

// TestTheRulesOfOtherPartsRoutes checks the rules of routes other parts
// add (configs, secrets, keyrings, agents' files), by their paths.
func TestTheRulesOfOtherPartsRoutes(t *testing.T) {
	reader := MergeACLRules(ACLRules{Namespaces: map[string][]string{"default": {"read"}}})
	writer := MergeACLRules(ACLRules{Namespaces: map[string][]string{"default": {"write"}}})
	opsRead := MergeACLRules(ACLRules{Operator: "read"})
	opsWrite := MergeACLRules(ACLRules{Operator: "write"})
	agent := MergeACLRules(ACLRules{Node: "write"})
	for _, tc := range []struct {
		pattern, method, path string
		perms                 *ACLPermissions
		want                  string // "" allowed, "filter" allowed with the answer filtered
	}{
		{"GET /v1/configs", "GET", "/v1/configs", reader, "filter"},
		{"GET /v1/configs/{ns}/{name}", "GET", "/v1/configs/default/app", reader, ""},
		{"GET /v1/configs/{ns}/{name}", "GET", "/v1/configs/prod/app", reader, `needs namespace "prod" read`},
		{"PUT /v1/configs/{ns}/{name}", "PUT", "/v1/configs/default/app", reader, `needs namespace "default" write`},
		{"PUT /v1/configs/{ns}/{name}", "PUT", "/v1/configs/default/app", writer, ""},
		{"DELETE /v1/configs/{ns}/{name}", "DELETE", "/v1/configs/default/app", reader, `needs namespace "default" write`},
		{"GET /v1/secrets", "GET", "/v1/secrets", reader, "filter"},
		{"GET /v1/secrets/{ns}/{name}", "GET", "/v1/secrets/default/db", reader, ""},
		{"GET /v1/secrets/{ns}/{name}", "GET", "/v1/secrets/default/db?show=true", reader, `needs namespace "default" write`},
		{"GET /v1/secrets/{ns}/{name}", "GET", "/v1/secrets/default/db?index=3&wait=1s&stale", reader, ""},
		{"GET /v1/secrets/{ns}/{name}/values", "GET", "/v1/secrets/default/db/values", reader, `needs namespace "default" write`},
		{"GET /v1/secrets/{ns}/{name}/values", "GET", "/v1/secrets/default/db/values", writer, ""},
		{"PUT /v1/secrets/{ns}/{name}", "PUT", "/v1/secrets/default/db", writer, ""},
		{"POST /v1/secrets", "POST", "/v1/secrets", writer, "needs namespace write (the path names no namespace)"},
		{"GET /v1/operator/keyring", "GET", "/v1/operator/keyring", opsRead, ""},
		{"POST /v1/operator/keyring/rotate", "POST", "/v1/operator/keyring/rotate", opsRead, "needs operator write"},
		{"POST /v1/operator/keyring/rotate", "POST", "/v1/operator/keyring/rotate", opsWrite, ""},
		{"GET /v1/operator/gossip/keyring", "GET", "/v1/operator/gossip/keyring", opsRead, "needs operator write"}, // the list shows the keys
		{"POST /v1/operator/gossip/keyring", "POST", "/v1/operator/gossip/keyring", opsRead, "needs operator write"},
		{"POST /v1/operator/gossip/keyring", "POST", "/v1/operator/gossip/keyring", writer, "needs operator write"},
		{"GET /v1/nodes/{name}/allocations/{id}/files", "GET", "/v1/nodes/n1/allocations/a1/files", agent, ""},
		{"GET /v1/nodes/{name}/allocations/{id}/files", "GET", "/v1/nodes/n1/allocations/a1/files", writer, "needs node write"},
	} {
		check := aclCheckFor(tc.pattern)
		if check == nil {
			t.Errorf("%s has no rule", tc.pattern)
			continue
		}
		r := httptest.NewRequest(tc.method, tc.path, nil)
		q := &aclQuery{perms: tc.perms, r: r, pattern: tc.pattern}
		err := check(q)
		switch {
		case tc.want == "" || tc.want == "filter":
			if err != nil {
				t.Errorf("%s %s: %v, want allowed", tc.method, tc.path, err)
			}
			if q.filterBody != (tc.want == "filter") {
				t.Errorf("%s %s: filtered %v", tc.method, tc.path, q.filterBody)
			}
		case err == nil || !errors.Is(err, ErrPermissionDenied) || !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s %s: %v, want %q", tc.method, tc.path, err, tc.want)
		}
	}
}

func TestUnfilteredListsAreFilteredByTheirNamespaceField(t *testing.T) {
	h := &handler{aclResolver: routeResolver{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/configs", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, 4, []map[string]any{
			{"name": "a", "namespace": "default"},
			{"metadata": map[string]string{"name": "b", "namespace": "default"}},
			{"name": "c", "namespace": "prod"},
			{"name": "d"},
		})
	})
	srv := httptest.NewServer(h.authorize(mux))
	defer srv.Close()
	h.aclResolver = readerResolver{}
	resp, err := http.Get(srv.URL + "/v1/configs")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []map[string]any
	decodeJSONBody(t, resp, &got)
	if len(got) != 2 || got[0]["name"] != "a" || resp.Header.Get(IndexHeader) != "4" {
		t.Fatalf("filtered list: %v (index %q), want a and b of default", got, resp.Header.Get(IndexHeader))
	}
}

// readerResolver reads default, whoever asks.
type readerResolver struct{}

func (readerResolver) ACLEnabled() bool { return true }
func (readerResolver) ResolveToken(ctx context.Context, secret string) (*ACLToken, *ACLPermissions, error) {
	return &ACLToken{}, MergeACLRules(ACLRules{Namespaces: map[string][]string{"default": {"read"}}}), nil
}

func decodeJSONBody(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
}
