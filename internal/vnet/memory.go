package vnet

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
)

// Ephemeral ports (port 0 in Listen and ListenPacket, and the local ports
// of dialed connections) are taken from this range, in turn.
const (
	firstEphemeralPort = 40000
	lastEphemeralPort  = 65535
)

// backlog is how many dialed connections a listener holds before Accept
// takes them; further dials wait.
const backlog = 1024

// loopback is where dials without a source come from, and what dials and
// datagrams to an unspecified address (0.0.0.0, ::) go to.
var loopback = netip.AddrFrom4([4]byte{127, 0, 0, 1})

// Memory is a network simulated in memory: listeners, connections and
// datagrams that never touch the machine's network, so that a whole
// cluster can run in one process. Everything blocks on sync.Cond only,
// never on I/O, so that it works inside a testing/synctest bubble, where
// deadlines then elapse in virtual time. A Memory and everything made
// from it must live in one bubble (or in none).
//
// Addresses are IP literals: names are not resolved. Streams and
// datagrams are separate namespaces, as TCP and UDP ports are. Memory is
// safe for concurrent use.
type Memory struct {
	mu      sync.Mutex
	streams namespace[*memListener]
	packets namespace[*memPacketConn]
	// next is the next ephemeral port to try.
	next int
	// sharing holds, per address bound by a shared listener, the other
	// shared listeners on it; turn is whose turn the next dial is.
	sharing map[netip.AddrPort][]*memListener
	turn    map[netip.AddrPort]int
	// unplugged IPs neither send nor receive (Unplug); conns are the open
	// connections, to cut those of an IP that is unplugged.
	unplugged map[netip.Addr]bool
	conns     map[*memConn]struct{}
	// islands are the prefixes Isolate cut off, each with its island's
	// number: addresses on different islands (0: the rest) do not meet.
	islands    map[netip.Prefix]int
	nextIsland int
}

var _ Net = (*Memory)(nil)

// NewMemory returns an empty network.
func NewMemory() *Memory {
	return &Memory{
		streams: namespace[*memListener]{},
		packets: namespace[*memPacketConn]{},
		next:    firstEphemeralPort,
		sharing: map[netip.AddrPort][]*memListener{}, turn: map[netip.AddrPort]int{},
		unplugged: map[netip.Addr]bool{}, conns: map[*memConn]struct{}{},
		islands: map[netip.Prefix]int{},
	}
}

// Listen listens for streams ("tcp", "tcp4") on "IP:port". Port 0 picks a
// free port; an unspecified IP ("", 0.0.0.0, ::) takes dials to any IP.
func (m *Memory) Listen(network, address string) (net.Listener, error) {
	return m.listen(network, address, false, netip.Addr{})
}

// ListenShared listens as Listen does, but other shared listeners may
// listen on the same address (the host's SO_REUSEPORT, which every
// agent's proxy uses on a service's VIP): dials go to them in turn.
func (m *Memory) ListenShared(network, address string) (net.Listener, error) {
	return m.listen(network, address, true, netip.Addr{})
}

// listen binds a stream listener; owner is the machine that listens (the
// zero Addr when none said).
func (m *Memory) listen(network, address string, shared bool, owner netip.Addr) (net.Listener, error) {
	if !isStream(network) {
		return nil, &net.OpError{Op: "listen", Net: network, Err: net.UnknownNetworkError(network)}
	}
	ip, port, err := parseAddr(address)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if bound, ok := m.streams[port][ip]; ok && shared && bound.shared && port != 0 {
		l := newMemListener(m, ip, port)
		l.shared, l.owner = true, owner
		key := netip.AddrPortFrom(ip, uint16(port))
		m.sharing[key] = append(m.sharing[key], l)
		return l, nil
	}
	if port, err = m.bindPort(ip, port, m.streams.clashes); err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: tcpAddr(ip, port), Err: err}
	}
	l := newMemListener(m, ip, port)
	l.shared, l.owner = shared, owner
	m.streams.add(ip, port, l)
	return l, nil
}

// ListenPacket listens for datagrams ("udp", "udp4") on "IP:port", with
// the same rules as Listen.
func (m *Memory) ListenPacket(network, address string) (net.PacketConn, error) {
	if !isPacket(network) {
		return nil, &net.OpError{Op: "listen", Net: network, Err: net.UnknownNetworkError(network)}
	}
	ip, port, err := parseAddr(address)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	port, err = m.bindPort(ip, port, m.packets.clashes)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: udpAddr(ip, port), Err: err}
	}
	c := newMemPacketConn(m, ip, port)
	m.packets.add(ip, port, c)
	return c, nil
}

// DialContext connects to the stream listener at "IP:port", from
// 127.0.0.1. Without one it fails with syscall.ECONNREFUSED; when the
// listener's backlog is full it waits for room until ctx is done.
func (m *Memory) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return m.DialFrom(ctx, network, "", address)
}

// DialFrom is DialContext from source, an IP (empty for 127.0.0.1): the
// connection's local address, and its remote address at the listener's
// end, have that IP. It simulates clients on other machines.
func (m *Memory) DialFrom(ctx context.Context, network, source, address string) (net.Conn, error) {
	fail := func(raddr net.Addr, err error) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
	}
	if !isStream(network) {
		return fail(nil, net.UnknownNetworkError(network))
	}
	ip, port, err := parseAddr(address)
	if err != nil {
		return fail(nil, err)
	}
	src, err := parseIP(source)
	if err != nil {
		return fail(nil, err)
	}
	ip, src = orLoopback(ip), orLoopback(src)
	raddr := tcpAddr(ip, port)
	if err := ctx.Err(); err != nil {
		return fail(raddr, err)
	}

	m.mu.Lock()
	l, found := m.streams.find(ip, port)
	if found && l.shared {
		l, found = m.take(l, src)
	}
	// A listener's address is on the machine that listens, when it said
	// which (a VIP is on every proxy's).
	down := !found || !m.reachesLocked(src, ip)
	if found && l.owner.IsValid() {
		down = !m.reachesLocked(src, l.owner)
	}
	localPort, err := m.ephemeral(func(p int) bool { return m.streams.clashes(src, p) })
	m.mu.Unlock()
	if !found || down {
		return fail(raddr, syscall.ECONNREFUSED)
	}
	if err != nil {
		return fail(raddr, err)
	}

	client, server := newConnPair(tcpAddr(src, localPort), raddr)
	client.owner, server.owner = l.owner, l.owner
	client.client, server.client = src, src
	m.track(client, server)
	if err := l.enqueue(ctx, server); err != nil {
		client.Close()
		server.Close()
		return fail(raddr, err)
	}
	return client, nil
}

// bindPort checks that ip:port is free, or picks a free port when port is
// 0; clashes says whether an address is taken. m.mu is held.
func (m *Memory) bindPort(ip netip.Addr, port int, clashes func(netip.Addr, int) bool) (int, error) {
	if port == 0 {
		return m.ephemeral(func(p int) bool { return clashes(ip, p) })
	}
	if clashes(ip, port) {
		return port, syscall.EADDRINUSE
	}
	return port, nil
}

// ephemeral returns the next port of the ephemeral range that is not
// taken, going round the range once at most. m.mu is held.
func (m *Memory) ephemeral(taken func(port int) bool) (int, error) {
	for range lastEphemeralPort - firstEphemeralPort + 1 {
		p := m.next
		m.next++
		if m.next > lastEphemeralPort {
			m.next = firstEphemeralPort
		}
		if !taken(p) {
			return p, nil
		}
	}
	return 0, syscall.EADDRINUSE
}

// unbindStream frees a closed listener's address.
func (m *Memory) unbindStream(l *memListener) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l.shared {
		m.unshare(l)
		return
	}
	m.streams.remove(l.ip, l.port, l)
}

// unbindPacket frees a closed packet endpoint's address.
func (m *Memory) unbindPacket(c *memPacketConn) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.packets.remove(c.ip, c.port, c)
}

// findPacket returns the packet endpoint bound at ip:port (exactly, or on
// the unspecified IP).
func (m *Memory) findPacket(ip netip.Addr, port int) (*memPacketConn, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.packets.find(ip, port)
}

// delivers says whether a datagram from one IP reaches another: not when
// either is unplugged, or a cut (Isolate) lies between them.
func (m *Memory) delivers(from, to netip.Addr) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reachesLocked(from, to)
}

// namespace is what is bound where, by port then IP; the zero (invalid)
// netip.Addr stands for the unspecified IP, which takes every IP.
type namespace[T comparable] map[int]map[netip.Addr]T

// clashes says whether binding ip:port would clash with a bound address:
// the same one, or either of them unspecified.
func (ns namespace[T]) clashes(ip netip.Addr, port int) bool {
	bound := ns[port]
	if len(bound) == 0 {
		return false
	}
	if !ip.IsValid() {
		return true
	}
	_, exact := bound[ip]
	_, wildcard := bound[netip.Addr{}]
	return exact || wildcard
}

// find returns what is bound at ip:port, exactly or on the unspecified IP.
func (ns namespace[T]) find(ip netip.Addr, port int) (T, bool) {
	bound := ns[port]
	if v, ok := bound[ip]; ok {
		return v, true
	}
	v, ok := bound[netip.Addr{}]
	return v, ok
}

func (ns namespace[T]) add(ip netip.Addr, port int, v T) {
	if ns[port] == nil {
		ns[port] = map[netip.Addr]T{}
	}
	ns[port][ip] = v
}

// remove unbinds ip:port if v is what is bound there.
func (ns namespace[T]) remove(ip netip.Addr, port int, v T) {
	if cur, ok := ns[port][ip]; ok && cur == v {
		delete(ns[port], ip)
		if len(ns[port]) == 0 {
			delete(ns, port)
		}
	}
}

func isStream(network string) bool { return network == "tcp" || network == "tcp4" }
func isPacket(network string) bool { return network == "udp" || network == "udp4" }

// parseAddr splits "IP:port"; an empty or unspecified IP is the zero
// netip.Addr.
func parseAddr(address string) (netip.Addr, int, error) {
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return netip.Addr{}, 0, err
	}
	ip, err := parseIP(host)
	if err != nil {
		return netip.Addr{}, 0, err
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return netip.Addr{}, 0, &net.AddrError{Err: "invalid port", Addr: address}
	}
	return ip, port, nil
}

// parseIP parses an IP literal; empty and unspecified IPs are the zero
// netip.Addr. IPv4-mapped IPv6 addresses are IPv4 ones.
func parseIP(host string) (netip.Addr, error) {
	if host == "" {
		return netip.Addr{}, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, &net.AddrError{Err: "not an IP address (vnet.Memory resolves no names)", Addr: host}
	}
	ip = ip.Unmap().WithZone("")
	if ip.IsUnspecified() {
		return netip.Addr{}, nil
	}
	return ip, nil
}

// orLoopback is ip, or 127.0.0.1 for the unspecified IP.
func orLoopback(ip netip.Addr) netip.Addr {
	if !ip.IsValid() {
		return loopback
	}
	return ip
}

// orZero is ip, or 0.0.0.0 for the unspecified IP.
func orZero(ip netip.Addr) netip.Addr {
	if !ip.IsValid() {
		return netip.IPv4Unspecified()
	}
	return ip
}

func tcpAddr(ip netip.Addr, port int) *net.TCPAddr {
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(orZero(ip), uint16(port)))
}

func udpAddr(ip netip.Addr, port int) *net.UDPAddr {
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(orZero(ip), uint16(port)))
}

// memListener is a stream listener of a Memory: a queue of dialed
// connections that Accept takes.
type memListener struct {
	m    *Memory
	ip   netip.Addr
	port int
	addr *net.TCPAddr

	// shared: other shared listeners may take the address too.
	shared bool
	// owner is the machine that listens (Machine), if one said.
	owner netip.Addr

	mu     sync.Mutex
	cond   sync.Cond // broadcast when queue or closed change
	queue  []*memConn
	closed bool
}

func newMemListener(m *Memory, ip netip.Addr, port int) *memListener {
	l := &memListener{m: m, ip: ip, port: port, addr: tcpAddr(ip, port)}
	l.cond.L = &l.mu
	return l
}

// enqueue hands a dialed connection's far end to Accept, waiting while
// the backlog is full, until ctx is done.
func (l *memListener) enqueue(ctx context.Context, c *memConn) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	stop := func() bool { return false }
	defer func() { stop() }()
	for {
		if l.closed {
			return syscall.ECONNREFUSED
		}
		if len(l.queue) < backlog {
			l.queue = append(l.queue, c)
			l.cond.Broadcast()
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if ctx.Done() != nil {
			// Wake up (with everyone else waiting) when ctx is done.
			stop()
			stop = context.AfterFunc(ctx, func() {
				l.mu.Lock()
				l.cond.Broadcast()
				l.mu.Unlock()
			})
		}
		l.cond.Wait()
	}
}

// Accept waits for a connection, or for the listener to close.
func (l *memListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.queue) == 0 && !l.closed {
		l.cond.Wait()
	}
	if l.closed {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.addr, Err: net.ErrClosed}
	}
	c := l.queue[0]
	l.queue[0] = nil
	l.queue = l.queue[1:]
	l.cond.Broadcast() // room for a waiting dial
	return c, nil
}

// Close frees the address, ends Accept and closes the connections not
// accepted yet.
func (l *memListener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	queued := l.queue
	l.queue = nil
	l.cond.Broadcast()
	l.mu.Unlock()

	l.m.unbindStream(l)
	for _, c := range queued {
		c.Close()
	}
	return nil
}

// Addr is the address listened on (0.0.0.0 for any IP).
func (l *memListener) Addr() net.Addr { return l.addr }
