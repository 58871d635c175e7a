//go:build linux

package lab

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"flotilla/internal/testutil"
	"flotilla/network/netlab"
	"flotilla/runtime/containerd"
)

// needContainerd is the socket of a containerd that answers, for a test
// run as root with nsenter; the test is skipped otherwise (failed under
// CI=true).
func needContainerd(t *testing.T) string {
	t.Helper()
	testutil.RequireRoot(t, "network namespaces and containerd")
	if _, err := exec.LookPath("nsenter"); err != nil {
		testutil.SkipOrFail(t, "needs nsenter (util-linux)")
	}
	socket := DefaultContainerdSocket()
	if err := containerd.Ping(context.Background(), socket, 3*time.Second); err != nil {
		testutil.SkipOrFail(t, "no containerd answers at %s ($%s): %v", socket, ContainerdSocketEnv, err)
	}
	return socket
}

// privateHost is a network namespace that stands in for the machine's own
// in a test: the bridges, veths and routes the labs make in it leave the
// machine's alone (and a lab another test runs meanwhile).
func privateHost(t *testing.T) string {
	t.Helper()
	name := "fltest-labhost-" + testutil.RandomHex(t, 4)
	if err := netlab.CreateNetns(name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := netlab.DeleteNetns(name); err != nil {
			t.Errorf("cleanup: delete netns %s: %v", name, err)
		}
	})
	return name
}

func inHost(t *testing.T, host string, fn func() error) {
	t.Helper()
	if err := netlab.Do(host, fn); err != nil {
		t.Fatal(err)
	}
}

// agentNamespace is the containerd namespace a lab tells its agent to use
// (without the flag an agent uses flotilla-NODE).
func agentNamespace(p Process) string {
	for i, a := range p.Args {
		if a == "--containerd-namespace" && i+1 < len(p.Args) {
			return p.Args[i+1]
		}
	}
	return "flotilla-" + p.Name
}

func containerdNamespaces(t *testing.T, socket string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.New(socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	list, err := c.NamespaceService().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// With a containerd lab up, another containerd lab is refused before it
// touches anything, and neither its lab up nor a lab down of it (it never
// started) removes what the running lab owns: its bridge, its nodes, its
// unreachable routes (no lab packet may follow a default route off the
// machine) and its agents' containerd namespaces.
func TestARefusedContainerdLabLeavesTheRunningOneAlone(t *testing.T) {
	socket := needContainerd(t)
	host := privateHost(t)
	root := t.TempDir()
	running := &Lab{Name: "ta" + testutil.RandomHex(t, 3), Runtime: "containerd", Binary: "/bin/true"}
	running.Dir = filepath.Join(root, running.Name)
	running.plan(Config{Name: running.Name, Servers: 1, Agents: 1, Runtime: "containerd", ContainerdSocket: socket, BasePort: 4646})
	t.Cleanup(func() {
		if err := netlab.Do(host, func() error { return running.teardownNetwork(io.Discard) }); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	inHost(t, host, running.setupNetwork)
	// The running lab's agent has containers: its containerd namespace.
	agent := running.Processes[1]
	ns := agentNamespace(agent)
	func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := client.New(socket, client.WithDefaultNamespace(ns))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.NamespaceService().Create(ctx, ns, map[string]string{"flotilla.test": t.Name()}); err != nil && !errdefs.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}()

	intact := func(step string) {
		t.Helper()
		inHost(t, host, func() error {
			br, err := netlink.LinkByName(running.Network.Bridge)
			if err != nil {
				t.Errorf("%s: the running lab's bridge %s: %v", step, running.Network.Bridge, err)
			} else if addrs, _ := netlink.AddrList(br, netlink.FAMILY_V4); len(addrs) == 0 {
				t.Errorf("%s: the running lab's bridge lost its address", step)
			}
			for _, ip := range []string{"10.199.7.7", "10.200.1.3", "10.201.0.9"} {
				if routes, err := netlink.RouteGet(net.ParseIP(ip)); !errors.Is(err, unix.EHOSTUNREACH) {
					t.Errorf("%s: route get %s = %v %v, want unreachable", step, ip, routes, err)
				}
			}
			return nil
		})
		for _, p := range running.Processes {
			if ok, err := netlab.NetnsExists(p.Netns); err != nil || !ok {
				t.Errorf("%s: the running lab's node %s (netns %s) is gone (%v)", step, p.Name, p.Netns, err)
			}
		}
		if !slices.Contains(containerdNamespaces(t, socket), ns) {
			t.Errorf("%s: the running agent's containerd namespace %s is gone", step, ns)
		}
	}
	intact("before")

	other := "tb" + testutil.RandomHex(t, 3)
	t.Cleanup(func() {
		// Only when the test failed: whatever the refused lab made.
		if l, err := Load(root, other); err == nil {
			netlab.Do(host, func() error { return l.Down(io.Discard) })
		}
	})
	var upErr error
	inHost(t, host, func() error {
		_, upErr = Up(context.Background(), Config{Name: other, Servers: 1, Agents: 1, Runtime: "containerd", Root: root,
			Binary: "/bin/true", ContainerdSocket: socket, ReadyTimeout: 3 * time.Second}, io.Discard)
		return nil
	})
	if upErr == nil || !strings.Contains(upErr.Error(), "another containerd lab is up") ||
		!strings.Contains(upErr.Error(), "flotilla lab down --name "+running.Name+" --dir "+root) {
		t.Fatalf("lab up of a second containerd lab: %v, want a refusal saying another containerd lab is up, and how to take it down", upErr)
	}
	t.Logf("refused: %v", upErr)
	intact("after the refused lab up")
	for _, p := range []string{"s1", "n1"} {
		if ok, _ := netlab.NetnsExists(netnsName(other, p)); ok {
			t.Errorf("the refused lab made its node %s", p)
		}
	}

	// lab down of the lab that never started.
	l, err := Load(root, other)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		t.Fatal(err)
	default:
		inHost(t, host, func() error { return l.Down(io.Discard) })
	}
	intact("after lab down of the refused lab")

	// A record of a lab of the same name in another lab directory (a run
	// whose lab down failed): the same names, another owner.
	stale := *running
	stale.Dir = filepath.Join(t.TempDir(), running.Name)
	stale.Processes = slices.Clone(running.Processes)
	if err := os.MkdirAll(stale.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := stale.save(); err != nil {
		t.Fatal(err)
	}
	var downErr error
	inHost(t, host, func() error { downErr = stale.Down(io.Discard); return nil })
	t.Logf("lab down of a same-named lab of another directory: %v", downErr)
	intact("after lab down of a same-named lab of another directory")
}

// A containerd that does not answer (a socket file left by a daemon that
// is gone) is found before anything starts: lab up fails at once with one
// line that says so, and makes no lab.
func TestContainerdLabRefusesAContainerdThatDoesNotAnswer(t *testing.T) {
	testutil.RequireRoot(t, "a containerd lab")
	if _, err := exec.LookPath("nsenter"); err != nil {
		testutil.SkipOrFail(t, "needs nsenter (util-linux)")
	}
	root := t.TempDir()
	socket := filepath.Join(root, "containerd.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(socket); err != nil {
		t.Fatalf("the stale socket file: %v", err)
	}

	// A private host: should the lab go ahead, its network stays off the machine's.
	host := privateHost(t)
	name := "td" + testutil.RandomHex(t, 3)
	t.Cleanup(func() {
		if l, err := Load(root, name); err == nil {
			netlab.Do(host, func() error { return l.Down(io.Discard) })
		}
	})
	start := time.Now()
	var upErr error
	inHost(t, host, func() error {
		_, upErr = Up(context.Background(), Config{Name: name, Servers: 1, Agents: 1, Runtime: "containerd", Root: root,
			Binary: "/bin/true", ContainerdSocket: socket, ReadyTimeout: 5 * time.Second}, io.Discard)
		return nil
	})
	took := time.Since(start)
	t.Logf("refused in %s: %v", took, upErr)
	if upErr == nil || !strings.Contains(upErr.Error(), "does not answer") || !strings.Contains(upErr.Error(), socket) {
		t.Fatalf("lab up with a dead containerd: %v, want an error saying that containerd at %s does not answer", upErr, socket)
	}
	if strings.Contains(upErr.Error(), "\n") {
		t.Errorf("the error is more than one line: %q", upErr)
	}
	if took > 5*time.Second {
		t.Errorf("lab up took %s to find a dead containerd", took)
	}
	if _, err := Load(root, name); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused lab up recorded a lab (%v)", err)
	}
	for _, p := range []string{"s1", "n1"} {
		if ok, _ := netlab.NetnsExists(netnsName(name, p)); ok {
			t.Errorf("a refused lab up made its node %s", p)
		}
	}
}
