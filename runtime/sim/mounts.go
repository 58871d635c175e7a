package sim

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"syscall"

	"flotilla/runtime"
)

var _ runtime.Reloader = (*Runtime)(nil)

// mountFiles builds a container's file system from its spec's files and
// mounts, and writes them under FilesDir when there is one.
func (r *Runtime) mountFiles(id string, plain map[string][]byte, mounts []runtime.FileMount) (*filesFS, error) {
	files, secret := runtime.MountedFiles(mounts)
	for p, data := range plain {
		if _, ok := files[p]; ok {
			return nil, fmt.Errorf("file %q: mounted twice", p)
		}
		files[p] = data
	}
	f, err := newFilesFS(files, secret, r.clock.Now())
	if err != nil {
		return nil, err
	}
	if err := r.writeFiles(id, files, secret); err != nil {
		return nil, err
	}
	return f, nil
}

// writeFiles writes a container's files under FilesDir/ID, replacing
// what an earlier write left: directories 0700, secret files 0400,
// others 0444.
func (r *Runtime) writeFiles(id string, files map[string][]byte, secret map[string]bool) error {
	if r.cfg.FilesDir == "" || len(files) == 0 {
		return nil
	}
	root := filepath.Join(r.cfg.FilesDir, id)
	if err := os.RemoveAll(root); err != nil {
		return fmt.Errorf("files of %s: %w", id, err)
	}
	for p, data := range files {
		target := filepath.Join(root, filepath.FromSlash(path.Clean(p)))
		if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
			return fmt.Errorf("files of %s: %w", id, err)
		}
		mode := os.FileMode(0o444)
		if secret[p] {
			mode = 0o400
		}
		if err := os.WriteFile(target, data, mode); err != nil {
			return fmt.Errorf("files of %s: %w", id, err)
		}
	}
	return nil
}

func (r *Runtime) removeFiles(id string) {
	if r.cfg.FilesDir == "" {
		return
	}
	if err := os.RemoveAll(filepath.Join(r.cfg.FilesDir, id)); err != nil {
		r.log.Warn("remove container files", "id", id, "err", err)
	}
}

// UpdateMounts replaces a container's configs and secrets (a config
// reloaded by signal); what exec sees changes at once.
func (r *Runtime) UpdateMounts(ctx context.Context, id string, mounts []runtime.FileMount) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.lookup(id)
	if err != nil {
		return fmt.Errorf("update files: %w", err)
	}
	files, err := r.mountFiles(id, c.plainFiles, mounts)
	if err != nil {
		return fmt.Errorf("update files of container %s: %w", id, err)
	}
	c.files, c.mounts = files, cloneMounts(mounts)
	return nil
}

func cloneMounts(mounts []runtime.FileMount) []runtime.FileMount {
	out := make([]runtime.FileMount, len(mounts))
	for i, m := range mounts {
		m.Files = maps.Clone(m.Files)
		out[i] = m
	}
	return out
}

// Signal records a signal sent to a running container and writes a line
// of it to the container's output, as a workload that reloads would: the
// demo workload has nothing to reload.
func (r *Runtime) Signal(ctx context.Context, id string, sig syscall.Signal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.lookup(id)
	if err != nil {
		return fmt.Errorf("signal: %w", err)
	}
	if c.state != runtime.StateRunning {
		return fmt.Errorf("signal container %s: %w", id, runtime.ErrNotRunning)
	}
	name := signalName(sig)
	c.signals = append(c.signals, name)
	fmt.Fprintf(c.logs, "flotilla sim: received %s (configs reloaded)\n", name)
	return nil
}

// Signals lists the signals a container received, oldest first.
func (r *Runtime) Signals(id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.lookup(id)
	if err != nil {
		return nil
	}
	return append([]string(nil), c.signals...)
}

func signalName(sig syscall.Signal) string {
	for name, s := range map[string]syscall.Signal{"SIGHUP": syscall.SIGHUP, "SIGUSR1": syscall.SIGUSR1, "SIGUSR2": syscall.SIGUSR2,
		"SIGINT": syscall.SIGINT, "SIGTERM": syscall.SIGTERM, "SIGQUIT": syscall.SIGQUIT, "SIGWINCH": syscall.SIGWINCH} {
		if s == sig {
			return name
		}
	}
	return fmt.Sprintf("signal %d", int(sig))
}
