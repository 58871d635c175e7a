package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
)

// aclServers are fake servers with ACLs: they answer who a token is.
type aclServers struct {
	*fakeServers
	mu     sync.Mutex
	tokens map[string]*api.ACLPermissions
	// err, when set, is every answer (ACLs off, servers down).
	err   error
	asked int
}

func (s *aclServers) ACLTokenOf(ctx context.Context, secret string) (*api.ACLToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked++
	if s.err != nil {
		return nil, s.err
	}
	if secret == "" {
		return &api.ACLToken{Name: "anonymous", Permissions: &api.ACLPermissions{}}, nil
	}
	p, ok := s.tokens[secret]
	if !ok {
		return nil, &api.Error{Status: http.StatusForbidden, Message: "permission denied: the token is unknown"}
	}
	return &api.ACLToken{Name: secret, Permissions: p}, nil
}

func (s *aclServers) timesAsked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.asked
}

func (s *aclServers) setErr(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

// startACLAgent runs an agent with a1 (default) and p1 (prod) running, and
// serves its API; execs counts the commands that reached the runtime.
func startACLAgent(t *testing.T) (*testAgent, *aclServers, *httptest.Server, *atomic.Int32) {
	t.Helper()
	fake, rt := newFakeServers(), NewNullRuntime()
	fake.setRevision("default", "web", 1, specFor(t, ""))
	fake.setRevision("prod", "web", 1, specFor(t, ""))
	prod := desired("p1")
	prod.Namespace = "prod"
	fake.setAllocs(desired("a1"), prod)
	var execs atomic.Int32
	rt.ExecFn = func(id string, cmd []string) int { execs.Add(1); return 0 }
	servers := &aclServers{fakeServers: fake, tokens: map[string]*api.ACLPermissions{
		"reader": api.MergeACLRules(api.ACLRules{Namespaces: map[string][]string{"default": {"read"}}}),
		"execer": api.MergeACLRules(api.ACLRules{Namespaces: map[string][]string{"default": {"exec"}}}),
		"prod":   api.MergeACLRules(api.ACLRules{Namespaces: map[string][]string{"prod": {"admin"}}}),
		"ops":    api.MergeACLRules(api.ACLRules{Node: "read"}),
	}}
	ta := startAgentWith(t, servers, rt)
	ta.until("both running", func() bool {
		return fake.status("a1").Status == api.AllocRunning && fake.status("p1").Status == api.AllocRunning
	})
	srv := httptest.NewServer(ta.agent.handler())
	t.Cleanup(srv.Close)
	return ta, servers, srv, &execs
}

// startAgentWith is startAgent with ACL servers.
func startAgentWith(t *testing.T, servers *aclServers, rt *NullRuntime) *testAgent {
	t.Helper()
	return runTestAgent(t, Config{DataDir: t.TempDir(), Clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))},
		servers, servers.fakeServers, rt, rt).registered()
}

func agentCall(t *testing.T, srv *httptest.Server, method, path, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set(api.TokenHeader, token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer := readAll(resp)
	var e api.ErrorResponse
	if resp.StatusCode != http.StatusOK && json.Unmarshal([]byte(answer), &e) == nil && e.Error != "" {
		return resp.StatusCode, e.Error
	}
	return resp.StatusCode, answer
}

func readAll(resp *http.Response) string {
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			return sb.String()
		}
	}
}

const execBody = `{"command": ["hostname"]}`

func TestAgentAPIChecksTheCallersToken(t *testing.T) {
	_, _, srv, execs := startACLAgent(t)
	for _, tc := range []struct {
		name, method, path, token, body string
		status                          int
		want                            string
	}{
		{"read cannot exec", "POST", "/v1/agent/allocations/a1/exec", "reader", execBody, 403, `permission denied: needs namespace "default" exec`},
		{"anonymous cannot exec", "POST", "/v1/agent/allocations/a1/exec", "", execBody, 403, `needs namespace "default" exec`},
		{"an unknown token cannot exec", "POST", "/v1/agent/allocations/a1/exec", "forged", execBody, 403, "the token is unknown"},
		{"exec of default is not exec of prod", "POST", "/v1/agent/allocations/p1/exec", "execer", execBody, 403, `needs namespace "prod" exec`},
		{"exec cannot read logs", "GET", "/v1/agent/allocations/a1/logs", "execer", "", 403, `needs namespace "default" read`},
		{"read reads logs", "GET", "/v1/agent/allocations/a1/logs", "reader", "", 200, ""},
		{"node read reads routes", "GET", "/v1/agent/routes", "ops", "", 200, ""},
		{"namespace read does not read routes", "GET", "/v1/agent/routes", "reader", "", 403, "needs node read"},
		{"an allocation elsewhere", "POST", "/v1/agent/allocations/zz/exec", "execer", execBody, 404, "not on node n1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := execs.Load()
			status, body := agentCall(t, srv, tc.method, tc.path, tc.token, tc.body)
			if status != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("%s %s as %q: %d %s, want %d %q", tc.method, tc.path, tc.token, status, body, tc.status, tc.want)
			}
			if status != 200 && execs.Load() != before {
				t.Error("a refused exec ran")
			}
		})
	}
	before := execs.Load()
	if status, body := agentCall(t, srv, "POST", "/v1/agent/allocations/a1/exec", "execer", execBody); status != 200 || execs.Load() != before+1 {
		t.Fatalf("exec with exec: %d %s", status, body)
	}
	if status, body := agentCall(t, srv, "POST", "/v1/agent/allocations/p1/exec", "prod", execBody); status != 200 {
		t.Fatalf("exec with admin of prod: %d %s", status, body)
	}
}

func TestAgentAllocationsListShowsWhatTheTokenMayRead(t *testing.T) {
	_, _, srv, _ := startACLAgent(t)
	list := func(token string) []string {
		status, body := agentCall(t, srv, "GET", "/v1/agent/allocations", token, "")
		if status != 200 {
			t.Fatalf("list as %q: %d %s", token, status, body)
		}
		var views []AllocationView
		if err := json.Unmarshal([]byte(body), &views); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, v := range views {
			ids = append(ids, v.ID)
		}
		return ids
	}
	for token, want := range map[string]string{"": "", "reader": "a1", "prod": "p1", "ops": "a1 p1"} {
		if got := strings.Join(list(token), " "); got != want {
			t.Errorf("allocations as %q: [%s], want [%s]", token, got, want)
		}
	}
}

func TestAgentKeepsTheServersAnswerForAWhile(t *testing.T) {
	ta, servers, srv, _ := startACLAgent(t)
	agentCall(t, srv, "GET", "/v1/agent/allocations/a1/logs", "reader", "")
	agentCall(t, srv, "GET", "/v1/agent/allocations/a1/logs", "reader", "")
	if n := servers.timesAsked(); n != 1 {
		t.Fatalf("asked the servers %d times for one token, want once", n)
	}
	ta.clock.Advance(callerCacheTTL + time.Second)
	agentCall(t, srv, "GET", "/v1/agent/allocations/a1/logs", "reader", "")
	if n := servers.timesAsked(); n != 2 {
		t.Fatalf("asked the servers %d times after the answer aged, want twice", n)
	}
}

func TestAgentAllowsEverythingWhenTheServersHaveNoACLs(t *testing.T) {
	ta, servers, srv, execs := startACLAgent(t)
	servers.setErr(fmt.Errorf("acl: %w", api.ErrACLDisabled))
	if status, body := agentCall(t, srv, "POST", "/v1/agent/allocations/p1/exec", "", execBody); status != 200 || execs.Load() != 1 {
		t.Fatalf("exec without ACLs: %d %s", status, body)
	}
	// Servers without ACLs that stop answering (no quorum) do not lock the
	// agent's API.
	servers.setErr(errors.New("connection refused"))
	ta.clock.Advance(callerCacheTTL + time.Second)
	if status, body := agentCall(t, srv, "POST", "/v1/agent/allocations/p1/exec", "", execBody); status != 200 || execs.Load() != 2 {
		t.Fatalf("exec while servers without ACLs cannot answer: %d %s", status, body)
	}
}

func TestAgentRefusesWhenTheServersCannotSayWhoATokenIs(t *testing.T) {
	_, servers, srv, execs := startACLAgent(t)
	servers.setErr(errors.New("connection refused"))
	if status, body := agentCall(t, srv, "POST", "/v1/agent/allocations/a1/exec", "execer", execBody); status != 503 || !strings.Contains(body, "cannot check the token") || execs.Load() != 0 {
		t.Fatalf("exec while the servers cannot say: %d %s", status, body)
	}
	// Nor once they had ACLs: a failure after an answer refuses too.
	servers.setErr(nil)
	if status, _ := agentCall(t, srv, "GET", "/v1/agent/allocations/a1/logs", "reader", ""); status != 200 {
		t.Fatalf("logs with read: %d", status)
	}
	servers.setErr(errors.New("connection refused"))
	if status, body := agentCall(t, srv, "POST", "/v1/agent/allocations/a1/exec", "execer", execBody); status != 503 || execs.Load() != 0 {
		t.Fatalf("exec while the servers with ACLs cannot say: %d %s", status, body)
	}
}
