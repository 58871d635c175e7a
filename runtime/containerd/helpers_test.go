package containerd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/vishvananda/netlink"

	"flotilla/api"
	"flotilla/network/cni"
	"flotilla/network/netlab"
	"flotilla/runtime"
)

// The integration tests need root and a containerd daemon; they find it at
// $FLOTILLA_CONTAINERD (default the system socket). One way to start one:
//
//	mkdir -p /tmp/ctrd && containerd -c testdata/containerd.toml &
//	FLOTILLA_CONTAINERD=/tmp/ctrd/containerd.sock go test -race ./runtime/containerd/
const runHint = "run as root with a containerd daemon: `mkdir -p /tmp/ctrd && containerd -c runtime/containerd/testdata/containerd.toml &` then FLOTILLA_CONTAINERD=/tmp/ctrd/containerd.sock go test ./runtime/containerd/"

// testDir holds what the test binary builds once (the flotilla binary).
var testDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "flotilla-containerd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	testDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// skipOrFail skips, except in CI (CI=true), where a test that did not run
// must fail.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: not skipping)", msg)
	}
	t.Skip("skipping: " + msg)
}

// requireContainerd is the address of a daemon that answers, as root.
// The tests that need one start containers, which takes seconds: -short
// skips them.
func requireContainerd(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts containers; skipped with -short")
	}
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root; %s", runHint)
	}
	address := os.Getenv("FLOTILLA_CONTAINERD")
	if address == "" {
		address = DefaultAddress
	}
	daemonProbe.once.Do(func() {
		if _, err := os.Stat(address); err != nil {
			daemonProbe.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		c, err := connect(ctx, address, "flotilla-probe")
		if err == nil {
			c.Close()
		}
		daemonProbe.err = err
	})
	if daemonProbe.err != nil {
		skipOrFail(t, "no containerd at %s (%v); %s", address, daemonProbe.err, runHint)
	}
	return address
}

// daemonProbe is asked once per test binary.
var daemonProbe struct {
	once sync.Once
	err  error
}

var flotillaBinary struct {
	once sync.Once
	path string
	err  error
}

// testBinary is cmd/flotilla built static (CGO_ENABLED=0), once per test
// binary: the demo image's contents. $FLOTILLA_TEST_BINARY names a
// prebuilt one instead; without one, -short skips the test (the build
// takes seconds).
func testBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() && os.Getenv("FLOTILLA_TEST_BINARY") == "" {
		t.Skip("builds the flotilla binary; skipped with -short (or set $FLOTILLA_TEST_BINARY)")
	}
	flotillaBinary.once.Do(func() {
		if p := os.Getenv("FLOTILLA_TEST_BINARY"); p != "" {
			flotillaBinary.path = p
			return
		}
		out := filepath.Join(testDir, "flotilla")
		gobin := filepath.Join(goruntime.GOROOT(), "bin", "go")
		if _, err := os.Stat(gobin); err != nil {
			gobin = "go"
		}
		cmd := exec.Command(gobin, "build", "-o", out, "flotilla/cmd/flotilla")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			flotillaBinary.err = fmt.Errorf("build flotilla: %v\n%s", err, b)
			return
		}
		flotillaBinary.path = out
	})
	if flotillaBinary.err != nil {
		t.Fatal(flotillaBinary.err)
	}
	return flotillaBinary.path
}

func randomName(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// testNode is a fresh node name whose namespace is purged when the test
// ends, and checked to be gone.
func testNode(t *testing.T, address string) string {
	t.Helper()
	node := "test-" + randomName(t, 4)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := Purge(ctx, address, NamespacePrefix+node); err != nil {
			t.Errorf("cleanup: purge %s: %v", node, err)
		}
		if namespaceExists(t, address, NamespacePrefix+node) {
			t.Errorf("cleanup: namespace %s%s is still there after Purge", NamespacePrefix, node)
		}
	})
	return node
}

func namespaceExists(t *testing.T, address, ns string) bool {
	t.Helper()
	c := directClient(t, address, ns)
	list, err := c.NamespaceService().List(context.Background())
	if err != nil {
		t.Fatalf("list namespaces: %v", err)
	}
	for _, n := range list {
		if n == ns {
			return true
		}
	}
	return false
}

// directClient is a containerd client of the test's own, to look behind
// the runtime's back.
func directClient(t *testing.T, address, ns string) *client.Client {
	t.Helper()
	c, err := connect(context.Background(), address, ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testNetwork is a CNI bridge network on a random 10.203.X.0/24 with its
// own bridge, IPAM data and netns names; the bridge and any namespace
// left are deleted when the test ends.
func testNetwork(t *testing.T) *cni.Network {
	t.Helper()
	suffix := randomName(t, 4)
	subnet := freeSubnet(t)
	bridge := "fltest" + suffix
	prefix := "fltest-" + suffix + "-"
	n, err := cni.New(cni.Config{
		Name:        "fltest-" + suffix,
		Bridge:      bridge,
		Subnet:      subnet,
		DataDir:     t.TempDir(),
		NetnsPrefix: prefix,
	})
	if err != nil {
		t.Fatalf("cni network: %v", err)
	}
	t.Cleanup(func() {
		names, err := netlab.ListNetns(prefix)
		if err != nil {
			t.Errorf("cleanup: list netns: %v", err)
		}
		for _, name := range names {
			t.Errorf("cleanup: netns %s was left behind", name)
			if err := netlab.DeleteNetns(name); err != nil {
				t.Errorf("cleanup: delete netns %s: %v", name, err)
			}
		}
		if link, err := netlink.LinkByName(bridge); err == nil {
			if err := netlink.LinkDel(link); err != nil {
				t.Errorf("cleanup: delete bridge %s: %v", bridge, err)
			}
		}
	})
	return n
}

// freeSubnet picks a 10.203.X.0/24 that no interface of the host is on.
func freeSubnet(t *testing.T) netip.Prefix {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		b := make([]byte, 1)
		rand.Read(b)
		subnet := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 203, b[0], 0}), 24)
		taken := false
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Masked().Overlaps(subnet) {
				taken = true
			}
		}
		if !taken {
			return subnet
		}
	}
	t.Fatal("no free 10.203.X.0/24")
	return netip.Prefix{}
}

// newRuntime makes a runtime and closes it when the test ends.
func newRuntime(t *testing.T, cfg Config) *Runtime {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rt, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rt.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return rt
}

// demoSpec is a demo workload container listening on port.
func demoSpec(t *testing.T, port int, args ...string) runtime.ContainerSpec {
	return runtime.ContainerSpec{
		ID:        randomName(t, 8),
		Namespace: "default",
		Service:   "web",
		Revision:  1,
		Node:      "test-node",
		Image:     DemoImagePrefix + "test",
		Args:      args,
		Ports:     []api.Port{{Name: "http", Port: port, Protocol: "http"}},
		Resources: api.Resources{CPU: 500, Memory: 256 << 20},
	}
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// removeAtEnd stops and removes the container when the test ends.
func removeAtEnd(t *testing.T, rt *Runtime, id string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := rt.Stop(ctx, id, 0); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("cleanup: stop %s: %v", id, err)
		}
		if err := rt.Remove(ctx, id); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("cleanup: remove %s: %v", id, err)
		}
	})
}

// runServing creates and starts spec and waits until GET / answers; it
// returns the base URL.
func runServing(t *testing.T, rt *Runtime, spec runtime.ContainerSpec) string {
	t.Helper()
	ctx := testCtx(t, 60*time.Second)
	if err := rt.Create(ctx, spec); err != nil {
		t.Fatalf("create: %v", err)
	}
	removeAtEnd(t, rt, spec.ID)
	if err := rt.Start(ctx, spec.ID); err != nil {
		t.Fatalf("start: %v", err)
	}
	return waitServing(t, rt, spec.ID, spec.Ports[0].Port)
}

func waitServing(t *testing.T, rt *Runtime, id string, port int) string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		st, err := rt.Status(context.Background(), id)
		if err != nil {
			t.Fatalf("status: %v", err)
		}
		if st.State == runtime.StateExited {
			var logs strings.Builder
			rt.Logs(context.Background(), id, false, &logs)
			t.Fatalf("container exited: %+v\n%s", st, logs.String())
		}
		base := "http://" + net.JoinHostPort(st.IP, strconv.Itoa(port))
		resp, err := http.Get(base + "/")
		if err == nil {
			resp.Body.Close()
			return base
		}
		last = err
		select {
		case <-deadline:
			t.Fatalf("container %s does not answer: %v", id, last)
		case <-tick.C:
		}
	}
}

// taskPID is the host PID of the container's task.
func taskPID(t *testing.T, c *client.Client, id string) uint32 {
	t.Helper()
	ctr, err := c.LoadContainer(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	task, err := ctr.Task(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return task.Pid()
}

// requireOwnNetns fails the test unless the container's task runs in a
// network namespace of its own: one that shares the host's (containerd's,
// or the test's) binds its ports there, where labs and other tests bind
// theirs.
func requireOwnNetns(t *testing.T, rt *Runtime, id string) {
	t.Helper()
	pid := taskPID(t, directClient(t, rt.cfg.Address, rt.Namespace()), id)
	its, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, other := range []string{"/proc/self/ns/net", "/proc/1/ns/net"} {
		if ns, err := os.Readlink(other); err == nil && ns == its {
			t.Fatalf("container %s runs in the network namespace of %s (%s): its ports are the host's", id, filepath.Dir(filepath.Dir(other)), its)
		}
	}
}

// processExists reports whether pid is a live process (not a zombie).
func processExists(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	_, rest, ok := strings.Cut(string(b), ") ")
	return ok && !strings.HasPrefix(rest, "Z")
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// freePort is a TCP port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
