package containerd

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"syscall"
	"time"

	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"

	"flotilla/runtime"
)

// Status reports one container from containerd: its record's labels and
// its task (none: created; running or paused: running; stopped: exited).
func (r *Runtime) Status(ctx context.Context, id string) (runtime.Status, error) {
	c, err := r.load(ctx, id)
	if err != nil {
		return runtime.Status{}, fmt.Errorf("status: %w", err)
	}
	info, err := c.Info(ctx, client.WithoutRefreshedMetadata)
	if err != nil {
		return runtime.Status{}, fmt.Errorf("status of container %s: %w", id, err)
	}
	proc, err := r.taskProcess(ctx, id)
	if err != nil {
		return runtime.Status{}, fmt.Errorf("status of container %s: %w", id, err)
	}
	return r.status(ctx, info, proc), nil
}

// List reports every container of the node's namespace, by ID.
func (r *Runtime) List(ctx context.Context) ([]runtime.Status, error) {
	records, err := r.client.ContainerService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	resp, err := r.client.TaskService().List(ctx, &tasks.ListTasksRequest{})
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", errgrpc.ToNative(err))
	}
	procs := map[string]*tasktypes.Process{}
	for _, p := range resp.Tasks {
		// containerd 1.6 fills in ID (the container's), not ContainerID.
		procs[cmp.Or(p.ContainerID, p.ID)] = p
	}
	out := make([]runtime.Status, 0, len(records))
	for _, info := range records {
		out = append(out, r.status(ctx, info, procs[info.ID]))
	}
	slices.SortFunc(out, func(a, b runtime.Status) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// taskProcess is the container's task, nil when it has none.
func (r *Runtime) taskProcess(ctx context.Context, id string) (*tasktypes.Process, error) {
	resp, err := r.client.TaskService().Get(ctx, &tasks.GetRequest{ContainerID: id})
	if err != nil {
		err = errgrpc.ToNative(err)
		if errdefs.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("task: %w", err)
	}
	return resp.Process, nil
}

func (r *Runtime) status(ctx context.Context, info containers.Container, proc *tasktypes.Process) runtime.Status {
	st := runtime.Status{ID: info.ID, State: runtime.StateCreated, IP: info.Labels[labelIP],
		Namespace: info.Labels[labelNamespace], Service: info.Labels[labelService]}
	st.Revision, _ = strconv.Atoi(info.Labels[labelRevision])
	if st.IP == "" && r.cfg.Network != nil {
		if ip, err := r.cfg.Network.Lookup(ctx, info.ID); err == nil {
			st.IP = ip.String()
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, info.Labels[labelStartedAt]); err == nil {
		st.StartedAt = t
	}
	if proc == nil {
		return st
	}
	switch proc.Status {
	case tasktypes.Status_CREATED:
		// A task made but never started (a Start that failed half-way).
		st.State = runtime.StateCreated
	case tasktypes.Status_RUNNING, tasktypes.Status_PAUSED, tasktypes.Status_PAUSING:
		st.State = runtime.StateRunning
	case tasktypes.Status_STOPPED:
		st.State = runtime.StateExited
		st.ExitCode = int(proc.ExitStatus)
		if proc.ExitedAt != nil {
			st.FinishedAt = proc.ExitedAt.AsTime()
		}
		st.Error = exitError(st.ExitCode, info.Labels[labelKillReason])
	default:
		// The shim is gone (killed, or the daemon lost it): as good as exited.
		st.State = runtime.StateExited
		st.ExitCode = 255
		st.Error = "the task's state is unknown (its shim is gone)"
	}
	return st
}

// exitError says why a container ended; "" for a clean exit.
func exitError(code int, killReason string) string {
	switch {
	case code == 0:
		return ""
	case code == 128+int(syscall.SIGKILL) && killReason != "":
		return killReason
	case code > 128 && code < 128+65:
		sig := syscall.Signal(code - 128)
		return fmt.Sprintf("killed by signal %d (%v), exit code %d", int(sig), sig, code)
	default:
		return fmt.Sprintf("exited with code %d", code)
	}
}
