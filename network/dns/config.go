package dns

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	miekg "github.com/miekg/dns"

	"flotilla/internal/vnet"
)

// Defaults of Config.
const (
	DefaultDomain = "svc.flotilla."
	DefaultTTL    = 5
	// ForwardTimeout is how long one upstream has to answer before the
	// next one is tried.
	ForwardTimeout = 2 * time.Second
	// ResolvConf is where the host's resolvers are read from when
	// Config.Upstreams is nil.
	ResolvConf = "/etc/resolv.conf"
)

// Config describes one DNS server.
type Config struct {
	// Listen is host:port for both UDP and TCP, e.g. 127.0.0.1:4749; port 0
	// picks a free one (the same for both).
	Listen string
	// Domain is the zone the server answers for; default svc.flotilla.
	Domain string
	// TTL of every record, in seconds; default 5. It is also the SOA's
	// minimum, so negative answers are cached as long as positive ones.
	TTL uint32
	// Upstreams are resolvers ("host:port", an IP address and a port) for
	// names outside Domain. nil reads /etc/resolv.conf (ReadResolvConf); an
	// empty, non-nil slice means none: such queries are REFUSED. On a
	// simulated Net, nil means none too: the host's resolv.conf names
	// nothing there.
	Upstreams []string
	Logger    *slog.Logger
	// Net is where the server listens and forwards through: nil for the
	// host's network, or a simulated one (vnet.Memory).
	Net vnet.Net

	// resolvConf replaces ResolvConf (tests).
	resolvConf string
	// forwardTimeout replaces ForwardTimeout (tests).
	forwardTimeout time.Duration
	// miekgUDP serves UDP with miekg's server, as on an unspecified
	// address, rather than readUDP (tests).
	miekgUDP bool
}

// withDefaults checks cfg and fills in its defaults. Upstreams are not
// resolved yet: that needs the bound address (see New).
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Listen == "" {
		return cfg, fmt.Errorf("dns: listen address is empty")
	}
	if cfg.Domain == "" {
		cfg.Domain = DefaultDomain
	}
	cfg.Domain = strings.ToLower(miekg.Fqdn(cfg.Domain))
	if _, ok := miekg.IsDomainName(cfg.Domain); !ok || cfg.Domain == "." {
		return cfg, fmt.Errorf("dns: domain %q is not a domain name", cfg.Domain)
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.resolvConf == "" {
		cfg.resolvConf = ResolvConf
	}
	if cfg.forwardTimeout == 0 {
		cfg.forwardTimeout = ForwardTimeout
	}
	return cfg, nil
}

// ReadResolvConf returns the nameservers of a resolv.conf file as
// "host:53", in the file's order and without duplicates; nil when the file
// cannot be read or names none. It cannot know which server will use them:
// New drops the one that is that server's own address (a loopback address
// on its port), which would make every forwarded query loop.
func ReadResolvConf(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var servers []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		ip, err := netip.ParseAddr(fields[1])
		if err != nil {
			continue
		}
		hp := net.JoinHostPort(ip.String(), "53")
		if !seen[hp] {
			seen[hp] = true
			servers = append(servers, hp)
		}
	}
	return servers
}

// upstreams turns cfg.Upstreams (or the resolv.conf's) into addresses,
// without self, the server's own bound address. An entry without a port
// gets 53; one that is not an IP address is an error, since resolving it
// would need DNS.
func upstreams(cfg Config, self netip.AddrPort) ([]netip.AddrPort, error) {
	list := cfg.Upstreams
	if list == nil && vnet.IsHost(cfg.Net) {
		list = ReadResolvConf(cfg.resolvConf)
	}
	var out []netip.AddrPort
	for _, u := range list {
		ap, err := parseUpstream(u)
		if err != nil {
			return nil, err
		}
		if isSelf(ap, self, vnet.IsHost(cfg.Net)) {
			cfg.Logger.Info("dns: not forwarding to this server's own address", "upstream", u)
			continue
		}
		if !containsAddrPort(out, ap) {
			out = append(out, ap)
		}
	}
	return out, nil
}

func parseUpstream(u string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(u); err == nil {
		return ap, nil
	}
	if ip, err := netip.ParseAddr(strings.Trim(u, "[]")); err == nil {
		return netip.AddrPortFrom(ip, 53), nil
	}
	return netip.AddrPort{}, fmt.Errorf("dns: upstream %q is not an IP address with an optional port", u)
}

// isSelf reports whether upstream is the server bound at self, so that a
// resolv.conf naming this node's own address never makes it forward to
// itself: the same address and port, or, when the server listens on all
// addresses, any loopback address on its port, and any of the host's
// interface addresses when onHost (it listens on the host's network).
func isSelf(upstream, self netip.AddrPort, onHost bool) bool {
	up := upstream.Addr().Unmap()
	me := self.Addr().Unmap()
	if upstream.Port() != self.Port() {
		return false
	}
	if up == me {
		return true
	}
	if !me.IsUnspecified() {
		return false
	}
	if up.IsLoopback() {
		return true
	}
	if !onHost {
		return false
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Unmap() == up {
			return true
		}
	}
	return false
}

func containsAddrPort(list []netip.AddrPort, ap netip.AddrPort) bool {
	for _, x := range list {
		if x == ap {
			return true
		}
	}
	return false
}
