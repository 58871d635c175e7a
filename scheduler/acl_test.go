package scheduler

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
)

// aclCluster starts n servers with ACLs, bootstrapped from a token file,
// and returns the cluster and the bootstrap secret.
func aclCluster(t *testing.T, n int, clk clock.Clock) (*LocalCluster, string) {
	t.Helper()
	secret := api.NewACLSecret()
	file := filepath.Join(t.TempDir(), "bootstrap.token")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, n, func(cfg *Config) {
		cfg.ACL, cfg.ACLBootstrapTokenFile = true, file
		if clk != nil {
			cfg.Clock = clk
		}
	})
	return c, secret
}

func clientWith(t *testing.T, addrs, token string) *api.Client {
	t.Helper()
	c, err := api.NewClient(addrs)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(token)
	return c
}

func wantDenied(t *testing.T, err error, want string) {
	t.Helper()
	var apiErr *api.Error
	if !errors.Is(err, api.ErrPermissionDenied) || !errors.As(err, &apiErr) || apiErr.Status != http.StatusForbidden || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want a 403 containing %q", err, want)
	}
}

func TestACLClusterBootstrapsFromTheTokenFileAndEnforces(t *testing.T) {
	c, secret := aclCluster(t, 3, nil)
	waitLeader(t, c)
	ctx := context.Background()
	all := strings.Join(c.HTTPAddrs(), ",")
	mgmt := clientWith(t, all, secret)
	eventually(t, 10*time.Second, "the leader to bootstrap with the file's secret", func() bool {
		self, err := mgmt.ACLTokenSelf(ctx)
		return err == nil && self.Type == api.TokenManagement && self.Permissions != nil && self.Permissions.Management
	})

	// Bootstrap is done: once more is refused, 400, naming it.
	_, err := clientWith(t, all, "").ACLBootstrap(ctx)
	var apiErr *api.Error
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest || !strings.Contains(err.Error(), "already done") {
		t.Fatalf("a second bootstrap: %v, want 400 naming that it was done", err)
	}

	if _, err := mgmt.UpsertACLPolicy(ctx, "readonly", api.ACLPolicyRequest{Rules: "namespaces: {default: [read]}\n"}); err != nil {
		t.Fatal(err)
	}
	if _, err := mgmt.UpsertACLPolicy(ctx, "bad", api.ACLPolicyRequest{Rules: "namespaces: {default: [fly]}\n"}); err == nil || !strings.Contains(err.Error(), `namespaces.default[0]: unknown capability "fly"`) {
		t.Fatalf("a policy with an unknown capability: %v", err)
	}
	reader, err := mgmt.CreateACLToken(ctx, api.ACLTokenRequest{Name: "reader", Policies: []string{"readonly"}})
	if err != nil || reader.SecretID == "" || reader.AccessorID == "" {
		t.Fatalf("create token: %+v %v", reader, err)
	}

	// Used at once through every server (a follower that has not applied
	// it yet waits for the leader's index).
	for _, addr := range c.HTTPAddrs() {
		r := clientWith(t, addr, reader.SecretID)
		if _, _, err := r.Services(ctx, api.QueryOptions{}); err != nil {
			t.Fatalf("list services with the reader's token on %s: %v", addr, err)
		}
		_, err := r.ApplyService(ctx, webSpec(t, "web", 0, ""))
		wantDenied(t, err, `permission denied: needs namespace "default" write`)
	}
	// A management token writes through a follower: the forwarded write
	// keeps its token.
	for _, s := range c.Servers() {
		if s.IsLeader() {
			continue
		}
		if _, err := clientWith(t, s.HTTPAddr(), secret).ApplyService(ctx, webSpec(t, "via-"+s.Name(), 0, "")); err != nil {
			t.Fatalf("a management write through follower %s: %v", s.Name(), err)
		}
	}

	// Lists never show secrets.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.HTTPAddrs()[0]+"/v1/acl/tokens", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), reader.AccessorID) {
		t.Fatalf("token list: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(string(body), reader.SecretID) || strings.Contains(string(body), secret) {
		t.Fatalf("the token list shows a secret: %s", body)
	}
	if got, err := mgmt.ACLToken(ctx, reader.AccessorID); err != nil || got.SecretID != "" || got.Name != "reader" {
		t.Fatalf("token info: %+v %v", got, err)
	}

	// Anonymous requests list nothing.
	anon := clientWith(t, all, "")
	if svcs, _, err := anon.Services(ctx, api.QueryOptions{}); err != nil || len(svcs) != 0 {
		t.Fatalf("anonymous services: %d %v, want none", len(svcs), err)
	}
	if svcs, _, err := mgmt.Services(ctx, api.QueryOptions{}); err != nil || len(svcs) == 0 {
		t.Fatalf("management services: %d %v, want some", len(svcs), err)
	}
	_, _, err = anon.Nodes(ctx, api.QueryOptions{})
	wantDenied(t, err, "needs node read")
	// An anonymous policy, once made, is what requests without a token get.
	if _, err := mgmt.UpsertACLPolicy(ctx, api.AnonymousPolicy, api.ACLPolicyRequest{Rules: "node: read\n"}); err != nil {
		t.Fatal(err)
	}
	// (Every server applies the policy within a moment: a request is
	// authorised by the state of the server it reaches.)
	eventually(t, 5*time.Second, "anonymous requests to read nodes", func() bool {
		_, _, err := anon.Nodes(ctx, api.QueryOptions{})
		return err == nil
	})

	// A deleted token is refused; so is one never made.
	if _, err := mgmt.DeleteACLToken(ctx, reader.AccessorID); err != nil {
		t.Fatal(err)
	}
	for _, addr := range c.HTTPAddrs() {
		deleted := clientWith(t, addr, reader.SecretID)
		eventually(t, 5*time.Second, "the deleted token to be refused by "+addr, func() bool {
			_, _, err := deleted.Services(ctx, api.QueryOptions{})
			return err != nil
		})
		_, _, err = deleted.Services(ctx, api.QueryOptions{})
		wantDenied(t, err, "the token is unknown")
	}
	_, _, err = clientWith(t, all, "made-up-secret-0123456789").Services(ctx, api.QueryOptions{})
	wantDenied(t, err, "the token is unknown")
	// Status stays open.
	if l, err := clientWith(t, all, "made-up-secret-0123456789").Leader(ctx); err != nil || l.Leader == "" {
		t.Fatalf("status/leader with a bad token: %+v %v", l, err)
	}
}

func TestACLTokenExpiresOnTheClusterClock(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	c, secret := aclCluster(t, 1, clk)
	waitLeader(t, c)
	ctx := context.Background()
	mgmt := clientWith(t, c.HTTPAddrs()[0], secret)
	eventually(t, 10*time.Second, "the bootstrap", func() bool { _, err := mgmt.ACLTokenSelf(ctx); return err == nil })
	if _, err := mgmt.UpsertACLPolicy(ctx, "ops", api.ACLPolicyRequest{Rules: "node: read\n"}); err != nil {
		t.Fatal(err)
	}
	tok, err := mgmt.CreateACLToken(ctx, api.ACLTokenRequest{Name: "short", Policies: []string{"ops"}, TTL: api.Duration(time.Hour)})
	if err != nil || tok.ExpirationTime == nil || !tok.ExpirationTime.Equal(clk.Now().Add(time.Hour)) {
		t.Fatalf("token with a TTL: %+v %v", tok, err)
	}
	short := clientWith(t, c.HTTPAddrs()[0], tok.SecretID)
	if _, _, err := short.Nodes(ctx, api.QueryOptions{}); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	clk.Advance(time.Hour)
	_, _, err = short.Nodes(ctx, api.QueryOptions{})
	wantDenied(t, err, "expired")
}

func TestBootstrapTokenFileNeedsACLAndASecret(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	same := filepath.Join(dir, "same")
	os.WriteFile(same, []byte("aaaaaaaaaaaaaaaa\n"), 0o600)
	open := filepath.Join(dir, "open")
	os.WriteFile(open, []byte(api.NewACLSecret()+"\n"), 0o644)
	os.Chmod(open, 0o644) // whatever the umask
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{ACLBootstrapTokenFile: short}, "--acl-bootstrap-token-file needs --acl"},
		{Config{ACL: true, ACLBootstrapTokenFile: short}, "16 to 128 characters, got 3"},
		{Config{ACL: true, ACLBootstrapTokenFile: same}, "only 1 different characters is guessable"},
		{Config{ACL: true, ACLBootstrapTokenFile: filepath.Join(dir, "missing")}, "no such file"},
		{Config{ACL: true, ACLBootstrapTokenFile: open}, "mode 0644 lets other users read it: chmod 600 " + open},
	} {
		tc.cfg.Name, tc.cfg.DataDir = "s1", filepath.Join(dir, "data")
		tc.cfg.HTTP, tc.cfg.Raft, tc.cfg.Gossip = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
		s, err := New(tc.cfg)
		if err == nil {
			s.Run(canceled())
			t.Fatalf("New(%+v) succeeded", tc.cfg)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New: %v, want %q", err, tc.want)
		}
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// A server that knows no leader (here: waiting for two more servers to
// bootstrap) cannot tell whether a token it has not seen exists: it says
// it has no leader (503, which clients retry), not that the token is
// unknown.
func TestATokenUnknownToALeaderlessServerIsNotCalledUnknown(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	srv, err := New(Config{Name: "lone", DataDir: t.TempDir(), HTTP: "127.0.0.1:0", Raft: "127.0.0.1:0", Gossip: "127.0.0.1:0",
		BootstrapExpect: 3, ACL: true, Clock: fake})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	got := make(chan error, 1)
	go func() { _, _, err := srv.ResolveToken(context.Background(), "a-secret-made-elsewhere"); got <- err }()
	var res error
	eventually(t, 10*time.Second, "the token lookup to give up on a leader", func() bool {
		fake.Advance(noLeaderWait)
		select {
		case res = <-got:
			return true
		default:
			return false
		}
	})
	var pe *api.PermissionError
	if !errors.Is(res, api.ErrNoLeader) || errors.As(res, &pe) {
		t.Fatalf("err = %v, want errors.Is ErrNoLeader and no permission error", res)
	}
}
