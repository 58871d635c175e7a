package scheduler

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"flotilla/api"
)

// secure makes the layer speak mutual TLS (nil: plain TCP): a connecting
// peer must present a server's certificate of the CA, and a dialled peer
// must answer with one.
func (l *raftStreamLayer) secure(mtls *api.MutualTLS) {
	if mtls == nil {
		return
	}
	l.serverTLS = mtls.ServerConfig(api.ServerTLSName)
	l.serverTLS.NextProtos = nil // Raft's own protocol, not HTTP
	l.clientTLS = mtls.ClientConfig(api.ServerTLSName)
}

// acceptTLS wraps an accepted connection; its handshake runs on the first
// read, in the transport's goroutine for that connection, so that a slow
// or hostile peer does not hold up the accept loop.
func (l *raftStreamLayer) acceptTLS(c net.Conn) net.Conn {
	if l.serverTLS == nil {
		return c
	}
	return tls.Server(c, l.serverTLS)
}

// dialTLS wraps a dialled connection and completes its handshake within
// ctx, so that a peer that is not a server of the CA fails the dial.
func (l *raftStreamLayer) dialTLS(ctx context.Context, c net.Conn) (net.Conn, error) {
	if l.clientTLS == nil {
		return c, nil
	}
	tc := tls.Client(c, l.clientTLS)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("raft TLS handshake with %s: %w", c.RemoteAddr(), err)
	}
	return tc, nil
}
