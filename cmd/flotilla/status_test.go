package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/scheduler"
)

// runCLI runs one flotilla command in this process.
func runCLI(t *testing.T, address string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRoot()
	root.SetArgs(append([]string{"--address", address}, args...))
	root.SetOut(&out)
	root.SetErr(&errOut)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

func localCluster(t *testing.T, n int) (*scheduler.LocalCluster, *scheduler.Server) {
	t.Helper()
	c, err := scheduler.StartLocalCluster(t.TempDir(), n, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	leader, err := c.WaitForLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return c, leader
}

// TestStatusShowsAKilledServerAsUnreachable: a killed server stays in the
// Raft configuration; status must not show it as a healthy follower.
func TestStatusShowsAKilledServerAsUnreachable(t *testing.T) {
	c, leader := localCluster(t, 3)
	var victim string
	for _, s := range c.Servers() {
		if s != leader {
			victim = s.Name()
		}
	}
	addr := "http://" + leader.HTTPAddr()
	waitFor(t, 10*time.Second, "every peer to answer", func() bool {
		out, err := runCLI(t, addr, "status")
		return err == nil && strings.Count(out, " alive ") == 3
	})
	if err := c.Kill(victim); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, addr, "status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		if len(fields) < 4 {
			continue
		}
		switch {
		case fields[0] == victim && fields[3] != api.PeerUnreachable:
			t.Fatalf("killed %s shows as %q:\n%s", victim, line, out)
		case fields[0] != victim && strings.HasPrefix(fields[0], "s") && fields[3] != api.PeerAlive:
			t.Fatalf("live %s shows as %q:\n%s", fields[0], line, out)
		case fields[0] != victim && fields[0] != leader.Name() && strings.HasPrefix(fields[0], "s") && !strings.HasSuffix(line, " ago"):
			t.Fatalf("follower %s shows no last contact: %q", fields[0], line)
		}
	}
	if !strings.Contains(out, "LAST CONTACT") {
		t.Fatalf("no last contact column:\n%s", out)
	}
}

// TestLabStatusSurvivesAServerThatHangs: with its first server cut off
// (it accepts connections and never answers), lab status still shows the
// leader, the other follower and the nodes, and the cut-off server as
// unreachable, within its deadline.
func TestLabStatusSurvivesAServerThatHangs(t *testing.T) {
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hung.Close()
	defer close(release)
	answering := func() *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/v1/status/leader":
				w.Write([]byte(`{"leader": "s2", "address": "127.0.0.1:1"}`))
			case "/v1/nodes":
				w.Write([]byte(`[{"name": "n1", "status": "ready"}, {"name": "n2", "status": "down"}]`))
			default:
				http.NotFound(w, r)
			}
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	s2, s3 := answering(), answering()
	servers := []labServer{{"s1", hung.URL}, {"s2", s2.URL}, {"s3", s3.URL}}
	ctx, cancel := context.WithTimeout(context.Background(), labStatusTimeout)
	defer cancel()
	start := time.Now()
	view := labClusterView(ctx, servers, nil, "")
	want := map[string]string{"s1": "unreachable", "s2": "leader", "s3": "follower", "n1": "ready", "n2": "down"}
	for k, v := range want {
		if view[k] != v {
			t.Errorf("%s shows as %q, want %q (view %v)", k, view[k], v, view)
		}
	}
	if took := time.Since(start); took > labStatusTimeout {
		t.Fatalf("took %s", took)
	}
}

func TestOperatorSnapshotSaveInspectAndRestore(t *testing.T) {
	_, leader := localCluster(t, 1)
	addr := "http://" + leader.HTTPAddr()
	dir := t.TempDir()
	spec := filepath.Join(dir, "web.yaml")
	os.WriteFile(spec, []byte("kind: Service\nname: web\nimage: demo\nreplicas: 0\n"), 0o644)
	if out, err := runCLI(t, addr, "apply", "-f", spec); err != nil {
		t.Fatalf("apply: %s %v", out, err)
	}
	file := filepath.Join(dir, "backup.snap")
	if out, err := runCLI(t, addr, "operator", "snapshot", "save", file); err != nil || !strings.Contains(out, "saved the state at index") {
		t.Fatalf("save: %s %v", out, err)
	}
	if out, err := runCLI(t, addr, "operator", "snapshot", "inspect", file); err != nil || !strings.Contains(out, `"flotilla": "snapshot"`) {
		t.Fatalf("inspect: %s %v", out, err)
	}
	if out, err := runCLI(t, addr, "delete", "service", "web"); err != nil {
		t.Fatalf("delete: %s %v", out, err)
	}
	if out, err := runCLI(t, addr, "operator", "snapshot", "restore", file); err != nil || !strings.Contains(out, "restored") {
		t.Fatalf("restore: %s %v", out, err)
	}
	if out, err := runCLI(t, addr, "get", "services"); err != nil || !strings.Contains(out, "web") {
		t.Fatalf("after restore, get services: %s %v", out, err)
	}
	if _, err := runCLI(t, addr, "operator", "raft", "remove-peer", leader.Name()); err == nil {
		t.Fatal("removing the live leader succeeded")
	}
	// Another cluster takes it with --force only.
	_, other := localCluster(t, 1)
	otherAddr := "http://" + other.HTTPAddr()
	if out, err := runCLI(t, otherAddr, "operator", "snapshot", "restore", file); err == nil || !strings.Contains(out+err.Error(), "another cluster") {
		t.Fatalf("restore into another cluster: %s %v", out, err)
	}
	if out, err := runCLI(t, otherAddr, "operator", "snapshot", "restore", "--force", file); err != nil || !strings.Contains(out, "restored") {
		t.Fatalf("forced restore into another cluster: %s %v", out, err)
	}
}

// TestStatusShowsNoRoleForAPeerThatDidNotAnswer: a voter that did not
// answer (a dead former leader, say) has no known role: "-", not
// "follower". One that answered is a follower; the leader stays the
// leader.
func TestStatusShowsNoRoleForAPeerThatDidNotAnswer(t *testing.T) {
	contact := api.Duration(20 * time.Millisecond)
	var out bytes.Buffer
	err := printPeers(&out, []api.Peer{
		{ID: "s1", Address: "127.0.0.1:4647", Status: api.PeerUnreachable, Error: "dial tcp 127.0.0.1:4646: connect: connection refused"},
		{ID: "s2", Address: "127.0.0.1:4657", Leader: true, Status: api.PeerAlive, KnownLeader: true},
		{ID: "s3", Address: "127.0.0.1:4667", Status: api.PeerAlive, KnownLeader: true, LastContact: &contact},
		{ID: "s4", Address: "127.0.0.1:4677", Status: api.PeerUnknown},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"s1": "-", "s2": "leader", "s3": "follower", "s4": "-"}
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || want[f[0]] == "" {
			continue
		}
		if f[2] != want[f[0]] {
			t.Errorf("%s: role %q, want %q:\n%s", f[0], f[2], want[f[0]], out.String())
		}
		delete(want, f[0])
	}
	if len(want) != 0 {
		t.Fatalf("no row for %v:\n%s", want, out.String())
	}
}

// A peer that knows the leader from Raft but not its API address (a
// server outside the gossip pool) answers, but serves nothing: status
// says so rather than a plain "alive".
func TestStatusShowsAPeerThatCannotReachTheLeadersAPI(t *testing.T) {
	contact := api.Duration(20 * time.Millisecond)
	var out bytes.Buffer
	if err := printPeers(&out, []api.Peer{
		{ID: "s1", Address: "127.0.0.1:4647", Leader: true, Status: api.PeerAlive, KnownLeader: true},
		{ID: "s2", Address: "127.0.0.1:4657", Status: api.PeerAlive, KnownLeader: true, LeaderAPIUnknown: true, LastContact: &contact},
	}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "alive, leader's API unknown (outside the gossip pool?)") {
		t.Fatalf("status does not say s2 cannot reach the leader's API:\n%s", out.String())
	}
}
