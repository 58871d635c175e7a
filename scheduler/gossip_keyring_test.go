package scheduler

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/network/gossip"
)

func newGossipKey(t *testing.T) (string, []byte) {
	t.Helper()
	text, err := gossip.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err := gossip.ParseKey(text)
	if err != nil {
		t.Fatal(err)
	}
	return text, key
}

// allSeeAlive waits until every server sees every named member alive.
func allSeeAlive(t *testing.T, c *LocalCluster, names ...string) {
	t.Helper()
	eventually(t, 20*time.Second, "every server to see "+strings.Join(names, ", ")+" alive", func() bool {
		for _, s := range c.Servers() {
			alive := map[string]bool{}
			for _, m := range s.pool.Members() {
				alive[m.Name] = m.Status == gossip.StatusAlive
			}
			for _, n := range names {
				if !alive[n] && n != s.Name() {
					return false
				}
			}
		}
		return true
	})
}

func TestGossipKeyRotationThroughTheAPIKeepsThePoolWhole(t *testing.T) {
	oldText, oldKey := newGossipKey(t)
	newText, _ := newGossipKey(t)
	c := startCluster(t, 3, func(cfg *Config) { cfg.GossipKey = oldKey })
	waitLeader(t, c)
	// An agent's pool, as an agent has it: it answers keyring requests too.
	agent, err := gossip.Start(gossip.Config{Name: "n1", Bind: "127.0.0.1:0", Fast: true, Key: oldKey, Meta: gossip.Meta{Role: gossip.RoleAgent}})
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Shutdown()
	if _, err := agent.Join([]string{c.Servers()[0].GossipAddr()}); err != nil {
		t.Fatal(err)
	}
	members := []string{"s1", "s2", "s3", "n1"}
	allSeeAlive(t, c, members...)

	client := clientFor(t, c)
	ctx := context.Background()
	list, err := client.GossipKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if list.Members != 4 || list.Succeeded != 4 || list.Keys[oldText] != 4 || list.PrimaryKeys[oldText] != 4 {
		t.Fatalf("list before the rotation: %+v", list)
	}
	for _, step := range []struct{ op, key, primary string }{
		{api.GossipKeyInstall, newText, oldText},
		{api.GossipKeyUse, newText, newText},
		{api.GossipKeyRemove, oldText, newText},
	} {
		resp, err := client.GossipKeyring(ctx, step.op, step.key)
		if err != nil {
			t.Fatalf("%s: %v", step.op, err)
		}
		if resp.Members != 4 || resp.Succeeded != 4 || len(resp.Failed) != 0 || resp.PrimaryKeys[step.primary] != 4 {
			t.Fatalf("%s: %+v", step.op, resp)
		}
		allSeeAlive(t, c, members...)
		waitLeader(t, c)
	}
	if keys := agent.Keys(); len(keys) != 1 || gossip.EncodeKey(keys[0]) != newText {
		t.Fatalf("the agent's keys after the rotation: %d, want the new key only", len(keys))
	}

	// Refusals name the key and change nothing.
	_, unknown := newGossipKey(t)
	for _, tc := range []struct{ op, key string }{
		{api.GossipKeyRemove, newText},
		{api.GossipKeyUse, gossip.EncodeKey(unknown)},
	} {
		_, err := client.GossipKeyring(ctx, tc.op, tc.key)
		var apiErr *api.Error
		if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest || apiErr.Field != "key" {
			t.Fatalf("%s: %v, want a 400 on field key", tc.op, err)
		}
	}
	if list, err := client.GossipKeys(ctx); err != nil || len(list.Keys) != 1 || list.Keys[newText] != 4 {
		t.Fatalf("list after the refusals: %+v %v", list, err)
	}

	// A server restarted with the key of its command line (the old one)
	// comes back with its saved keyring and is in the pool again.
	if err := c.Kill("s2"); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart("s2"); err != nil {
		t.Fatal(err)
	}
	allSeeAlive(t, c, members...)
	waitLeader(t, c)
	if list, err := client.GossipKeys(ctx); err != nil || list.Members != 4 || list.Keys[newText] != 4 {
		t.Fatalf("list after s2 restarted: %+v %v", list, err)
	}
}

func TestGossipKeyringOfAPoolInTheClearIsAConflict(t *testing.T) {
	c := startCluster(t, 1, nil)
	waitLeader(t, c)
	_, err := clientFor(t, c).GossipKeys(context.Background())
	if !errors.Is(err, api.ErrConflict) {
		t.Fatalf("list on a pool in the clear: %v, want a conflict", err)
	}
}
