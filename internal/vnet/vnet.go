// Package vnet is where Flotilla's components listen and dial: the
// machine's network (Host), or a network simulated in memory (Memory) on
// which a whole cluster runs in one process, for virtual-time scenarios
// (docs/VIRTUAL-TIME.md). Components take a Net from their config; nil
// means the host's.
package vnet

import (
	"context"
	"net"
)

// Net is a network to listen and dial on. Addresses are "IP:port";
// networks are "tcp" (and "tcp4") for streams and "udp" (and "udp4") for
// datagrams.
type Net interface {
	Listen(network, address string) (net.Listener, error)
	ListenPacket(network, address string) (net.PacketConn, error)
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Host is the machine's network.
type Host struct{}

// Listen is net.Listen.
func (Host) Listen(network, address string) (net.Listener, error) {
	return net.Listen(network, address)
}

// ListenPacket is net.ListenPacket.
func (Host) ListenPacket(network, address string) (net.PacketConn, error) {
	return net.ListenPacket(network, address)
}

// DialContext dials with a zero net.Dialer.
func (Host) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

// Or is n, or the host's network when n is nil.
func Or(n Net) Net {
	if n == nil {
		return Host{}
	}
	return n
}

// IsHost says whether n is the machine's network (nil or Host).
func IsHost(n Net) bool {
	if n == nil {
		return true
	}
	_, ok := n.(Host)
	return ok
}
