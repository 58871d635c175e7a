package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"flotilla/api"
)

// cliWebSpec is a small service for the CLI checks: three replicas of the
// demo app.
const cliWebSpec = `kind: Service
name: web
image: flotilla.local/demo:v1
args: ["--version", "v1"]
replicas: 3
resources: {cpu: 100m, memory: 32Mi}
ports: [{name: http, port: 8080, protocol: http}]
env: {COLOR: blue, LEVEL: "3"}
placement: {strategy: spread, constraints: ["node.name != nowhere"]}
probes:
  readiness: {http: {path: /ready, port: http}, period: 1s}
`

// runCLIIn runs the binary with stdin, returning its standard output; the
// error carries its standard error.
func runCLIIn(bin string, env []string, stdin string, args ...string) (string, error) {
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("flotilla %s: %v: %s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

// wantOneLineError checks that a command failed with one line on stderr
// that contains every want.
func wantOneLineError(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	msg := err.Error()
	stderr := msg[strings.LastIndex(msg, ": error: ")+2:]
	if strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
		t.Errorf("error on more than one line:\n%s", stderr)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("error %q does not contain %q", stderr, w)
		}
	}
}

func writeCLITestFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCLIWithoutACluster checks what the CLI answers by itself: version,
// the kinds get knows, the scale argument, duplicate names across apply's
// documents and shell completion. The address answers nothing, so none of
// these may need a server.
func TestCLIWithoutACluster(t *testing.T) {
	bin := buildBinary(t)
	env := append(os.Environ(), api.AddressEnv+"=http://127.0.0.1:1")
	run := func(args ...string) (string, error) { return runCLIIn(bin, env, "", args...) }

	t.Run("version", func(t *testing.T) {
		out, err := run("version")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"flotilla ", "go:      " + runtime.Version(), "commit:  "} {
			if !strings.Contains(out, want) {
				t.Errorf("flotilla version does not say %q:\n%s", want, out)
			}
		}
		flag, err := run("--version")
		if err != nil || flag != out {
			t.Errorf("flotilla --version = %q (%v), want what flotilla version says:\n%s", flag, err, out)
		}
		js, err := run("version", "-o", "json")
		if err != nil {
			t.Fatal(err)
		}
		var v buildVersion
		if err := json.Unmarshal([]byte(js), &v); err != nil || v.GoVersion != runtime.Version() || v.Version == "" {
			t.Errorf("version -o json = %s (%v)", js, err)
		}
	})

	t.Run("get without a kind lists the kinds", func(t *testing.T) {
		out, err := run("get")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"services", "nodes", "allocs", "evals", "endpoints", "svc", "configs", "secrets"} {
			if !strings.Contains(out, k) {
				t.Errorf("get does not list %s:\n%s", k, out)
			}
		}
		var list []objectKind
		js, err := run("get", "-o", "json")
		if err != nil || json.Unmarshal([]byte(js), &list) != nil || len(list) != 7 {
			t.Errorf("get -o json = %s (%v), want the 7 kinds", js, err)
		}
	})

	t.Run("scale refuses a bad REPLICAS naming it", func(t *testing.T) {
		for _, arg := range []string{"-1", "-10", "-1.5", "abc", "2.5", "3x"} {
			_, err := run("scale", "web", arg)
			wantOneLineError(t, err, "REPLICAS", fmt.Sprintf("%q", arg))
		}
		_, err := run("scale", "web")
		wantOneLineError(t, err, "NAME REPLICAS", "got 1 argument")
	})

	t.Run("duplicate names name both documents", func(t *testing.T) {
		dir := t.TempDir()
		a := writeCLITestFile(t, dir, "a.yaml", "kind: Service\nname: api\nimage: demo\n---\nkind: Service\nname: web\nimage: demo\n")
		b := writeCLITestFile(t, dir, "b.json", `{"kind": "Service", "name": "web", "image": "demo"}`)
		_, err := run("apply", "-f", a, "-f", b)
		wantOneLineError(t, err, "service default/web is defined twice", a+": document 2", b+": document 1")
		c := writeCLITestFile(t, dir, "c.yaml", "kind: Service\nname: web\nimage: demo\n---\nkind: Service\nname: web\nnamespace: default\nimage: demo:v2\n")
		_, err = run("apply", "-f", c)
		wantOneLineError(t, err, c+": document 1 and "+c+": document 2")
	})

	t.Run("wide is for get", func(t *testing.T) {
		_, err := run("events", "-o", "wide")
		wantOneLineError(t, err, "wide is for get")
	})

	t.Run("completion", func(t *testing.T) {
		for _, shell := range []string{"bash", "zsh", "fish"} {
			out, err := run("completion", shell)
			if err != nil || !strings.Contains(out, "flotilla") || len(out) < 1000 {
				t.Errorf("completion %s: %d bytes (%v)", shell, len(out), err)
			}
		}
		// What the scripts ask the binary: get's first word is a kind.
		out, err := run("__complete", "get", "")
		if err != nil || !strings.Contains(out, "services") || !strings.Contains(out, "allocs") {
			t.Errorf("completing get: %q (%v)", out, err)
		}
	})
}

// TestGetPrintsYAMLInFieldOrder: kind and name first, status last, and a
// string that would read as another type quoted.
func TestGetPrintsYAMLInFieldOrder(t *testing.T) {
	var out bytes.Buffer
	doc := map[string]any{"b": 1} // one key: maps are sorted by encoding/json
	if err := printObject(&out, "yaml", []any{struct {
		Kind   string         `json:"kind"`
		Name   string         `json:"name"`
		Env    map[string]any `json:"env"`
		Empty  []string       `json:"empty"`
		Status map[string]any `json:"status"`
	}{"Service", "web", map[string]any{"A": "true", "B": "8080", "C": "", "D": "a: b", "E": "two\nlines"}, []string{}, doc}}); err != nil {
		t.Fatal(err)
	}
	want := `- kind: Service
  name: web
  env:
    A: "true"
    B: "8080"
    C: ""
    D: 'a: b'
    E: |-
      two
      lines
  empty: []
  status:
    b: 1
`
	if out.String() != want {
		t.Errorf("yaml:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestCLIAgainstALab checks the CLI's habits on a sim lab: what get prints
// applies back unchanged (YAML and JSON), describe's one argument, -o wide,
// get allocs with and without --all after a scale-down, the singular
// "1 replica", and a refused apply of duplicate names changing nothing.
func TestCLIAgainstALab(t *testing.T) {
	l := startNamedLab(t, "cli")
	dir := t.TempDir()
	l.must("apply", "-f", writeCLITestFile(t, dir, "web.yaml", cliWebSpec))
	webAllocs := func(all bool) []*api.Allocation {
		args := []string{"get", "allocs", "--service", "web", "-o", "json"}
		if all {
			args = append(args, "--all")
		}
		var list []*api.Allocation
		if err := json.Unmarshal([]byte(l.must(args...)), &list); err != nil {
			t.Fatal(err)
		}
		return list
	}
	waitFor(t, 20*time.Second, "3 web replicas running", func() bool {
		n := 0
		for _, count := range running(webAllocs(false)) {
			n += count
		}
		return n == 3
	})
	document := func() api.ServiceDocument {
		t.Helper()
		var doc api.ServiceDocument
		if err := json.Unmarshal([]byte(l.must("get", "services", "web", "-o", "json")), &doc); err != nil {
			t.Fatal(err)
		}
		return doc
	}
	before := document()
	if before.Revision != 1 || before.VIP == "" || before.ReplicaCount() != 3 || before.Kind != api.KindService {
		t.Fatalf("get services web -o json: %+v, want revision 1 with a VIP and 3 replicas", before)
	}

	for _, format := range []string{"yaml", "json"} {
		t.Run("get -o "+format+" applies back unchanged", func(t *testing.T) {
			printed, err := runCLIIn(l.bin, l.env, "", "get", "services", "web", "-o", format)
			if err != nil {
				t.Fatal(err)
			}
			start, status := "kind: Service\nname: web\n", "\nstatus:\n  revision: 1\n"
			if format == "json" {
				start, status = "{\n  \"kind\": \"Service\",\n  \"name\": \"web\",", "\n  \"status\": {\n    \"revision\": 1,"
			}
			if !strings.HasPrefix(printed, start) || !strings.Contains(printed, status) {
				t.Errorf("get -o %s does not start with the kind and name and end with the status:\n%s", format, printed)
			}
			out, err := runCLIIn(l.bin, l.env, printed, "apply", "-f", "-")
			if err != nil {
				t.Fatal(err)
			}
			if out != "service default/web unchanged (revision 1)\n" {
				t.Errorf("apply of what get printed: %q, want unchanged at revision 1", out)
			}
			if after := document(); after.Revision != 1 || after.ModifyIndex != before.ModifyIndex {
				t.Errorf("after the re-apply: revision %d, modify index %d; want 1 and %d", after.Revision, after.ModifyIndex, before.ModifyIndex)
			}
		})
	}

	t.Run("get services -o yaml applies back unchanged", func(t *testing.T) {
		printed := l.must("get", "services", "-o", "yaml")
		out, err := runCLIIn(l.bin, l.env, printed, "apply", "-f", "-")
		if err != nil || out != "service default/web unchanged (revision 1)\n" {
			t.Errorf("apply of the list: %q (%v)", out, err)
		}
	})

	t.Run("describe NAME is the service", func(t *testing.T) {
		short, long := l.must("describe", "web"), l.must("describe", "service", "web")
		head := "Name:        web\nNamespace:   default\nImage:       flotilla.local/demo:v1\n"
		if !strings.HasPrefix(short, head) || !strings.HasPrefix(long, head) {
			t.Errorf("describe web:\n%s\ndescribe service web:\n%s", short, long)
		}
		_, err := runCLIIn(l.bin, l.env, "", "describe", "nodes")
		wantOneLineError(t, err, "NAME missing", "describe node NAME")
	})

	t.Run("get -o wide", func(t *testing.T) {
		var nodes []*api.Node
		if err := json.Unmarshal([]byte(l.must("get", "nodes", "-o", "json")), &nodes); err != nil {
			t.Fatal(err)
		}
		address := map[string]string{}
		for _, n := range nodes {
			address[n.Name] = n.Address
		}
		allocs := l.must("get", "allocs", "-o", "wide")
		lines := strings.Split(strings.TrimSpace(allocs), "\n")
		if !strings.Contains(lines[0], "NODE ADDRESS") || !strings.Contains(lines[0], "HOST PORTS") || len(lines) != 4 {
			t.Fatalf("get allocs -o wide:\n%s", allocs)
		}
		for _, a := range webAllocs(false) {
			found := false
			for _, line := range lines[1:] {
				fields := strings.Fields(line)
				found = found || fields[0] == a.ID && strings.Contains(line, " "+address[a.Node]+" ")
			}
			if !found || address[a.Node] == "" {
				t.Errorf("get allocs -o wide has no row of %s with its node's address %q:\n%s", a.ID, address[a.Node], allocs)
			}
		}
		for args, want := range map[string][]string{
			"get services -o wide":  {"IMAGE", "PORTS", "PLACEMENT", "flotilla.local/demo:v1", "http:8080/http", "spread, node.name != nowhere", before.VIP},
			"get nodes -o wide":     {"SUBNET", "RUNTIME", "AGENT API", "sim"},
			"get endpoints -o wide": {"PORTS", "BALANCING", "DNS NAME", "web.default.svc.flotilla"},
			"get evals -o wide":     {"NODE", "WAIT UNTIL", "INDEX"},
		} {
			out := l.must(strings.Fields(args)...)
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("%s does not show %q:\n%s", args, w, out)
				}
			}
		}
	})

	t.Run("get allocs hides stopped ones unless --all", func(t *testing.T) {
		if out := l.must("scale", "web", "1"); out != "service default/web scaled to 1 replica\n" {
			t.Errorf("scale web 1: %q", out)
		}
		var gone []*api.Allocation
		waitFor(t, 20*time.Second, "2 web allocations stopped", func() bool {
			gone = gone[:0]
			for _, a := range webAllocs(true) {
				if a.DesiredStatus == api.DesiredStop && a.TerminalStatus() {
					gone = append(gone, a)
				}
			}
			return len(gone) == 2
		})
		shown := webAllocs(false)
		if len(shown) != 1 || shown[0].DesiredStatus != api.DesiredRun {
			t.Errorf("get allocs after scaling to 1: %d allocations, want the 1 running", len(shown))
		}
		table, all := l.must("get", "allocs"), l.must("get", "allocs", "--all")
		for _, a := range gone {
			if strings.Contains(table, a.ID) || !strings.Contains(all, a.ID) {
				t.Errorf("stopped %s: in get allocs %v, in get allocs --all %v; want only in --all",
					a.ID, strings.Contains(table, a.ID), strings.Contains(all, a.ID))
			}
		}
		if out := l.must("scale", "web", "2"); out != "service default/web scaled to 2 replicas\n" {
			t.Errorf("scale web 2: %q", out)
		}
	})

	t.Run("duplicate names change nothing", func(t *testing.T) {
		a := writeCLITestFile(t, dir, "dup-a.yaml", "kind: Service\nname: dup\nimage: demo\n")
		b := writeCLITestFile(t, dir, "dup-b.yaml", "kind: Service\nname: other\nimage: demo\n---\nkind: Service\nname: dup\nimage: demo\n")
		_, err := runCLIIn(l.bin, l.env, "", "apply", "-f", a, "-f", b)
		wantOneLineError(t, err, "service default/dup is defined twice: "+a+": document 1 and "+b+": document 2")
		for _, name := range []string{"dup", "other"} {
			if out, err := l.run("get", "services", name); err == nil {
				t.Errorf("service %s exists after a refused apply:\n%s", name, out)
			}
		}
	})

	// Last, as it starts a rollout: the status is ignored, the spec is not.
	t.Run("an edited document makes a new revision", func(t *testing.T) {
		printed := l.must("get", "services", "web", "-o", "yaml")
		edited := strings.Replace(printed, "  - v1\n", "  - v2\n", 1)
		if edited == printed {
			t.Fatalf("no args v1 in:\n%s", printed)
		}
		out, err := runCLIIn(l.bin, l.env, edited, "apply", "-f", "-")
		if err != nil || out != "service default/web configured (revision 2)\n" {
			t.Errorf("apply of an edited document: %q (%v), want configured at revision 2", out, err)
		}
	})
}
