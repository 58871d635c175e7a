//go:build linux

package netlab

import (
	"errors"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

var errNoDevice = unix.ENODEV

// listRetry retries a netlink dump the kernel interrupted because the
// table changed underneath it, so callers never act on a partial list.
func listRetry[T any](list func() ([]T, error)) ([]T, error) {
	var (
		out []T
		err error
	)
	for i := 0; i < 5; i++ {
		out, err = list()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return out, err
		}
	}
	return nil, err
}
