package containerd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"

	"flotilla/runtime"
)

// Exit codes Exec gives when the command cannot be run, as a shell would.
const (
	exitNotFound      = 127
	exitNotExecutable = 126
)

// ioDrainTimeout bounds how long Exec waits for the last output of a
// command that has exited (a child of it may hold the pipes open).
const ioDrainTimeout = 2 * time.Second

// Exec runs cmd in the running container with the container's process
// settings (environment, user, working directory) and returns its exit
// code. A command that does not exist gives 127 and a line on stderr, as
// a shell says it; when ctx ends the command is killed.
func (r *Runtime) Exec(ctx context.Context, id string, cmd []string, stdout, stderr io.Writer) (int, error) {
	if len(cmd) == 0 {
		return 0, fmt.Errorf("exec in container %s: empty command", id)
	}
	c, err := r.load(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("exec: %w", err)
	}
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return 0, fmt.Errorf("exec in container %s: %w", id, runtime.ErrNotRunning)
	}
	if err != nil {
		return 0, fmt.Errorf("exec in container %s: load task: %w", id, err)
	}
	if st, err := task.Status(ctx); err != nil || st.Status != client.Running {
		return 0, fmt.Errorf("exec in container %s: %w", id, runtime.ErrNotRunning)
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return 0, fmt.Errorf("exec in container %s: spec: %w", id, err)
	}
	pspec := *spec.Process
	pspec.Args = cmd
	pspec.Terminal = false

	// The two copies write concurrently; one lock makes a writer given as
	// both stdout and stderr safe.
	var mu sync.Mutex
	out, errOut := &lockedWriter{mu: &mu, w: orDiscard(stdout)}, &lockedWriter{mu: &mu, w: orDiscard(stderr)}
	execID := "exec-" + randomHex(6)
	proc, err := task.Exec(ctx, execID, &pspec, cio.NewCreator(cio.WithStreams(nil, out, errOut)))
	if err != nil {
		return 0, fmt.Errorf("exec %s in container %s: %w", cmd[0], id, err)
	}
	cleanup := context.WithoutCancel(ctx)
	defer func() {
		if _, err := proc.Delete(cleanup, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			r.log.Warn("delete exec process", "id", id, "exec", execID, "err", err)
		}
	}()
	exited, err := proc.Wait(ctx)
	if err != nil {
		return 0, fmt.Errorf("exec %s in container %s: wait: %w", cmd[0], id, err)
	}
	if err := proc.Start(ctx); err != nil {
		// runc fails the exec itself when the command cannot be found.
		if code, ok := execFailure(err); ok {
			fmt.Fprintf(errOut, "%s: %s\n", cmd[0], map[int]string{exitNotFound: "command not found", exitNotExecutable: "permission denied"}[code])
			return code, nil
		}
		return 0, fmt.Errorf("exec %s in container %s: %w", cmd[0], id, err)
	}
	var status client.ExitStatus
	select {
	case status = <-exited:
	case <-ctx.Done():
		proc.Kill(cleanup, syscall.SIGKILL)
		return 0, fmt.Errorf("exec %s in container %s: %w", cmd[0], id, ctx.Err())
	}
	code, _, err := status.Result()
	if err != nil {
		return 0, fmt.Errorf("exec %s in container %s: %w", cmd[0], id, err)
	}
	drained := make(chan struct{})
	go func() { proc.IO().Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(ioDrainTimeout):
	}
	return int(code), nil
}

// execFailure maps runc's "could not execute" errors to a shell's codes.
func execFailure(err error) (int, bool) {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		return exitNotFound, true
	case strings.Contains(msg, "permission denied"), strings.Contains(msg, "exec format error"):
		return exitNotExecutable, true
	}
	return 0, false
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}
