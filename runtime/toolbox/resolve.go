package toolbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"flotilla/internal/vnet"
)

// Resolver is where the lookups of commands run under a context go (see
// WithResolver): a container's node's cluster DNS server and the search
// domains its resolv.conf would list.
type Resolver struct {
	// Server is the DNS server, host:port.
	Server string
	// Search are the domains a name with fewer than Ndots dots is tried
	// in first, in order (e.g. default.svc.flotilla, svc.flotilla).
	Search []string
}

// Ndots is resolv.conf's ndots for Resolver, as the containerd runtime
// writes it for its containers: a name with fewer dots (web, web.default)
// is tried with the search domains before it is tried as it is; one with
// as many (web.default.svc.flotilla) is tried as it is first.
const Ndots = 3

type resolverKey struct{}

// WithResolver makes wget, fetch and nslookup run under ctx resolve names
// through r instead of the host's resolvers: the sim runtime's containers
// run inside the agent, with no resolv.conf of their own.
func WithResolver(ctx context.Context, r Resolver) context.Context {
	return context.WithValue(ctx, resolverKey{}, r)
}

// candidates are the names a lookup of host tries, in order, as a stub
// resolver with r's search list does: all rooted.
func (r Resolver) candidates(host string) []string {
	if strings.HasSuffix(host, ".") {
		return []string{host}
	}
	var searched []string
	for _, domain := range r.Search {
		searched = append(searched, host+"."+strings.Trim(domain, ".")+".")
	}
	if strings.Count(host, ".") >= Ndots {
		return append([]string{host + "."}, searched...)
	}
	return append(searched, host+".")
}

// lookup resolves host through the Resolver under ctx, or the host's
// resolvers without one. It returns the addresses and the name that had
// them.
func lookup(ctx context.Context, host string) ([]netip.Addr, string, error) {
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return []netip.Addr{ip}, host, nil
	}
	n := netOf(ctx)
	r, ok := ctx.Value(resolverKey{}).(Resolver)
	if !ok {
		if !vnet.IsHost(n) {
			// The host's resolvers are not on a simulated network.
			return nil, "", &net.DNSError{Err: "no DNS server on this network", Name: host, IsNotFound: true}
		}
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		return addrs, host, err
	}
	res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		if !vnet.IsHost(n) {
			// A simulated network carries streams only: ask over TCP,
			// which Go's resolver speaks to a connection that is no
			// net.PacketConn.
			network = "tcp"
		}
		return n.DialContext(ctx, network, r.Server)
	}}
	for _, name := range r.candidates(host) {
		addrs, err := res.LookupNetIP(ctx, "ip", name)
		var dnsErr *net.DNSError
		switch {
		case err == nil && len(addrs) > 0:
			return addrs, strings.TrimSuffix(name, "."), nil
		case err == nil, errors.As(err, &dnsErr) && dnsErr.IsNotFound:
			continue
		case errors.As(err, &dnsErr):
			// Go names the resolv.conf server it would have asked.
			return nil, "", &net.DNSError{Err: dnsErr.Err, Name: host, Server: r.Server, IsTimeout: dnsErr.IsTimeout, IsTemporary: dnsErr.IsTemporary}
		default:
			return nil, "", err
		}
	}
	return nil, "", &net.DNSError{Err: "no such host", Name: host, Server: r.Server, IsNotFound: true}
}

// nslookup NAME: the addresses of a name, as the container's lookups see it.
func runNslookup(inv *invocation) int {
	if len(inv.args) != 1 || strings.HasPrefix(inv.args[0], "-") {
		return inv.errorf(ExitUsage, "usage: nslookup NAME")
	}
	ctx, cancel := context.WithTimeout(inv.ctx, FetchTimeout)
	defer cancel()
	var b strings.Builder
	if r, ok := inv.ctx.Value(resolverKey{}).(Resolver); ok {
		fmt.Fprintf(&b, "Server:\t\t%s\n\n", r.Server)
	}
	addrs, name, err := lookup(ctx, inv.args[0])
	if err != nil {
		inv.stdout.Write([]byte(b.String()))
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) {
			return inv.errorf(ExitFailure, "can't resolve '%s': %s", inv.args[0], dnsErr.Err)
		}
		return inv.errorf(ExitFailure, "can't resolve '%s': %v", inv.args[0], err)
	}
	fmt.Fprintf(&b, "Name:\t%s\n", name)
	for _, a := range addrs {
		fmt.Fprintf(&b, "Address: %s\n", a)
	}
	inv.stdout.Write([]byte(b.String()))
	return ExitOK
}
