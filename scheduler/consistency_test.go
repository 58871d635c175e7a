package scheduler

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/network/gossip"
)

// followerOf returns a server of c that is not leader.
func followerOf(t *testing.T, c *LocalCluster, leader *Server) *Server {
	t.Helper()
	for _, s := range c.Servers() {
		if s != leader {
			return s
		}
	}
	t.Fatal("no follower")
	return nil
}

// onlyClient talks to one server and gives up at once (no other server
// to try, no election to wait for).
func onlyClient(t *testing.T, s *Server) *api.Client {
	t.Helper()
	c, err := api.NewClient("http://" + s.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	c.RetryFor = 0
	return c
}

// get sends a GET to one server and returns the status, headers and body.
func get(t *testing.T, addr, path string) (int, http.Header, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

// TestAFollowerWhoseGossipLostTheLeaderStillForwardsWrites: gossip and
// Raft can disagree (a partition of gossip alone, or a heal that Raft saw
// before gossip). While Raft knows the leader, a follower forwards writes
// to it even though gossip declared it dead.
func TestAFollowerWhoseGossipLostTheLeaderStillForwardsWrites(t *testing.T) {
	c := startCluster(t, 3, nil)
	leader := waitLeader(t, c)
	follower := followerOf(t, c, leader)
	eventually(t, 5*time.Second, "the follower to see the leader in gossip", func() bool {
		_, _, addr := follower.leaderHTTP()
		return addr == leader.HTTPAddr()
	})
	leader.pool.Shutdown() // the leader's gossip stops; its Raft goes on
	eventually(t, 15*time.Second, "gossip to declare the leader dead", func() bool {
		for _, m := range follower.pool.Members() {
			if m.Name == leader.Name() {
				return m.Status == gossip.StatusDead
			}
		}
		return false
	})
	if _, id := follower.raft.LeaderWithID(); string(id) != leader.Name() {
		t.Fatalf("raft on the follower names %q as leader, want %s", id, leader.Name())
	}
	resp, err := onlyClient(t, follower).ApplyService(context.Background(), webSpec(t, "web", 0, ""))
	if err != nil {
		t.Fatalf("write through a follower whose gossip lost the leader: %v", err)
	}
	if !resp.Created {
		t.Fatalf("answer %+v", resp)
	}
}

// TestAServerRestartedBehindNeverAnswersNotFoundForWhatExists: a restarted
// server's state starts from its last snapshot and catches up only as the
// leader tells it what was committed. Reads sent to it right after its
// restart wait until it caught up (or answer 503 so that the client tries
// another server); they never answer 404 for a service created long before.
func TestAServerRestartedBehindNeverAnswersNotFoundForWhatExists(t *testing.T) {
	c := startCluster(t, 3, nil)
	leader := waitLeader(t, c)
	follower := followerOf(t, c, leader)
	client := clientFor(t, c)
	ctx := context.Background()
	if _, err := client.ApplyService(ctx, webSpec(t, "old", 0, "")); err != nil {
		t.Fatal(err)
	}
	name := follower.Name()
	if err := c.Kill(name); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := client.ApplyService(ctx, webSpec(t, fmt.Sprintf("while-away-%d", i), 0, "")); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Restart(name); err != nil {
		t.Fatal(err)
	}
	var restarted *Server
	for _, s := range c.Servers() {
		if s.Name() == name {
			restarted = s
		}
	}
	staleMissing := 0
	for _, path := range []string{"/v1/services/default/old?stale", "/v1/services/default/old", "/v1/services/default/while-away-49"} {
		status, header, body := get(t, restarted.HTTPAddr(), path)
		stale := strings.HasSuffix(path, "?stale")
		switch {
		case stale && status == http.StatusNotFound:
			staleMissing++ // what ?stale opts into
		case status == http.StatusNotFound:
			t.Fatalf("GET %s on the restarted server: 404 %s", path, body)
		case status != http.StatusOK && status != http.StatusServiceUnavailable:
			t.Fatalf("GET %s: %d %s", path, status, body)
		case status == http.StatusOK && !stale:
			if header.Get(api.KnownLeaderHeader) != "true" {
				t.Errorf("GET %s: a consistent answer without a known leader: %v", path, header)
			}
			if index, _ := strconv.ParseUint(header.Get(api.IndexHeader), 10, 64); index == 0 {
				t.Errorf("GET %s: no %s", path, api.IndexHeader)
			}
		}
	}
	t.Logf("stale reads that said 404 right after the restart: %d", staleMissing)
}

func TestEveryReadSaysWhatTheServerKnowsOfTheLeader(t *testing.T) {
	c := startCluster(t, 3, nil)
	leader := waitLeader(t, c)
	follower := followerOf(t, c, leader)
	if _, err := clientFor(t, c).ApplyService(context.Background(), webSpec(t, "web", 0, "")); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Server{leader, follower} {
		for _, path := range []string{"/v1/services", "/v1/services?stale", "/v1/nodes", "/v1/status/leader"} {
			status, h, body := get(t, s.HTTPAddr(), path)
			if status != http.StatusOK {
				t.Fatalf("%s GET %s: %d %s", s.Name(), path, status, body)
			}
			contact, err := strconv.ParseInt(h.Get(api.LastContactHeader), 10, 64)
			if h.Get(api.KnownLeaderHeader) != "true" || err != nil || contact < 0 || contact > 5000 {
				t.Errorf("%s GET %s: known leader %q, last contact %q", s.Name(), path, h.Get(api.KnownLeaderHeader), h.Get(api.LastContactHeader))
			}
			if s == leader && contact != 0 {
				t.Errorf("the leader says its last contact was %dms ago", contact)
			}
		}
	}
}

// TestAFollowerReadSeesAWriteAcknowledgedJustBefore is read-your-writes
// across servers: a write acknowledged by the leader is in the next
// consistent read of any follower, whatever its replication lag.
func TestAFollowerReadSeesAWriteAcknowledgedJustBefore(t *testing.T) {
	c := startCluster(t, 3, nil)
	leader := waitLeader(t, c)
	ctx := context.Background()
	writer := onlyClient(t, leader)
	var readers []*api.Client
	for _, s := range c.Servers() {
		if s != leader {
			readers = append(readers, onlyClient(t, s))
		}
	}
	for i := range 30 {
		name := fmt.Sprintf("rw-%d", i)
		if _, err := writer.ApplyService(ctx, webSpec(t, name, 0, "")); err != nil {
			t.Fatal(err)
		}
		for _, r := range readers {
			if _, _, err := r.Service(ctx, "default", name, api.QueryOptions{}); err != nil {
				t.Fatalf("a follower read right after write %d: %v", i, err)
			}
		}
	}
}

// TestStaleBlockingQueryDoesNotGoBack: a watch that moves to a server
// further behind waits until that server reached the index it already saw.
func TestStaleBlockingQueryDoesNotGoBack(t *testing.T) {
	c := startCluster(t, 1, nil)
	s := waitLeader(t, c)
	ctx := context.Background()
	resp, err := onlyClient(t, s).ApplyService(ctx, webSpec(t, "web", 0, ""))
	if err != nil {
		t.Fatal(err)
	}
	status, _, body := get(t, s.HTTPAddr(), fmt.Sprintf("/v1/services?stale&index=%d&wait=200ms", resp.Index+1000))
	if status != http.StatusServiceUnavailable {
		t.Fatalf("a server behind the watch's index answered %d %s, want 503", status, body)
	}
}
