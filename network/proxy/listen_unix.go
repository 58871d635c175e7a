//go:build unix

package proxy

import (
	"context"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// ListenReusePort listens with SO_REUSEADDR and SO_REUSEPORT set, so that
// several proxies (agents sharing a host) can own the same address; the
// kernel spreads new connections over them.
func ListenReusePort(network, addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
				return
			}
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	return lc.Listen(context.Background(), network, addr)
}
