package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"flotilla/api"
)

func TestACLRulesDecodeStrictlyNamingTheField(t *testing.T) {
	good := "namespaces:\n  default: [read, exec]\n  \"*\": [read]\nnode: write\noperator: read\n"
	r, err := api.DecodeACLRules("rules.yaml", []byte(good))
	if err != nil || r.Node != "write" || r.Operator != "read" || len(r.Namespaces["*"]) != 1 {
		t.Fatalf("decode %q: %+v %v", good, r, err)
	}
	if _, err := api.DecodeACLRules("rules.json", []byte(`{"namespaces": {"prod": ["admin"]}}`)); err != nil {
		t.Fatalf("JSON rules: %v", err)
	}
	for _, tc := range []struct{ rules, want string }{
		{"namespaces: {default: [fly]}", `rules.yaml: namespaces.default[0]: unknown capability "fly"`},
		{"namespaces: {default: []}", "namespaces.default: list at least one capability"},
		{"namespaces: {Bad_NS: [read]}", "namespaces.Bad_NS: namespace: invalid name"},
		{"node: admin", `node: unknown level "admin"`},
		{"operator: yes", `operator: unknown level "yes"`},
		{"nodes: read", "nodes"},
		{"namespaces: {default: read}", "namespaces.default"},
		{"", "no rules found"},
		{"node: read\n---\nnode: write\n", "one document"},
		{"{}", "the rules grant nothing"},
	} {
		_, err := api.DecodeACLRules("rules.yaml", []byte(tc.rules))
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("rules %q: %v, want one line containing %q", tc.rules, err, tc.want)
		}
	}
}

func TestCapabilitiesImplyAsNomadsDo(t *testing.T) {
	p := api.MergeACLRules(
		api.ACLRules{Namespaces: map[string][]string{"ops": {"admin"}, "dev": {"write"}, "ci": {"exec"}, "*": {"read"}}},
		api.ACLRules{Node: "read"},
		api.ACLRules{Node: "write", Operator: "read"},
	)
	for _, tc := range []struct {
		ns, c string
		want  bool
	}{
		{"ops", "read", true}, {"ops", "write", true}, {"ops", "exec", true}, {"ops", "admin", true},
		{"dev", "read", true}, {"dev", "write", true}, {"dev", "exec", false},
		{"ci", "exec", true}, {"ci", "read", false}, // a namespace's own entry wins over "*"
		{"other", "read", true}, {"other", "write", false},
	} {
		if got := p.AllowNamespace(tc.ns, tc.c); got != tc.want {
			t.Errorf("namespace %s %s: %v, want %v", tc.ns, tc.c, got, tc.want)
		}
	}
	if !p.AllowNode("write") || !p.AllowNode("read") || !p.AllowOperator("read") || p.AllowOperator("write") {
		t.Errorf("merged levels: %+v", p)
	}
	var none *api.ACLPermissions
	if none.AllowNamespace("default", "read") || (&api.ACLPermissions{}).AllowNode("read") {
		t.Error("no permissions allowed something")
	}
	if err := (&api.ACLPermissions{}).CheckNamespace("default", "exec"); err == nil || err.Error() != `permission denied: needs namespace "default" exec` {
		t.Errorf("check: %v", err)
	}
	if !api.ManagementPermissions().AllowOperator("write") {
		t.Error("management may not do everything")
	}
}

func TestSecretsAreRandomUUIDs(t *testing.T) {
	a, b := api.NewACLSecret(), api.NewACLSecret()
	if a == b || len(a) != 36 || strings.Count(a, "-") != 4 || a[14] != '4' {
		t.Errorf("secrets %q %q", a, b)
	}
}

func TestClientSendsItsTokenFromTheEnvironmentOrSetToken(t *testing.T) {
	seen := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get(api.TokenHeader)
		w.Write([]byte(`{"leader": "s1"}`))
	}))
	defer srv.Close()
	t.Setenv(api.TokenEnv, "from-the-environment-0000")
	c, err := api.NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c.Leader(ctx)
	if got := <-seen; got != "from-the-environment-0000" {
		t.Errorf("token sent %q, want $%s's", got, api.TokenEnv)
	}
	c.SetToken("set-explicitly-000000000")
	c.Leader(ctx)
	if got := <-seen; got != "set-explicitly-000000000" {
		t.Errorf("token sent %q, want the one set", got)
	}
	c.SetToken("")
	c.Leader(ctx)
	if got := <-seen; got != "" {
		t.Errorf("token sent %q, want none", got)
	}
}
