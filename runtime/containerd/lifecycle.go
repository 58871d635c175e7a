package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"

	"flotilla/runtime"
)

// Start runs a created or exited container. The shim's log driver appends
// the task's stdout and stderr to the container's log file (so the logs
// survive the agent, and a restart goes on in the same file). An exited
// container's old task is deleted first.
func (r *Runtime) Start(ctx context.Context, id string) error {
	took := newStepTimes()
	c, err := r.load(ctx, id)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	fail := func(what string, err error) error {
		return fmt.Errorf("start container %s: %s: %w", id, what, err)
	}
	if task, err := c.Task(ctx, nil); err == nil {
		st, err := task.Status(ctx)
		if err != nil {
			return fail("task status", err)
		}
		switch st.Status {
		case client.Running, client.Paused, client.Pausing:
			return fmt.Errorf("start container %s: %w", id, runtime.ErrRunning)
		case client.Created:
			// A Start that failed half-way left it: kill what it made.
			if _, err := task.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
				return fail("delete the unstarted task", err)
			}
		default:
			if _, err := task.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
				return fail("delete the exited task", err)
			}
		}
	} else if !errdefs.IsNotFound(err) {
		return fail("load task", err)
	}

	// NewTask makes the bundle and starts a shim, task.Start runs the
	// process: cut short inside NewTask or between the two (the agent
	// stopping), they can leave a shim that the daemon loses track of, an
	// orphan that blocks the ID for ever. So from here on Start runs to its
	// end on a context of its own, bounded by startTimeout.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), startTimeout)
	defer cancel()
	took.step("check")
	// The file exists before the task does, so that a follower can watch it.
	if err := os.MkdirAll(r.containerDir(id), 0o755); err != nil {
		return fail("log file", err)
	}
	logFile, err := os.OpenFile(r.logPath(id), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fail("log file", err)
	}
	logFile.Close()
	if _, err := c.SetLabels(ctx, map[string]string{
		labelStartedAt:  time.Now().UTC().Format(time.RFC3339Nano),
		labelKillReason: "",
	}); err != nil {
		return fail("label", err)
	}
	took.step("label")
	task, err := r.newTask(ctx, c)
	if err != nil {
		return fail("create task", startError(err))
	}
	took.step("task")
	if err := task.Start(ctx); err != nil {
		if _, derr := task.Delete(ctx, client.WithProcessKill); derr != nil && !errdefs.IsNotFound(derr) {
			r.log.Warn("delete a task that did not start", "id", id, "err", derr)
		}
		return fail("start task", startError(err))
	}
	took.step("process")
	r.forgetSample(id)
	r.log.Debug("container started", took.log("id", id, "pid", task.Pid())...)
	return nil
}

// newTask creates the container's task. When the daemon refuses because
// of what an orphaned shim of the ID holds (orphans.go: a task it lists
// but cannot find for the container, or a bundle in the way) and the
// container has no task, the orphan is reaped and the task created once
// more.
func (r *Runtime) newTask(ctx context.Context, c client.Container) (client.Task, error) {
	id := c.ID()
	task, err := c.NewTask(ctx, r.taskIO(id))
	if err == nil {
		return task, nil
	}
	bundle := bundleInError(err, r.namespace, id)
	if !errdefs.IsAlreadyExists(err) && bundle == "" {
		return nil, err
	}
	if _, terr := c.Task(ctx, nil); !errdefs.IsNotFound(terr) {
		return nil, err // the container's own task: a Start racing this one
	}
	shims, ferr := findShims(r.cfg.Address, r.namespace, id)
	if ferr != nil {
		return nil, fmt.Errorf("%w; %w", err, ferr)
	}
	if len(shims) == 0 && bundle == "" {
		return nil, fmt.Errorf("%w (and no shim of the ID is running)", err)
	}
	var left []string
	if bundle != "" {
		left = append(left, bundle)
	}
	r.log.Warn("a shim of this ID outlived its container: reaping it", "id", id, "err", err)
	if rerr := reapShims(ctx, r.client, r.namespace, shims, left, r.log); rerr != nil {
		return nil, fmt.Errorf("%w; reap the orphaned shim: %w", err, rerr)
	}
	return c.NewTask(ctx, r.taskIO(id))
}

// startError marks a command that cannot be executed as ErrInvalidSpec:
// starting again will not help.
func startError(err error) error {
	msg := err.Error()
	for _, s := range []string{"executable file not found", "no such file or directory", "permission denied", "exec format error"} {
		if strings.Contains(msg, s) {
			return fmt.Errorf("%w (%w)", err, runtime.ErrInvalidSpec)
		}
	}
	return err
}

// Stop sends SIGTERM, waits up to grace for the task to exit, then kills it
// with SIGKILL (exit code 137). A grace of 0 kills at once. Stopping a
// container that is not running is not an error. When ctx ends first the
// task is killed and Stop says so.
func (r *Runtime) Stop(ctx context.Context, id string, grace time.Duration) error {
	c, err := r.load(ctx, id)
	if err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stop container %s: load task: %w", id, err)
	}
	st, err := task.Status(ctx)
	if err != nil {
		return fmt.Errorf("stop container %s: task status: %w", id, err)
	}
	if st.Status != client.Running && st.Status != client.Paused && st.Status != client.Pausing {
		return nil
	}
	// Waiting starts before the signal, so that the exit is not missed.
	waitCtx, cancelWait := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWait()
	exited, err := task.Wait(waitCtx)
	if err != nil {
		return fmt.Errorf("stop container %s: wait: %w", id, err)
	}
	if grace > 0 {
		if err := task.Kill(ctx, syscall.SIGTERM); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("stop container %s: SIGTERM: %w", id, err)
		}
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-exited:
			return nil
		case <-timer.C:
		case <-ctx.Done():
			err = fmt.Errorf("stop container %s: killed before its grace period ended: %w", id, ctx.Err())
		}
	}
	// The reason goes on the record before the signal, so that whoever sees
	// the exit sees why.
	killCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	reason := "killed: stopped with no grace period"
	if grace > 0 {
		reason = fmt.Sprintf("killed: still running %v after being asked to stop", grace)
	}
	if _, lerr := c.SetLabels(killCtx, map[string]string{labelKillReason: reason}); lerr != nil {
		r.log.Warn("label the kill reason", "id", id, "err", lerr)
	}
	if kerr := task.Kill(killCtx, syscall.SIGKILL); kerr != nil && !errdefs.IsNotFound(kerr) {
		return fmt.Errorf("stop container %s: SIGKILL: %w", id, kerr)
	}
	select {
	case <-exited:
	case <-killCtx.Done():
		return fmt.Errorf("stop container %s: no exit after SIGKILL: %w", id, killCtx.Err())
	}
	return err
}

// Remove deletes a container that is not running: its task, its record and
// snapshot, its files (the log too) and its network attachment.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	c, err := r.load(ctx, id)
	if err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	if task, err := c.Task(ctx, nil); err == nil {
		st, err := task.Status(ctx)
		if err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove container %s: task status: %w", id, err)
		}
		switch st.Status {
		case client.Running, client.Paused, client.Pausing:
			return fmt.Errorf("remove container %s: %w", id, runtime.ErrRunning)
		}
		if _, err := task.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove container %s: delete task: %w", id, err)
		}
	} else if !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: load task: %w", id, err)
	}
	// The network goes before the record: a Remove that fails there can be
	// retried, one that has deleted the record only says ErrNotFound.
	if r.cfg.Network != nil {
		if err := r.cfg.Network.Remove(ctx, id); err != nil {
			return fmt.Errorf("remove container %s: network: %w", id, err)
		}
	}
	if err := c.Delete(ctx, client.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	if err := removeContainerDir(r.containerDir(id)); err != nil {
		return fmt.Errorf("remove container %s: files: %w", id, err)
	}
	r.forgetSample(id)
	r.log.Debug("container removed", "id", id)
	return nil
}

// Wait blocks until the container has exited (at once if it has) and
// returns its status; ErrNotFound when it is removed; the context's error
// when ctx ends first. It works on tasks an earlier Runtime started.
func (r *Runtime) Wait(ctx context.Context, id string) (runtime.Status, error) {
	fail := func(err error) (runtime.Status, error) {
		if ctx.Err() != nil {
			return runtime.Status{}, fmt.Errorf("wait for container %s: %w", id, ctx.Err())
		}
		return runtime.Status{}, fmt.Errorf("wait: %w", err)
	}
	for {
		st, err := r.Status(ctx, id)
		if err != nil {
			return fail(err)
		}
		switch st.State {
		case runtime.StateExited:
			return st, nil
		case runtime.StateRunning:
			err = r.waitTask(ctx, id)
		default:
			err = r.waitStarted(ctx, id)
		}
		if err != nil {
			return fail(err)
		}
	}
}

// waitStarted returns when something happens to a created container: its
// task starts, exits or goes, or the container goes.
func (r *Runtime) waitStarted(ctx context.Context, id string) error {
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	evs, errs := r.client.Subscribe(subCtx,
		`topic=="/tasks/start"`, `topic=="/tasks/exit"`, `topic=="/tasks/delete"`, `topic=="/containers/delete"`)
	// Looked at again once subscribed: a start in between is not missed.
	if st, err := r.Status(ctx, id); err != nil || st.State != runtime.StateCreated {
		return err
	}
	return waitForEvent(ctx, id, evs, errs)
}

// waitTask returns when the container's running task has exited.
func (r *Runtime) waitTask(ctx context.Context, id string) error {
	c, err := r.load(ctx, id)
	if err != nil {
		return err
	}
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil // deleted meanwhile: the next look says what it is
	}
	if err != nil {
		return fmt.Errorf("load task: %w", err)
	}
	exited, err := task.Wait(ctx)
	if err != nil {
		return err
	}
	select {
	case <-exited:
		return ctx.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitForEvent returns when an event about the container arrives (a task
// started, exited or deleted, the container deleted), or ctx ends.
func waitForEvent(ctx context.Context, id string, events <-chan *events.Envelope, errs <-chan error) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errs:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err == nil {
				err = errors.New("event stream closed")
			}
			return fmt.Errorf("events: %w", err)
		case env := <-events:
			if env == nil || env.Event == nil {
				continue
			}
			ev, err := typeurl.UnmarshalAny(env.Event)
			if err != nil {
				continue
			}
			switch e := ev.(type) {
			case *apievents.TaskStart:
				if e.ContainerID == id {
					return nil
				}
			case *apievents.TaskExit:
				if e.ContainerID == id {
					return nil
				}
			case *apievents.TaskDelete:
				if e.ContainerID == id {
					return nil
				}
			case *apievents.ContainerDelete:
				if e.ID == id {
					return nil
				}
			}
		}
	}
}
