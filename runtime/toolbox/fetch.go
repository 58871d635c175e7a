package toolbox

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"flotilla/internal/vnet"
)

// FetchTimeout bounds one wget/fetch.
const FetchTimeout = 5 * time.Second

type loopbackKey struct{}

// WithLoopback makes wget/fetch run under ctx reach addr where a URL names
// localhost, 127.0.0.1 or ::1. The sim runtime's containers share the
// host's loopback, so a container's own "localhost" is its own address.
func WithLoopback(ctx context.Context, addr netip.Addr) context.Context {
	return context.WithValue(ctx, loopbackKey{}, addr)
}

type netKey struct{}

// WithNet makes wget, fetch and nslookup run under ctx dial through n
// rather than the host's network: a sim container of a virtual scenario
// lives on a simulated one (vnet.Memory). Names are then looked up only
// through WithResolver's server, never the host's resolvers.
func WithNet(ctx context.Context, n vnet.Net) context.Context {
	return context.WithValue(ctx, netKey{}, n)
}

type reachKey struct{}

// WithReach makes wget and fetch run under ctx dial only addresses inside
// reach, and refuse any other before a packet is sent. The sim runtime's
// containers live on the host's loopback: they reach the cluster's
// containers and VIPs there, and nothing off the machine.
func WithReach(ctx context.Context, reach ...netip.Prefix) context.Context {
	return context.WithValue(ctx, reachKey{}, reach)
}

// outsideError is a dial WithReach refused.
type outsideError struct {
	addr  netip.Addr
	reach []netip.Prefix
}

func (e *outsideError) Error() string {
	in := make([]string, len(e.reach))
	for i, p := range e.reach {
		in[i] = p.String()
	}
	return fmt.Sprintf("%s is outside this container's network (%s)", e.addr, strings.Join(in, ", "))
}

// netOf is the network commands run under ctx dial through: WithNet's, or
// the host's.
func netOf(ctx context.Context) vnet.Net {
	n, _ := ctx.Value(netKey{}).(vnet.Net)
	return vnet.Or(n)
}

// wget [-q] [-O -] URL, short options combined or not (-qO-): only -O -
// (standard output) is supported.
func runWget(inv *invocation) int {
	var url string
	args := inv.args
	for len(args) > 0 {
		a := args[0]
		args = args[1:]
		switch {
		case a == "--quiet":
		case a == "--output-document" || strings.HasPrefix(a, "--output-document="):
			doc, ok := strings.CutPrefix(a, "--output-document=")
			if !ok && len(args) > 0 {
				doc, args = args[0], args[1:]
			}
			if doc != "-" {
				return inv.errorf(ExitUsage, "only -O - (standard output) is supported")
			}
		case len(a) > 1 && a[0] == '-' && a[1] != '-':
			for i := 1; i < len(a); i++ {
				switch a[i] {
				case 'q':
				case 'O':
					doc := a[i+1:]
					if doc == "" && len(args) > 0 {
						doc, args = args[0], args[1:]
					}
					if doc != "-" {
						return inv.errorf(ExitUsage, "only -O - (standard output) is supported")
					}
					i = len(a)
				default:
					return inv.errorf(ExitUsage, "unknown option -%c (usage: wget -q -O - URL)", a[i])
				}
			}
		case len(a) > 1 && a[0] == '-':
			return inv.errorf(ExitUsage, "unknown option %s (usage: wget -q -O - URL)", a)
		default:
			if url != "" {
				return inv.errorf(ExitUsage, "one URL at a time")
			}
			url = a
		}
	}
	if url == "" {
		return inv.errorf(ExitUsage, "usage: wget -q -O - URL")
	}
	return fetch(inv, url)
}

// fetch URL
func runFetch(inv *invocation) int {
	if len(inv.args) != 1 {
		return inv.errorf(ExitUsage, "usage: fetch URL")
	}
	return fetch(inv, inv.args[0])
}

// fetch GETs url and prints the body; 1 on an error or a status of 400 or
// more (the body is printed all the same: a 500's body says why).
func fetch(inv *invocation, url string) int {
	ctx, cancel := context.WithTimeout(inv.ctx, FetchTimeout)
	defer cancel()
	transport := &http.Transport{
		DialContext: dialer(inv.ctx),
		Proxy:       nil, // a container's own requests go direct
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return inv.errorf(ExitFailure, "bad URL %q: %v", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return inv.errorf(ExitFailure, "%v", err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(inv.stdout, resp.Body); err != nil {
		return inv.errorf(ExitFailure, "reading the answer: %v", err)
	}
	if resp.StatusCode >= 400 {
		return inv.errorf(ExitFailure, "server returned error: %s", resp.Status)
	}
	return ExitOK
}

// dialer dials the address WithLoopback names for loopback hosts, and
// resolves other names with lookup (WithResolver's server, if any); with
// WithReach, only addresses inside it.
func dialer(ctx context.Context) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := netOf(ctx)
	own, rewrite := ctx.Value(loopbackKey{}).(netip.Addr)
	_, resolve := ctx.Value(resolverKey{}).(Resolver)
	reach, limited := ctx.Value(reachKey{}).([]netip.Prefix)
	dialIP := func(dialCtx context.Context, network string, ip netip.Addr, port string) (net.Conn, error) {
		if limited && !slices.ContainsFunc(reach, func(p netip.Prefix) bool { return p.Contains(ip.Unmap()) }) {
			return nil, &net.OpError{Op: "dial", Net: network, Err: &outsideError{addr: ip, reach: reach}}
		}
		return d.DialContext(dialCtx, network, net.JoinHostPort(ip.String(), port))
	}
	return func(dialCtx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			if limited { // no address to check: nothing to dial
				return nil, &net.OpError{Op: "dial", Net: network, Err: err}
			}
			return d.DialContext(dialCtx, network, addr)
		}
		if rewrite && (host == "localhost" || host == "127.0.0.1" || host == "::1") {
			if own.Is4() {
				network = "tcp4"
			}
			return dialIP(dialCtx, network, own, port)
		}
		if !resolve && !limited {
			return d.DialContext(dialCtx, network, addr)
		}
		// lookup takes an address as it is. With WithReach a name is
		// looked up here even with no resolver, so that its addresses
		// are checked before a dial.
		addrs, _, err := lookup(dialCtx, host)
		if err != nil {
			return nil, err
		}
		var firstErr error
		for _, ip := range addrs {
			conn, err := dialIP(dialCtx, network, ip, port)
			if err == nil {
				return conn, nil
			}
			if firstErr == nil {
				firstErr = err
			}
		}
		return nil, firstErr
	}
}
