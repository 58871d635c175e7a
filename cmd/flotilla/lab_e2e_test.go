package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"flotilla/api"
)

// labCLI runs flotilla commands against one lab in a private directory.
type labCLI struct {
	t    *testing.T
	bin  string
	env  []string
	addr string
}

func (l *labCLI) run(args ...string) (string, error) {
	l.t.Helper()
	cmd := exec.Command(l.bin, args...)
	cmd.Env = l.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("flotilla %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (l *labCLI) must(args ...string) string {
	l.t.Helper()
	out, err := l.run(args...)
	if err != nil {
		l.t.Fatal(err)
	}
	return out
}

func (l *labCLI) allocs() []*api.Allocation {
	l.t.Helper()
	var out []*api.Allocation
	if err := json.Unmarshal([]byte(l.must("get", "allocs", "--all", "-o", "json")), &out); err != nil {
		l.t.Fatal(err)
	}
	return out
}

// running counts allocations meant to run and running, per node.
func running(allocs []*api.Allocation) map[string]int {
	out := map[string]int{}
	for _, a := range allocs {
		if a.DesiredStatus == api.DesiredRun && a.Status == api.AllocRunning {
			out[a.Node]++
		}
	}
	return out
}

func labProcesses(t *testing.T, dir string) []string {
	t.Helper()
	out, _ := exec.Command("pgrep", "-af", dir).Output() // exit 1 when nothing matches
	var procs []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "" && !strings.Contains(line, "pgrep") {
			procs = append(procs, line)
		}
	}
	return procs
}

func startLab(t *testing.T) *labCLI { return startNamedLab(t, "e2e") }

// startNamedLab starts lab name (lab up with upArgs) in a directory of its
// own on a random free port block, and takes it down when the test ends.
func startNamedLab(t *testing.T, name string, upArgs ...string) *labCLI {
	t.Helper()
	bin := buildBinary(t)
	dir := t.TempDir()
	l := &labCLI{t: t, bin: bin, env: append(os.Environ(), "FLOTILLA_LAB_DIR="+dir, "FLOTILLA_LAB="+name)}
	t.Cleanup(func() {
		l.run("lab", "down")
		if procs := labProcesses(t, dir); len(procs) > 0 {
			t.Errorf("processes left after lab down: %v", procs)
		}
	})
	var err error
	var out string
	for attempt := 0; attempt < 5; attempt++ {
		base := 20000 + rand.IntN(120)*100 // below the ephemeral ports (32768 up), which outgoing connections may take
		if out, err = l.run(append([]string{"lab", "up", "--base-port", fmt.Sprint(base)}, upArgs...)...); err == nil {
			env := l.labEnv()
			l.addr = env[api.AddressEnv]
			// A lab with TLS: its client certificate, as lab env exports it.
			for _, k := range []string{api.CACertEnv, api.ClientCertEnv, api.ClientKeyEnv} {
				if v := env[k]; v != "" {
					l.env = append(l.env, k+"="+v)
				}
			}
			break
		}
		if !strings.Contains(err.Error(), "in use") {
			t.Fatal(err)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(strings.TrimPrefix(l.addr, "https://"), "127.0.0.1:") && !strings.HasPrefix(l.addr, "http://127.0.0.1:") ||
		!strings.Contains(out, "export FLOTILLA_ADDR="+l.addr) {
		t.Fatalf("lab up did not print the export line of %q:\n%s", l.addr, out)
	}
	l.env = append(l.env, "FLOTILLA_ADDR="+l.addr)
	if token := l.labEnv()[api.TokenEnv]; token != "" { // a lab up --acl
		l.env = append(l.env, api.TokenEnv+"="+token)
	}
	return l
}

// TestLabRunsReplacesAndCleansUp is the end-to-end check: a lab of
// 3 servers and 3 agents as processes, a 6-replica service 2 per node, a
// killed agent's replicas running elsewhere, a restarted agent and a killed
// leader changing nothing for running workloads, and nothing left behind.
func TestLabRunsReplacesAndCleansUp(t *testing.T) {
	l := startLab(t)
	if out, err := l.run("lab", "up"); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second lab up: %s %v", out, err)
	}
	l.must("apply", "-f", filepath.Join("..", "..", "scenarios", "examples", "web.yaml"))
	waitFor(t, 20*time.Second, "6 replicas running, 2 per node", func() bool {
		r := running(l.allocs())
		return r["n1"] == 2 && r["n2"] == 2 && r["n3"] == 2
	})
	for _, a := range l.allocs() {
		resp, err := http.Get("http://" + a.Address + "/")
		if err != nil {
			t.Fatalf("GET %s: %v", a.Address, err)
		}
		var body map[string]string
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if body["version"] != "v1" || body["node"] != a.Node || body["allocation"] != a.ID {
			t.Fatalf("replica %s on %s answered %v", a.ID, a.Node, body)
		}
	}

	l.must("lab", "kill", "n2")
	killed := time.Now()
	waitFor(t, 20*time.Second, "n2's replicas running on n1 and n3", func() bool {
		r := running(l.allocs())
		return r["n2"] == 0 && r["n1"]+r["n3"] == 6
	})
	t.Logf("replicas of the killed agent ran elsewhere after %s", time.Since(killed))

	l.must("lab", "restart", "n2")
	waitFor(t, 20*time.Second, "n2 ready again", func() bool {
		return strings.Contains(l.must("get", "nodes", "n2"), "ready")
	})
	// Nothing runs twice: n2's agent runs no container.
	var onN2 []json.RawMessage
	waitFor(t, 10*time.Second, "n2's agent API", func() bool {
		resp, err := http.Get("http://" + agentHTTP(t, l, "n2") + "/v1/agent/allocations")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return json.Unmarshal(data, &onN2) == nil
	})
	if len(onN2) != 0 {
		t.Fatalf("the restarted n2 runs %d containers", len(onN2))
	}

	var leader api.Leader
	json.Unmarshal([]byte(l.must("status", "-o", "json")), &struct {
		Leader *api.Leader `json:"leader"`
	}{&leader})
	before := l.allocs()
	l.must("lab", "kill", leader.Leader)
	for _, a := range before {
		if a.DesiredStatus != api.DesiredRun {
			continue
		}
		resp, err := http.Get("http://" + a.Address + "/")
		if err != nil {
			t.Fatalf("replica %s stopped answering when the leader died: %v", a.ID, err)
		}
		resp.Body.Close()
	}
	l.must("scale", "web", "7")
	waitFor(t, 20*time.Second, "7 replicas after the leader died", func() bool {
		r := running(l.allocs())
		return r["n1"]+r["n2"]+r["n3"] == 7
	})

	l.must("lab", "restart", "n1")
	// The restarted agent runs exactly what the servers want on n1: no
	// orphan, no duplicate.
	waitFor(t, 20*time.Second, "n1's agent back, running what the servers want", func() bool {
		resp, err := http.Get("http://" + agentHTTP(t, l, "n1") + "/v1/agent/allocations")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var onN1 []struct{ ID, State string }
		if json.NewDecoder(resp.Body).Decode(&onN1) != nil {
			return false
		}
		want := map[string]bool{}
		for _, a := range l.allocs() {
			if a.Node == "n1" && a.DesiredStatus == api.DesiredRun {
				want[a.ID] = true
			}
		}
		if len(onN1) != len(want) {
			return false
		}
		for _, c := range onN1 {
			if !want[c.ID] || c.State != "running" {
				return false
			}
		}
		r := running(l.allocs())
		return r["n1"]+r["n2"]+r["n3"] == 7
	})

	out := l.must("lab", "down")
	if !strings.Contains(out, "is down") {
		t.Fatalf("lab down said %q", out)
	}
}

func agentHTTP(t *testing.T, l *labCLI, node string) string {
	t.Helper()
	var n api.Node
	if err := json.Unmarshal([]byte(l.must("get", "nodes", node, "-o", "json")), &n); err != nil {
		t.Fatal(err)
	}
	return n.HTTPAddress
}

func TestLabUpRefusesATakenPortAndStartsNothing(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	for attempt := 0; attempt < 5; attempt++ {
		base := 20000 + rand.IntN(120)*100
		held := fmt.Sprintf("127.0.0.1:%d", base+110) // n2's http port
		ln, err := net.Listen("tcp", held)
		if err != nil {
			continue
		}
		cmd := exec.Command(bin, "lab", "up", "--base-port", fmt.Sprint(base))
		cmd.Env = append(os.Environ(), "FLOTILLA_LAB_DIR="+dir, "FLOTILLA_LAB=taken")
		out, err := cmd.CombinedOutput()
		ln.Close()
		if procs := labProcesses(t, dir); len(procs) > 0 {
			t.Fatalf("a refused lab up left processes: %v", procs)
		}
		if err == nil {
			t.Fatalf("lab up succeeded with %s taken", held)
		}
		if strings.Contains(string(out), "port "+held+" (n2 http) is in use") {
			return
		}
		if !strings.Contains(string(out), "is in use") {
			t.Fatalf("lab up with a taken port: %v\n%s", err, out)
		}
		// Another port of the range was taken by someone else: try another range.
	}
	t.Fatal("no free port range to test with")
}

// Two sim labs on one host keep their services apart: each allocates VIPs
// and node addresses from loopback ranges of its own, so a request to one
// lab's VIP is answered by that lab's replicas only, never by the other's
// proxy (both bind VIP:port with SO_REUSEPORT).
func TestLabsOnOneHostAnswerOnlyTheirOwnVIPs(t *testing.T) {
	labs := []*labCLI{startNamedLab(t, "one", "--servers", "1", "--agents", "1"), startNamedLab(t, "two", "--servers", "1", "--agents", "1")}
	spec := "kind: Service\nname: web\nimage: flotilla.local/demo:v1\nreplicas: 2\nports: [{name: http, port: 8080, protocol: http}]\n"
	file := t.TempDir() + "/web.yaml"
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	vips := make([]string, len(labs))
	for i, l := range labs {
		l.must("apply", "-f", file)
		waitFor(t, 20*time.Second, "2 web replicas running and ready", func() bool {
			ready := 0
			for _, a := range l.allocs() {
				if a.DesiredStatus == api.DesiredRun && a.Status == api.AllocRunning && a.Ready {
					ready++
				}
			}
			return ready == 2
		})
		var svc api.ServiceDocument
		if err := json.Unmarshal([]byte(l.must("get", "services", "web", "-o", "json")), &svc); err != nil {
			t.Fatal(err)
		}
		vips[i] = svc.VIP
	}
	if vips[0] == vips[1] {
		t.Fatalf("both labs gave web the VIP %s", vips[0])
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i, l := range labs {
		own := map[string]bool{}
		for _, a := range l.allocs() {
			own[a.ID] = true
		}
		url := "http://" + vips[i] + ":8080/"
		waitFor(t, 10*time.Second, "the proxy answering "+url, func() bool {
			resp, err := client.Get(url)
			if err == nil {
				resp.Body.Close()
			}
			return err == nil && resp.StatusCode == 200
		})
		for n := 0; n < 20; n++ {
			resp, err := client.Get(url)
			if err != nil {
				t.Fatalf("GET %s: %v", url, err)
			}
			var body map[string]string
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if !own[body["allocation"]] {
				t.Fatalf("request %d to lab %d's VIP %s was answered by allocation %q, not one of its own %v", n+1, i+1, vips[i], body["allocation"], own)
			}
		}
	}
}
