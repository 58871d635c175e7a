package scheduler

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"

	"flotilla/api"
	"flotilla/internal/vnet"
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

// raftPeerCheckTimeout bounds checkRaftPeer's dial and handshake (a
// socket's bound, in real time).
const raftPeerCheckTimeout = 5 * time.Second

// checkRaftPeer makes sure that a server gossip announces is one of this
// cluster's before the leader makes it a voter: with mutual TLS its Raft
// address must answer a handshake with a server's certificate of the CA.
// The gossip key alone, which every agent's machine holds, must not let a
// process into the Raft configuration, where a few of them would take the
// quorum away for good. Without TLS the gossip key is all there is.
func (s *Server) checkRaftPeer(addr string) error {
	if s.cfg.TLS == nil {
		return nil
	}
	layer := &raftStreamLayer{net: vnet.Or(s.cfg.Net), conns: map[*raftConn]struct{}{}}
	layer.secure(s.cfg.TLS)
	c, err := layer.Dial(raft.ServerAddress(addr), raftPeerCheckTimeout)
	if err != nil {
		return err
	}
	return c.Close()
}
