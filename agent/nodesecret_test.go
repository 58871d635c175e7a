package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"flotilla/api"
)

// An agent makes its node secret in its data directory at its first
// start, readable by its user alone, sends it with its requests, and
// sends the same one after a restart; a secret file others may read is
// refused.
func TestTheAgentKeepsItsNodeSecretInItsDataDirectory(t *testing.T) {
	dir := t.TempDir()
	servers := newFakeServers()
	first := startAgent(t, dir, servers, NewNullRuntime())
	path := filepath.Join(dir, NodeSecretFile)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %04o, want 0600", path, info.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(string(data))
	if len(secret) != 64 {
		t.Fatalf("secret %q: want 64 hex characters", secret)
	}
	first.stop()

	startAgent(t, dir, servers, NewNullRuntime()).stop()
	servers.mu.Lock()
	got := append([]string(nil), servers.regSecrets...)
	servers.mu.Unlock()
	if len(got) != 2 || got[0] != secret || got[1] != secret {
		t.Fatalf("registrations carried %q, want the file's secret twice", got)
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Name: "n1", DataDir: dir, Runtime: "sim", Capacity: api.Resources{CPU: 1000, Memory: 1 << 30}}, servers, nil); err == nil || !strings.Contains(err.Error(), "lets other users read it") {
		t.Fatalf("New with a secret file others may read: %v, want a refusal", err)
	}
}
