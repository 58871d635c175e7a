//go:build linux

package containerd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/typeurl/v2"
	"golang.org/x/sys/unix"
)

const (
	// reapTimeout bounds reapShims.
	reapTimeout = 20 * time.Second
	// daemonCleanupGrace is how long the daemon is given to report the
	// exit of a killed shim it did not list but may still have been
	// connected to (it then runs the shim's own clean-up of the bundle).
	daemonCleanupGrace = 3 * time.Second
	// defaultRuncRoot is where the runc v2 shim keeps runc's state
	// (ROOT/NAMESPACE/ID) unless its options name another root.
	defaultRuncRoot = "/run/containerd/runc"
	// taskBundles is the daemon's state directory of v2 tasks: a bundle is
	// STATE/io.containerd.runtime.v2.task/NAMESPACE/ID.
	taskBundles = "io.containerd.runtime.v2.task"
)

// findShims lists the running shims that the daemon at address started for
// namespace ns: all of them, or only container id's when id is not empty.
func findShims(address, ns, id string) ([]shimProcess, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("look for shims: %w", err)
	}
	var out []shimProcess
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// The command name first: reading a command line takes the
		// process's memory lock, which a busy exec holds.
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil || !bytes.HasPrefix(comm, []byte("containerd-shim")) {
			continue // gone meanwhile, or something else
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		s, ok := parseShimCmdline(cmdline)
		if !ok || s.namespace != ns || (id != "" && s.id != id) || !sameSocket(s.address, address) {
			continue
		}
		s.pid = pid
		out = append(out, s)
	}
	return out, nil
}

// orphan is a shim to reap and what it leaves behind.
type orphan struct {
	shimProcess
	bundle string // the shim's working directory; "" when it is gone
	cgroup string // the container's cgroups path (OCI linux.cgroupsPath)
	pids   []int  // the shim, its descendants, the processes of the cgroup
}

// reapShims ends orphaned shims: it kills each shim, its descendants (the
// task's process, the log driver) and whatever else is in the container's
// cgroup, waits until the daemon has cleaned up after the shims it knew
// (it then unmounts the rootfs and deletes the bundle itself), and removes
// what is left: the rootfs mount, the bundle, runc's state, the cgroups.
// Only when it returns may the same ID get a new task: a clean-up of the
// daemon's that came later would take the new task's bundle with it.
// leftBundles are bundles of ns whose shims are gone already.
func reapShims(ctx context.Context, c *client.Client, ns string, shims []shimProcess, leftBundles []string, log *slog.Logger) error {
	if len(shims)+len(leftBundles) == 0 {
		return nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	began := time.Now()
	// Not cut short by the caller: a reap stopped between the kill and the
	// removal of the leftovers would leave them to a clean-up of the
	// daemon's that may come after the ID's next task.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reapTimeout)
	defer cancel()
	// Subscribed before the kill: once it has cleaned up after a dead shim
	// it was connected to, the daemon reports the task's exit, then its
	// deletion (the shim, dead, reports nothing).
	subCtx, unsubscribe := context.WithCancel(ctx)
	defer unsubscribe()
	deletes, streamErrs := c.Subscribe(subCtx, `namespace==`+strconv.Quote(ns)+`,topic=="/tasks/delete"`)
	listed := listedTasks(ctx, c)

	parents := processParents()
	var orphans []orphan
	var shimPIDs, pids []int
	for _, s := range shims {
		o := orphan{shimProcess: s}
		if cwd, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(s.pid), "cwd")); err == nil && isBundle(cwd, s.namespace, s.id) {
			o.bundle = cwd
		}
		o.findProcesses(parents)
		shimPIDs = append(shimPIDs, s.pid)
		pids = append(pids, o.pids...)
		orphans = append(orphans, o)
		log.Warn("killing an orphaned shim", "namespace", s.namespace, "id", s.id, "shim_pid", s.pid, "pids", o.pids, "bundle", o.bundle)
	}
	for _, b := range leftBundles {
		if slices.ContainsFunc(orphans, func(o orphan) bool { return o.bundle == b }) {
			continue
		}
		o := orphan{shimProcess: shimProcess{namespace: ns, id: filepath.Base(b)}, bundle: b}
		o.findProcesses(parents)
		pids = append(pids, o.pids...)
		orphans = append(orphans, o)
		log.Warn("removing a bundle left without its shim", "namespace", ns, "id", o.id, "pids", o.pids, "bundle", b)
	}
	// The shims first: a shim that saw its task's process die would report
	// an exit before the daemon has cleaned up.
	if err := killAndWait(ctx, shimPIDs); err != nil {
		return fmt.Errorf("kill orphaned shims: %w", err)
	}
	slices.Sort(pids)
	if err := killAndWait(ctx, slices.Compact(pids)); err != nil {
		return fmt.Errorf("kill the processes of orphaned shims: %w", err)
	}

	// The daemon cleans up after a shim it listed, and maybe after one it
	// did not list but was connected to (a bundle is still there): wait
	// for its report, or for the grace to pass.
	deadlines := map[string]time.Time{}
	for _, o := range orphans {
		switch {
		case o.pid == 0:
		case listed[o.id]:
			deadline, _ := ctx.Deadline()
			deadlines[o.id] = deadline
		case o.bundle != "":
			deadlines[o.id] = time.Now().Add(daemonCleanupGrace)
		}
	}
	waitForDeletes(ctx, deadlines, deletes, streamErrs)

	var errs []error
	for _, o := range orphans {
		if err := o.removeLeftovers(); err != nil {
			errs = append(errs, fmt.Errorf("clean up after orphaned shim %s of %s: %w", o.id, o.namespace, err))
		}
	}
	log.Info("orphaned shims reaped", "namespace", ns, "count", len(orphans), "took_ms", time.Since(began).Milliseconds())
	return errors.Join(errs...)
}

// findProcesses lists the shim, its descendants and the processes of the
// container's cgroup (its path read from the bundle's spec).
func (o *orphan) findProcesses(parents map[int]int) {
	o.cgroup = "/" + o.namespace + "/" + o.id // containerd's default
	if o.bundle != "" {
		if p := bundleCgroupsPath(o.bundle); p != "" {
			o.cgroup = p
		}
	}
	if o.pid != 0 {
		o.pids = append([]int{o.pid}, descendants(parents, o.pid)...)
	}
	o.pids = append(o.pids, cgroupProcs(o.cgroup)...) // once per v1 controller
	slices.Sort(o.pids)
	o.pids = slices.Compact(o.pids)
}

// bundleInError is the bundle a failed NewTask found in its way
// ("mkdir BUNDLE: file exists"), "" when there is none or it is not ns/id's.
func bundleInError(err error, ns, id string) string {
	m := mkdirExists.FindStringSubmatch(err.Error())
	if m == nil || !isBundle(m[1], ns, id) {
		return ""
	}
	return filepath.Clean(m[1])
}

var mkdirExists = regexp.MustCompile(`mkdir (/\S+): file exists`)

// listedTasks are the IDs of the tasks the daemon lists in the client's
// namespace, containers or not (its task list does not look them up).
func listedTasks(ctx context.Context, c *client.Client) map[string]bool {
	out := map[string]bool{}
	resp, err := c.TaskService().List(ctx, &tasks.ListTasksRequest{})
	if err != nil {
		return out // then every shim gets only the grace
	}
	for _, p := range resp.Tasks {
		out[p.ID] = true
		out[p.ContainerID] = true
	}
	return out
}

// waitForDeletes returns once the deletion of every ID's task has been
// reported, or its deadline has passed.
func waitForDeletes(ctx context.Context, deadlines map[string]time.Time, deletes <-chan *events.Envelope, errs <-chan error) {
	for len(deadlines) > 0 {
		var first time.Time
		for id, d := range deadlines {
			if !time.Now().Before(d) {
				delete(deadlines, id)
			} else if first.IsZero() || d.Before(first) {
				first = d
			}
		}
		if len(deadlines) == 0 {
			return
		}
		timer := time.NewTimer(time.Until(first))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-errs:
			// No reports any more: what is left is waited out.
			errs = nil
			deletes = nil
		case env := <-deletes:
			if env != nil && env.Event != nil {
				if ev, err := typeurl.UnmarshalAny(env.Event); err == nil {
					if e, ok := ev.(*apievents.TaskDelete); ok {
						delete(deadlines, e.ContainerID)
					}
				}
			}
		case <-timer.C:
		}
		timer.Stop()
	}
}

// removeLeftovers removes what a killed shim leaves when nobody cleaned up
// after it: the rootfs mount, the bundle and its work directory, runc's
// state of the container and its (empty) cgroups.
func (o orphan) removeLeftovers() error {
	runcRoot := defaultRuncRoot
	sockets := o.sockets() // before the bundle, which names one, goes
	if o.bundle != "" {
		if root := bundleRuncRoot(o.bundle); root != "" {
			runcRoot = root
		}
		rootfs := filepath.Join(o.bundle, "rootfs")
		if err := unmountAll(rootfs); err != nil {
			return err // the bundle stays rather than its mounted rootfs be emptied
		}
		if work, err := os.Readlink(filepath.Join(o.bundle, "work")); err == nil && isBundle(work, o.namespace, o.id) {
			if err := os.RemoveAll(work); err != nil {
				return fmt.Errorf("remove the bundle's work directory: %w", err)
			}
		}
		if err := os.RemoveAll(o.bundle); err != nil {
			return fmt.Errorf("remove the bundle: %w", err)
		}
	}
	if err := os.RemoveAll(filepath.Join(runcRoot, o.namespace, o.id)); err != nil {
		return fmt.Errorf("remove runc's state: %w", err)
	}
	// A killed shim leaves its socket, which the next shim of the ID
	// would try to connect to.
	for _, socket := range sockets {
		if err := os.Remove(socket); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove the shim's socket: %w", err)
		}
	}
	for _, dir := range cgroupDirs(o.cgroup) {
		os.Remove(dir) // best effort: only an empty cgroup goes
	}
	return nil
}

// shimSockets is where runc v2 shims listen: shimSockets/HASH.
const shimSockets = "/run/containerd/s"

// sockets are the paths of the shim's socket: the one its bundle names,
// and the one the shim computes from the daemon's address, the namespace
// and the ID (the same, unless the bundle is gone or not the shim's).
func (o orphan) sockets() []string {
	var out []string
	if o.address != "" {
		sum := sha256.Sum256([]byte(filepath.Join(o.address, o.namespace, o.id)))
		out = append(out, filepath.Join(shimSockets, hex.EncodeToString(sum[:])))
	}
	if o.bundle != "" {
		b, err := os.ReadFile(filepath.Join(o.bundle, "address"))
		path := filepath.Clean(strings.TrimPrefix(strings.TrimSpace(string(b)), "unix://"))
		if err == nil && filepath.Dir(path) == shimSockets && !slices.Contains(out, path) {
			out = append(out, path)
		}
	}
	return out
}

// isBundle reports whether dir has the shape of the task bundle (or work
// directory) of ns/id, so that nothing else is ever removed.
func isBundle(dir, ns, id string) bool {
	dir = filepath.Clean(dir)
	return filepath.IsAbs(dir) && filepath.Base(dir) == id && filepath.Base(filepath.Dir(dir)) == ns &&
		filepath.Base(filepath.Dir(filepath.Dir(dir))) == taskBundles
}

// bundleCgroupsPath is the cgroups path of the bundle's OCI spec, "" when
// it cannot be read or is not a cgroupfs path.
func bundleCgroupsPath(bundle string) string {
	var spec struct {
		Linux struct {
			CgroupsPath string `json:"cgroupsPath"`
		} `json:"linux"`
	}
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil || json.Unmarshal(b, &spec) != nil {
		return ""
	}
	p := spec.Linux.CgroupsPath
	if !strings.HasPrefix(p, "/") || strings.Contains(p, ":") || strings.Contains(p, "..") {
		return ""
	}
	return p
}

// bundleRuncRoot is the runc root of the shim's options, "" for the default.
func bundleRuncRoot(bundle string) string {
	var opts struct {
		Root string `json:"root"`
	}
	b, err := os.ReadFile(filepath.Join(bundle, "options.json"))
	if err != nil || json.Unmarshal(b, &opts) != nil || !filepath.IsAbs(opts.Root) {
		return ""
	}
	return opts.Root
}

// cgroupDirs are the directories of a cgroupfs path: one on cgroup v2, one
// per mounted controller on v1.
func cgroupDirs(path string) []string {
	if path == "" || path == "/" {
		return nil
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{filepath.Join("/sys/fs/cgroup", path)}
	}
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", path))
	return dirs
}

// cgroupProcs are the processes in the cgroup.
func cgroupProcs(path string) []int {
	var pids []int
	for _, dir := range cgroupDirs(path) {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// processParents maps every process to its parent.
func processParents() map[int]int {
	parents := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parentOf(pid); ok {
			parents[pid] = ppid
		}
	}
	return parents
}

// parentOf reads a process's parent from /proc/PID/stat.
func parentOf(pid int) (int, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	// "PID (COMM) STATE PPID ...": the command may hold spaces and ")".
	i := bytes.LastIndex(b, []byte(") "))
	if i < 0 {
		return 0, false
	}
	fields := strings.Fields(string(b[i+2:]))
	if len(fields) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(fields[1])
	return ppid, err == nil
}

// descendants are pid's children, their children, and so on.
func descendants(parents map[int]int, pid int) []int {
	children := map[int][]int{}
	for p, pp := range parents {
		children[pp] = append(children[pp], p)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// killAndWait sends SIGKILL to the processes and waits until they have all
// exited. Through pidfds, so that a PID reused meanwhile is not waited for
// (nor killed after the first signal).
func killAndWait(ctx context.Context, pids []int) error {
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	var byPID []int // when pidfds are not available (Linux < 5.3)
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		switch {
		case errors.Is(err, unix.ESRCH):
			continue // gone already
		case err != nil:
			if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
				byPID = append(byPID, pid)
			}
			continue
		}
		fds = append(fds, fd)
		if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("kill process %d: %w", pid, err)
		}
	}
	waiting := slices.Clone(fds)
	for len(waiting) > 0 {
		polls := make([]unix.PollFd, len(waiting))
		for i, fd := range waiting {
			polls[i] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
		}
		// In slices, so that the end of ctx is noticed.
		if _, err := unix.Poll(polls, 100); err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("wait for killed processes: %w", err)
		}
		waiting = waiting[:0]
		for _, p := range polls {
			if p.Revents == 0 {
				waiting = append(waiting, int(p.Fd))
			}
		}
		if len(waiting) > 0 && ctx.Err() != nil {
			return fmt.Errorf("%d killed processes have not exited: %w", len(waiting), ctx.Err())
		}
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for _, pid := range byPID {
		for processAlive(pid) {
			select {
			case <-ctx.Done():
				return fmt.Errorf("killed process %d has not exited: %w", pid, ctx.Err())
			case <-tick.C:
			}
		}
	}
	return nil
}

// processAlive reports whether pid is a process that has not exited (a
// zombie has).
func processAlive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	i := bytes.LastIndex(b, []byte(") "))
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}

// unmountAll takes every mount off path (a rootfs may be mounted twice).
func unmountAll(path string) error {
	for range 16 {
		err := unix.Unmount(path, unix.MNT_DETACH)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			return nil // not (or no longer) a mount point
		}
		if err != nil {
			return fmt.Errorf("unmount %s: %w", path, err)
		}
	}
	return fmt.Errorf("unmount %s: still mounted after 16 unmounts", path)
}
