package containerd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
)

const (
	// followPoll is how often a follower looks at the file when no
	// notification of a change came (the shim writes it from another
	// process; inotify tells of most writes).
	followPoll = time.Second
	// drainTimeout bounds the wait for the log driver to finish copying an
	// exited task's last output (the shim reports the exit before the
	// pipes are drained; the driver's writers close the file when they are).
	drainTimeout = 5 * time.Second
)

// Logs copies the container's output (stdout and stderr as the shim wrote
// them, across restarts) to w. With follow it goes on until ctx ends or the
// task exits, then copies what is left. Following a container that is not
// running returns once what is there is copied.
func (r *Runtime) Logs(ctx context.Context, id string, follow bool, w io.Writer) error {
	c, err := r.load(ctx, id)
	if err != nil {
		return fmt.Errorf("logs: %w", err)
	}
	path := r.logPath(id)
	var (
		watch  *logWatch
		exited <-chan client.ExitStatus
	)
	if follow {
		// Watching starts before the task is looked at, so that the close
		// after its exit cannot be missed.
		if watch, err = watchLog(path, logWriters); err == nil {
			defer watch.Close()
		} else if errors.Is(err, fs.ErrNotExist) {
			return nil // never started: no output, nothing to follow
		} else {
			r.log.Debug("following without inotify", "id", id, "err", err)
		}
		waitCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		if exited, err = r.runningExit(waitCtx, c); err != nil {
			return fmt.Errorf("logs of container %s: %w", id, err)
		}
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // never started
	}
	if err != nil {
		return fmt.Errorf("logs of container %s: %w", id, err)
	}
	defer f.Close()
	copyNew := func() error {
		if _, err := io.Copy(w, f); err != nil {
			return fmt.Errorf("logs of container %s: %w", id, err)
		}
		return nil
	}
	if err := copyNew(); err != nil || exited == nil {
		return err
	}
	var grew, closed <-chan struct{}
	if watch != nil {
		grew, closed = watch.grew, watch.closed
	}
	tick := time.NewTicker(followPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-exited:
			return drain(ctx, copyNew, grew, closed)
		case <-grew:
		case <-tick.C:
		}
		if err := copyNew(); err != nil {
			return err
		}
	}
}

// drain copies until the log driver's writers have closed the file (or
// drainTimeout).
func drain(ctx context.Context, copyNew func() error, grew, closed <-chan struct{}) error {
	timeout := time.NewTimer(drainTimeout)
	defer timeout.Stop()
	if closed == nil {
		// No notifications: give the driver a moment.
		timeout.Reset(followPoll)
	}
	for {
		if err := copyNew(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-closed:
			return copyNew()
		case <-timeout.C:
			return copyNew()
		case <-grew:
		}
	}
}

// runningExit is the exit channel of the container's running task; nil
// when it has none running.
func (r *Runtime) runningExit(ctx context.Context, c client.Container) (<-chan client.ExitStatus, error) {
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load task: %w", err)
	}
	st, err := task.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("task status: %w", err)
	}
	if st.Status != client.Running && st.Status != client.Paused && st.Status != client.Pausing {
		return nil, nil
	}
	return task.Wait(ctx)
}
