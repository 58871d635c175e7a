package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"flotilla/scenarios/library"
)

// scenarioLabDir finds the lab directory a run names in its introduction
// ("lab NAME: ... (/tmp/flotilla-scenario-123/NAME)").
var scenarioLabDir = regexp.MustCompile(`\((/[^)]*flotilla-scenario-[^/)]+)/[^)]*\)`)

// checkScenarioCleanedUp: the run's temporary lab directory is gone and
// no process runs from it.
func checkScenarioCleanedUp(t *testing.T, out string) {
	t.Helper()
	m := scenarioLabDir.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the run did not name its lab directory:\n%s", out)
	}
	if _, err := os.Stat(m[1]); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the lab directory %s is still there (%v)", m[1], err)
	}
	if procs := labProcesses(t, m[1]); len(procs) > 0 {
		t.Errorf("processes left: %v", procs)
		// Stop them (pgrep -a: each line starts with the pid), and the
		// directory they use, so that a failing test leaves nothing.
		for _, p := range procs {
			if pid, err := strconv.Atoi(strings.Fields(p)[0]); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		os.RemoveAll(m[1])
	}
}

// TestScenarioNodeLossRunsUnder30sAndLeavesNothing is the check:
// `flotilla scenario run node-loss` narrates a node crash and its
// replicas moving, passes within 30 s, and tears its lab down.
func TestScenarioNodeLossRunsUnder30sAndLeavesNothing(t *testing.T) {
	bin := buildBinary(t)
	start := time.Now()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "scenario", "run", "node-loss")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	took := time.Since(start)
	out := stdout.String()
	if err != nil {
		t.Fatalf("scenario run node-loss: %v\n%s\n%s", err, out, stderr.String())
	}
	t.Logf("scenario run node-loss took %s", took.Round(100*time.Millisecond))
	if took > 30*time.Second {
		t.Errorf("took %s, want under 30s", took)
	}
	for _, want := range []string{"node-loss: A node dies and its replicas move", "n2 killed", "node n2 is down",
		"lost on n2", "running (n1 3, n3 3)", "PASS node-loss"} {
		if !strings.Contains(out, want) {
			t.Errorf("the run does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\033[") {
		t.Error("colour in piped output")
	}
	checkScenarioCleanedUp(t, out)
}

// TestScenarioWithAWrongExpectExitsNonZeroNamingIt: a scenario file whose
// expectation does not hold exits 1, and says which step, what it wanted
// and what it saw; -o json ends with the failure.
func TestScenarioWithAWrongExpectExitsNonZeroNamingIt(t *testing.T) {
	bin := buildBinary(t)
	file := filepath.Join(t.TempDir(), "wrong.yaml")
	os.WriteFile(file, []byte(`title: Spread, expected wrong on purpose
teaches: that a failed expectation names itself
lab: {servers: 1, agents: 3}
steps:
  - apply:
      spec: {kind: Service, name: web, image: flotilla.local/demo:v1, replicas: 3, ports: [{name: http, port: 8080, protocol: http}]}
  - wait: {allocations: {service: web, running: 3}, timeout: 30s}
  - expect: {allocations: {service: web, perNode: {n1: 3}}}
  - say: never reached
`), 0o644)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "scenario", "run", file, "-o", "json")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit %v, want status 1\n%s\n%s", err, stdout.String(), stderr.String())
	}
	want := "error: step 3 (steps[2], expect): want allocations of web: running on n1 3; saw allocations of web: 3 running (n1 1, n2 1, n3 1), 3 ready\n"
	if stderr.String() != want {
		t.Fatalf("stderr:\n%s\nwant:\n%s", stderr.String(), want)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var end struct {
		Type    string `json:"type"`
		Passed  bool   `json:"passed"`
		Steps   int    `json:"steps"`
		Failure string `json:"failure"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &end); err != nil || end.Type != "end" || end.Passed || end.Steps != 3 ||
		!strings.HasPrefix(end.Failure, "step 3 (steps[2], expect)") {
		t.Fatalf("last line %s: %+v %v", lines[len(lines)-1], end, err)
	}
	var intro struct {
		Cluster string `json:"cluster"`
	}
	json.Unmarshal([]byte(lines[0]), &intro)
	checkScenarioCleanedUp(t, intro.Cluster)
}

// TestScenarioListShowAndRefusals: the library lists and shows itself;
// what cannot run is refused before any lab starts.
func TestScenarioListShowAndRefusals(t *testing.T) {
	bin := buildBinary(t)
	run := func(args ...string) (string, error) {
		out, err := exec.Command(bin, args...).CombinedOutput()
		return string(out), err
	}
	out, err := run("scenario", "list")
	if err != nil {
		t.Fatal(err, out)
	}
	rows := strings.Split(strings.TrimSpace(out), "\n")
	if len(rows) < 13 || !strings.HasPrefix(rows[0], "NAME") || !strings.Contains(out, "node-loss") {
		t.Fatalf("list:\n%s", out)
	}
	out, err = run("scenario", "list", "-o", "json")
	var list []struct{ Name, Title, Teaches string }
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list) != len(library.Names()) || list[0].Teaches == "" {
		t.Fatalf("list -o json: %v\n%s", err, out)
	}
	out, err = run("scenario", "show", "node-loss")
	if sc, _ := library.Load("node-loss"); err != nil || out != sc.Text {
		t.Fatalf("show: %v\n%s", err, out)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("title: t\nteaches: t\nsteps:\n  - wait: {allocations: {service: web, runing: 3}}\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"scenario", "run", "node-loss", "--virtual", "--address", "http://127.0.0.1:1"}, "error: --virtual runs the scenario's lab in this process"},
		{[]string{"scenario", "run", "node-loss", "--seed", "7"}, "error: --seed and --log go with --virtual"},
		{[]string{"scenario", "run", "node-loss", "--virtual", "--seed", "0"}, "error: --seed: 0 is not a seed; give 1 or more"},
		{[]string{"scenario", "run", "node-loss", "--virtual", "--keep"}, "error: --keep: a virtual lab lives in this process"},
		{[]string{"scenario", "run", bad}, `error: bad.yaml: steps[0].wait.allocations.runing: unknown field (did you mean "running"?)`},
		{[]string{"scenario", "run", "nope"}, `error: no scenario "nope" in the library (it has `},
		{[]string{"scenario", "show", "nope"}, `error: no scenario "nope"`},
		{[]string{"scenario", "run", "node-loss", "-o", "yaml"}, `error: --output "yaml": scenario run prints table`},
		{[]string{"scenario", "run", "node-loss", "--address", "http://127.0.0.1:1"}, "error: step 7 (steps[6], fault): node faults need the lab the run starts"},
	} {
		out, err := run(c.args...)
		if err == nil || !strings.HasPrefix(out, c.want) {
			t.Errorf("flotilla %s: %v\n%s\nwant it to start %q", strings.Join(c.args, " "), err, out, c.want)
		}
	}
}

// TestScenarioRunsInVirtualTime: node-loss passes in virtual time, with
// the kill seen as a failure (not a graceful leave); a wrong expectation
// fails naming its step.
func TestScenarioRunsInVirtualTime(t *testing.T) {
	bin := buildBinary(t)
	out, err := exec.Command(bin, "scenario", "run", "node-loss", "--virtual", "--seed", "7").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"virtual lab: 3 servers, 3 agents", "node n2 is down: gossip: agent failed", "PASS node-loss: 19 steps"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the virtual run does not say %q:\n%s", want, out)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte(`title: t
teaches: t
lab: {servers: 1, agents: 2, runtime: sim}
steps:
  - apply:
      spec: {kind: Service, name: web, image: flotilla.local/demo:v1, replicas: 2, ports: [{name: http, port: 8080, protocol: http}]}
  - wait: {allocations: {service: web, running: 2}, timeout: 30s}
  - expect: {allocations: {service: web, running: 5}}
`), 0o644)
	out, err = exec.Command(bin, "scenario", "run", bad, "--virtual").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "FAIL bad after") || !strings.Contains(string(out), "step 3 (steps[2], expect): want allocations of web: running 5") {
		t.Fatalf("a wrong expectation in virtual time: %v\n%s", err, out)
	}
}

// TestScenarioInterruptedTearsItsLabDown: Ctrl-C during a run stops it
// and takes its lab away, and so does a hangup (the terminal closed).
func TestScenarioInterruptedTearsItsLabDown(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) { interruptScenario(t, sig) })
	}
}

func interruptScenario(t *testing.T, sig syscall.Signal) {
	bin := buildBinary(t)
	cmd := exec.Command(bin, "scenario", "run", "scale-to-zero")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var out strings.Builder
	deadline := time.After(60 * time.Second)
	for running := false; !running; {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("the run ended before it began:\n%s%s", out.String(), stderr.String())
			}
			out.WriteString(line + "\n")
			running = strings.Contains(line, " wait ") // the lab is up and the scenario under way
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("no step after 60s:\n%s", out.String())
		}
	}
	cmd.Process.Signal(sig)
	exited := make(chan error, 1)
	go func() {
		for line := range lines {
			out.WriteString(line + "\n")
		}
		exited <- cmd.Wait()
	}()
	select {
	case err := <-exited:
		if err == nil || !strings.Contains(stderr.String(), "interrupted") {
			t.Errorf("exit %v after %s; stderr: %s", err, sig, stderr.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("still running 30s after %s:\n%s", sig, out.String())
	}
	checkScenarioCleanedUp(t, out.String())
}

// TestScenarioVirtualHangupLeavesNothing: a hangup ends a virtual run as
// Ctrl-C does: it says so and removes its directory.
func TestScenarioVirtualHangupLeavesNothing(t *testing.T) {
	bin := buildBinary(t)
	tmp := t.TempDir()
	cmd := exec.Command(bin, "scenario", "run", "autoscale-forecast", "--virtual")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The run is under way once it prints its first step.
	started := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), " apply ") {
				started <- true
				break
			}
		}
		close(started)
		for sc.Scan() {
		}
	}()
	select {
	case ok := <-started:
		if !ok {
			cmd.Wait()
			t.Fatalf("the run ended before its first step: %s", stderr.String())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("no step after 60s")
	}
	if entries, _ := os.ReadDir(tmp); len(entries) == 0 {
		t.Fatal("the run has no directory in TMPDIR")
	}
	cmd.Process.Signal(syscall.SIGHUP)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err == nil || !strings.Contains(stderr.String(), "interrupted") {
			t.Fatalf("exit %v after SIGHUP; stderr: %s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("still running 30s after SIGHUP")
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("left in TMPDIR: %v", left)
	}
}

// TestScenarioVirtualRefusalsSayWhy: what a virtual run refuses (a pause,
// which virtual time does not simulate) is said on stderr, naming the
// step, with -o json too, and the run leaves no directory behind.
func TestScenarioVirtualRefusalsSayWhy(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "pause.yaml")
	os.WriteFile(file, []byte(`title: t
teaches: t
lab: {servers: 1, agents: 2, runtime: sim}
steps:
  - apply:
      spec: {kind: Service, name: web, image: flotilla.local/demo:v1, replicas: 2, ports: [{name: http, port: 8080, protocol: http}]}
  - fault: {pause: n1}
  - fault: {resume: n1}
`), 0o644)
	tmp := t.TempDir()
	for _, output := range []string{"table", "json"} {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, "scenario", "run", file, "--virtual", "-o", output)
		cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		want := "error: step 2 (steps[1], fault): pause and resume are not simulated in virtual time (kill and restart are): run the scenario live\n"
		if err == nil || stderr.String() != want {
			t.Errorf("-o %s: exit %v; stderr %q, want %q; stdout:\n%s", output, err, stderr.String(), want, stdout.String())
		}
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("left in TMPDIR: %v", left)
	}
}

// A partition in a scenario whose own lab is a sim lab is refused before
// the lab starts (no "starting a lab" line, nothing left in TMPDIR).
func TestScenarioPartitionInASimLabIsRefusedBeforeTheLabStarts(t *testing.T) {
	bin := buildBinary(t)
	file := filepath.Join(t.TempDir(), "cut.yaml")
	os.WriteFile(file, []byte(`title: t
teaches: t
lab: {servers: 1, agents: 2, runtime: sim}
steps:
  - say: hello
  - fault: {partition: n1}
`), 0o644)
	tmp := t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "scenario", "run", file)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	want := "error: step 2 (steps[1], fault): partitions need a containerd lab (lab: {runtime: containerd}, as root) or --virtual; this lab runs sim\n"
	if err == nil || stderr.String() != want || stdout.Len() != 0 {
		t.Fatalf("exit %v; stderr %q, want %q; stdout (want none):\n%s", err, stderr.String(), want, stdout.String())
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("left in TMPDIR: %v", left)
	}
}
