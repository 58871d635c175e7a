package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"flotilla/api"
)

// TestACLsInALab is ACLs end to end on a sim lab started with --acl: the
// lab bootstraps them with its own token (lab env exports it), acl
// bootstrap is then refused, policies and tokens are made and listed
// (never a secret in a list), a read-only token reads but can neither
// apply nor exec (the agent asks the servers), an exec token execs,
// anonymous requests list nothing, and a deleted token is refused.
func TestACLsInALab(t *testing.T) {
	l := startNamedLab(t, "acl", "--servers", "1", "--agents", "1", "--acl")
	mgmt := l.labEnv()[api.TokenEnv]
	if mgmt == "" {
		t.Fatalf("lab env of a lab up --acl exports no %s", api.TokenEnv)
	}
	if data, err := os.ReadFile(filepath.Join(envValue(l.env, "FLOTILLA_LAB_DIR"), "acl", "acl-bootstrap.token")); err != nil || strings.TrimSpace(string(data)) != mgmt {
		t.Fatalf("the lab's token file: %q %v", data, err)
	}
	dir := t.TempDir()
	write := func(name, text string) string { return writeCLITestFile(t, dir, name, text) }

	// The lab bootstrapped already: once more is refused, on one line.
	_, err := l.run("acl", "bootstrap")
	wantOneLineError(t, err, "ACL bootstrap already done")
	if out := l.must("acl", "token", "self"); !strings.Contains(out, "Type:         management") || !strings.Contains(out, "everything (management)") {
		t.Fatalf("acl token self with the lab's token:\n%s", out)
	}

	// A bad rules file is refused before anything is sent, naming the field.
	_, err = l.run("acl", "policy", "create", "bad", "-f", write("bad.yaml", "namespaces: {default: [fly]}\n"))
	wantOneLineError(t, err, "bad.yaml", `namespaces.default[0]: unknown capability "fly"`)
	l.must("acl", "policy", "create", "readonly", "-f", write("ro.yaml", "namespaces: {default: [read]}\nnode: read\n"), "--description", "look, do not touch")
	l.must("acl", "policy", "create", "runner", "-f", write("run.yaml", "namespaces: {default: [read, exec]}\nnode: read\n"))
	if out := l.must("acl", "policy", "list"); !strings.Contains(out, "readonly") || !strings.Contains(out, "look, do not touch") || !strings.Contains(out, "runner") {
		t.Fatalf("acl policy list:\n%s", out)
	}
	if out := l.must("acl", "policy", "info", "runner"); !strings.Contains(out, "default: [read, exec]") {
		t.Fatalf("acl policy info runner:\n%s", out)
	}

	token := func(name, policy string) api.ACLToken {
		t.Helper()
		var tok api.ACLToken
		if err := json.Unmarshal([]byte(l.must("acl", "token", "create", "--name", name, "--policy", policy, "-o", "json")), &tok); err != nil || tok.SecretID == "" {
			t.Fatalf("acl token create %s: %+v %v", name, tok, err)
		}
		return tok
	}
	ro, runner := token("ro", "readonly"), token("runner", "runner")
	_, err = l.run("acl", "token", "create", "--name", "x", "--policy", "nope")
	wantOneLineError(t, err, `no policy named "nope"`)
	list := l.must("acl", "token", "list")
	listJSON := l.must("acl", "token", "list", "-o", "json")
	for _, secret := range []string{ro.SecretID, runner.SecretID, mgmt} {
		if strings.Contains(list, secret) || strings.Contains(listJSON, secret) {
			t.Fatalf("acl token list shows a secret:\n%s\n%s", list, listJSON)
		}
	}
	if !strings.Contains(list, ro.AccessorID) || !strings.Contains(list, "runner") {
		t.Fatalf("acl token list:\n%s", list)
	}
	if out := l.must("acl", "token", "info", ro.AccessorID); !strings.Contains(out, "readonly") || strings.Contains(out, ro.SecretID) {
		t.Fatalf("acl token info:\n%s", out)
	}

	web := write("web.yaml", "kind: Service\nname: web\nimage: flotilla.local/demo:v1\nreplicas: 1\nports: [{name: http, port: 8080, protocol: http}]\n")
	_, err = l.run("--token", ro.SecretID, "apply", "-f", web)
	wantOneLineError(t, err, `permission denied: needs namespace "default" write`)
	l.must("apply", "-f", web)
	var alloc *api.Allocation
	waitFor(t, 20*time.Second, "web running", func() bool {
		for _, a := range l.allocs() {
			if a.DesiredStatus == api.DesiredRun && a.Status == api.AllocRunning {
				alloc = a
				return true
			}
		}
		return false
	})
	if out := l.must("--token", ro.SecretID, "get", "services"); !strings.Contains(out, "web") {
		t.Fatalf("get services with a read-only token:\n%s", out)
	}
	_, err = l.run("--token", ro.SecretID, "exec", alloc.ID, "--", "hostname")
	wantOneLineError(t, err, `permission denied: needs namespace "default" exec`)
	if out := l.must("--token", runner.SecretID, "exec", alloc.ID, "--", "echo", "ran"); strings.TrimSpace(out) != "ran" {
		t.Fatalf("exec with an exec token: %q", out)
	}

	// Without a token: nothing is listed, nodes are refused.
	anonymous := &labCLI{t: t, bin: l.bin, addr: l.addr}
	for _, kv := range l.env {
		if !strings.HasPrefix(kv, api.TokenEnv+"=") {
			anonymous.env = append(anonymous.env, kv)
		}
	}
	if out := anonymous.must("get", "services", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("anonymous get services: %s", out)
	}
	if out := anonymous.must("get", "allocs", "--all", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("anonymous get allocs: %s", out)
	}
	_, err = anonymous.run("get", "nodes")
	wantOneLineError(t, err, "permission denied: needs node read")

	l.must("acl", "token", "delete", ro.AccessorID)
	waitFor(t, 10*time.Second, "the deleted token to be refused", func() bool {
		_, err := l.run("--token", ro.SecretID, "get", "services")
		return err != nil && strings.Contains(err.Error(), "the token is unknown")
	})
	l.must("acl", "policy", "delete", "readonly")
	if out := l.must("acl", "policy", "list"); strings.Contains(out, "readonly") {
		t.Fatalf("a deleted policy is listed:\n%s", out)
	}
}

// envValue is the last value of key in an environment list.
func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}
