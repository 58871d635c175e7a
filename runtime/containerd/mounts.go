package containerd

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/runtime-spec/specs-go"

	"flotilla/runtime"
)

var _ runtime.Reloader = (*Runtime)(nil)

// Configs and secrets (runtime.FileMount): each mount is a directory of the
// container's own (DIR/mounts/N) bind-mounted read-only at its path, so
// that a rewrite of the files (a config reloaded by signal) shows in the
// running container. A secret's directory is a tmpfs of its own: its
// values never reach the node's disk.

// secretTmpfsBytes bounds one secret's tmpfs: a secret holds at most
// 64 KiB (api.MaxFileObjectBytes), files and their blocks included.
const secretTmpfsBytes = 1 << 20

func mountDir(dir string, i int) string { return filepath.Join(dir, "mounts", strconv.Itoa(i)) }

// validateMounts checks that every mount is an absolute directory whose
// file names are plain names.
func validateMounts(mounts []runtime.FileMount) error {
	for _, m := range mounts {
		if !strings.HasPrefix(m.Path, "/") || path.Clean(m.Path) != m.Path || m.Path == "/" {
			return fmt.Errorf("mount %q: want an absolute directory", m.Path)
		}
		for name := range m.Files {
			if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
				return fmt.Errorf("mount %q: file name %q", m.Path, name)
			}
		}
	}
	return nil
}

// writeMounts makes the mounts' directories under dir, fills them and
// returns their read-only bind mounts.
func (r *Runtime) writeMounts(dir string, mounts []runtime.FileMount) ([]specs.Mount, error) {
	var out []specs.Mount
	for i, m := range mounts {
		src := mountDir(dir, i)
		if err := os.MkdirAll(src, 0o700); err != nil {
			return nil, err
		}
		if m.Secret {
			if err := mountTmpfs(src, secretTmpfsBytes); err != nil {
				return nil, fmt.Errorf("secret %s: %w", m.Path, err)
			}
		}
		if err := fillMount(src, m); err != nil {
			return nil, err
		}
		out = append(out, specs.Mount{Destination: m.Path, Type: "bind", Source: src, Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"}})
	}
	return out, nil
}

// fillMount writes a mount's files into its directory, each through a
// temporary file renamed over it, and removes the files it no longer has.
func fillMount(src string, m runtime.FileMount) error {
	mode := os.FileMode(0o444)
	if m.Secret {
		mode = 0o400
	}
	if err := os.Chmod(src, 0o755); err != nil { // the container's user reads the directory
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(m.Files)) {
		tmp := filepath.Join(src, ".tmp-"+name)
		if err := os.WriteFile(tmp, m.Files[name], mode); err != nil {
			return err
		}
		if err := os.Chmod(tmp, mode); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(src, name)); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if _, keep := m.Files[e.Name()]; !keep {
			if err := os.Remove(filepath.Join(src, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// unmountSecrets unmounts the secrets' tmpfs of a container's directory, so
// that it can be removed.
func unmountSecrets(dir string) error {
	entries, err := os.ReadDir(filepath.Join(dir, "mounts"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := unmountTmpfs(filepath.Join(dir, "mounts", e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// removeContainerDir removes a container's directory, its tmpfs mounts
// first.
func removeContainerDir(dir string) error {
	if err := unmountSecrets(dir); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// UpdateMounts rewrites a container's configs and secrets in place (a
// config reloaded by signal); the mounts must be those it was created
// with, in the same order.
func (r *Runtime) UpdateMounts(ctx context.Context, id string, mounts []runtime.FileMount) error {
	if _, err := r.load(ctx, id); err != nil {
		return fmt.Errorf("update files: %w", err)
	}
	if err := validateMounts(mounts); err != nil {
		return fmt.Errorf("update files of container %s: %w", id, err)
	}
	dir := r.containerDir(id)
	for i, m := range mounts {
		src := mountDir(dir, i)
		if _, err := os.Stat(src); err != nil {
			return fmt.Errorf("update files of container %s: mount %s was not there at its creation: %w", id, m.Path, err)
		}
		if err := fillMount(src, m); err != nil {
			return fmt.Errorf("update files of container %s: %w", id, err)
		}
	}
	return nil
}

// Signal sends a signal to the container's task.
func (r *Runtime) Signal(ctx context.Context, id string, sig syscall.Signal) error {
	c, err := r.load(ctx, id)
	if err != nil {
		return fmt.Errorf("signal: %w", err)
	}
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("signal container %s: %w", id, runtime.ErrNotRunning)
	}
	if err != nil {
		return fmt.Errorf("signal container %s: %w", id, err)
	}
	if err := task.Kill(ctx, sig); err != nil {
		if errdefs.IsNotFound(err) {
			return fmt.Errorf("signal container %s: %w", id, runtime.ErrNotRunning)
		}
		return fmt.Errorf("signal container %s: %w", id, err)
	}
	return nil
}
