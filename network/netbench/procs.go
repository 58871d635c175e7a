package netbench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"flotilla/internal/sysinfo"
)

// The processes a benchmark starts (the upstream, nginx with its workers,
// wrk) each lead a session, and so a process group, of their own. The
// group is so that whatever they fork can be found again: after the
// benchmark no process may be left in any of those groups. nginx's workers
// are the reason: SIGKILL to its master leaves them running, reparented to
// init. The session is so that the kernel schedules each as it would a
// service (every systemd unit is a session of its own): with autogroups
// (sched_autogroup_enabled, Debian's default) CPU time is shared between
// sessions first and between the threads of a session after, and a proxy
// sharing the session of its clients and upstream is scheduled unlike a
// deployed one.

// stopGrace is how long a process asked to stop gracefully gets before it
// is killed.
const stopGrace = 10 * time.Second

// processGroups tracks the groups of the processes a benchmark started.
type processGroups struct {
	mu     sync.Mutex
	groups map[int]string // pgid → what was started
}

func newProcessGroups() *processGroups { return &processGroups{groups: map[int]string{}} }

// command makes a command that runs in a session of its own. When
// ctx ends it is sent stop (SIGTERM, SIGQUIT for nginx), and killed with
// its whole group stopGrace later.
func (pg *processGroups) command(ctx context.Context, stop syscall.Signal, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Cancel = func() error { return cmd.Process.Signal(stop) }
	cmd.WaitDelay = stopGrace
	return cmd
}

// start starts cmd (made by command) and tracks its group.
func (pg *processGroups) start(cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	pg.mu.Lock()
	pg.groups[cmd.Process.Pid] = filepath.Base(cmd.Path)
	pg.mu.Unlock()
	return nil
}

// stop asks cmd to stop with sig and waits for it, killing its group if it
// has not exited within stopGrace.
func (pg *processGroups) stop(cmd *exec.Cmd, sig syscall.Signal) error {
	if cmd.Process == nil {
		return nil
	}
	cmd.Process.Signal(sig)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t := time.NewTimer(stopGrace)
	defer t.Stop()
	select {
	case err := <-done:
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			// The benchmark was cut short and exec sent the stop
			// signal itself; the process exited, as asked.
			return nil
		}
		return err
	case <-t.C:
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("%s (pid %d) did not stop within %s of %s: killed", filepath.Base(cmd.Path), cmd.Process.Pid, stopGrace, sig)
	}
}

// done stops tracking cmd's group once cmd was waited for and nothing is
// left in its group (a process id may be reused later); a group that still
// has processes stays tracked for check.
func (pg *processGroups) done(cmd *exec.Cmd) {
	left, err := pg.left()
	if err != nil {
		return
	}
	pgid := cmd.Process.Pid
	for _, p := range left {
		if p.PGID == pgid {
			return
		}
	}
	pg.mu.Lock()
	delete(pg.groups, pgid)
	pg.mu.Unlock()
}

// process is one process found in a tracked group.
type process struct {
	PID     int    `json:"pid"`
	PGID    int    `json:"pgid"`
	Command string `json:"command"`
	Started string `json:"started"` // what the benchmark started that led the group
}

func (p process) String() string {
	return fmt.Sprintf("%s (pid %d, in the group of %s)", p.Command, p.PID, p.Started)
}

// left lists the live processes still in a tracked group; zombies are dead
// and do not count.
func (pg *processGroups) left() ([]process, error) {
	pg.mu.Lock()
	groups := make(map[int]string, len(pg.groups))
	for k, v := range pg.groups {
		groups[k] = v
	}
	pg.mu.Unlock()
	if len(groups) == 0 {
		return nil, nil
	}
	var out []process
	err := eachProcess(func(pid int, comm string, state byte, pgid int) {
		if started, ok := groups[pgid]; ok && state != 'Z' && state != 'X' {
			out = append(out, process{PID: pid, PGID: pgid, Command: comm, Started: started})
		}
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out, nil
}

// killAll kills every tracked group, for a benchmark that failed midway.
func (pg *processGroups) killAll() {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	for pgid := range pg.groups {
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// check fails naming the processes left in tracked groups, after killing
// them.
func (pg *processGroups) check() error {
	left, err := pg.left()
	if err != nil {
		return err
	}
	if len(left) == 0 {
		return nil
	}
	pg.killAll()
	names := make([]string, len(left))
	for i, p := range left {
		names[i] = p.String()
	}
	return fmt.Errorf("%w: %s (now killed)", errLeftOver, strings.Join(names, ", "))
}

var errLeftOver = errors.New("processes the benchmark started are still running")

// parseStat reads the command, state and process group from a
// /proc/PID/stat line; the command is in parentheses and may hold spaces
// and parentheses itself.
func parseStat(line string) (comm string, state byte, pgid int, err error) {
	open, end := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || end < open {
		return "", 0, 0, fmt.Errorf("unreadable stat %q", line)
	}
	comm = line[open+1 : end]
	// After the command: state ppid pgrp ...
	fields := strings.Fields(line[end+1:])
	if len(fields) < 3 || len(fields[0]) != 1 {
		return "", 0, 0, fmt.Errorf("unreadable stat %q", line)
	}
	pgid, err = strconv.Atoi(fields[2])
	if err != nil {
		return "", 0, 0, fmt.Errorf("unreadable stat %q", line)
	}
	return comm, fields[0][0], pgid, nil
}

// cpuMeter reads the CPU time used so far by the processes a proxy
// benchmark compares: this one (which runs the Flotilla proxy), nginx's
// group (master and workers) and the upstream. This process's figure also
// holds the little it does around a wrk run (starting wrk, reading its
// output, looking through /proc once it exited and for the reading after
// it): a few milliseconds a run, counted against the Flotilla proxy.
type cpuMeter struct {
	upstream int // its pid
	nginx    int // its group's id
}

// cpuTimes is what a cpuMeter read, in seconds.
type cpuTimes struct{ self, nginx, upstream float64 }

func (m cpuMeter) read() cpuTimes {
	t := cpuTimes{upstream: sysinfo.CPUSecondsOf(m.upstream)}
	for _, pid := range groupMembers(m.nginx) {
		t.nginx += sysinfo.CPUSecondsOf(pid)
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		t.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	return t
}

func (t cpuTimes) since(before cpuTimes) cpuTimes {
	return cpuTimes{self: t.self - before.self, nginx: t.nginx - before.nginx, upstream: t.upstream - before.upstream}
}

// groupMembers lists the live processes of process group pgid.
func groupMembers(pgid int) []int {
	var pids []int
	eachProcess(func(pid int, _ string, state byte, g int) {
		if g == pgid && state != 'Z' && state != 'X' {
			pids = append(pids, pid)
		}
	})
	return pids
}

// eachProcess calls fn with every process's command, state and group, from
// /proc; processes that end meanwhile are skipped.
func eachProcess(fn func(pid int, comm string, state byte, pgid int)) error {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return fmt.Errorf("list processes: %w", err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		comm, state, pgid, err := parseStat(string(data))
		if err != nil {
			return fmt.Errorf("process %d: %w", pid, err)
		}
		fn(pid, comm, state, pgid)
	}
	return nil
}
