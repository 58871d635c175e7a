//go:build !unix

package proxy

import "net"

// ListenReusePort listens plainly where SO_REUSEPORT does not exist: only
// one proxy per host can then own an address.
func ListenReusePort(network, addr string) (net.Listener, error) { return net.Listen(network, addr) }
