package runtime

import (
	"context"
	"path"
	"syscall"
)

// FileMount is a directory mounted read-only into a container: a config's
// or a secret's keys, a file each. A secret's files have mode 0400 and are
// kept off disk where the runtime can (containerd: a tmpfs per container).
type FileMount struct {
	// Path is the directory in the container, absolute.
	Path string
	// Files maps file names (the keys) to their contents.
	Files  map[string][]byte
	Secret bool
}

// MountedFiles flattens mounts into file paths and their contents, with
// the paths of secret files.
func MountedFiles(mounts []FileMount) (files map[string][]byte, secret map[string]bool) {
	files, secret = map[string][]byte{}, map[string]bool{}
	for _, m := range mounts {
		for name, data := range m.Files {
			p := path.Join(m.Path, name)
			files[p] = data
			if m.Secret {
				secret[p] = true
			}
		}
	}
	return files, secret
}

// Reloader is what a runtime offers for configs reloaded by signal: the
// mounted files rewritten in place, then a signal to the container's
// process.
type Reloader interface {
	UpdateMounts(ctx context.Context, id string, mounts []FileMount) error
	Signal(ctx context.Context, id string, sig syscall.Signal) error
}
