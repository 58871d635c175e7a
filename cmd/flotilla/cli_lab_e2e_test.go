package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	miekg "github.com/miekg/dns"

	"flotilla/api"
)

// TestLabCLIForOperators checks, on one sim lab, what an operator types:
// logs with --tail and --since, exec of sh, ls -la and wget by service
// name, the DNS exports, lab logs (followed across a restart), logs and
// exec on a node that is down, and lab restart waiting until the node is
// ready.
func TestLabCLIForOperators(t *testing.T) {
	l := startNamedLab(t, "cli", "--servers", "1")
	spec := "kind: Service\nname: web\nimage: flotilla.local/demo:v1\nargs: [--version, v1]\nreplicas: 3\n" +
		"ports: [{name: http, port: 8080, protocol: http}]\n"
	file := filepath.Join(t.TempDir(), "web.yaml")
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	l.must("apply", "-f", file)
	onNode := map[string]*api.Allocation{}
	waitFor(t, 20*time.Second, "3 ready replicas, one per node", func() bool {
		clear(onNode)
		for _, a := range l.allocs() {
			if a.DesiredStatus == api.DesiredRun && a.Status == api.AllocRunning && a.Ready {
				onNode[a.Node] = a
			}
		}
		return len(onNode) == 3
	})
	vip := serviceVIP(l, "web")
	env := l.labEnv()
	a1 := onNode["n1"]
	base := l

	t.Run("lab env exports the DNS server for shells that do not split words", func(t *testing.T) {
		l := base.withT(t)
		server, port := env["FLOTILLA_DNS_SERVER"], env["FLOTILLA_DNS_PORT"]
		if server == "" || port == "" || net.JoinHostPort(server, port) != env["FLOTILLA_DNS_ADDR"] || env["FLOTILLA_DNS"] != server+" -p "+port {
			t.Fatalf("lab env: %v", env)
		}
		if a := query(t, net.JoinHostPort(server, port), "web.default.svc.flotilla", miekg.TypeA); len(a.Answer) != 1 || a.Answer[0].(*miekg.A).A.String() != vip {
			t.Fatalf("A web.default.svc.flotilla: %v, want %s", a.Answer, vip)
		}
		if _, err := exec.LookPath("dig"); err != nil {
			t.Skip("no dig here")
		}
		// Quoted as zsh and fish treat every variable: one word each.
		script := `eval "$("$0" lab env)" && dig @"$FLOTILLA_DNS_SERVER" -p "$FLOTILLA_DNS_PORT" +short +time=2 +tries=1 web.default.svc.flotilla`
		cmd := exec.Command("bash", "-c", script, l.bin)
		cmd.Env = l.env
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != vip {
			t.Fatalf("dig with the exports: %v\n%s", err, out)
		}
	})

	t.Run("exec resolves service names through the node's DNS", func(t *testing.T) {
		l := base.withT(t)
		for _, url := range []string{"http://web.default.svc.flotilla:8080/", "http://web:8080/", "http://" + vip + ":8080/"} {
			out := l.must("exec", a1.ID, "--", "wget", "-qO-", url)
			var body map[string]string
			if err := json.Unmarshal([]byte(out), &body); err != nil || body["version"] != "v1" {
				t.Fatalf("wget %s: %v %q", url, err, out)
			}
		}
		out := l.must("exec", a1.ID, "--", "nslookup", "web")
		if !strings.Contains(out, "Name:\tweb.default.svc.flotilla\nAddress: "+vip+"\n") {
			t.Fatalf("nslookup web:\n%s", out)
		}
	})

	t.Run("exec runs sh and ls -la", func(t *testing.T) {
		l := base.withT(t)
		out := l.must("exec", a1.ID, "--", "sh", "-c", `echo "node $FLOTILLA_NODE" && ls -la / ; false || echo "failed: $?"`)
		if !strings.HasPrefix(out, "node n1\n") || !strings.Contains(out, "dr-xr-xr-x") || !strings.Contains(out, " ..\n") || !strings.HasSuffix(out, "failed: 1\n") {
			t.Fatalf("sh -c: %q", out)
		}
		out, err := l.run("exec", a1.ID, "--", "sh")
		if err == nil || !strings.Contains(out, "sh -c '") || !strings.Contains(out, "wget") {
			t.Fatalf("sh without -c: %v %q, want how to give commands and the list of them", err, out)
		}
		out, err = l.run("exec", a1.ID, "--", "sh", "-c", "hostname | cat")
		if err == nil || !strings.Contains(out, "pipelines (|): not supported") {
			t.Fatalf("a pipeline: %v %q", err, out)
		}
	})

	t.Run("logs --tail and --since", func(t *testing.T) {
		l := base.withT(t)
		get := func(path string) {
			resp, err := http.Get("http://" + a1.Address + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		// The mark is taken once the first request's line is logged, and
		// the second request is sent after it.
		get("/before-the-mark")
		waitFor(t, 5*time.Second, "the first request logged", func() bool {
			return strings.Contains(l.must("logs", a1.ID, "--tail", "20"), "path=/before-the-mark")
		})
		mark := time.Now()
		get("/after-the-mark")
		waitFor(t, 5*time.Second, "the second request logged", func() bool {
			return strings.Contains(l.must("logs", a1.ID, "--tail", "20"), "path=/after-the-mark")
		})

		all := l.must("logs", a1.ID)
		if !strings.Contains(all, "path=/before-the-mark") || !strings.Contains(all, "path=/after-the-mark") {
			t.Fatalf("logs lack the requests:\n%s", all)
		}
		since := l.must("logs", a1.ID, "--since", mark.Format(time.RFC3339Nano))
		if strings.Contains(since, "before-the-mark") || !strings.Contains(since, "path=/after-the-mark") {
			t.Fatalf("logs --since the mark:\n%s", since)
		}
		if recent := l.must("logs", a1.ID, "--since", "10m"); !strings.Contains(recent, "before-the-mark") || !strings.Contains(recent, "after-the-mark") {
			t.Fatalf("logs --since 10m:\n%s", recent)
		}
		tail := l.must("logs", a1.ID, "--tail", "2")
		lines := strings.SplitAfter(strings.TrimSuffix(tail, "\n"), "\n")
		if len(lines) != 2 || !strings.Contains(l.must("logs", a1.ID), tail) {
			t.Fatalf("logs --tail 2:\n%s", tail)
		}
		if out, err := l.run("logs", a1.ID, "--since", "yesterday"); err == nil || !strings.Contains(out, "want a duration") {
			t.Fatalf("--since yesterday: %v %s", err, out)
		}
	})

	t.Run("lab logs", func(t *testing.T) {
		l := base.withT(t)
		out := l.must("lab", "logs", "n1", "--tail", "50")
		if !strings.Contains(out, "agent registered") || strings.Count(out, "\n") > 50 {
			t.Fatalf("lab logs n1 --tail 50:\n%s", out)
		}
		if out, err := l.run("lab", "logs", "n9"); err == nil || !strings.Contains(out, `no node "n9"`) {
			t.Fatalf("lab logs n9: %v %s", err, out)
		}
	})

	// n2's log, followed from its last line on, through the kill and
	// restart below.
	follower := exec.Command(l.bin, "lab", "logs", "n2", "-f", "--tail", "1")
	follower.Env = l.env
	stdout, err := follower.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := follower.Start(); err != nil {
		t.Fatal(err)
	}
	var followedMu sync.Mutex
	var followed strings.Builder
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			followedMu.Lock()
			followed.WriteString(sc.Text() + "\n")
			followedMu.Unlock()
		}
	}()
	stopFollower := func() {
		if follower.Process != nil {
			follower.Process.Kill()
			<-copied
			follower.Wait()
			follower.Process = nil
		}
	}
	defer stopFollower()
	var lastLine string
	waitFor(t, 5*time.Second, "lab logs -f to print n2's last line", func() bool {
		followedMu.Lock()
		defer followedMu.Unlock()
		lastLine = followed.String()
		return lastLine != ""
	})

	a2 := onNode["n2"]
	t.Run("an exec whose node hangs meanwhile ends once the node is marked down", func(t *testing.T) {
		l := base.withT(t)
		cmd := exec.Command(l.bin, "exec", a2.ID, "--", "sleep", "600")
		cmd.Env = l.env
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		defer func() {
			cmd.Process.Kill()
			<-done
		}()
		l.must("lab", "pause", "n2")
		defer l.run("lab", "resume", "n2")
		select {
		case err := <-done:
			done <- err // for the deferred Kill's wait
			if err == nil || !strings.Contains(out.String(), "node n2 is down (since") || !strings.Contains(out.String(), a2.ID) {
				t.Fatalf("exec on the paused n2: %v\n%s", err, out.String())
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("exec on the paused n2 still waiting after 60 s:\n%s", out.String())
		}
		l.must("lab", "resume", "n2")
	})

	t.Run("logs and exec on a node that is down say so", func(t *testing.T) {
		l := base.withT(t)
		l.must("lab", "kill", "n2")
		for _, args := range [][]string{{"logs", a2.ID}, {"exec", a2.ID, "--", "true"}} {
			out, err := l.run(args...)
			if err == nil || !strings.Contains(out, "node n2 is down") || strings.Contains(out, "dial tcp") {
				t.Fatalf("%v right after the kill: %v\n%s", args, err, out)
			}
		}
		waitFor(t, 15*time.Second, "n2 down", func() bool {
			return strings.Contains(l.must("get", "nodes", "n2"), "down")
		})
		for _, args := range [][]string{{"logs", a2.ID}, {"exec", a2.ID, "--", "true"}} {
			out, err := l.run(args...)
			if err == nil || !strings.Contains(out, "node n2 is down (since") || !strings.Contains(out, a2.ID) {
				t.Fatalf("%v once the servers know: %v\n%s", args, err, out)
			}
		}
	})

	t.Run("lab restart waits until the node is ready", func(t *testing.T) {
		l := base.withT(t)
		out := l.must("lab", "restart", "n2")
		if !strings.Contains(out, "n2 restarted and ready in") {
			t.Fatalf("lab restart n2: %s", out)
		}
		// No waiting here: restart did.
		var n api.Node
		if err := json.Unmarshal([]byte(l.must("get", "nodes", "n2", "-o", "json")), &n); err != nil || n.Status != api.NodeReady {
			t.Fatalf("n2 right after lab restart: %+v %v", n, err)
		}
		resp, err := http.Get("http://" + n.HTTPAddress + "/v1/agent/allocations")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("n2's agent API right after lab restart: %v %v", resp, err)
		}
		resp.Body.Close()
		// A server is ready once it knows a leader (this lab's only one
		// elects itself).
		if out := l.must("lab", "restart", "s1"); !strings.Contains(out, "s1 restarted and ready in") {
			t.Fatalf("lab restart s1: %s", out)
		}
		l.must("get", "nodes")
		if out := l.must("lab", "restart", "n3", "--wait", "0"); strings.TrimSpace(out) != "n3 restarted" {
			t.Fatalf("lab restart --wait 0: %q", out)
		}
	})

	t.Run("lab logs -f follows across a restart", func(t *testing.T) {
		waitFor(t, 5*time.Second, "the restarted agent's first line in the followed log", func() bool {
			followedMu.Lock()
			defer followedMu.Unlock()
			return strings.Contains(strings.TrimPrefix(followed.String(), lastLine), "flotilla agent n2: http")
		})
		stopFollower()
		followedMu.Lock()
		defer followedMu.Unlock()
		if strings.Count(lastLine, "\n") != 1 || !strings.HasPrefix(followed.String(), lastLine) {
			t.Fatalf("lab logs -f --tail 1 began with %q:\n%s", lastLine, followed.String())
		}
	})
}

// withT is l for a subtest: its failures end the subtest, not the test.
func (l *labCLI) withT(t *testing.T) *labCLI {
	c := *l
	c.t = t
	return &c
}

// serviceVIP reads a service's VIP from get -o json, where it is under
// status (or, in older binaries, at the top).
func serviceVIP(l *labCLI, name string) string {
	l.t.Helper()
	var doc struct {
		VIP    string `json:"vip"`
		Status struct {
			VIP string `json:"vip"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(l.must("get", "services", name, "-o", "json")), &doc); err != nil {
		l.t.Fatal(err)
	}
	if doc.Status.VIP != "" {
		return doc.Status.VIP
	}
	return doc.VIP
}

func TestFailedLabUpLeavesNoLabDirectory(t *testing.T) {
	bin := buildBinary(t)
	root := t.TempDir()
	for attempt := 0; attempt < 5; attempt++ {
		base := 20000 + rand.IntN(120)*100
		held := fmt.Sprintf("127.0.0.1:%d", base+100) // n1's API
		ln, err := net.Listen("tcp", held)
		if err != nil {
			continue
		}
		cmd := exec.Command(bin, "lab", "up", "--base-port", fmt.Sprint(base))
		cmd.Env = append(os.Environ(), "FLOTILLA_LAB_DIR="+root, "FLOTILLA_LAB=refused")
		out, err := cmd.CombinedOutput()
		ln.Close()
		if err == nil {
			exec.Command(bin, "lab", "down").Run()
			t.Fatalf("lab up succeeded with %s taken", held)
		}
		if !strings.Contains(string(out), "is in use") {
			t.Fatalf("lab up: %v\n%s", err, out)
		}
		if _, err := os.Stat(filepath.Join(root, "refused")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("a refused lab up left its directory (%v):\n%s", err, out)
		}
		return
	}
	t.Fatal("no free port range to test with")
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 5, 6, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"10m":                       now.Add(-10 * time.Minute),
		"1h30m":                     now.Add(-90 * time.Minute),
		"0s":                        now,
		"2026-05-06T11:00:00Z":      now.Add(-time.Hour),
		"2026-05-06T13:00:00+02:00": now.Add(-time.Hour),
	} {
		if got, err := parseSince(in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "-5m", "2026-05-06"} {
		if _, err := parseSince(bad, now); err == nil {
			t.Errorf("parseSince(%q) accepted", bad)
		}
	}
}
