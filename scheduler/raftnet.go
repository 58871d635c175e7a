package scheduler

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"flotilla/api"
	"flotilla/internal/vnet"
)

// raftStreamLayer carries Raft's connections over a vnet.Net: it is
// raft.TCPStreamLayer for a network other than the host's (a simulated
// one, where every server of a virtual cluster listens in one process).
// Unlike it, Close closes the connections too: raft's transport leaves
// those it accepted reading until the peer hangs up, which a process that
// exits never notices, but a server stopped inside a longer-lived one (a
// virtual cluster, a synctest bubble) would leave blocked for good.
type raftStreamLayer struct {
	net.Listener
	net vnet.Net
	// serverTLS and clientTLS, when set, wrap every accepted and dialled
	// connection (raftnet_tls.go).
	serverTLS, clientTLS *tls.Config

	mu     sync.Mutex
	conns  map[*raftConn]struct{} // open, accepted or dialled
	closed bool
}

// raftConn is a connection of a raftStreamLayer, which forgets it once
// closed.
type raftConn struct {
	net.Conn
	layer *raftStreamLayer
}

func (c *raftConn) Close() error {
	c.layer.mu.Lock()
	delete(c.layer.conns, c)
	c.layer.mu.Unlock()
	return c.Conn.Close()
}

// newRaftTransport listens for Raft on bind: on the host's network with
// raft's own TCP transport, on another, or with mutual TLS, through a
// raftStreamLayer.
func newRaftTransport(n vnet.Net, bind string, logOutput io.Writer, mtls *api.MutualTLS) (*raft.NetworkTransport, error) {
	if vnet.IsHost(n) && mtls == nil {
		return raft.NewTCPTransport(bind, nil, 3, 10*time.Second, logOutput)
	}
	n = vnet.Or(n)
	ln, err := n.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	// Others dial the address the transport announces: as with raft's TCP
	// transport, an unspecified one would not reach this server.
	ap, err := netip.ParseAddrPort(ln.Addr().String())
	if err != nil || ap.Addr().IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("raft address %s is not one others can dial", ln.Addr())
	}
	layer := &raftStreamLayer{Listener: ln, net: n, conns: map[*raftConn]struct{}{}}
	layer.secure(mtls)
	return raft.NewNetworkTransport(layer, 3, 10*time.Second, logOutput), nil
}

// Accept waits for another server's connection.
func (l *raftStreamLayer) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.track(l.acceptTLS(c))
}

// Dial connects to another server's Raft listener within timeout.
func (l *raftStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := l.net.DialContext(ctx, "tcp", string(address))
	if err != nil {
		return nil, err
	}
	if c, err = l.dialTLS(ctx, c); err != nil {
		return nil, err
	}
	return l.track(c)
}

// track remembers c until it is closed, or closes it if the layer is.
func (l *raftStreamLayer) track(c net.Conn) (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	rc := &raftConn{Conn: c, layer: l}
	l.conns[rc] = struct{}{}
	return rc, nil
}

// Close stops listening and closes every connection.
func (l *raftStreamLayer) Close() error {
	l.mu.Lock()
	l.closed = true
	conns := l.conns
	l.conns = map[*raftConn]struct{}{}
	l.mu.Unlock()
	err := l.Listener.Close()
	for c := range conns {
		c.Conn.Close()
	}
	return err
}
