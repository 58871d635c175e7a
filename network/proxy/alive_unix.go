//go:build unix

package proxy

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// peekAlive looks, without waiting or consuming anything, at an idle
// connection: an endpoint that closed it shows an end of stream, one that
// answered unasked (a 408, say) shows data; either way it is not reusable.
func peekAlive(raw syscall.RawConn) bool {
	var b [1]byte
	alive := false
	err := raw.Read(func(fd uintptr) bool {
		_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		alive = err == unix.EAGAIN // nothing to read, no end of stream
		return true                // never wait for readiness
	})
	return err == nil && alive
}
