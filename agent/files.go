package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
	"flotilla/runtime"
)

// FileServers is what the agent needs to mount configs and secrets;
// *api.Client provides it. The servers answer only for allocations placed
// on this node, and decrypt secrets themselves: the agent holds no key.
type FileServers interface {
	AllocationFiles(ctx context.Context, node, id string) (*api.AllocationFiles, error)
}

// filesRetry is how long an allocation that waits for a config or secret
// (one that does not exist yet) waits before the agent asks again.
const filesRetry = 3 * time.Second

// usesFiles reports whether a spec mounts configs or secrets.
func usesFiles(svc *api.ServiceSpec) bool { return len(svc.Configs)+len(svc.Secrets) > 0 }

// fileMounts fetches an allocation's configs and secrets and makes them
// mounts (a file per key under each path) and environment variables
// (secrets' env). waiting says what the allocation waits for, "" when
// nothing is missing.
func (a *Agent) fileMounts(ctx context.Context, d *api.Allocation, svc *api.ServiceSpec) (mounts []runtime.FileMount, env map[string]string, waiting string, err error) {
	fs, ok := a.servers.(FileServers)
	if !ok {
		return nil, nil, "", fmt.Errorf("this agent's servers client cannot fetch configs and secrets: %w", runtime.ErrInvalidSpec)
	}
	call, cancel := clock.WithTimeout(ctx, a.cfg.Clock, 10*time.Second)
	files, err := fs.AllocationFiles(call, a.cfg.Name, d.ID)
	cancel()
	if err != nil {
		return nil, nil, "", fmt.Errorf("fetch configs and secrets of %s: %w", d.ID, err)
	}
	if len(files.Missing) > 0 {
		return nil, nil, fmt.Sprintf("waiting for %s: not found (create it; the replica starts once it exists)", strings.Join(files.Missing, ", ")), nil
	}
	env = map[string]string{}
	for _, c := range svc.Configs {
		o := files.Object(api.KindConfig, c.Name)
		if o == nil {
			return nil, nil, fmt.Sprintf("waiting for %s", api.FileObjectName(api.KindConfig, d.Namespace, c.Name)), nil
		}
		mounts = append(mounts, runtime.FileMount{Path: c.Path, Files: asFiles(o.Data)})
	}
	for _, ref := range svc.Secrets {
		o := files.Object(api.KindSecret, ref.Name)
		if o == nil {
			return nil, nil, fmt.Sprintf("waiting for %s", api.FileObjectName(api.KindSecret, d.Namespace, ref.Name)), nil
		}
		if ref.Path != "" {
			mounts = append(mounts, runtime.FileMount{Path: ref.Path, Files: asFiles(o.Data), Secret: true})
		}
		for v, key := range ref.Env {
			value, ok := o.Data[key]
			if !ok {
				return nil, nil, fmt.Sprintf("waiting for %s to have key %q (for $%s)", api.FileObjectName(api.KindSecret, d.Namespace, ref.Name), key, v), nil
			}
			env[v] = value
		}
	}
	return mounts, env, "", nil
}

func asFiles(data map[string]string) map[string][]byte {
	out := make(map[string][]byte, len(data))
	for k, v := range data {
		out[k] = []byte(v)
	}
	return out
}

// withFiles adds an allocation's configs and secrets to its container
// spec before it starts. ready is false when the allocation waits for one
// that does not exist: it is reported with why, and looked at again.
func (a *Agent) withFiles(ctx context.Context, d *api.Allocation, svc *api.ServiceSpec, l *localAlloc, spec *runtime.ContainerSpec) (ready bool, err error) {
	if !usesFiles(svc) {
		return true, nil
	}
	status := api.AllocPending
	if l.Started {
		status = api.AllocStarting
	}
	mounts, env, waiting, err := a.fileMounts(ctx, d, svc)
	if errors.Is(err, runtime.ErrInvalidSpec) {
		return false, err
	}
	if err != nil {
		// A server that cannot decrypt says why: the replica shows it.
		a.report(d.ID, status, err.Error(), nil, l.Restarts)
		return false, err
	}
	if waiting != "" {
		a.report(d.ID, status, waiting, nil, l.Restarts)
		a.queue.AddAfter(d.ID, filesRetry)
		return false, nil
	}
	spec.Mounts = mounts
	for k, v := range env {
		spec.Env[k] = v
	}
	l.FilesIndex = d.FilesIndex
	return true, nil
}

// reloadFiles follows a change of a config the allocation reloads by
// signal (its FilesIndex moved): the files are rewritten in the running
// container and it gets each such config's signal.
func (a *Agent) reloadFiles(ctx context.Context, d *api.Allocation, l *localAlloc) error {
	if d.FilesIndex <= l.FilesIndex {
		return nil
	}
	_, svc, err := a.containerSpec(ctx, d)
	if err != nil {
		return err
	}
	reloader, ok := a.rt.(runtime.Reloader)
	if !ok {
		a.cfg.Logger.Warn("config changed, but this runtime cannot rewrite files in a running container: the next restart reads it", "alloc", d.ID, "runtime", a.cfg.Runtime)
		l.FilesIndex = d.FilesIndex
		return a.saveLocal(d.ID, l)
	}
	mounts, _, waiting, err := a.fileMounts(ctx, d, svc)
	if err != nil {
		return err
	}
	if waiting != "" {
		// Deleted meanwhile: the container keeps the files it has.
		a.cfg.Logger.Warn("config reload: "+waiting, "alloc", d.ID)
		l.FilesIndex = d.FilesIndex
		return a.saveLocal(d.ID, l)
	}
	mounts = a.certificateMounts(d.ID, mounts) // certs.go: they are rewritten with the rest
	if err := reloader.UpdateMounts(ctx, d.ID, mounts); err != nil {
		return fmt.Errorf("reload configs of %s: %w", d.ID, err)
	}
	sent := map[string]bool{}
	for _, c := range svc.Configs {
		if c.Reload != api.ReloadSignal || sent[c.Signal] {
			continue
		}
		sent[c.Signal] = true
		sig, ok := reloadSignal(c.Signal)
		if !ok {
			continue // validation allows none other
		}
		if err := reloader.Signal(ctx, d.ID, sig); err != nil && !errors.Is(err, runtime.ErrNotRunning) {
			return fmt.Errorf("signal %s to %s: %w", c.Signal, d.ID, err)
		}
		a.reporter.Event(api.AllocEvent{Allocation: d.ID, Type: api.EventConfigReloaded, Time: a.cfg.Clock.Now(),
			Message: fmt.Sprintf("config %s rewritten under %s; sent %s", c.Name, c.Path, c.Signal)})
	}
	a.cfg.Logger.Info("configs reloaded", "alloc", d.ID, "files_index", d.FilesIndex)
	l.FilesIndex = d.FilesIndex
	return a.saveLocal(d.ID, l)
}

func reloadSignal(name string) (syscall.Signal, bool) {
	sig, ok := map[string]syscall.Signal{"SIGHUP": syscall.SIGHUP, "SIGUSR1": syscall.SIGUSR1, "SIGUSR2": syscall.SIGUSR2,
		"SIGINT": syscall.SIGINT, "SIGTERM": syscall.SIGTERM, "SIGQUIT": syscall.SIGQUIT, "SIGWINCH": syscall.SIGWINCH}[name]
	return sig, ok
}
