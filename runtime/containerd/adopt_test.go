package containerd

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"flotilla/runtime"
	"flotilla/runtime/workload"
)

// A new Runtime on the same namespace (an agent restarted) sees the
// containers an earlier one started, still running, not restarted, and can
// watch, exec in, read the logs of and stop them.
func TestNewRuntimeAdoptsRunningContainers(t *testing.T) {
	address := requireContainerd(t)
	cfg := Config{Address: address, Node: testNode(t, address), Network: testNetwork(t), StateDir: t.TempDir(), Binary: testBinary(t)}
	direct := directClient(t, address, NamespacePrefix+cfg.Node)

	first, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	spec := demoSpec(t, 8080, "--version", "v9")
	ctx := testCtx(t, 60*time.Second)
	if err := first.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := first.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	waitServing(t, first, spec.ID, 8080)
	before, err := first.Status(context.Background(), spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	pid := taskPID(t, direct, spec.ID)
	if err := first.Close(); err != nil {
		t.Fatalf("close the first runtime: %v", err)
	}

	second := newRuntime(t, cfg)
	removeAtEnd(t, second, spec.ID)
	after, err := second.Status(ctx, spec.ID)
	if err != nil {
		t.Fatalf("status from the second runtime: %v", err)
	}
	if after.State != runtime.StateRunning || after.IP != before.IP || !after.StartedAt.Equal(before.StartedAt) {
		t.Errorf("second runtime sees %+v, want what the first saw: %+v", after, before)
	}
	if got := taskPID(t, direct, spec.ID); got != pid {
		t.Errorf("task PID %d, want %d: the container was restarted", got, pid)
	}
	list, err := second.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != spec.ID || list[0].State != runtime.StateRunning {
		t.Errorf("list from the second runtime: %+v %v", list, err)
	}
	var logs strings.Builder
	if err := second.Logs(ctx, spec.ID, false, &logs); err != nil || !strings.Contains(logs.String(), workload.LogStarted) {
		t.Errorf("logs from the second runtime: %v\n%s", err, logs.String())
	}
	var out strings.Builder
	if code, err := second.Exec(ctx, spec.ID, []string{"printenv", workload.EnvAllocation}, &out, nil); err != nil || code != 0 || out.String() != spec.ID+"\n" {
		t.Errorf("exec in the adopted container: %d %v %q", code, err, out.String())
	}
	waitCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := second.Wait(waitCtx, spec.ID); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait on the adopted running container: %v, want the deadline", err)
	}

	waited := make(chan runtime.Status, 1)
	go func() {
		st, err := second.Wait(ctx, spec.ID)
		if err != nil {
			t.Errorf("wait: %v", err)
		}
		waited <- st
	}()
	if err := second.Stop(ctx, spec.ID, 5*time.Second); err != nil {
		t.Fatalf("stop the adopted container: %v", err)
	}
	select {
	case st := <-waited:
		if st.State != runtime.StateExited || st.ExitCode != 0 || st.Error != "" {
			t.Errorf("wait after a graceful stop: %+v", st)
		}
	case <-ctx.Done():
		t.Fatal("wait did not return after the stop")
	}
	logs.Reset()
	if err := second.Logs(ctx, spec.ID, false, &logs); err != nil || !strings.Contains(logs.String(), workload.LogStopped) {
		t.Errorf("logs after the stop: %v\n%s", err, logs.String())
	}
}

// A container whose process is killed from outside (kill -9 of its PID)
// ends Wait with a non-zero exit and an error.
func TestWaitReportsAKilledProcess(t *testing.T) {
	address := requireContainerd(t)
	cfg := Config{Address: address, Node: testNode(t, address), Network: testNetwork(t), StateDir: t.TempDir(), Binary: testBinary(t)}
	rt := newRuntime(t, cfg)
	spec := demoSpec(t, 8080)
	runServing(t, rt, spec)
	pid := taskPID(t, directClient(t, address, NamespacePrefix+cfg.Node), spec.ID)

	ctx := testCtx(t, 20*time.Second)
	waited := make(chan error, 1)
	var st runtime.Status
	go func() {
		var err error
		st, err = rt.Wait(ctx, spec.ID)
		waited <- err
	}()
	if err := syscall.Kill(int(pid), syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", pid, err)
	}
	if err := <-waited; err != nil {
		t.Fatalf("wait: %v", err)
	}
	if st.State != runtime.StateExited || st.ExitCode != 137 || st.Error == "" || st.FinishedAt.IsZero() {
		t.Errorf("after kill -9: %+v, want exited 137 with an error", st)
	}
	if err := rt.Start(ctx, spec.ID); err != nil {
		t.Fatalf("start after the kill: %v", err)
	}
	waitServing(t, rt, spec.ID, 8080)
	if got := rt.mustStatus(t, spec.ID); got.ExitCode != 0 || got.Error != "" {
		t.Errorf("after the restart: %+v, want the old exit forgotten", got)
	}
}

func (r *Runtime) mustStatus(t *testing.T, id string) runtime.Status {
	t.Helper()
	st, err := r.Status(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Wait on a created container waits for it to be started and to exit;
// on a removed one it says ErrNotFound.
func TestWaitOnACreatedContainer(t *testing.T) {
	address := requireContainerd(t)
	cfg := Config{Address: address, Node: testNode(t, address), Network: testNetwork(t), StateDir: t.TempDir(), Binary: testBinary(t)}
	rt := newRuntime(t, cfg)
	ctx := testCtx(t, 60*time.Second)
	spec := demoSpec(t, 8080, "--crash-after", "500ms")
	if err := rt.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	removeAtEnd(t, rt, spec.ID)
	type result struct {
		st  runtime.Status
		err error
	}
	waited := make(chan result, 1)
	go func() {
		st, err := rt.Wait(ctx, spec.ID)
		waited <- result{st, err}
	}()
	select {
	case r := <-waited:
		t.Fatalf("wait returned before the start: %+v %v", r.st, r.err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := rt.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	r := <-waited
	if r.err != nil || r.st.State != runtime.StateExited || r.st.ExitCode != 1 || r.st.Error == "" {
		t.Errorf("wait: %+v %v, want exited 1 with an error", r.st, r.err)
	}
	if err := rt.Remove(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Wait(ctx, spec.ID); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("wait on a removed container: %v, want ErrNotFound", err)
	}
}

// With no Network the container shares the host's network namespace: its
// IP is 127.0.0.1 and it answers on the host's port.
func TestHostNetwork(t *testing.T) {
	address := requireContainerd(t)
	rt := newRuntime(t, Config{Address: address, Node: testNode(t, address), StateDir: t.TempDir(), Binary: testBinary(t)})
	port := freePort(t)
	spec := demoSpec(t, port)
	base := runServing(t, rt, spec)
	if st := rt.mustStatus(t, spec.ID); st.IP != "127.0.0.1" {
		t.Errorf("IP %q, want 127.0.0.1", st.IP)
	}
	if code, body := httpGet(t, base+"/"); code != 200 || !strings.Contains(body, Hostname(spec)) {
		t.Errorf("GET /: %d %s", code, body)
	}
	var out strings.Builder
	if code, err := rt.Exec(testCtx(t, 10*time.Second), spec.ID, []string{"cat", "/etc/hostname"}, &out, nil); err != nil || code != 0 || out.String() != Hostname(spec)+"\n" {
		t.Errorf("cat /etc/hostname: %d %v %q", code, err, out.String())
	}
}
