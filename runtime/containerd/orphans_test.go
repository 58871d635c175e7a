package containerd

import (
	"bufio"
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/typeurl/v2"

	"flotilla/network/cni"
	"flotilla/runtime"
)

func TestParseShimCmdline(t *testing.T) {
	args := func(a ...string) []byte { return []byte(strings.Join(a, "\x00") + "\x00") }
	tests := []struct {
		name    string
		cmdline []byte
		want    shimProcess
		ok      bool
	}{
		{"the shim as containerd starts it",
			args("/usr/bin/containerd-shim-runc-v2", "-namespace", "flotilla-n3", "-id", "abc", "-address", "/run/containerd/containerd.sock"),
			shimProcess{namespace: "flotilla-n3", id: "abc", address: "/run/containerd/containerd.sock"}, true},
		{"flags with = and two dashes",
			args("containerd-shim-runc-v2", "--namespace=ns", "-debug", "-id=abc", "-publish-binary", "/usr/bin/containerd", "-address=/a.sock"),
			shimProcess{namespace: "ns", id: "abc", address: "/a.sock"}, true},
		{"its start command ends by itself",
			args("/usr/bin/containerd-shim-runc-v2", "-namespace", "ns", "-id", "abc", "-address", "/a.sock", "start"), shimProcess{}, false},
		{"its delete command ends by itself",
			args("/usr/bin/containerd-shim-runc-v2", "-namespace", "ns", "-id", "abc", "-address", "/a.sock", "-bundle", "/b", "delete"), shimProcess{}, false},
		{"another program with the same flags",
			args("/usr/bin/sleep", "-namespace", "ns", "-id", "abc"), shimProcess{}, false},
		{"a shim without an ID", args("containerd-shim-runc-v2", "-namespace", "ns"), shimProcess{}, false},
		{"nothing", nil, shimProcess{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseShimCmdline(tc.cmdline)
			if ok != tc.ok || (ok && got != tc.want) {
				t.Errorf("got %+v %v, want %+v %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestIsBundle(t *testing.T) {
	tests := []struct {
		dir  string
		want bool
	}{
		{"/tmp/ctrd/state/io.containerd.runtime.v2.task/flotilla-n1/abc", true},
		{"/tmp/ctrd/root/io.containerd.runtime.v2.task/flotilla-n1/abc/", true},
		{"/tmp/ctrd/state/io.containerd.runtime.v2.task/flotilla-n2/abc", false},
		{"/tmp/ctrd/state/io.containerd.runtime.v2.task/flotilla-n1/abd", false},
		{"/tmp/ctrd/state/other/flotilla-n1/abc", false},
		{"/tmp/ctrd/state/io.containerd.runtime.v2.task/flotilla-n1/abc (deleted)", false},
		{"io.containerd.runtime.v2.task/flotilla-n1/abc", false},
	}
	for _, tc := range tests {
		if got := isBundle(tc.dir, "flotilla-n1", "abc"); got != tc.want {
			t.Errorf("isBundle(%q) = %v, want %v", tc.dir, got, tc.want)
		}
	}
}

// orphanOf is what an orphaned shim holds, to check that it all goes.
type orphanOf struct {
	shimPID, taskPID int
	bundle           string
}

// makeOrphan runs spec, then deletes its container record behind the
// daemon's back (through the containers service, which does not look for
// a task): the shim, the task's process and the mounted bundle live on,
// and containerd's API no longer shows them.
func makeOrphan(t *testing.T, rt *Runtime, address string, spec runtime.ContainerSpec) orphanOf {
	t.Helper()
	ctx := testCtx(t, 60*time.Second)
	if err := rt.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	direct := directClient(t, address, rt.Namespace())
	o := orphanOf{taskPID: int(taskPID(t, direct, spec.ID))}
	shims, err := findShims(address, rt.Namespace(), spec.ID)
	if err != nil || len(shims) != 1 {
		t.Fatalf("the shim of %s: %+v %v", spec.ID, shims, err)
	}
	o.shimPID = shims[0].pid
	o.bundle, err = os.Readlink(filepath.Join("/proc", strconv.Itoa(o.shimPID), "cwd"))
	if err != nil {
		t.Fatal(err)
	}
	if !mountedUnder(t, o.bundle) {
		t.Fatalf("the bundle %s has no mount", o.bundle)
	}
	if err := direct.ContainerService().Delete(ctx, spec.ID); err != nil {
		t.Fatalf("delete the record behind the task: %v", err)
	}
	if _, err := rt.Status(ctx, spec.ID); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("status of the orphan's container: %v, want ErrNotFound", err)
	}
	return o
}

// requireGone checks that nothing of the orphan is left.
func (o orphanOf) requireGone(t *testing.T) {
	t.Helper()
	for _, pid := range []int{o.shimPID, o.taskPID} {
		if processAlive(pid) {
			t.Errorf("process %d of the orphan is still alive", pid)
		}
	}
	if mountedUnder(t, o.bundle) {
		t.Errorf("something is still mounted under the orphan's bundle %s", o.bundle)
	}
	if _, err := os.Stat(o.bundle); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the orphan's bundle %s is still there (%v)", o.bundle, err)
	}
}

// mountedUnder reports whether a mount point is at or under dir.
func mountedUnder(t *testing.T, dir string) bool {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			return true
		}
	}
	return false
}

// mountTypesAt lists the file system types mounted at dir, bottom first.
func mountTypesAt(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		_, after, ok := strings.Cut(line, " - ")
		if len(fields) > 4 && fields[4] == dir && ok {
			types = append(types, strings.Fields(after)[0])
		}
	}
	return types
}

// A container of the same ID as an orphan's (IDs repeat across clusters)
// is created and started: Create reaps the orphan first, so that its task
// is not passed off as the new container's.
func TestCreateReapsAnOrphanOfTheSameID(t *testing.T) {
	address := requireContainerd(t)
	cfg := Config{Address: address, Node: testNode(t, address), Network: testNetwork(t), StateDir: t.TempDir(), Binary: testBinary(t)}
	rt := newRuntime(t, cfg)
	spec := demoSpec(t, 8080)
	t.Cleanup(func() { cfg.Network.Remove(context.Background(), spec.ID) })
	orphan := makeOrphan(t, rt, address, spec)

	ctx := testCtx(t, 60*time.Second)
	if err := rt.Create(ctx, spec); err != nil {
		t.Fatalf("create over an orphan: %v", err)
	}
	removeAtEnd(t, rt, spec.ID)
	orphan.requireGone(t)
	if err := rt.Start(ctx, spec.ID); err != nil {
		t.Fatalf("start over an orphan: %v", err)
	}
	waitServing(t, rt, spec.ID, 8080)
	if pid := int(taskPID(t, directClient(t, address, rt.Namespace()), spec.ID)); pid == orphan.taskPID {
		t.Errorf("the task is the orphan's (pid %d)", pid)
	}
}

// A shim the daemon does not know, with a bundle in the way of the next
// NewTask (what a create cut short can leave), makes Start fail unless
// Start reaps it: it kills the shim, unmounts the bundle's rootfs, removes
// the bundle and makes the task again.
func TestStartReapsAShimInTheWay(t *testing.T) {
	address := requireContainerd(t)
	// Each container in a network namespace of its own: port 8080 of the
	// host belongs to labs and other tests.
	cfg := Config{Address: address, Node: testNode(t, address), Network: testNetwork(t), StateDir: t.TempDir(), Binary: testBinary(t)}
	rt := newRuntime(t, cfg)
	ctx := testCtx(t, 60*time.Second)

	// A running container shows where the daemon keeps its bundles.
	first := demoSpec(t, 8080)
	if err := rt.Create(ctx, first); err != nil {
		t.Fatal(err)
	}
	removeAtEnd(t, rt, first.ID)
	if err := rt.Start(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	shims, err := findShims(address, rt.Namespace(), first.ID)
	if err != nil || len(shims) != 1 {
		t.Fatalf("the shim of %s: %+v %v", first.ID, shims, err)
	}
	firstBundle, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(shims[0].pid), "cwd"))
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Stop(ctx, first.ID, 0); err != nil {
		t.Fatal(err)
	}

	// The second container gets an orphan before it starts: a bundle with a mounted rootfs and a
	// shim started in it by hand, which the daemon never heard of.
	spec := demoSpec(t, 8080)
	bundle := filepath.Join(filepath.Dir(firstBundle), spec.ID)
	// When the test fails half-way (and after the container's own
	// clean-up, which the daemon does in the same place).
	t.Cleanup(func() { unmountAll(filepath.Join(bundle, "rootfs")); os.RemoveAll(bundle) })
	if err := rt.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	removeAtEnd(t, rt, spec.ID)
	if err := os.MkdirAll(filepath.Join(bundle, "rootfs"), 0o700); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(firstBundle, "config.json"), filepath.Join(bundle, "config.json"))
	if err := syscall.Mount(t.TempDir(), filepath.Join(bundle, "rootfs"), "", syscall.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	// The shim logs to a fifo the daemon reads, and ends when it cannot.
	if err := syscall.Mkfifo(filepath.Join(bundle, "log"), 0o600); err != nil {
		t.Fatal(err)
	}
	shimLog, err := os.OpenFile(filepath.Join(bundle, "log"), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shimLog.Close() })
	shim := exec.Command("containerd-shim-runc-v2", "-namespace", rt.Namespace(), "-id", spec.ID, "-address", address, "start")
	shim.Dir = bundle
	shim.Env = append(os.Environ(), "TTRPC_ADDRESS="+address+".ttrpc")
	if out, err := shim.CombinedOutput(); err != nil {
		t.Fatalf("start a shim by hand: %v: %s", err, out)
	}
	shims, err = findShims(address, rt.Namespace(), spec.ID)
	if err != nil || len(shims) != 1 {
		t.Fatalf("the hand-made shim: %+v %v", shims, err)
	}
	orphan := orphanOf{shimPID: shims[0].pid, bundle: bundle}
	t.Cleanup(func() { syscall.Kill(orphan.shimPID, syscall.SIGKILL) })
	if cwd, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(orphan.shimPID), "cwd")); err != nil || cwd != bundle {
		t.Fatalf("the hand-made shim runs in %q (%v), want %s", cwd, err, bundle)
	}

	if err := rt.Start(ctx, spec.ID); err != nil {
		t.Fatalf("start with a shim in the way: %v", err)
	}
	waitServing(t, rt, spec.ID, 8080)
	requireOwnNetns(t, rt, spec.ID)
	if processAlive(orphan.shimPID) {
		t.Errorf("the hand-made shim %d is still alive", orphan.shimPID)
	}
	if types := mountTypesAt(t, filepath.Join(bundle, "rootfs")); !slices.Equal(types, []string{"overlay"}) {
		t.Errorf("mounts on %s/rootfs: %q, want the new task's overlay only", bundle, types)
	}
	if shims, _ := findShims(address, rt.Namespace(), spec.ID); len(shims) != 1 || shims[0].pid == orphan.shimPID {
		t.Errorf("shims of %s: %+v, want one new one", spec.ID, shims)
	}
}

// Purge reaps what containerd's API does not show: the orphaned shims of
// the namespace, their tasks' processes, their mounts and bundles. The
// same ID then runs again in a new namespace of the same name.
func TestPurgeReapsOrphanedShims(t *testing.T) {
	address := requireContainerd(t)
	network := testNetwork(t)
	cfg := Config{Address: address, Node: testNode(t, address), Network: network, StateDir: t.TempDir(), Binary: testBinary(t)}
	rt := newRuntime(t, cfg)
	spec, other := demoSpec(t, 8080), demoSpec(t, 8080)
	for _, id := range []string{spec.ID, other.ID} {
		t.Cleanup(func() { network.Remove(context.Background(), id) }) // Purge leaves networks to their owner
	}
	orphans := []orphanOf{makeOrphan(t, rt, address, spec), makeOrphan(t, rt, address, other)}

	ctx := testCtx(t, 60*time.Second)
	if err := Purge(ctx, address, rt.Namespace()); err != nil {
		t.Fatalf("purge: %v", err)
	}
	for _, o := range orphans {
		o.requireGone(t)
	}
	if shims, err := findShims(address, rt.Namespace(), ""); err != nil || len(shims) > 0 {
		t.Errorf("shims of %s after the purge: %+v %v", rt.Namespace(), shims, err)
	}
	if namespaceExists(t, address, rt.Namespace()) {
		t.Errorf("namespace %s is still there", rt.Namespace())
	}

	again := newRuntime(t, cfg)
	if err := again.Create(ctx, spec); err != nil {
		t.Fatalf("create the same ID after the purge: %v", err)
	}
	removeAtEnd(t, again, spec.ID)
	if err := again.Start(ctx, spec.ID); err != nil {
		t.Fatalf("start the same ID after the purge: %v", err)
	}
	waitServing(t, again, spec.ID, 8080)
}

// cancellingNetwork cancels the caller's context once a Setup is done: the
// agent stopping while a Create is under way.
type cancellingNetwork struct {
	*cni.Network
	cancel context.CancelFunc
}

func (n cancellingNetwork) Setup(ctx context.Context, id string, ports []cni.PortMapping) (string, netip.Addr, error) {
	path, ip, err := n.Network.Setup(ctx, id, ports)
	n.cancel()
	return path, ip, err
}

// Cancelled half-way (its network attached, its snapshot and record still
// to make), Create still makes the whole container, which then starts.
func TestCreateCancelledHalfWayFinishes(t *testing.T) {
	address := requireContainerd(t)
	network := testNetwork(t)
	ctx, cancel := context.WithCancel(testCtx(t, 60*time.Second))
	cfg := Config{Address: address, Node: testNode(t, address), Network: cancellingNetwork{network, cancel}, StateDir: t.TempDir(), Binary: testBinary(t)}
	rt := newRuntime(t, cfg)
	spec := demoSpec(t, 8080)
	removeAtEnd(t, rt, spec.ID)
	t.Cleanup(func() { network.Remove(context.Background(), spec.ID) })

	if err := rt.Create(ctx, spec); err != nil {
		t.Fatalf("create cancelled half-way: %v", err)
	}
	if ctx.Err() == nil {
		t.Fatal("the network did not cancel the context")
	}
	start := testCtx(t, 60*time.Second)
	if st, err := rt.Status(start, spec.ID); err != nil || st.State != runtime.StateCreated {
		t.Fatalf("status after the cancelled create: %+v %v", st, err)
	}
	if err := rt.Start(start, spec.ID); err != nil {
		t.Fatal(err)
	}
	waitServing(t, rt, spec.ID, 8080)
}

// Cancelled once the daemon has made its task (the shim started, the
// process not yet), Start still runs the container: no task is left
// half-made.
func TestStartCancelledHalfWayFinishes(t *testing.T) {
	address := requireContainerd(t)
	cfg := Config{Address: address, Node: testNode(t, address), Network: testNetwork(t), StateDir: t.TempDir(), Binary: testBinary(t)}
	rt := newRuntime(t, cfg)
	spec := demoSpec(t, 8080)
	setup := testCtx(t, 60*time.Second)
	if err := rt.Create(setup, spec); err != nil {
		t.Fatal(err)
	}
	removeAtEnd(t, rt, spec.ID)

	direct := directClient(t, address, rt.Namespace())
	subCtx, unsubscribe := context.WithCancel(setup)
	defer unsubscribe()
	events, errs := direct.Subscribe(subCtx, `topic=="/tasks/create"`)
	ctx, cancel := context.WithCancel(setup)
	cancelled := make(chan error, 1)
	go func() {
		defer cancel()
		for {
			select {
			case <-subCtx.Done():
				cancelled <- subCtx.Err()
				return
			case err := <-errs:
				cancelled <- err
				return
			case env := <-events:
				ev, err := typeurl.UnmarshalAny(env.Event)
				if e, ok := ev.(*apievents.TaskCreate); err == nil && ok && e.ContainerID == spec.ID {
					cancelled <- nil
					return
				}
			}
		}
	}()
	if err := rt.Start(ctx, spec.ID); err != nil {
		t.Fatalf("start cancelled half-way: %v", err)
	}
	select {
	case err := <-cancelled:
		if err != nil {
			t.Fatalf("no task create event: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no task create event within 10s of the start")
	}
	if st, err := rt.Status(setup, spec.ID); err != nil || st.State != runtime.StateRunning {
		t.Fatalf("status after the cancelled start: %+v %v", st, err)
	}
	waitServing(t, rt, spec.ID, 8080)
}
