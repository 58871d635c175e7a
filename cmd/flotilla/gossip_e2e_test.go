package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/scenarios/lab"
)

// labDir is the directory of the lab l runs (its FLOTILLA_LAB_DIR/NAME).
func labDir(t *testing.T, l *labCLI, name string) string {
	t.Helper()
	for _, kv := range l.env {
		if root, ok := strings.CutPrefix(kv, lab.DirEnv+"="); ok {
			return filepath.Join(root, name)
		}
	}
	t.Fatalf("no %s in the lab's environment", lab.DirEnv)
	return ""
}

// wholeCluster waits until every node is ready and the servers know a
// leader.
func wholeCluster(t *testing.T, l *labCLI, nodes int, after string) {
	t.Helper()
	waitFor(t, 20*time.Second, "every node ready and a leader after "+after, func() bool {
		out, err := l.run("get", "nodes", "-o", "json")
		if err != nil {
			return false
		}
		var list []*api.Node
		if json.Unmarshal([]byte(out), &list) != nil || len(list) != nodes {
			return false
		}
		for _, n := range list {
			if n.Status != api.NodeReady {
				return false
			}
		}
		out, err = l.run("status", "-o", "json")
		var status struct {
			Leader api.Leader `json:"leader"`
		}
		return err == nil && json.Unmarshal([]byte(out), &status) == nil && status.Leader.Leader != ""
	})
}

// keyringList is `operator gossip keyring list -o json`, which must
// succeed on every member.
func keyringList(t *testing.T, l *labCLI) api.GossipKeyringResponse {
	t.Helper()
	resp, err := keyringAnswer(l)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// keyringAnswer is what `operator gossip keyring list -o json` printed,
// even when some member failed (the error says which).
func keyringAnswer(l *labCLI) (api.GossipKeyringResponse, error) {
	var resp api.GossipKeyringResponse
	out, err := runCLIIn(l.bin, l.env, "", "operator", "gossip", "keyring", "list", "-o", "json")
	if jsonErr := json.Unmarshal([]byte(out), &resp); jsonErr != nil && err == nil {
		err = jsonErr
	}
	return resp, err
}

// TestGossipKeyRotationInALab: a lab's gossip is encrypted by default with
// the key in its directory; the operator commands rotate it across every
// server and agent while the cluster stays whole, refusals change nothing,
// and a member restarted after the rotation keeps the new key.
func TestGossipKeyRotationInALab(t *testing.T) {
	l := startNamedLab(t, "gossip", "--agents", "2")
	const members = 5
	wholeCluster(t, l, 2, "lab up")
	dir := labDir(t, l, "gossip")
	data, err := os.ReadFile(lab.GossipKeyFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	oldKey := strings.TrimSpace(string(data))

	// The agents join the pool soon after they register.
	var list api.GossipKeyringResponse
	waitFor(t, 20*time.Second, "every member in the gossip pool", func() bool {
		list, err = keyringAnswer(l)
		return err == nil && list.Members == members
	})
	if list.Members != members || list.Succeeded != members || list.Keys[oldKey] != members || list.PrimaryKeys[oldKey] != members || len(list.Keys) != 1 {
		t.Fatalf("list in a new lab: %+v, want the lab's key on all %d members", list, members)
	}
	if table := l.must("operator", "gossip", "keyring", "list"); !strings.Contains(table, oldKey+"   5/5       5/5") {
		t.Fatalf("list as a table:\n%s", table)
	}

	newKey := strings.TrimSpace(l.must("operator", "gossip", "keyring", "generate"))
	if _, err := api.ParseGossipKey(newKey); err != nil || newKey == oldKey {
		t.Fatalf("generate printed %q: %v", newKey, err)
	}
	// Refusals: a bad key, use of a key no member has, removal of the key
	// in use. They change nothing.
	_, err = runCLIIn(l.bin, l.env, "", "operator", "gossip", "keyring", "install", "not-a-key")
	wantOneLineError(t, err, "gossip keyring install: KEY: not base64")
	_, err = runCLIIn(l.bin, l.env, "", "operator", "gossip", "keyring", "use", newKey)
	wantOneLineError(t, err, "gossip keyring use: key: the key is not installed")
	_, err = runCLIIn(l.bin, l.env, "", "operator", "gossip", "keyring", "remove", oldKey)
	wantOneLineError(t, err, "gossip keyring remove: key: the key is the primary key")
	if list := keyringList(t, l); len(list.Keys) != 1 || list.PrimaryKeys[oldKey] != members {
		t.Fatalf("list after the refusals: %+v", list)
	}

	for _, step := range []struct{ op, key, says string }{
		{"install", newKey, "installed the key: 5 of 5 members"},
		{"use", newKey, "now encrypting with the key: 5 of 5 members"},
		{"remove", oldKey, "removed the key: 5 of 5 members"},
	} {
		if out := l.must("operator", "gossip", "keyring", step.op, step.key); strings.TrimSpace(out) != step.says {
			t.Fatalf("keyring %s: %q, want %q", step.op, out, step.says)
		}
		wholeCluster(t, l, 2, "keyring "+step.op)
	}
	list = keyringList(t, l)
	if len(list.Keys) != 1 || list.Keys[newKey] != members || list.PrimaryKeys[newKey] != members {
		t.Fatalf("list after the rotation: %+v, want the new key only, on all %d members", list, members)
	}
	for _, node := range []string{"s1", "n2"} {
		path := filepath.Join(dir, "data", node, "gossip-keyring.json")
		info, err := os.Stat(path)
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v, want it, mode 0600", path, info, err)
		}
		if data, _ := os.ReadFile(path); !strings.Contains(string(data), newKey) || strings.Contains(string(data), oldKey) {
			t.Fatalf("%s after the rotation:\n%s", path, data)
		}
	}

	// A member restarted with its command line unchanged (--gossip-key-file
	// still names the old key) keeps the rotated keyring of its data dir.
	l.must("lab", "restart", "n1")
	l.must("lab", "restart", "s2")
	wholeCluster(t, l, 2, "restarting n1 and s2")
	waitFor(t, 20*time.Second, "n1 and s2 back in the pool with the new key", func() bool {
		list, err := keyringAnswer(l)
		return err == nil && list.Members == members && list.Keys[newKey] == members && len(list.Keys) == 1
	})
	// And each says so as it starts.
	for _, node := range []string{"n1", "s2"} {
		log, err := os.ReadFile(filepath.Join(dir, "logs", node+".log"))
		if err != nil || !strings.Contains(string(log), "is not in the keyring "+filepath.Join(dir, "data", node, "gossip-keyring.json")) {
			t.Fatalf("%s's log does not say that its keyring wins (%v):\n%s", node, err, log)
		}
	}

	// A member that is down during a rotation misses it; it is let in
	// again with a current member's keyring file (docs/REAL-CLUSTERS.md).
	l.must("lab", "kill", "n2")
	waitFor(t, 20*time.Second, "n2 out of the gossip pool", func() bool {
		list, err := keyringAnswer(l)
		return err == nil && list.Members == members-1
	})
	thirdKey := strings.TrimSpace(l.must("operator", "gossip", "keyring", "generate"))
	l.must("operator", "gossip", "keyring", "install", thirdKey)
	l.must("operator", "gossip", "keyring", "use", thirdKey)
	l.must("operator", "gossip", "keyring", "remove", newKey)
	current, err := os.ReadFile(filepath.Join(dir, "data", "s1", "gossip-keyring.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data", "n2", "gossip-keyring.json"), current, 0o600); err != nil {
		t.Fatal(err)
	}
	l.must("lab", "restart", "n2")
	waitFor(t, 20*time.Second, "n2 back in the pool with the third key", func() bool {
		list, err := keyringAnswer(l)
		return err == nil && list.Members == members && list.Keys[thirdKey] == members && len(list.Keys) == 1
	})
	wholeCluster(t, l, 2, "n2 came back")
}

func TestALabWithoutGossipEncryptionHasNoKeyring(t *testing.T) {
	l := startNamedLab(t, "plain", "--servers", "1", "--agents", "1", "--gossip-encrypt=false")
	if _, err := os.Stat(lab.GossipKeyFile(labDir(t, l, "plain"))); err == nil {
		t.Fatal("a lab without gossip encryption wrote a key")
	}
	_, err := runCLIIn(l.bin, l.env, "", "operator", "gossip", "keyring", "list")
	wantOneLineError(t, err, "gossip keyring list", "gossip encryption is off")
}

// TestGossipKeyFlagsRefuseBadKeys: a bad key stops the server or agent
// with one line naming the flag, before it listens anywhere.
func TestGossipKeyFlagsRefuseBadKeys(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	short := writeCLITestFile(t, dir, "short.key", "AAAA\n")
	good := writeCLITestFile(t, dir, "good.key", strings.Repeat("A", 43)+"=\n")
	readable := writeCLITestFile(t, dir, "readable.key", strings.Repeat("A", 43)+"=\n") // mode 0644
	for _, f := range []string{short, good} {
		if err := os.Chmod(f, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"server", "--data-dir", data, "--gossip-key", "not base64!"}, []string{"--gossip-key: not base64"}},
		{[]string{"server", "--data-dir", data, "--gossip-key", ""}, []string{"--gossip-key: empty key"}},
		{[]string{"server", "--data-dir", data, "--gossip-key-file", short}, []string{"--gossip-key-file " + short + ": 3 bytes once decoded: want 16, 24 or 32"}},
		{[]string{"server", "--data-dir", data, "--gossip-key-file", filepath.Join(dir, "none.key")}, []string{"--gossip-key-file: open", "none.key: no such file"}},
		{[]string{"agent", "--name", "n1", "--data-dir", data, "--gossip-key-file", readable}, []string{"--gossip-key-file " + readable + ": mode 0644 lets other users read it: chmod 600 " + readable}},
		{[]string{"agent", "--name", "n1", "--data-dir", data, "--gossip-key", "AAAA"}, []string{"--gossip-key: 3 bytes once decoded"}},
		{[]string{"agent", "--name", "n1", "--data-dir", data, "--gossip-key-file", good, "--gossip-key", "AAAA"}, []string{"--gossip-key and --gossip-key-file: give one of them"}},
		{[]string{"agent", "--fake-nodes", "2", "--gossip-key-file", good}, []string{"fake nodes do not gossip"}},
	} {
		_, err := runCLIIn(bin, os.Environ(), "", tc.args...)
		wantOneLineError(t, err, tc.want...)
	}
	if _, err := os.Stat(data); err == nil {
		t.Fatal("a refused start made its data dir")
	}
}
