package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/internal/testutil"
)

// labDir is the directory of a lab the test started (FLOTILLA_LAB_DIR and
// FLOTILLA_LAB of its environment).
func (l *labCLI) labDir() string {
	l.t.Helper()
	var root, name string
	for _, kv := range l.env {
		if v, ok := strings.CutPrefix(kv, "FLOTILLA_LAB_DIR="); ok {
			root = v
		}
		if v, ok := strings.CutPrefix(kv, "FLOTILLA_LAB="); ok {
			name = v
		}
	}
	if root == "" || name == "" {
		l.t.Fatal("the lab's environment names no FLOTILLA_LAB_DIR and FLOTILLA_LAB")
	}
	return filepath.Join(root, name)
}

// TestSecretsAndConfigsReachReplicasAndNothingElse is the check of
// configs and secrets on a sim lab of 3 servers and 3 agents: a secret and
// a config reach a service's replicas as files and env; the secret's value
// is in no list, describe, event or log, and on disk only in the replicas'
// secret files; a config change rolls the service through its ramped
// strategy; a keyring rotation reaches every server, and a server
// restarted afterwards still serves the secret.
func TestSecretsAndConfigsReachReplicasAndNothingElse(t *testing.T) {
	l := startNamedLab(t, "secrets")
	const password = "Plaintext-Secret-Value-90417"
	dir := t.TempDir()

	l.must("secret", "create", "db", "--from-literal", "password="+password, "--from-literal", "user=app")
	out, err := l.run("secret", "create", "db", "--from-literal", "password=other")
	if err == nil || !strings.Contains(out, "exists") {
		t.Fatalf("creating the secret twice: %v %s", err, out)
	}
	files := writeCLITestFile(t, dir, "app.yaml", `kind: Config
metadata: {name: app}
data:
  app.yaml: "color: blue\n"
---
kind: Service
name: web
image: flotilla.local/demo:v1
replicas: 3
ports: [{name: http, port: 8080, protocol: http}]
configs: [{name: app, path: /etc/app}]
secrets: [{name: db, path: /run/secrets/db, env: {DB_PASSWORD: password}}]
rollout: {strategy: ramped, ramped: {maxSurge: 1, maxUnavailable: 0}}
`)
	if out := l.must("apply", "-f", files); !strings.Contains(out, "config default/app created") || !strings.Contains(out, "service default/web created (revision 1)") {
		t.Fatalf("apply:\n%s", out)
	}
	running := func(rev int) []*api.Allocation {
		var out []*api.Allocation
		for _, a := range l.allocs() {
			if a.Service == "web" && a.DesiredStatus == api.DesiredRun && a.Status == api.AllocRunning && a.Revision == rev {
				out = append(out, a)
			}
		}
		return out
	}
	waitFor(t, 30*time.Second, "3 replicas of revision 1 running", func() bool { return len(running(1)) == 3 })
	a := running(1)[0]

	t.Run("replicas see the secret as env and files, the config as a file", func(t *testing.T) {
		if env := l.must("exec", a.ID, "--", "env"); !strings.Contains(env, "DB_PASSWORD="+password+"\n") {
			t.Fatalf("env of the replica:\n%s", env)
		}
		if got := l.must("exec", a.ID, "--", "cat", "/run/secrets/db/password"); got != password {
			t.Fatalf("cat /run/secrets/db/password: %q", got)
		}
		if got := l.must("exec", a.ID, "--", "cat", "/etc/app/app.yaml"); got != "color: blue\n" {
			t.Fatalf("cat /etc/app/app.yaml: %q", got)
		}
		if ls := l.must("exec", a.ID, "--", "ls", "-l", "/run/secrets/db"); !strings.Contains(ls, "-r--------") {
			t.Fatalf("ls -l /run/secrets/db (want mode 0400):\n%s", ls)
		}
		if got := l.must("secret", "get", "db", "--show"); !strings.Contains(got, "password: "+password) {
			t.Fatalf("secret get --show:\n%s", got)
		}
	})

	t.Run("a config change rolls the service by its strategy", func(t *testing.T) {
		changed := strings.Replace(mustRead(t, files), "color: blue", "color: green", 1)
		out := l.must("apply", "-f", writeCLITestFile(t, dir, "app2.yaml", changed))
		if !strings.Contains(out, "config default/app configured") || !strings.Contains(out, "service default/web@2: new revision") || !strings.Contains(out, "service default/web unchanged (revision 2)") {
			t.Fatalf("apply of the changed config:\n%s", out)
		}
		waitFor(t, 60*time.Second, "3 replicas of revision 2 running and revision 1 gone", func() bool {
			return len(running(2)) == 3 && len(running(1)) == 0
		})
		var ro api.Rollout
		waitFor(t, 30*time.Second, "the ramped rollout completed", func() bool {
			return json.Unmarshal([]byte(l.must("rollout", "status", "web", "-o", "json")), &ro) == nil && ro.Phase == api.PhaseCompleted
		})
		if ro.Strategy != api.RolloutRamped || ro.Revision != 2 {
			t.Fatalf("rollout: %+v", ro)
		}
		if h := l.must("rollout", "history", "web"); !strings.Contains(h, "config app") {
			t.Fatalf("rollout history does not name the change:\n%s", h)
		}
		b := running(2)[0]
		if got := l.must("exec", b.ID, "--", "cat", "/etc/app/app.yaml"); got != "color: green\n" {
			t.Fatalf("the new revision's config: %q", got)
		}
		if env := l.must("exec", b.ID, "--", "env"); !strings.Contains(env, "DB_PASSWORD="+password+"\n") {
			t.Fatalf("env of the new revision's replica:\n%s", env)
		}
	})

	t.Run("a rotated keyring reaches every server and a restarted one still serves the secret", func(t *testing.T) {
		before := l.must("operator", "keyring", "list")
		out := l.must("operator", "keyring", "rotate")
		if !strings.Contains(out, "keyring rotated: key k-") || !strings.Contains(out, "1 secret encrypted again") {
			t.Fatalf("rotate:\n%s", out)
		}
		var st api.KeyringStatus
		if err := json.Unmarshal([]byte(l.must("operator", "keyring", "list", "-o", "json")), &st); err != nil {
			t.Fatal(err)
		}
		if len(st.Keys) != 2 || !st.Keys[0].Active || st.Keys[0].Secrets != 1 || len(st.Keys[0].Servers) != 3 || strings.Contains(before, st.Active) {
			t.Fatalf("keyring after rotation: %+v (before:\n%s)", st, before)
		}
		l.must("lab", "restart", "s1")
		s1 := strings.Split(l.addr, ",")[0]
		waitFor(t, 20*time.Second, "s1 serving the secret after its restart", func() bool {
			out, err := l.run("--address", s1, "secret", "get", "db", "--show")
			return err == nil && strings.Contains(out, "password: "+password)
		})
	})

	t.Run("a replica waits for a missing config, and a config reloaded by signal is rewritten in place", func(t *testing.T) {
		l.must("apply", "-f", writeCLITestFile(t, dir, "tuned.yaml", "kind: Service\nname: tuned\nimage: flotilla.local/demo:v1\nreplicas: 1\n"+
			"configs: [{name: tuning, path: /etc/tuning, reload: signal}]\n"))
		var waiting *api.Allocation
		waitFor(t, 20*time.Second, "the replica saying what it waits for", func() bool {
			for _, a := range l.allocs() {
				if a.Service == "tuned" && a.Status == api.AllocPending && strings.Contains(a.StatusMessage, "waiting for config default/tuning") {
					waiting = a
					return true
				}
			}
			return false
		})
		l.must("config", "create", "tuning", "--from-literal", "level=1")
		waitFor(t, 20*time.Second, "the replica running once the config exists", func() bool {
			for _, a := range l.allocs() {
				if a.ID == waiting.ID && a.Status == api.AllocRunning {
					return true
				}
			}
			return false
		})
		if got := l.must("exec", waiting.ID, "--", "cat", "/etc/tuning/level"); got != "1" {
			t.Fatalf("level before the change: %q", got)
		}
		if out := l.must("config", "create", "tuning", "--from-literal", "level=2", "--replace"); strings.Contains(out, "new revision") {
			t.Fatalf("a signal-reloaded config rolled the service:\n%s", out)
		}
		waitFor(t, 20*time.Second, "the file rewritten and SIGHUP received", func() bool {
			got, err := l.run("exec", waiting.ID, "--", "cat", "/etc/tuning/level")
			return err == nil && got == "2" && strings.Contains(l.must("logs", waiting.ID), "received SIGHUP")
		})
		waitFor(t, 10*time.Second, "the ConfigReloaded event", func() bool {
			return strings.Contains(l.must("events", "--service", "tuned"), "ConfigReloaded")
		})
		var svc api.ServiceDocument
		if err := json.Unmarshal([]byte(l.must("get", "services", "tuned", "-o", "json")), &svc); err != nil || svc.Revision != 1 {
			t.Fatalf("tuned after the change: revision %d, %v", svc.Revision, err)
		}
	})

	t.Run("the value is in no list, describe, event or log", func(t *testing.T) {
		for _, args := range [][]string{
			{"get", "secrets"}, {"get", "secrets", "-o", "json"}, {"get", "secrets", "db", "-o", "yaml"},
			{"describe", "secret", "db"}, {"secret", "get", "db"}, {"describe", "service", "web"},
			{"get", "services", "web", "-o", "yaml"}, {"get", "allocs", "-o", "json"}, {"events"},
			{"lab", "logs", "s1"}, {"lab", "logs", "n1"}, {"logs", running(2)[0].ID},
		} {
			out := l.must(args...)
			if strings.Contains(out, password) {
				t.Errorf("flotilla %s prints the secret's value:\n%s", strings.Join(args, " "), out)
			}
		}
		if d := l.must("describe", "secret", "db"); !strings.Contains(d, "password: <redacted> (28 bytes)") || !strings.Contains(d, "env $DB_PASSWORD") {
			t.Errorf("describe secret:\n%s", d)
		}
	})

	t.Run("on disk, only the replicas' secret files hold the value", func(t *testing.T) {
		live := map[string]bool{}
		for _, a := range running(2) {
			live[a.ID] = true
		}
		found := testutil.FilesHolding(t, l.labDir(), password)
		if len(found) != len(live) {
			t.Errorf("%d files hold the value, want one per running replica (%d): %v", len(found), len(live), found)
		}
		for _, f := range found {
			rel, _ := filepath.Rel(l.labDir(), f)
			parts := strings.Split(filepath.ToSlash(rel), "/")
			// data/nX/files/ALLOC/run/secrets/db/password
			if len(parts) != 8 || parts[0] != "data" || parts[2] != "files" || strings.Join(parts[4:], "/") != "run/secrets/db/password" {
				t.Errorf("the secret's value is in %s", rel)
				continue
			}
			info, err := os.Stat(f)
			if err != nil || info.Mode().Perm() != 0o400 {
				t.Errorf("%s: mode %v, want 0400", rel, info.Mode())
			}
			if !live[parts[3]] {
				t.Errorf("%s belongs to allocation %s, which no longer runs", rel, parts[3])
			}
		}
	})
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
