package runtimetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/internal/testutil"
	"flotilla/runtime"
	"flotilla/runtime/workload"
)

// Runtime is the runtime as the agent consumes it (agent.Runtime, declared
// again here so that the contract does not depend on the agent).
type Runtime interface {
	Create(ctx context.Context, spec runtime.ContainerSpec) error
	Start(ctx context.Context, id string) error
	Stop(ctx context.Context, id string, grace time.Duration) error
	Remove(ctx context.Context, id string) error
	List(ctx context.Context) ([]runtime.Status, error)
	Status(ctx context.Context, id string) (runtime.Status, error)
	Wait(ctx context.Context, id string) (runtime.Status, error)
	Stats(ctx context.Context, id string) (runtime.Stats, error)
	Exec(ctx context.Context, id string, cmd []string, stdout, stderr io.Writer) (int, error)
	Logs(ctx context.Context, id string, follow bool, w io.Writer) error
}

// Harness is how the suite gets runtimes.
type Harness struct {
	// New makes a fresh runtime for the node "test-node" and arranges its
	// own cleanup with t.Cleanup.
	New func(t *testing.T) Runtime
	// Image is the demo image (the workload).
	Image string
	// Timeout bounds every wait of the suite; 15s when 0.
	Timeout time.Duration
}

// Node is the node name the suite's specs carry.
const Node = "test-node"

// Port is where the suite's containers listen.
const Port = 8080

// ConfigPath and ConfigData are the file mounted into every container.
const (
	ConfigPath = "/etc/web/config.yaml"
	ConfigData = "color: blue\n"
)

// Run runs the contract against h, one parallel subtest per promise.
func Run(t *testing.T, h Harness) {
	if h.Timeout == 0 {
		h.Timeout = 15 * time.Second
	}
	for _, tc := range []struct {
		name string
		fn   func(s *suite)
	}{
		{"create and start give a running container with an IP", testCreateStart},
		{"GET / answers the version from --version and the node and allocation from the env", testIdentity},
		{"the hostname is the service and the ID's first five characters", testHostname},
		{"args are the workload's flags", testArgs},
		{"env and the node's variables reach the container", testEnv},
		{"stop with a grace period exits 0 and stopping again is no error", testStopGraceful},
		{"stop kills a container that outlives its grace period with 137", testStopKills},
		{"a crash exits 1 with an error and Wait returns it", testCrash},
		{"Wait ends with its context while the container runs", testWaitContext},
		{"start after exit restarts the container", testRestart},
		{"remove of a running container fails with ErrRunning", testRemoveRunning},
		{"remove then status, start and remove give ErrNotFound", testRemoveNotFound},
		{"duplicate create fails with ErrExists", testDuplicate},
		{"list shows every container", testList},
		{"stats report memory at least --memory and count requests", testStats},
		{"exec echo hello prints hello and exits 0", testExecEcho},
		{"exec false exits 1", testExecFalse},
		{"exec of an unknown command exits 127", testExecUnknown},
		{"exec cat reads a mounted file", testExecCat},
		{"logs contain the start line and a request line", testLogs},
		{"logs follow delivers a line logged after it started", testLogsFollow},
		{"logs follow ends when the container exits", testLogsFollowEnds},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(&suite{t: t, h: h, rt: h.New(t)})
		})
	}
}

// suite is one subtest's runtime and helpers.
type suite struct {
	t  *testing.T
	h  Harness
	rt Runtime
}

var client = &http.Client{
	Timeout:   2 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true},
}

func (s *suite) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), s.h.Timeout)
	s.t.Cleanup(cancel)
	return ctx
}

// newID makes an allocation-like ID: 16 hex digits.
func newID(t *testing.T) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// spec is the suite's container: the demo image with args, COLOR=blue, one
// http port, a mounted config file and room for 256Mi.
func (s *suite) spec(args ...string) runtime.ContainerSpec {
	return runtime.ContainerSpec{
		ID:        newID(s.t),
		Namespace: "default",
		Service:   "web",
		Revision:  1,
		Node:      Node,
		Image:     s.h.Image,
		Args:      args,
		Env:       map[string]string{"COLOR": "blue"},
		Ports:     []api.Port{{Name: "http", Port: Port, Protocol: "http"}},
		Resources: api.Resources{CPU: 250, Memory: 256 << 20},
		Files:     map[string][]byte{ConfigPath: []byte(ConfigData)},
	}
}

// create creates spec and removes the container when the test ends.
func (s *suite) create(spec runtime.ContainerSpec) {
	s.t.Helper()
	if err := s.rt.Create(s.ctx(), spec); err != nil {
		s.t.Fatalf("create: %v", err)
	}
	s.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.h.Timeout)
		defer cancel()
		if err := s.rt.Stop(ctx, spec.ID, 0); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			s.t.Errorf("cleanup: stop %s: %v", spec.ID, err)
		}
		if err := s.rt.Remove(ctx, spec.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			s.t.Errorf("cleanup: remove %s: %v", spec.ID, err)
		}
	})
}

// run creates and starts spec and waits until GET / answers; it returns
// the container's base URL.
func (s *suite) run(spec runtime.ContainerSpec) string {
	s.t.Helper()
	s.create(spec)
	if err := s.rt.Start(s.ctx(), spec.ID); err != nil {
		s.t.Fatalf("start: %v", err)
	}
	return s.waitServing(spec.ID)
}

// waitServing waits until the container runs, has an IP and answers GET /.
func (s *suite) waitServing(id string) string {
	s.t.Helper()
	var base string
	s.eventually("the container answers GET /", func() error {
		st, err := s.rt.Status(s.ctx(), id)
		if err != nil {
			return err
		}
		if st.State != runtime.StateRunning {
			return fmt.Errorf("state %s (exit %d %s)", st.State, st.ExitCode, st.Error)
		}
		if net.ParseIP(st.IP) == nil {
			return fmt.Errorf("no IP: %q", st.IP)
		}
		base = "http://" + net.JoinHostPort(st.IP, strconv.Itoa(Port))
		_, _, err = get(base + "/")
		return err
	})
	return base
}

// eventually polls check until it passes or the deadline, then fails with
// its last error.
func (s *suite) eventually(what string, check func() error) {
	s.t.Helper()
	deadline := time.Now().Add(s.h.Timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: not within %v: %v", what, s.h.Timeout, err)
		}
		<-tick.C
	}
}

func get(url string) (int, []byte, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

func (s *suite) identity(base string) (int, workload.Identity) {
	s.t.Helper()
	code, body, err := get(base + "/")
	if err != nil {
		s.t.Fatalf("GET /: %v", err)
	}
	var id workload.Identity
	if err := json.Unmarshal(body, &id); err != nil {
		s.t.Fatalf("GET /: %v: %s", err, body)
	}
	return code, id
}

func (s *suite) status(id string) runtime.Status {
	s.t.Helper()
	st, err := s.rt.Status(s.ctx(), id)
	if err != nil {
		s.t.Fatalf("status: %v", err)
	}
	return st
}

func (s *suite) exec(id string, cmd ...string) (int, string, string) {
	s.t.Helper()
	var stdout, stderr bytes.Buffer
	code, err := s.rt.Exec(s.ctx(), id, cmd, &stdout, &stderr)
	if err != nil {
		s.t.Fatalf("exec %v: %v", cmd, err)
	}
	return code, stdout.String(), stderr.String()
}

func (s *suite) logs(id string) string {
	s.t.Helper()
	var out bytes.Buffer
	if err := s.rt.Logs(s.ctx(), id, false, &out); err != nil {
		s.t.Fatalf("logs: %v", err)
	}
	return out.String()
}

func testCreateStart(s *suite) {
	spec := s.spec()
	s.create(spec)
	if st := s.status(spec.ID); st.State != runtime.StateCreated {
		s.t.Errorf("after create: state %s, want created", st.State)
	}
	if err := s.rt.Start(s.ctx(), spec.ID); err != nil {
		s.t.Fatal(err)
	}
	s.waitServing(spec.ID)
	st := s.status(spec.ID)
	if st.ID != spec.ID || st.State != runtime.StateRunning || net.ParseIP(st.IP) == nil || st.StartedAt.IsZero() {
		s.t.Errorf("status %+v, want running with an IP and a start time", st)
	}
	if err := s.rt.Start(s.ctx(), spec.ID); !errors.Is(err, runtime.ErrRunning) {
		s.t.Errorf("start of a running container: %v, want ErrRunning", err)
	}
}

func testIdentity(s *suite) {
	spec := s.spec("--version", "v7")
	base := s.run(spec)
	code, id := s.identity(base)
	if code != 200 || id.Version != "v7" || id.Node != Node || id.Allocation != spec.ID {
		s.t.Errorf("GET /: %d %+v, want 200 with version v7, node %s, allocation %s", code, id, Node, spec.ID)
	}
}

func testHostname(s *suite) {
	spec := s.spec()
	base := s.run(spec)
	want := spec.Service + "-" + spec.ID[:5]
	if _, id := s.identity(base); id.Hostname != want {
		s.t.Errorf("GET / says hostname %q, want %q", id.Hostname, want)
	}
	if code, out, _ := s.exec(spec.ID, "hostname"); code != 0 || out != want+"\n" {
		s.t.Errorf("exec hostname: %d %q, want %q", code, out, want)
	}
}

func testArgs(s *suite) {
	base := s.run(s.spec("--error-rate", "1", "--version", "v2"))
	if code, id := s.identity(base); code != 500 || id.Version != "v2" || id.Error == "" {
		s.t.Errorf("with --error-rate 1: %d %+v, want 500 with an error from v2", code, id)
	}
	if code, _, _ := get(base + "/healthz"); code != 200 {
		s.t.Errorf("/healthz: %d", code)
	}
}

func testEnv(s *suite) {
	spec := s.spec()
	s.run(spec)
	for name, want := range map[string]string{
		"COLOR":                "blue",
		workload.EnvNode:       Node,
		workload.EnvAllocation: spec.ID,
	} {
		if code, out, errOut := s.exec(spec.ID, "printenv", name); code != 0 || out != want+"\n" {
			s.t.Errorf("printenv %s: %d %q %q, want %q", name, code, out, errOut, want)
		}
	}
}

func testStopGraceful(s *suite) {
	spec := s.spec()
	s.run(spec)
	if err := s.rt.Stop(s.ctx(), spec.ID, 5*time.Second); err != nil {
		s.t.Fatal(err)
	}
	st := s.status(spec.ID)
	if st.State != runtime.StateExited || st.ExitCode != 0 || st.Error != "" || st.FinishedAt.IsZero() {
		s.t.Errorf("after a graceful stop: %+v, want exited 0 with no error", st)
	}
	if err := s.rt.Stop(s.ctx(), spec.ID, time.Second); err != nil {
		s.t.Errorf("stopping an exited container: %v", err)
	}
}

func testStopKills(s *suite) {
	spec := s.spec("--shutdown-delay", "5s")
	s.run(spec)
	began := time.Now()
	if err := s.rt.Stop(s.ctx(), spec.ID, 200*time.Millisecond); err != nil {
		s.t.Fatal(err)
	}
	if took := time.Since(began); took > 4*time.Second {
		s.t.Errorf("stop with a 200ms grace took %v; the 5s shutdown delay was waited out", took)
	}
	if st := s.status(spec.ID); st.State != runtime.StateExited || st.ExitCode != 137 {
		s.t.Errorf("after the grace ran out: %+v, want exited 137", st)
	}
}

func testCrash(s *suite) {
	spec := s.spec("--crash-after", "300ms")
	s.create(spec)
	if err := s.rt.Start(s.ctx(), spec.ID); err != nil {
		s.t.Fatal(err)
	}
	st, err := s.rt.Wait(s.ctx(), spec.ID)
	if err != nil {
		s.t.Fatalf("wait: %v", err)
	}
	if st.State != runtime.StateExited || st.ExitCode != 1 || st.Error == "" {
		s.t.Errorf("wait: %+v, want exited 1 with an error", st)
	}
	if got := s.status(spec.ID); got.ExitCode != 1 || got.State != runtime.StateExited {
		s.t.Errorf("status after the crash: %+v", got)
	}
}

func testWaitContext(s *suite) {
	spec := s.spec()
	s.run(spec)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := s.rt.Wait(ctx, spec.ID); !errors.Is(err, context.DeadlineExceeded) {
		s.t.Errorf("wait on a running container: %v, want the context's deadline", err)
	}
}

func testRestart(s *suite) {
	spec := s.spec("--version", "v3")
	s.run(spec)
	if err := s.rt.Stop(s.ctx(), spec.ID, 5*time.Second); err != nil {
		s.t.Fatal(err)
	}
	first := s.status(spec.ID)
	if err := s.rt.Start(s.ctx(), spec.ID); err != nil {
		s.t.Fatalf("start after exit: %v", err)
	}
	base := s.waitServing(spec.ID)
	if code, id := s.identity(base); code != 200 || id.Version != "v3" {
		s.t.Errorf("after the restart GET / says %d %+v", code, id)
	}
	if st := s.status(spec.ID); st.StartedAt.Before(first.StartedAt) || st.ExitCode != 0 {
		s.t.Errorf("after the restart: %+v (first run %+v)", st, first)
	}
}

func testRemoveRunning(s *suite) {
	spec := s.spec()
	s.run(spec)
	if err := s.rt.Remove(s.ctx(), spec.ID); !errors.Is(err, runtime.ErrRunning) {
		s.t.Errorf("remove of a running container: %v, want ErrRunning", err)
	}
	if st := s.status(spec.ID); st.State != runtime.StateRunning {
		s.t.Errorf("the failed remove changed the container: %+v", st)
	}
}

func testRemoveNotFound(s *suite) {
	spec := s.spec()
	s.run(spec)
	if err := s.rt.Stop(s.ctx(), spec.ID, 5*time.Second); err != nil {
		s.t.Fatal(err)
	}
	if err := s.rt.Remove(s.ctx(), spec.ID); err != nil {
		s.t.Fatalf("remove: %v", err)
	}
	if _, err := s.rt.Status(s.ctx(), spec.ID); !errors.Is(err, runtime.ErrNotFound) {
		s.t.Errorf("status after remove: %v, want ErrNotFound", err)
	}
	if err := s.rt.Start(s.ctx(), spec.ID); !errors.Is(err, runtime.ErrNotFound) {
		s.t.Errorf("start after remove: %v, want ErrNotFound", err)
	}
	if err := s.rt.Remove(s.ctx(), spec.ID); !errors.Is(err, runtime.ErrNotFound) {
		s.t.Errorf("remove again: %v, want ErrNotFound", err)
	}
	list, err := s.rt.List(s.ctx())
	if err != nil {
		s.t.Fatal(err)
	}
	for _, st := range list {
		if st.ID == spec.ID {
			s.t.Errorf("list still shows %s", spec.ID)
		}
	}
}

func testDuplicate(s *suite) {
	spec := s.spec()
	s.create(spec)
	if err := s.rt.Create(s.ctx(), spec); !errors.Is(err, runtime.ErrExists) {
		s.t.Errorf("second create: %v, want ErrExists", err)
	}
}

func testList(s *suite) {
	running, created := s.spec(), s.spec()
	s.run(running)
	s.create(created)
	list, err := s.rt.List(s.ctx())
	if err != nil {
		s.t.Fatal(err)
	}
	states := map[string]runtime.State{}
	for _, st := range list {
		states[st.ID] = st.State
	}
	if states[running.ID] != runtime.StateRunning || states[created.ID] != runtime.StateCreated {
		s.t.Errorf("list: %+v, want %s running and %s created", list, running.ID, created.ID)
	}
}

func testStats(s *suite) {
	spec := s.spec("--memory", "64Mi")
	base := s.run(spec)
	for range 3 {
		if code, _, err := get(base + "/"); err != nil || code != 200 {
			s.t.Fatalf("GET /: %d %v", code, err)
		}
	}
	s.eventually("stats count the requests", func() error {
		st, err := s.rt.Stats(s.ctx(), spec.ID)
		if err != nil {
			return err
		}
		if st.Memory < 64<<20 {
			return fmt.Errorf("memory %v, want at least 64Mi", st.Memory)
		}
		if st.Requests < 3 {
			return fmt.Errorf("requests %d, want at least 3", st.Requests)
		}
		return nil
	})
}

func testExecEcho(s *suite) {
	spec := s.spec()
	s.run(spec)
	if code, out, _ := s.exec(spec.ID, "echo", "hello"); code != 0 || out != "hello\n" {
		s.t.Errorf("echo hello: %d %q", code, out)
	}
}

func testExecFalse(s *suite) {
	spec := s.spec()
	s.run(spec)
	if code, _, _ := s.exec(spec.ID, "false"); code != 1 {
		s.t.Errorf("false: exit %d, want 1", code)
	}
}

func testExecUnknown(s *suite) {
	spec := s.spec()
	s.run(spec)
	if code, _, _ := s.exec(spec.ID, "no-such-command", "x"); code != 127 {
		s.t.Errorf("unknown command: exit %d, want 127", code)
	}
}

func testExecCat(s *suite) {
	spec := s.spec()
	s.run(spec)
	if code, out, errOut := s.exec(spec.ID, "cat", ConfigPath); code != 0 || out != ConfigData {
		s.t.Errorf("cat %s: %d %q %q, want %q", ConfigPath, code, out, errOut, ConfigData)
	}
}

func testLogs(s *suite) {
	spec := s.spec("--version", "v5")
	base := s.run(spec)
	marker := "/logs-" + spec.ID
	get(base + marker)
	s.eventually("the logs have the start and request lines", func() error {
		logs := s.logs(spec.ID)
		for _, want := range []string{workload.LogStarted, "version=v5", "path=" + marker + " "} {
			if !strings.Contains(logs, want) {
				return fmt.Errorf("no %q in:\n%s", want, logs)
			}
		}
		return nil
	})
}

func (s *suite) follow(id string) (*testutil.SyncBuffer, context.CancelFunc, <-chan error) {
	s.t.Helper()
	out := &testutil.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	s.t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- s.rt.Logs(ctx, id, true, out) }()
	s.eventually("following copies what was logged before", func() error {
		if !strings.Contains(out.String(), workload.LogStarted) {
			return fmt.Errorf("no start line yet: %q", out.String())
		}
		return nil
	})
	return out, cancel, done
}

func (s *suite) waitReturn(done <-chan error, what string) {
	s.t.Helper()
	select {
	case err := <-done:
		if err != nil {
			s.t.Errorf("%s: %v", what, err)
		}
	case <-time.After(s.h.Timeout):
		s.t.Fatalf("%s: Logs did not return", what)
	}
}

func testLogsFollow(s *suite) {
	spec := s.spec()
	base := s.run(spec)
	out, cancel, done := s.follow(spec.ID)
	marker := "/follow-" + spec.ID
	get(base + marker)
	s.eventually("the follower gets the new request line", func() error {
		if !strings.Contains(out.String(), "path="+marker+" ") {
			return fmt.Errorf("no %s line in:\n%s", marker, out.String())
		}
		return nil
	})
	cancel()
	s.waitReturn(done, "follow after its context ended")
}

func testLogsFollowEnds(s *suite) {
	spec := s.spec()
	s.run(spec)
	out, _, done := s.follow(spec.ID)
	if err := s.rt.Stop(s.ctx(), spec.ID, 5*time.Second); err != nil {
		s.t.Fatal(err)
	}
	s.waitReturn(done, "follow after the container exited")
	if !strings.Contains(out.String(), workload.LogStopped) {
		s.t.Errorf("the follower missed the last lines:\n%s", out.String())
	}
}
