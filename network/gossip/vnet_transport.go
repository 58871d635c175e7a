package gossip

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"flotilla/internal/vnet"
)

// packetBufSize is the largest datagram read, as memberlist's own
// transport reads.
const packetBufSize = 65536

// vnetTransport is a memberlist.Transport over a vnet.Net: datagrams for
// packets, streams for push-pulls and fallback probes. It is what the pool
// gossips on when its Config.Net is not the host's network. It never
// resolves names: addresses are IP:port.
type vnetTransport struct {
	net     vnet.Net
	packets net.PacketConn
	streams net.Listener
	// ip and port are what was bound (ip is invalid for any IP).
	ip     netip.Addr
	port   int
	logger *log.Logger

	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	done     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

var _ memberlist.NodeAwareTransport = (*vnetTransport)(nil)

// dialerFrom is a network that can dial from a given IP, as vnet.Memory
// can: the transport dials from the IP it is bound to, so that peers see
// its streams coming from where it is.
type dialerFrom interface {
	DialFrom(ctx context.Context, network, source, address string) (net.Conn, error)
}

// newVnetTransport listens for streams and datagrams on host:port of n
// (port 0 picks one, the same for both) and starts handing what arrives
// to memberlist.
func newVnetTransport(n vnet.Net, host string, port int, logger *log.Logger) (*vnetTransport, error) {
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return nil, fmt.Errorf("gossip bind address %q is not an IP", host)
	}
	if ip = ip.Unmap(); ip.IsUnspecified() {
		ip = netip.Addr{}
	}
	t := &vnetTransport{net: n, ip: ip, logger: logger,
		packetCh: make(chan *memberlist.Packet), streamCh: make(chan net.Conn), done: make(chan struct{})}

	// With port 0 the stream listener picks the port and the datagrams
	// take the same one, which may be taken: try a few ports, as
	// memberlist does with its own transport.
	tries := 1
	if port == 0 {
		tries = 10
	}
	for range tries {
		if err = t.listen(host, port); err == nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}

	t.wg.Add(2)
	go t.readPackets()
	go t.acceptStreams()
	return t, nil
}

// listen binds the stream listener and the datagram endpoint on one port.
func (t *vnetTransport) listen(host string, port int) error {
	streams, err := t.net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("gossip stream listener: %w", err)
	}
	bound := streams.Addr().(*net.TCPAddr).Port
	packets, err := t.net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(bound)))
	if err != nil {
		streams.Close()
		return fmt.Errorf("gossip packet listener: %w", err)
	}
	t.streams, t.packets, t.port = streams, packets, bound
	return nil
}

// advertised is the address others reach the transport at: the bound IP,
// or 127.0.0.1 when bound to any IP.
func (t *vnetTransport) advertised() (net.IP, int) {
	ip := t.ip
	if !ip.IsValid() {
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	return net.IP(ip.AsSlice()), t.port
}

// FinalAdvertiseAddr is ip and port if ip is a specific address (the bound
// port if port is 0), else the bound address.
func (t *vnetTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	if ip != "" {
		addr, err := netip.ParseAddr(ip)
		if err != nil {
			return nil, 0, fmt.Errorf("failed to parse advertise address %q", ip)
		}
		if addr = addr.Unmap(); !addr.IsUnspecified() {
			if port == 0 {
				port = t.port
			}
			return net.IP(addr.AsSlice()), port, nil
		}
	}
	bound, boundPort := t.advertised()
	return bound, boundPort, nil
}

// WriteTo sends a datagram to addr, an IP:port. Like UDP it never waits.
func (t *vnetTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	to, err := netip.ParseAddrPort(addr)
	if err != nil {
		return time.Time{}, fmt.Errorf("gossip packet address %q: %w", addr, err)
	}
	_, err = t.packets.WriteTo(b, net.UDPAddrFromAddrPort(to))
	return time.Now(), err
}

// WriteToAddress is WriteTo: the node name is not needed.
func (t *vnetTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return t.WriteTo(b, a.Addr)
}

// PacketCh delivers the datagrams received.
func (t *vnetTransport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// DialTimeout connects a stream to addr, giving up after timeout (none
// if it is not positive).
func (t *vnetTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if from, ok := t.net.(dialerFrom); ok && t.ip.IsValid() {
		return from.DialFrom(ctx, "tcp", t.ip.String(), addr)
	}
	return t.net.DialContext(ctx, "tcp", addr)
}

// DialAddressTimeout is DialTimeout: the node name is not needed.
func (t *vnetTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}

// StreamCh delivers the streams accepted.
func (t *vnetTransport) StreamCh() <-chan net.Conn { return t.streamCh }

// Shutdown closes the listeners and waits for the goroutines that read
// them to end. Calling it again does nothing.
func (t *vnetTransport) Shutdown() error {
	t.stopOnce.Do(func() {
		close(t.done)
		t.streams.Close()
		t.packets.Close()
	})
	t.wg.Wait()
	return nil
}

// stopping says whether Shutdown was called.
func (t *vnetTransport) stopping() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// readPackets hands the datagrams received to PacketCh until Shutdown.
func (t *vnetTransport) readPackets() {
	defer t.wg.Done()
	for {
		buf := make([]byte, packetBufSize)
		n, from, err := t.packets.ReadFrom(buf)
		received := time.Now()
		if err != nil {
			if t.stopping() || errors.Is(err, net.ErrClosed) {
				return
			}
			t.logger.Printf("[ERR] flotilla: gossip packet read: %v", err)
			continue
		}
		if n < 1 {
			continue // memberlist needs at least a message type
		}
		select {
		case t.packetCh <- &memberlist.Packet{Buf: buf[:n], From: from, Timestamp: received}:
		case <-t.done:
			return
		}
	}
}

// acceptStreams hands the streams accepted to StreamCh until Shutdown.
func (t *vnetTransport) acceptStreams() {
	defer t.wg.Done()
	for {
		conn, err := t.streams.Accept()
		if err != nil {
			if t.stopping() || errors.Is(err, net.ErrClosed) {
				return
			}
			t.logger.Printf("[ERR] flotilla: gossip stream accept: %v", err)
			// Give a failing listener a moment rather than spin.
			select {
			case <-time.After(10 * time.Millisecond):
			case <-t.done:
				return
			}
			continue
		}
		select {
		case t.streamCh <- conn:
		case <-t.done:
			conn.Close()
			return
		}
	}
}
