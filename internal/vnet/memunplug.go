package vnet

import (
	"net"
	"net/netip"
)

// Unplug cuts ip off the network, as a machine whose cable is pulled (or
// a process killed with everything it had open): its open connections
// close, dials to or from it are refused, and datagrams to or from it are
// dropped. Listeners stay bound, so Plug brings it back as it was.
func (m *Memory) Unplug(ip string) error {
	addr, err := parseIP(ip)
	if err != nil || !addr.IsValid() {
		return &net.AddrError{Err: "unplug wants one IP", Addr: ip}
	}
	m.mu.Lock()
	m.unplugged[addr] = true
	m.mu.Unlock()
	m.cut()
	return nil
}

// Plug undoes Unplug.
func (m *Memory) Plug(ip string) error {
	addr, err := parseIP(ip)
	if err != nil || !addr.IsValid() {
		return &net.AddrError{Err: "plug wants one IP", Addr: ip}
	}
	m.mu.Lock()
	delete(m.unplugged, addr)
	m.mu.Unlock()
	return nil
}

// track remembers a new connection's two ends until they close, for
// Unplug. Both ends close together when either is cut.
func (m *Memory) track(client, server *memConn) {
	m.mu.Lock()
	m.conns[client] = struct{}{}
	m.conns[server] = struct{}{}
	m.mu.Unlock()
	client.onClose = func() { m.forget(client) }
	server.onClose = func() { m.forget(server) }
}

func (m *Memory) forget(c *memConn) {
	m.mu.Lock()
	delete(m.conns, c)
	m.mu.Unlock()
}

// take returns the shared listener whose turn it is at bound's address,
// passing over those of machines src cannot reach (false when none is
// left). m.mu is held.
func (m *Memory) take(bound *memListener, src netip.Addr) (*memListener, bool) {
	key := netip.AddrPortFrom(bound.ip, uint16(bound.port))
	all := append([]*memListener{bound}, m.sharing[key]...)
	for range all {
		l := all[m.turn[key]%len(all)]
		m.turn[key]++
		if !l.owner.IsValid() || m.reachesLocked(src, l.owner) {
			return l, true
		}
	}
	return nil, false
}

// unshare unbinds a closed shared listener: another one sharing the
// address takes its place. m.mu is held.
func (m *Memory) unshare(l *memListener) {
	key := netip.AddrPortFrom(l.ip, uint16(l.port))
	others := m.sharing[key]
	if bound, ok := m.streams[l.port][l.ip]; ok && bound == l {
		m.streams.remove(l.ip, l.port, l)
		if len(others) > 0 {
			m.streams.add(l.ip, l.port, others[0])
			others = others[1:]
		}
	} else {
		for i, o := range others {
			if o == l {
				others = append(others[:i:i], others[i+1:]...)
				break
			}
		}
	}
	if len(others) == 0 {
		delete(m.sharing, key)
		delete(m.turn, key)
		return
	}
	m.sharing[key] = others
}

// ListenShared listens on n so that other listeners may share the address
// when n supports it (Memory does); otherwise it is n.Listen.
func ListenShared(n Net, network, address string) (net.Listener, error) {
	if s, ok := n.(interface {
		ListenShared(network, address string) (net.Listener, error)
	}); ok {
		return s.ListenShared(network, address)
	}
	return n.Listen(network, address)
}

// CloseAll closes every open connection, so that whatever still reads
// from one (an idle HTTP connection, a Raft follower's stream) returns:
// the end of a simulation, where nothing must be left waiting.
func (m *Memory) CloseAll() {
	m.mu.Lock()
	var all []*memConn
	for c := range m.conns {
		all = append(all, c)
	}
	m.mu.Unlock()
	for _, c := range all {
		c.Close()
	}
}
