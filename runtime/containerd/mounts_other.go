//go:build !linux

package containerd

import "errors"

func mountTmpfs(dir string, size int) error {
	return errors.New("secrets need a tmpfs, which this system's containerd runtime cannot mount (Linux only)")
}

func unmountTmpfs(dir string) error { return nil }
