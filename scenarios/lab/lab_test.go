package lab

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeLab records a lab of one process that runs a shell loop standing in
// for flotilla: it carries the node's --name and --data-dir as flotilla
// would, so that the lab recognises it.
func fakeLab(t *testing.T) *Lab {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "fake-flotilla")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nwhile true; do sleep 0.1; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	l := &Lab{Name: "race", Runtime: "sim", Dir: filepath.Join(dir, "race"), Binary: script}
	for _, sub := range []string{"data", "logs"} {
		if err := os.MkdirAll(filepath.Join(l.Dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(l.Dir, "data", "n1")
	l.Processes = []Process{{Name: "n1", Role: RoleAgent, Args: []string{"agent", "--name", "n1", "--data-dir", data},
		DataDir: data, Log: filepath.Join(l.Dir, "logs", "n1.log")}}
	if err := l.save(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Down(io.Discard) })
	return l
}

// labRoots lists the lab's processes, leaving out children caught between
// fork and exec that still carry their parent's command line (the fake
// flotilla is a shell script that forks sleep; flotilla itself never forks).
func labRoots(l *Lab) []int {
	all := strays(filepath.Join(l.Dir, "data") + string(filepath.Separator))
	in := map[int]bool{}
	for _, pid := range all {
		in[pid] = true
	}
	var roots []int
	for _, pid := range all {
		if !in[parentOf(pid)] {
			roots = append(roots, pid)
		}
	}
	return roots
}

func parentOf(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	if len(fields) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(fields[1])
	return ppid
}

func load(t *testing.T, l *Lab) *Lab {
	t.Helper()
	fresh, err := Load(filepath.Dir(l.Dir), l.Name)
	if err != nil {
		t.Fatal(err)
	}
	return fresh
}

func TestDownRacingRestartLeavesNothingUnrecorded(t *testing.T) {
	l := fakeLab(t)
	for round := 0; round < 10; round++ {
		if err := load(t, l).Restart("n1"); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); load(t, l).Down(io.Discard) }()
		go func() { defer wg.Done(); load(t, l).Restart("n1") }()
		wg.Wait()
		state := load(t, l)
		running := labRoots(l)
		switch {
		case len(running) > 1:
			var desc []string
			for _, pid := range running {
				cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				desc = append(desc, fmt.Sprintf("%d %c %q", pid, procState(pid), cmd))
			}
			t.Fatalf("round %d: %d processes run n1: %v (recorded %d)", round, len(running), desc, state.Processes[0].PID)
		case len(running) == 1 && state.Processes[0].PID != running[0]:
			t.Fatalf("round %d: pid %d runs n1 but the lab records %d", round, running[0], state.Processes[0].PID)
		case len(running) == 0 && state.Processes[0].PID != 0 && alive(&state.Processes[0]):
			t.Fatalf("round %d: the lab records a live pid nobody runs", round)
		}
	}
	if err := load(t, l).Down(io.Discard); err != nil {
		t.Fatal(err)
	}
	if left := labRoots(l); len(left) > 0 {
		t.Fatalf("processes left after down: %v", left)
	}
}

func TestDownKillsAProcessItsStateLostTrackOf(t *testing.T) {
	l := fakeLab(t)
	if err := load(t, l).Restart("n1"); err != nil {
		t.Fatal(err)
	}
	// Forget the pid, as a state written over by a racing command would.
	lost := load(t, l)
	lost.Processes[0].PID = 0
	if err := lost.save(); err != nil {
		t.Fatal(err)
	}
	if err := load(t, l).Down(io.Discard); err != nil {
		t.Fatal(err)
	}
	if left := labRoots(l); len(left) > 0 {
		t.Fatalf("processes left after down: %v", left)
	}
}

func TestPauseResumeAndKill(t *testing.T) {
	l := fakeLab(t)
	if err := load(t, l).Restart("n1"); err != nil {
		t.Fatal(err)
	}
	// Signals arrive asynchronously: poll the process's state.
	stateBecomes := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			s := load(t, l)
			got := s.State(&s.Processes[0])
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("state = %s, want %s", got, want)
			}
			time.Sleep(10 * time.Millisecond) // polling interval
		}
	}
	if err := load(t, l).Pause("n1"); err != nil {
		t.Fatal(err)
	}
	stateBecomes("paused")
	if err := load(t, l).Resume("n1"); err != nil {
		t.Fatal(err)
	}
	stateBecomes("running")
	if err := load(t, l).Kill("n1"); err != nil {
		t.Fatal(err)
	}
	s := load(t, l)
	if got := s.State(&s.Processes[0]); got != "stopped" {
		t.Fatalf("state after kill = %s", got)
	}
	if err := load(t, l).Kill("n1"); err == nil {
		t.Fatal("killing a stopped process succeeded")
	}
	if err := load(t, l).Pause("nope"); err == nil {
		t.Fatal("pausing an unknown node succeeded")
	}
}

// A lab sends nothing off the machine: every agent, sim or containerd,
// refuses names outside the cluster's zone instead of forwarding them to
// the host's resolvers.
func TestEveryLabAgentRefusesOutsideNames(t *testing.T) {
	for _, runtime := range []string{"sim", "containerd"} {
		l := &Lab{Name: "d", Dir: "/labs/d"}
		l.plan(Config{Name: "d", Servers: 1, Agents: 3, Runtime: runtime, BasePort: DefaultBasePort})
		agents := 0
		for _, p := range l.Processes {
			if p.Role != RoleAgent {
				continue
			}
			agents++
			i := slices.Index(p.Args, "--dns-upstream")
			if i < 0 || i+1 >= len(p.Args) || p.Args[i+1] != "none" {
				t.Errorf("%s: %s has no --dns-upstream none: %v", runtime, p.Name, p.Args)
			}
		}
		if agents != 3 {
			t.Fatalf("%s: %d agents planned, want 3", runtime, agents)
		}
	}
}

// An agent restarted in a lab whose servers are all stopped (lab down)
// would register with nobody and run until the next lab down: refused,
// and nothing started.
func TestRestartRefusesAnAgentWhenNoServerRuns(t *testing.T) {
	l := fakeLab(t)
	fresh := load(t, l)
	fresh.Processes = append(fresh.Processes, Process{Name: "s1", Role: RoleServer})
	if err := fresh.save(); err != nil {
		t.Fatal(err)
	}
	err := load(t, l).Restart("n1")
	if err == nil || !strings.Contains(err.Error(), "n1 would find no server: every server of lab race is stopped (s1)") {
		t.Fatalf("restart n1 with s1 stopped: %v", err)
	}
	if running := labRoots(l); len(running) > 0 || load(t, l).Processes[0].PID != 0 {
		t.Fatalf("a refused restart started n1: %v", running)
	}
}
