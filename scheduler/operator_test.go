package scheduler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"flotilla/api"
)

// send sends one request with a body and headers (name, value pairs) to
// one server.
func send(t *testing.T, addr, method, path, body string, header ...string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes()
}

// TestAWriteSentAgainWithItsRequestIDAppliesOnceAndAnswersTheFirstResult
// is the client's retry after a timeout, through another server: the same
// request ID, the same answer, one change.
func TestAWriteSentAgainWithItsRequestIDAppliesOnceAndAnswersTheFirstResult(t *testing.T) {
	c := startCluster(t, 3, nil)
	leader := waitLeader(t, c)
	follower := followerOf(t, c, leader)
	spec, err := json.Marshal(webSpec(t, "web", 2, ""))
	if err != nil {
		t.Fatal(err)
	}
	var answers [2]api.ApplyResponse
	for i, s := range []*Server{leader, follower} {
		status, body := send(t, s.HTTPAddr(), http.MethodPut, "/v1/services/default/web", string(spec), api.RequestIDHeader, "apply-1")
		if status != http.StatusOK {
			t.Fatalf("attempt %d: %d %s", i+1, status, body)
		}
		if err := json.Unmarshal(body, &answers[i]); err != nil {
			t.Fatal(err)
		}
	}
	if answers[0] != answers[1] || !answers[1].Created {
		t.Fatalf("answers differ: first %+v, retry %+v; want the first one twice", answers[0], answers[1])
	}
	// Applied a second time, the upsert would have answered "not created"
	// (an unchanged spec); the request is remembered at the first index.
	if rec := leader.Store().Snapshot().Request("apply-1"); rec == nil || rec.Index != answers[0].Index {
		t.Fatalf("request apply-1 remembered as %+v, want at index %d", rec, answers[0].Index)
	}
	if revs := leader.Store().Snapshot().Revisions(nil, "default", "web"); len(revs) != 1 {
		t.Fatalf("%d revisions, want 1", len(revs))
	}

	// A delete that succeeded and is sent again answers success, not 404.
	for i := range 2 {
		status, body := send(t, follower.HTTPAddr(), http.MethodDelete, "/v1/services/default/web", "", api.RequestIDHeader, "delete-1")
		if status != http.StatusOK {
			t.Fatalf("delete attempt %d: %d %s", i+1, status, body)
		}
	}
}

func TestPeersShowAKilledServerAsUnreachable(t *testing.T) {
	c := startCluster(t, 3, nil)
	leader := waitLeader(t, c)
	victim := followerOf(t, c, leader)
	client := onlyClient(t, leader)
	ctx := context.Background()
	eventually(t, 10*time.Second, "every peer to answer", func() bool {
		peers, err := client.Peers(ctx)
		if err != nil || len(peers) != 3 {
			return false
		}
		for _, p := range peers {
			if p.Status != api.PeerAlive || p.LastContact == nil || !p.KnownLeader {
				return false
			}
		}
		return true
	})
	if err := c.Kill(victim.Name()); err != nil {
		t.Fatal(err)
	}
	peers, err := client.Peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range peers {
		switch {
		case p.ID == victim.Name() && (p.Status != api.PeerUnreachable || p.Error == ""):
			t.Errorf("killed %s shows as %+v", p.ID, p)
		case p.ID != victim.Name() && p.Status != api.PeerAlive:
			t.Errorf("live %s shows as %+v", p.ID, p)
		case p.ID == leader.Name() && (!p.Leader || p.LastContact == nil || *p.LastContact != 0):
			t.Errorf("the leader shows as %+v", p)
		}
	}
}

func TestSnapshotSaveAndRestoreBringBackTheState(t *testing.T) {
	c := startCluster(t, 3, nil)
	waitLeader(t, c)
	client := clientFor(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, name := range []string{"kept", "deleted-later"} {
		if _, err := client.ApplyService(ctx, webSpec(t, name, 0, "")); err != nil {
			t.Fatal(err)
		}
	}
	archive, index, err := client.SnapshotSave(ctx, api.QueryOptions{})
	if err != nil || index == 0 || len(archive) == 0 {
		t.Fatalf("save: %d bytes at index %d, %v", len(archive), index, err)
	}
	if _, err := client.DeleteService(ctx, "default", "deleted-later"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.ApplyService(ctx, webSpec(t, "made-later", 0, "")); err != nil {
		t.Fatal(err)
	}

	// A damaged archive is refused and changes nothing.
	damaged := append([]byte(nil), archive...)
	damaged[len(damaged)/2] ^= 0xff
	if _, err := client.SnapshotRestore(ctx, damaged, false); err == nil {
		t.Fatal("a damaged archive was restored")
	}
	if _, _, err := client.Service(ctx, "default", "made-later", api.QueryOptions{}); err != nil {
		t.Fatalf("a refused restore changed the state: %v", err)
	}

	if _, err := client.SnapshotRestore(ctx, archive, false); err != nil {
		t.Fatalf("restore: %v", err)
	}
	for _, s := range c.Servers() {
		one := onlyClient(t, s)
		one.RetryFor = 5 * time.Second
		eventually(t, 10*time.Second, "every server to have the restored state", func() bool {
			_, _, errKept := one.Service(ctx, "default", "kept", api.QueryOptions{})
			_, _, errBack := one.Service(ctx, "default", "deleted-later", api.QueryOptions{})
			_, _, errGone := one.Service(ctx, "default", "made-later", api.QueryOptions{})
			return errKept == nil && errBack == nil && errors.Is(errGone, api.ErrNotFound)
		})
	}
	// The cluster goes on writing.
	if _, err := client.ApplyService(ctx, webSpec(t, "after-restore", 0, "")); err != nil {
		t.Fatalf("write after restore: %v", err)
	}
}

// TestRestoringAnotherClustersSnapshotNeedsForce: a snapshot of another
// cluster, whose secrets are under another keyring's key, is refused and
// changes nothing, naming both; forced, it is restored. Into a cluster
// that enforces ACLs, a state without a management token is refused even
// forced: anyone could bootstrap ACLs again.
func TestRestoringAnotherClustersSnapshotNeedsForce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	other := startCluster(t, 1, nil)
	waitLeader(t, other)
	from := clientFor(t, other)
	if _, err := from.ApplyService(ctx, webSpec(t, "theirs", 0, "")); err != nil {
		t.Fatal(err)
	}
	if _, err := from.ApplyFileObject(ctx, api.FileObjectSpec{Kind: api.KindSecret, Metadata: api.ObjectMeta{Name: "db", Namespace: "default"},
		Data: map[string]string{"password": "theirs"}}); err != nil {
		t.Fatal(err)
	}
	archive, _, err := from.SnapshotSave(ctx, api.QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}

	c := startCluster(t, 1, nil)
	waitLeader(t, c)
	client := clientFor(t, c)
	if _, err := client.ApplyService(ctx, webSpec(t, "ours", 0, "")); err != nil {
		t.Fatal(err)
	}
	_, err = client.SnapshotRestore(ctx, archive, false)
	var apiErr *api.Error
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest || apiErr.Field != "snapshot" || !strings.Contains(err.Error(), "snapshot: it was taken from another cluster (ID ") ||
		!strings.Contains(err.Error(), "its secrets are sealed under keys this cluster's keyring does not hold (k-") ||
		!strings.Contains(err.Error(), "; --force restores it anyway, as when rebuilding a lost cluster") {
		t.Fatalf("restore of another cluster's snapshot: %v", err)
	}
	if _, _, err := client.Service(ctx, "default", "ours", api.QueryOptions{}); err != nil {
		t.Fatalf("a refused restore changed the state: %v", err)
	}
	if _, err := client.SnapshotRestore(ctx, archive, true); err != nil {
		t.Fatalf("forced restore: %v", err)
	}
	eventually(t, 10*time.Second, "their service in place of ours", func() bool {
		_, _, errTheirs := client.Service(ctx, "default", "theirs", api.QueryOptions{})
		_, _, errOurs := client.Service(ctx, "default", "ours", api.QueryOptions{})
		return errTheirs == nil && errors.Is(errOurs, api.ErrNotFound)
	})

	acl, token := aclCluster(t, 1, nil)
	waitLeader(t, acl)
	mgmt := clientWith(t, strings.Join(acl.HTTPAddrs(), ","), token)
	for _, force := range []bool{false, true} {
		_, err := mgmt.SnapshotRestore(ctx, archive, force)
		if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest || !strings.Contains(err.Error(), "snapshot: it holds no management token: restored into a cluster that enforces ACLs, it would let anyone run acl bootstrap again") {
			t.Fatalf("restore (force %v) of a state without tokens into an ACL cluster: %v", force, err)
		}
	}
	if _, err := mgmt.ACLTokenSelf(ctx); err != nil {
		t.Fatalf("the management token after the refused restores: %v", err)
	}
}

func TestRemovePeerRemovesADeadServerAndRefusesALiveOne(t *testing.T) {
	c := startCluster(t, 3, nil)
	leader := waitLeader(t, c)
	dead := followerOf(t, c, leader)
	var live *Server
	for _, s := range c.Servers() {
		if s != leader && s != dead {
			live = s
		}
	}
	client := clientFor(t, c)
	ctx := context.Background()
	if _, err := client.RemovePeer(ctx, live.Name()); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("remove live %s: %v, want a conflict", live.Name(), err)
	}
	if _, err := client.RemovePeer(ctx, "nobody"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("remove an unknown server: %v, want not found", err)
	}
	if err := c.Kill(dead.Name()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "the dead server to be removed", func() bool {
		_, err := client.RemovePeer(ctx, dead.Name())
		return err == nil // refused while gossip still calls it alive
	})
	peers, err := client.Peers(ctx)
	if err != nil || len(peers) != 2 {
		t.Fatalf("peers after remove: %+v, %v", peers, err)
	}
}

// TestPeersJSONRecoversALoneSurvivor is the manual recovery from lost
// quorum: two of three servers are gone for good; the operator writes
// peers.json naming the survivor alone, and it starts as a one-server
// cluster with its state.
func TestPeersJSONRecoversALoneSurvivor(t *testing.T) {
	c := startCluster(t, 3, nil)
	waitLeader(t, c)
	client := clientFor(t, c)
	ctx := context.Background()
	if _, err := client.ApplyService(ctx, webSpec(t, "survives", 0, "")); err != nil {
		t.Fatal(err)
	}
	var survivor *Server
	for _, s := range c.Servers() {
		if survivor == nil {
			survivor = s
		}
		eventually(t, 10*time.Second, s.Name()+" to have the write", func() bool {
			return s.Store().Snapshot().Service(nil, "default", "survives") != nil
		})
	}
	for _, s := range c.Servers() {
		if err := c.Kill(s.Name()); err != nil {
			t.Fatal(err)
		}
	}
	peers := []map[string]any{{"id": survivor.Name(), "address": survivor.RaftAddr(), "non_voter": false}}
	data, _ := json.Marshal(peers)
	path := filepath.Join(c.dir, survivor.Name(), "raft", "peers.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(survivor.Name()); err != nil {
		t.Fatal(err)
	}
	leader := waitLeader(t, c)
	if leader.Name() != survivor.Name() {
		t.Fatalf("%s leads, want the survivor %s", leader.Name(), survivor.Name())
	}
	one := onlyClient(t, leader)
	if _, _, err := one.Service(ctx, "default", "survives", api.QueryOptions{}); err != nil {
		t.Fatalf("the survivor lost its state: %v", err)
	}
	if _, err := one.ApplyService(ctx, webSpec(t, "after-recovery", 0, "")); err != nil {
		t.Fatalf("write after recovery: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("peers.json is still there (%v): it would apply again at the next start", err)
	}
}

// A peers.json that does not list the server it is written for, or that
// misspells a field, is refused at start with a line saying so, and left
// in place: applied, the first would leave the server outside its own
// configuration, never electing a leader.
func TestAPeersJSONThatDoesNotListTheServerIsRefused(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ body, want string }{
		{`[{"id": "s1", "address": "127.0.0.1:4647"}]`, "it does not list this server, o1"},
		{`[{"id": "o1", "adress": "127.0.0.1:4647"}]`, `unknown field "adress"`},
		{`[{"id": "o1"}]`, `entry 1: want both "id" and "address"`},
	} {
		path := filepath.Join(dir, "peers.json")
		if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
			t.Fatal(err)
		}
		err := checkPeersFile(path, "o1")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "(left as it is)") {
			t.Errorf("%s: err = %v, want it to say %q", tc.body, err, tc.want)
		}
	}
	path := filepath.Join(dir, "peers.json")
	os.WriteFile(path, []byte(`[{"id": "s1", "address": "127.0.0.1:4647"}, {"id": "o1", "address": "127.0.0.1:4657", "non_voter": false}]`), 0o600)
	if err := checkPeersFile(path, "o1"); err != nil {
		t.Errorf("a file listing the server: %v", err)
	}
}
