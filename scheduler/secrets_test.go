package scheduler

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/internal/testutil"
	"flotilla/storage"
)

// plaintext is a secret value the tests look for on disk.
const plaintext = "correct-horse-battery-staple-7361"

// keyringCluster starts three servers, each with its own copy of one
// keyring file (as a provisioner copies it to every machine).
func keyringCluster(t *testing.T) (*LocalCluster, string) {
	t.Helper()
	dir := t.TempDir()
	data, err := storage.GenerateKeyring(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"s1", "s2", "s3"} {
		if err := os.WriteFile(filepath.Join(dir, name+"-keyring.json"), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c, err := StartLocalCluster(filepath.Join(dir, "data"), 3, func(cfg *Config) {
		cfg.KeyringFile = filepath.Join(dir, cfg.Name+"-keyring.json")
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	waitLeader(t, c)
	return c, dir
}

func serverClient(t *testing.T, addr string) *api.Client {
	t.Helper()
	c, err := api.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	c.RetryFor = 5 * time.Second
	return c
}

func TestSecretsAreSealedBeforeRaftAndEveryServerReadsThem(t *testing.T) {
	c, dir := keyringCluster(t)
	client := clientFor(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	spec := api.FileObjectSpec{Kind: api.KindSecret, Metadata: api.ObjectMeta{Name: "db", Namespace: "default"},
		Data: map[string]string{"password": plaintext, "user": "app"}}
	r, err := client.ApplyFileObject(ctx, spec)
	if err != nil || !r.Created {
		t.Fatalf("apply secret: %+v %v", r, err)
	}
	if again, err := client.ApplyFileObject(ctx, spec); err != nil || again.Changed || again.Version != r.Version {
		t.Fatalf("the same secret again: %+v %v, want unchanged", again, err)
	}
	list, _, err := client.Secrets(ctx, "", api.QueryOptions{})
	if err != nil || len(list) != 1 || len(list[0].Keys) != 2 || list[0].Keys[0] != (api.SecretKey{Name: "password", Size: len(plaintext)}) {
		t.Fatalf("secrets list: %+v %v", list, err)
	}
	// Every server decrypts with its own copy of the keyring.
	for _, addr := range c.HTTPAddrs() {
		v, err := serverClient(t, addr).SecretValues(ctx, "default", "db")
		if err != nil || v.Data["password"] != plaintext {
			t.Fatalf("values from %s: %+v %v", addr, v, err)
		}
	}
	// Snapshots too: nothing on disk holds the value.
	for _, s := range c.Servers() {
		if err := s.raft.Snapshot().Error(); err != nil {
			t.Fatalf("snapshot of %s: %v", s.Name(), err)
		}
	}
	if found := testutil.FilesHolding(t, dir, plaintext); len(found) > 0 {
		t.Fatalf("the plaintext is on disk in %v", found)
	}
}

func TestKeyringRotationReachesEveryServerAndSurvivesRestarts(t *testing.T) {
	c, dir := keyringCluster(t)
	client := clientFor(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, name := range []string{"a", "b"} {
		if _, err := client.ApplyFileObject(ctx, api.FileObjectSpec{Kind: api.KindSecret, Metadata: api.ObjectMeta{Name: name, Namespace: "default"},
			Data: map[string]string{"v": plaintext + name}}); err != nil {
			t.Fatal(err)
		}
	}
	before, err := client.KeyringStatus(ctx)
	if err != nil || len(before.Keys) != 1 || len(before.Keys[0].Servers) != 3 || before.Keys[0].Secrets != 2 {
		t.Fatalf("keyring before rotation: %+v %v", before, err)
	}
	rot, err := client.KeyringRotate(ctx)
	if err != nil || rot.Reencrypted != 2 || rot.Previous != before.Active || rot.KeyID == before.Active {
		t.Fatalf("rotate: %+v %v", rot, err)
	}
	// Every server's own file takes the new key, unwrapped from Raft.
	for _, name := range []string{"s1", "s2", "s3"} {
		path := filepath.Join(dir, name+"-keyring.json")
		eventually(t, 10*time.Second, name+" holding the new key", func() bool {
			kr, err := storage.LoadKeyring(path, false, time.Now())
			return err == nil && kr.Has(rot.KeyID) && kr.Active() == rot.KeyID
		})
	}
	st, err := client.KeyringStatus(ctx)
	if err != nil || st.Active != rot.KeyID {
		t.Fatalf("keyring after rotation: %+v %v", st, err)
	}
	for _, k := range st.Keys {
		want := 0
		if k.ID == rot.KeyID {
			want = 2
		}
		if k.Secrets != want || len(k.Servers) != 3 || len(k.Missing) != 0 {
			t.Fatalf("key %+v after rotation", k)
		}
	}
	sec, _, err := client.Secret(ctx, "default", "a", api.QueryOptions{})
	if err != nil || sec.KeyID != rot.KeyID {
		t.Fatalf("secret a after rotation: %+v %v", sec, err)
	}

	// A restarted follower reads everything with its file.
	leader := waitLeader(t, c)
	follower := "s1"
	if leader.Name() == "s1" {
		follower = "s2"
	}
	addr := ""
	for _, s := range c.Servers() {
		if s.Name() == follower {
			addr = "http://" + s.HTTPAddr()
		}
	}
	if err := c.Kill(follower); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(follower); err != nil {
		t.Fatal(err)
	}
	fc := serverClient(t, addr)
	eventually(t, 20*time.Second, "the restarted follower serving the secret", func() bool {
		v, err := fc.SecretValues(ctx, "default", "b")
		return err == nil && v.Data["v"] == plaintext+"b"
	})

	// A server whose keyring lacks the keys says so.
	if err := c.Kill(follower); err != nil {
		t.Fatal(err)
	}
	fresh, _ := storage.GenerateKeyring(time.Now())
	if err := os.WriteFile(filepath.Join(dir, follower+"-keyring.json"), fresh, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(follower); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	eventually(t, 20*time.Second, "the follower without the keys answering why", func() bool {
		_, lastErr = fc.SecretValues(ctx, "default", "b")
		return lastErr != nil && strings.Contains(lastErr.Error(), "is encrypted under key "+rot.KeyID+", which server "+follower+"'s keyring")
	})
	st, err = client.KeyringStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range st.Keys {
		if k.ID == rot.KeyID && (len(k.Missing) != 1 || k.Missing[0] != follower) {
			t.Fatalf("keyring list does not show %s missing %s: %+v", follower, rot.KeyID, st)
		}
	}
	if found := testutil.FilesHolding(t, dir, plaintext); len(found) > 0 {
		t.Fatalf("the plaintext is on disk in %v", found)
	}
}
