package netbench

import (
	"bufio"
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseStatReadsCommandStateAndGroup(t *testing.T) {
	for _, tt := range []struct {
		line  string
		comm  string
		state byte
		pgid  int
	}{
		{"4242 (nginx) S 1 4240 4240 0 -1 4194560 ...", "nginx", 'S', 4240},
		{"77 (odd ) (name) R 5 77 77 0", "odd ) (name", 'R', 77},
		{"9 (sleep) Z 1 8 8", "sleep", 'Z', 8},
	} {
		comm, state, pgid, err := parseStat(tt.line)
		if err != nil || comm != tt.comm || state != tt.state || pgid != tt.pgid {
			t.Errorf("parseStat(%q) = %q %c %d %v", tt.line, comm, state, pgid, err)
		}
	}
	for _, bad := range []string{"", "12 nginx S 1 2 3", "12 (x) S 1"} {
		if _, _, _, err := parseStat(bad); err == nil {
			t.Errorf("parseStat(%q) parsed", bad)
		}
	}
}

// startGroup starts a shell script in a tracked group of its own, killed
// when the test ends whatever happens.
func startGroup(t *testing.T, pg *processGroups, stop syscall.Signal, script string) *exec.Cmd {
	t.Helper()
	cmd := pg.command(context.Background(), stop, "/bin/sh", "-c", script)
	if err := pg.start(cmd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.killAll)
	return cmd
}

// waitLeft waits, with a deadline, until left reports the commands want
// (a forked shell is "sh" until it runs the command).
func waitLeft(t *testing.T, pg *processGroups, want ...string) []process {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left, err := pg.left()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range left {
			got = append(got, p.Command)
		}
		if slices.Equal(got, want) {
			return left
		}
		if time.Now().After(deadline) {
			t.Fatalf("left = %v, want %v", left, want)
		}
		time.Sleep(10 * time.Millisecond) // polling processes we started
	}
}

func TestCheckFindsAndKillsAProcessLeftBehindInAGroup(t *testing.T) {
	// The group's leader exits and leaves a child running, as nginx's
	// master does with its workers when it is killed.
	pg := newProcessGroups()
	cmd := startGroup(t, pg, syscall.SIGTERM, "sleep 60 & exit 0")
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	left := waitLeft(t, pg, "sleep")
	if left[0].Command != "sleep" || left[0].PGID != cmd.Process.Pid || left[0].Started != "sh" {
		t.Fatalf("left = %+v", left)
	}
	err := pg.check()
	if !errors.Is(err, errLeftOver) || !strings.Contains(err.Error(), "sleep (pid ") {
		t.Fatalf("check = %v, want the sleep named", err)
	}
	waitLeft(t, pg) // check killed it
	if err := pg.check(); err != nil {
		t.Fatalf("check after the kill: %v", err)
	}
}

func TestAGracefulStopLeavesNothing(t *testing.T) {
	// A master that passes SIGQUIT on to its worker and waits for it.
	pg := newProcessGroups()
	cmd := pg.command(context.Background(), syscall.SIGQUIT, "/bin/sh", "-c",
		`sleep 60 & w=$!; trap 'kill $w; wait $w; exit 0' QUIT; echo trapped; wait`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := pg.start(cmd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.killAll)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "trapped\n" {
		t.Fatalf("the script said %q, %v", line, err)
	}
	waitLeft(t, pg, "sh", "sleep")
	if err := pg.stop(cmd, syscall.SIGQUIT); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := pg.check(); err != nil {
		t.Fatal(err)
	}
}

func TestDoneForgetsOnlyAnEmptyGroup(t *testing.T) {
	pg := newProcessGroups()
	quick := startGroup(t, pg, syscall.SIGTERM, "exit 0")
	quick.Wait()
	pg.done(quick)
	orphaning := startGroup(t, pg, syscall.SIGTERM, "sleep 60 & exit 0")
	orphaning.Wait()
	waitLeft(t, pg, "sleep")
	pg.done(orphaning)
	pg.mu.Lock()
	_, quickTracked := pg.groups[quick.Process.Pid]
	_, orphanTracked := pg.groups[orphaning.Process.Pid]
	pg.mu.Unlock()
	if quickTracked || !orphanTracked {
		t.Fatalf("tracked: quick %v, orphaning %v; want only the group with a process left", quickTracked, orphanTracked)
	}
}
