package sim

import (
	"errors"
	"fmt"
	"net/netip"
)

var (
	loopback     = netip.MustParsePrefix("127.0.0.0/8")
	ipv6Loopback = netip.MustParsePrefix("::1/128")
)

// addressPool hands out the container addresses of a node's subnet: from
// .2 to the one before broadcast (.1 is the node's). Like CNI's host-local
// IPAM it goes on from the last address it gave rather than reusing a
// released one at once, so that a stale route rarely reaches a new container.
type addressPool struct {
	first, last netip.Addr
	size        int
	lastGiven   netip.Addr
	used        map[netip.Addr]bool
}

func newAddressPool(subnet netip.Prefix) (*addressPool, error) {
	if !subnet.IsValid() {
		return nil, errors.New("subnet is required (e.g. 127.128.3.0/24)")
	}
	if !subnet.Addr().Is4() || !loopback.Contains(subnet.Addr()) || subnet.Bits() < loopback.Bits() {
		return nil, fmt.Errorf("subnet %s is not inside %s", subnet, loopback)
	}
	if subnet.Masked() != subnet {
		return nil, fmt.Errorf("subnet %s has host bits set (want %s)", subnet, subnet.Masked())
	}
	if subnet.Bits() > 30 {
		return nil, fmt.Errorf("subnet %s is too small for any container (want /30 or larger)", subnet)
	}
	network := subnet.Addr()
	size := uint32(1) << (32 - subnet.Bits())
	b := network.As4()
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	first, last := addrFrom(n+2), addrFrom(n+size-2)
	return &addressPool{first: first, last: last, size: int(size - 3), lastGiven: last, used: map[netip.Addr]bool{}}, nil
}

func addrFrom(n uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// take gives the next unused address that usable accepts.
func (p *addressPool) take(usable func(netip.Addr) bool) (netip.Addr, error) {
	a := p.lastGiven
	for range p.size {
		a = a.Next()
		if a.Compare(p.last) > 0 {
			a = p.first
		}
		if !p.used[a] && usable(a) {
			p.used[a] = true
			p.lastGiven = a
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("no free address in %s..%s", p.first, p.last)
}

func (p *addressPool) release(a netip.Addr) { delete(p.used, a) }
