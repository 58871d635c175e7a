package containerd

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// mountTmpfs mounts a tmpfs of size bytes at dir, readable by root only
// until fillMount opens it to the container's user.
func mountTmpfs(dir string, size int) error {
	opts := fmt.Sprintf("size=%d,mode=0700", size)
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, opts); err != nil {
		return fmt.Errorf("mount a tmpfs at %s: %w", dir, err)
	}
	return nil
}

// unmountTmpfs unmounts dir if something is mounted there.
func unmountTmpfs(dir string) error {
	err := unix.Unmount(dir, unix.MNT_DETACH)
	if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		return nil // not a mount point (a config's directory), or gone
	}
	return fmt.Errorf("unmount %s: %w", dir, err)
}
