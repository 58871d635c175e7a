package main

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/scenarios/lab"
)

// keptLab finds where `scenario run --keep` left its lab.
var keptLab = regexp.MustCompile(`export FLOTILLA_LAB_DIR=(\S+) FLOTILLA_LAB=(\S+)`)

// TestScenarioPartitionOnContainerd plays the library's partition live,
// as root: `flotilla scenario run partition` starts a containerd lab of
// its own (TLS, ACLs and gossip encryption on, as lab up's), cuts n3 off
// and heals it, then the leader, and passes. Kept up (--keep), every node
// then runs exactly the containers of the allocations meant to run there:
// n3's replicas, replaced while it was cut off, were stopped when it came
// back, so nothing runs twice. lab down leaves nothing behind.
func TestScenarioPartitionOnContainerd(t *testing.T) {
	socket := needContainerdLab(t)
	bin := buildBinary(t)
	const name = "partition"
	ours := "flotilla-" + name + "-" // its namespaces, and its processes' nsenter --net
	before := readLabHostState(t, socket, ours, name)

	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "scenario", "run", name, "--keep")
	cmd.Env = append(os.Environ(), lab.ContainerdSocketEnv+"="+socket)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	out := stdout.String()
	m := keptLab.FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("scenario run %s --keep: %v, and it names no lab it kept:\n%s\n%s", name, err, out, stderr.String())
	}
	root, labName := m[1], m[2]
	l := &labCLI{t: t, bin: bin, env: append(os.Environ(), "FLOTILLA_LAB_DIR="+root, "FLOTILLA_LAB="+labName, lab.ContainerdSocketEnv+"="+socket)}
	t.Cleanup(func() {
		if out, err := l.run("lab", "down"); err != nil {
			t.Errorf("lab down: %v\n%s", err, out)
		}
		if err := os.RemoveAll(root); err != nil {
			t.Error(err)
		}
		checkNothingLeft(t, before, readLabHostState(t, socket, ours, name))
		checkScenarioCleanedUp(t, out)
	})
	if err != nil {
		t.Fatalf("scenario run %s: %v\n%s\n%s", name, err, out, stderr.String())
	}
	t.Logf("scenario run %s took %s", name, time.Since(start).Round(100*time.Millisecond))
	for _, want := range []string{
		"lab partition: 3 servers, 3 agents, runtime containerd",
		"n3 cut off the network: it keeps running",
		"node n3 is unreachable (gossip: agent failed)", "node n3 is down: no heartbeat for",
		"2 allocations of default/web lost on n3", "running (n1 3, n2 3)",
		"n3 connected again", "node n3 is ready: heartbeats resumed",
		"(the leader) cut off the network", "every node is connected again",
		"PASS partition: 31 steps",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the run does not say %q:\n%s", want, out)
		}
	}

	// The kept lab, through its certificate and token.
	env := l.labEnv()
	for _, k := range []string{api.AddressEnv, api.CACertEnv, api.ClientCertEnv, api.ClientKeyEnv, api.TokenEnv} {
		if env[k] == "" {
			t.Fatalf("lab env of the scenario's containerd lab exports no %s: TLS and ACLs are on there", k)
		}
		l.env = append(l.env, k+"="+env[k])
	}
	// Containers per node, as containerd runs them, against the
	// allocations meant to run there: the same, once the last scale-down
	// has stopped its replica.
	seen := ""
	deadline := time.Now().Add(30 * time.Second)
	for {
		want, got := map[string][]string{}, map[string][]string{}
		for _, a := range l.allocs() {
			if a.Service == "web" && a.DesiredStatus == api.DesiredRun {
				want[a.Node] = append(want[a.Node], a.ID)
			}
		}
		same, total := true, 0
		for _, node := range []string{"n1", "n2", "n3"} {
			got[node] = slices.Sorted(maps.Keys(labTaskPIDs(t, socket, name, node)))
			slices.Sort(want[node])
			same = same && slices.Equal(got[node], want[node])
			total += len(got[node])
		}
		if same && total == 6 {
			break
		}
		seen = fmt.Sprintf("containers %v, allocations meant to run %v", got, want)
		if time.Now().After(deadline) {
			t.Fatalf("after the run, the nodes do not run exactly the 6 allocations meant to run: %s", seen)
		}
		time.Sleep(200 * time.Millisecond) // polling interval
	}
}
