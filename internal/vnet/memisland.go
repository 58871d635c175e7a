package vnet

import (
	"context"
	"net"
	"net/netip"
)

// Isolate cuts the addresses of prefixes off the rest of the network, as a
// machine whose cable is pulled while it keeps running: they still reach
// each other (the machine and the containers on it), nothing else reaches
// them and they reach nothing else. Open connections across the cut
// close; datagrams across it are dropped. Each call makes an island of its
// own; Rejoin puts its prefixes back.
func (m *Memory) Isolate(prefixes ...netip.Prefix) error {
	for _, p := range prefixes {
		if !p.IsValid() {
			return &net.AddrError{Err: "isolate wants prefixes", Addr: p.String()}
		}
	}
	m.mu.Lock()
	m.nextIsland++
	for _, p := range prefixes {
		m.islands[p.Masked()] = m.nextIsland
	}
	m.mu.Unlock()
	m.cut()
	return nil
}

// cut closes the open connections whose ends (or the machine that
// accepted one) no longer reach each other.
func (m *Memory) cut() {
	m.mu.Lock()
	var cut []*memConn
	for c := range m.conns {
		reaches := m.reachesLocked(c.local.AddrPort().Addr().Unmap(), c.remote.AddrPort().Addr().Unmap())
		if c.owner.IsValid() {
			reaches = m.reachesLocked(c.client, c.owner)
		}
		if !reaches {
			cut = append(cut, c)
		}
	}
	m.mu.Unlock()
	for _, c := range cut {
		c.Close()
	}
}

// Rejoin undoes Isolate for prefixes: they reach the rest again.
func (m *Memory) Rejoin(prefixes ...netip.Prefix) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range prefixes {
		delete(m.islands, p.Masked())
	}
}

// islandLocked is the island an address is on (the longest prefix that
// holds it decides), 0 for the rest of the network. m.mu is held.
func (m *Memory) islandLocked(a netip.Addr) int {
	island, bits := 0, -1
	for p, i := range m.islands {
		if p.Contains(a) && (p.Bits() > bits || (p.Bits() == bits && i > island)) {
			island, bits = i, p.Bits()
		}
	}
	return island
}

// reachesLocked says whether traffic goes from one IP to another: neither
// is unplugged, and both are on the same side of every cut. m.mu is held.
func (m *Memory) reachesLocked(from, to netip.Addr) bool {
	if m.unplugged[from] || m.unplugged[to] {
		return false
	}
	return len(m.islands) == 0 || m.islandLocked(from) == m.islandLocked(to)
}

// Machine is one machine on a Memory network: it listens as the network
// does, and dials from its own IP, so that what it says is cut with what
// it hears when it is unplugged or isolated.
type Machine struct {
	*Memory
	IP string
}

// Machine is the machine at ip on m.
func (m *Memory) Machine(ip string) Machine { return Machine{Memory: m, IP: ip} }

// Listen listens as the machine: a cut between it and a client refuses
// the client, whatever address it listens on (a VIP its proxy shares).
func (h Machine) Listen(network, address string) (net.Listener, error) {
	return h.listen(network, address, false, h.addr())
}

// ListenShared is Memory.ListenShared, as the machine.
func (h Machine) ListenShared(network, address string) (net.Listener, error) {
	return h.listen(network, address, true, h.addr())
}

func (h Machine) addr() netip.Addr {
	a, _ := parseIP(h.IP)
	return a
}

// DialContext dials from the machine's IP.
func (h Machine) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return h.DialFrom(ctx, network, h.IP, address)
}
