package agent

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"flotilla/runtime"
)

// NullRuntime pretends: its containers are running as soon as they start
// and run nothing. Fake nodes (flotilla agent --fake-nodes) use it, as KWOK
// does for Kubernetes, and tests script it: Exit makes a container exit,
// and the XxxFn fields, when set, replace a method's behaviour.
type NullRuntime struct {
	CreateFn func(spec runtime.ContainerSpec) error
	StartFn  func(id string) error
	// ExecFn answers Exec (probes use it); without it Exec exits 126.
	ExecFn func(id string, cmd []string) int
	// StatsFn answers Stats of a running container; without it the
	// figures are 0.
	StatsFn func(id string) runtime.Stats

	mu         sync.Mutex
	containers map[string]*nullContainer
	calls      map[string]int
}

type nullContainer struct {
	spec   runtime.ContainerSpec
	status runtime.Status
	exited chan struct{}
	// onExit are called once when the running container exits.
	onExit []func()
}

// NewNullRuntime returns an empty NullRuntime.
func NewNullRuntime() *NullRuntime {
	return &NullRuntime{containers: map[string]*nullContainer{}, calls: map[string]int{}}
}

var _ Runtime = (*NullRuntime)(nil)

// call counts a method call; r.mu is held.
func (r *NullRuntime) call(name string) {
	r.calls[name]++
}

// Calls is how often a method was called, for tests.
func (r *NullRuntime) Calls(method string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[method]
}

func (r *NullRuntime) Create(ctx context.Context, spec runtime.ContainerSpec) error {
	r.mu.Lock()
	r.call("Create")
	fn := r.CreateFn
	r.mu.Unlock()
	if fn != nil {
		if err := fn(spec); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.containers[spec.ID]; ok {
		return fmt.Errorf("create %s: %w", spec.ID, runtime.ErrExists)
	}
	r.containers[spec.ID] = &nullContainer{spec: spec, status: runtime.Status{ID: spec.ID, State: runtime.StateCreated,
		Namespace: spec.Namespace, Service: spec.Service, Revision: spec.Revision}}
	return nil
}

func (r *NullRuntime) Start(ctx context.Context, id string) error {
	r.mu.Lock()
	r.call("Start")
	fn := r.StartFn
	r.mu.Unlock()
	if fn != nil {
		if err := fn(id); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return fmt.Errorf("start %s: %w", id, runtime.ErrNotFound)
	}
	if c.status.State == runtime.StateRunning {
		return nil
	}
	c.status = runtime.Status{ID: id, State: runtime.StateRunning, StartedAt: time.Now(),
		Namespace: c.spec.Namespace, Service: c.spec.Service, Revision: c.spec.Revision}
	c.exited = make(chan struct{})
	return nil
}

// Exit makes a running container exit with code.
func (r *NullRuntime) Exit(id string, code int, reason string) {
	r.mu.Lock()
	var onExit []func()
	if c, ok := r.containers[id]; ok && c.status.State == runtime.StateRunning {
		c.status.State, c.status.ExitCode, c.status.Error, c.status.FinishedAt = runtime.StateExited, code, reason, time.Now()
		close(c.exited)
		onExit, c.onExit = c.onExit, nil
	}
	r.mu.Unlock()
	for _, fn := range onExit {
		fn()
	}
}

// NotifyExit calls fn once the container is not running: at once when it
// is not (or does not exist), else when it exits. It is what Wait does
// without a goroutine waiting: fake nodes hold a hundred thousand
// containers.
func (r *NullRuntime) NotifyExit(id string, fn func()) {
	r.mu.Lock()
	c, ok := r.containers[id]
	if ok && c.status.State == runtime.StateRunning {
		c.onExit = append(c.onExit, fn)
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	fn()
}

func (r *NullRuntime) Stop(ctx context.Context, id string, grace time.Duration) error {
	r.mu.Lock()
	r.call("Stop")
	r.mu.Unlock()
	r.Exit(id, 0, "")
	return nil
}

func (r *NullRuntime) Remove(ctx context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.call("Remove")
	c, ok := r.containers[id]
	if !ok {
		return fmt.Errorf("remove %s: %w", id, runtime.ErrNotFound)
	}
	if c.status.State == runtime.StateRunning {
		return fmt.Errorf("remove %s: %w", id, runtime.ErrRunning)
	}
	delete(r.containers, id)
	return nil
}

func (r *NullRuntime) List(ctx context.Context) ([]runtime.Status, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []runtime.Status
	for _, c := range r.containers {
		out = append(out, c.status)
	}
	return out, nil
}

func (r *NullRuntime) Status(ctx context.Context, id string) (runtime.Status, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return runtime.Status{}, fmt.Errorf("status %s: %w", id, runtime.ErrNotFound)
	}
	return c.status, nil
}

func (r *NullRuntime) Wait(ctx context.Context, id string) (runtime.Status, error) {
	r.mu.Lock()
	c, ok := r.containers[id]
	var exited chan struct{}
	if ok {
		exited = c.exited
	}
	r.mu.Unlock()
	if !ok {
		return runtime.Status{}, fmt.Errorf("wait %s: %w", id, runtime.ErrNotFound)
	}
	if exited != nil {
		select {
		case <-ctx.Done():
			return runtime.Status{}, ctx.Err()
		case <-exited:
		}
	}
	return r.Status(ctx, id)
}

func (r *NullRuntime) Stats(ctx context.Context, id string) (runtime.Stats, error) {
	if _, err := r.Status(ctx, id); err != nil {
		return runtime.Stats{}, err
	}
	r.mu.Lock()
	fn := r.StatsFn
	r.mu.Unlock()
	if fn != nil {
		return fn(id), nil
	}
	return runtime.Stats{}, nil
}

func (r *NullRuntime) Exec(ctx context.Context, id string, cmd []string, stdout, stderr io.Writer) (int, error) {
	st, err := r.Status(ctx, id)
	if err != nil {
		return 0, err
	}
	if st.State != runtime.StateRunning {
		return 0, fmt.Errorf("exec in %s: %w", id, runtime.ErrNotRunning)
	}
	r.mu.Lock()
	fn := r.ExecFn
	r.mu.Unlock()
	if fn != nil {
		return fn(id, cmd), nil
	}
	fmt.Fprintln(stderr, "fake node: nothing runs here")
	return 126, nil
}

func (r *NullRuntime) Logs(ctx context.Context, id string, follow bool, w io.Writer) error {
	_, err := r.Status(ctx, id)
	return err
}
