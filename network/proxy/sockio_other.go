//go:build !linux

package proxy

import (
	"io"
	"net"
)

// newSockIO is c: raw system calls for reads and writes are Linux's only
// (sockio_linux.go).
func newSockIO(c net.Conn) io.ReadWriter { return c }
