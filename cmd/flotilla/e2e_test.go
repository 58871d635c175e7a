package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"flotilla/api"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildBinary builds flotilla once per test run, statically, as users do.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary and runs processes; skipped with -short")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "flotilla-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "flotilla")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type serverProc struct {
	name string
	args []string
	http string
	cmd  *exec.Cmd
	log  *bytes.Buffer
}

func (p *serverProc) start(t *testing.T, bin string) {
	t.Helper()
	p.log = new(bytes.Buffer)
	p.cmd = exec.Command(bin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
}

func (p *serverProc) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
		p.cmd = nil
	}
}

// run runs a CLI command against addr and returns its stdout.
func run(t *testing.T, bin, addr string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, append([]string{"--address", addr}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%v: %s", err, errOut.String())
	}
	return out.String(), nil
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// TestThreeServerProcessesSurviveLosingTheLeader is the first
// check, with real processes: three `flotilla server` commands form a
// cluster, `flotilla status` shows it, the leader is killed, a new leader
// accepts a write, and the killed server rejoins with its data.
func TestThreeServerProcessesSurviveLosingTheLeader(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	var procs []*serverProc
	var gossip []string
	for i := 1; i <= 3; i++ {
		gossip = append(gossip, fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	}
	for i := 1; i <= 3; i++ {
		p := &serverProc{name: fmt.Sprintf("s%d", i), http: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
		p.args = []string{"server", "--name", p.name, "--data-dir", filepath.Join(dir, p.name),
			"--http", p.http, "--raft", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--gossip", gossip[i-1],
			"--bootstrap-expect", "3", "--join", strings.Join(gossip, ",")}
		procs = append(procs, p)
	}
	t.Cleanup(func() {
		for _, p := range procs {
			p.kill()
		}
		if t.Failed() {
			for _, p := range procs {
				t.Logf("log of %s:\n%s", p.name, p.log)
			}
		}
	})
	for _, p := range procs {
		p.start(t, bin)
	}
	all := "http://" + procs[0].http + ",http://" + procs[1].http + ",http://" + procs[2].http

	var status struct {
		Leader api.Leader `json:"leader"`
		Peers  []api.Peer `json:"peers"`
	}
	readStatus := func(addr string) bool {
		out, err := run(t, bin, addr, "status", "-o", "json")
		return err == nil && json.Unmarshal([]byte(out), &status) == nil && status.Leader.Leader != "" && len(status.Peers) == 3
	}
	waitFor(t, 30*time.Second, "a leader and 3 peers", func() bool { return readStatus(all) })
	table, err := run(t, bin, all, "status")
	if err != nil || !strings.Contains(table, "Leader:  "+status.Leader.Leader) {
		t.Fatalf("status table:\n%s %v", table, err)
	}
	if _, err := run(t, bin, all, "node", "ready", "nobody"); err == nil {
		t.Fatal("marking an unknown node ready succeeded")
	}

	spec := filepath.Join(dir, "before.yaml")
	os.WriteFile(spec, []byte("kind: Service\nname: before\nimage: demo\nreplicas: 0\n"), 0o644)
	if out, err := run(t, bin, all, "apply", "-f", spec); err != nil || !strings.Contains(out, "created") {
		t.Fatalf("apply: %s %v", out, err)
	}

	var leader *serverProc
	for _, p := range procs {
		if p.name == status.Leader.Leader {
			leader = p
		}
	}
	leader.kill()
	killed := time.Now()
	var others []string
	for _, p := range procs {
		if p != leader {
			others = append(others, "http://"+p.http)
		}
	}
	rest := strings.Join(others, ",")
	after := filepath.Join(dir, "after.yaml")
	os.WriteFile(after, []byte("kind: Service\nname: after\nimage: demo\nreplicas: 0\n"), 0o644)
	if out, err := run(t, bin, rest, "apply", "-f", after); err != nil {
		t.Fatalf("apply after killing the leader: %s %v", out, err)
	}
	t.Logf("write accepted %s after the leader was killed", time.Since(killed))
	waitFor(t, 10*time.Second, "a new leader", func() bool { return readStatus(rest) && status.Leader.Leader != leader.name })

	leader.start(t, bin)
	own, err := api.NewClient("http://" + leader.http)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waitFor(t, 30*time.Second, "the restarted server to serve both services from its own state", func() bool {
		svcs, _, err := own.Services(ctx, api.QueryOptions{})
		if err != nil {
			return false
		}
		names := map[string]bool{}
		for _, s := range svcs {
			names[s.Name] = true
		}
		return names["before"] && names["after"]
	})
	if !readStatus("http://"+leader.http) || len(status.Peers) != 3 {
		t.Fatalf("after rejoin: %+v", status)
	}
}

// TestApplyRefusesBadInputAndChangesNothing checks the one-line field error
// and that a file with one bad document applies none of them.
func TestApplyRefusesBadInputAndChangesNothing(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	http := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	// Its data in the test's directory: a --dev server's own temporary
	// one outlived the SIGKILL that ends it (p.kill).
	p := &serverProc{name: "dev", args: []string{"server", "--dev", "--data-dir", filepath.Join(dir, "data"), "--http", http,
		"--raft", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--gossip", fmt.Sprintf("127.0.0.1:%d", freePort(t))}}
	p.start(t, bin)
	t.Cleanup(p.kill)
	addr := "http://" + http
	waitFor(t, 20*time.Second, "the dev server to lead", func() bool {
		out, err := run(t, bin, addr, "status")
		return err == nil && strings.Contains(out, "Leader:  dev")
	})
	file := filepath.Join(dir, "two.yaml")
	os.WriteFile(file, []byte(`kind: Service
name: good
image: demo
ports: [{name: http, port: 8080}]
---
kind: Service
name: bad
image: demo
ports: [{name: http, port: 8080}]
probes:
  readiness: {http: {port: htp}}
`), 0o644)
	_, err := run(t, bin, addr, "apply", "-f", file)
	if err == nil {
		t.Fatal("apply of a bad document succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, "document 2: spec.probes.readiness.http.port: no port named \"htp\"") || strings.Count(strings.TrimSpace(msg), "\n") > 0 {
		t.Fatalf("error = %q, want one line naming the document and field", msg)
	}
	out, err := run(t, bin, addr, "get", "services", "-o", "json")
	if err != nil || strings.TrimSpace(out) != "[]" {
		t.Fatalf("services after a refused apply: %s %v", out, err)
	}
}
