package dns

import (
	"cmp"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"

	miekg "github.com/miekg/dns"

	"flotilla/api"
)

// index is one immutable record set: every name of the zone, lowercased,
// with its answers ready to send. Queries share its records and slices and
// must never modify them; every slice is clipped (len == cap) so that an
// append in the query path copies instead of writing into the index.
type index struct {
	zone  string
	names map[string]*node
	// soa is the zone's SOA, the authority section of negative answers.
	soa []miekg.RR
}

// node is one name of the zone. A node with no records is an empty
// non-terminal (or a _PORT._udp name): it exists, so it answers NODATA.
type node struct {
	a, aaaa []miekg.RR
	srv     []miekg.RR
	// srvExtra holds the SRV targets' addresses (additional section).
	srvExtra []miekg.RR
	soa      []miekg.RR // the zone apex only

	// wire holds the packed answers to A, AAAA and SRV queries (see
	// fast.go), made on first use.
	wire [len(wireTypes)]atomic.Pointer[wireAnswer]
}

// records returns the answer for qtype, and what goes in the additional
// section with it.
func (n *node) records(qtype uint16) (answer, extra []miekg.RR) {
	switch qtype {
	case miekg.TypeA:
		return n.a, nil
	case miekg.TypeAAAA:
		return n.aaaa, nil
	case miekg.TypeSRV:
		return n.srv, n.srvExtra
	case miekg.TypeSOA:
		return n.soa, nil
	case miekg.TypeANY:
		// Rare enough to build per query (RFC 8482 would allow less).
		var all []miekg.RR
		all = append(all, n.soa...)
		all = append(all, n.a...)
		all = append(all, n.aaaa...)
		all = append(all, n.srv...)
		return all, n.srvExtra
	}
	return nil, nil
}

// fill puts n's answer for qtype in m: the records, or for NODATA the
// zone's SOA, which says how long the absence may be cached.
func (n *node) fill(m *miekg.Msg, qtype uint16, soa []miekg.RR) {
	m.Answer, m.Extra = n.records(qtype)
	if len(m.Answer) == 0 {
		m.Extra = nil
		m.Ns = soa
	}
}

// buildIndex makes the record set of services. Services and endpoints whose
// names are not DNS labels, and addresses that do not parse, are left out
// with a warning: one bad entry must not take the others' names away.
func buildIndex(zone string, ttl, serial uint32, services []api.ServiceEndpoints, log *slog.Logger) *index {
	b := &indexBuilder{
		idx:      &index{zone: zone, names: make(map[string]*node, 1+4*len(services))},
		ttl:      ttl,
		log:      log,
		services: make(map[string]bool, len(services)),
	}
	soa := &miekg.SOA{
		Hdr:  b.header(zone, miekg.TypeSOA),
		Ns:   "ns.dns." + zone,
		Mbox: "hostmaster." + zone,
		// Secondaries never transfer this zone; the timers are the usual
		// ones. Minttl bounds how long a negative answer is cached.
		Serial: serial, Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: ttl,
	}
	b.idx.soa = []miekg.RR{soa}
	b.node(zone).soa = b.idx.soa
	for i := range services {
		b.addService(&services[i])
	}
	for _, n := range b.idx.names {
		n.a, n.aaaa = slices.Clip(n.a), slices.Clip(n.aaaa)
		n.srv, n.srvExtra = slices.Clip(n.srv), slices.Clip(n.srvExtra)
	}
	return b.idx
}

type indexBuilder struct {
	idx      *index
	ttl      uint32
	log      *slog.Logger
	services map[string]bool // added so far, by name
}

func (b *indexBuilder) header(name string, rrtype uint16) miekg.RR_Header {
	return miekg.RR_Header{Name: name, Rrtype: rrtype, Class: miekg.ClassINET, Ttl: b.ttl}
}

// node returns the node of name, creating it and the empty non-terminals
// between it and the zone apex.
func (b *indexBuilder) node(name string) *node {
	if n, ok := b.idx.names[name]; ok {
		return n
	}
	n := &node{}
	b.idx.names[name] = n
	if name != b.idx.zone {
		_, parent, _ := strings.Cut(name, ".")
		b.node(parent)
	}
	return n
}

// addressRR is an A or AAAA record of name.
func (b *indexBuilder) addressRR(name string, ip netip.Addr) miekg.RR {
	if ip.Is4() {
		return &miekg.A{Hdr: b.header(name, miekg.TypeA), A: ip.AsSlice()}
	}
	return &miekg.AAAA{Hdr: b.header(name, miekg.TypeAAAA), AAAA: ip.AsSlice()}
}

// addAddress files rr under n as an A or AAAA record.
func addAddress(n *node, rr miekg.RR) {
	if rr.Header().Rrtype == miekg.TypeA {
		n.a = append(n.a, rr)
	} else {
		n.aaaa = append(n.aaaa, rr)
	}
}

// endpoint is one replica with a usable name and address.
type endpoint struct {
	name  string // ENDPOINTID.SERVICE.NAMESPACE.zone
	ip    netip.Addr
	ready bool
	rr    miekg.RR // its A or AAAA record
}

func (b *indexBuilder) addService(svc *api.ServiceEndpoints) {
	ns, name := strings.ToLower(svc.Namespace), strings.ToLower(svc.Name)
	if !isLabel(ns) || !isLabel(name) {
		b.log.Warn("dns: service name is not a DNS label, left out", "namespace", svc.Namespace, "service", svc.Name)
		return
	}
	svcName := name + "." + ns + "." + b.idx.zone
	if b.services[svcName] {
		b.log.Warn("dns: service listed twice, first one kept", "service", svcName)
		return
	}
	b.services[svcName] = true
	svcNode := b.node(svcName)

	eps := b.endpoints(svc, svcName)
	var ready []endpoint
	for _, ep := range eps {
		if ep.ready {
			ready = append(ready, ep)
		}
	}

	if svc.Headless || svc.VIP == "" {
		seen := map[netip.Addr]bool{}
		for _, ep := range ready {
			if !seen[ep.ip] {
				seen[ep.ip] = true
				addAddress(svcNode, b.addressRR(svcName, ep.ip))
			}
		}
	} else if vip, err := parseIP(svc.VIP); err != nil {
		b.log.Warn("dns: service VIP does not parse, no address record", "service", svcName, "vip", svc.VIP)
	} else {
		addAddress(svcNode, b.addressRR(svcName, vip))
	}

	for _, ep := range eps {
		addAddress(b.node(ep.name), ep.rr)
	}

	// Kubernetes' SRV weights: equal, and the sum about 100.
	weight := uint16(1)
	if len(ready) > 0 && len(ready) < 100 {
		weight = uint16(100 / len(ready))
	}
	for _, p := range svc.Ports {
		pname := strings.ToLower(p.Name)
		if pname == "" {
			continue // only named ports have SRV records
		}
		if !isLabel(pname) || p.Port <= 0 || p.Port > 65535 {
			b.log.Warn("dns: port name is not a DNS label or port out of range, no SRV record", "service", svcName, "port", p.Name)
			continue
		}
		// Ports are tcp or http: both are _tcp. The _udp name exists so
		// that it answers NODATA rather than NXDOMAIN.
		b.node("_" + pname + "._udp." + svcName)
		owner := "_" + pname + "._tcp." + svcName
		srvNode := b.node(owner)
		// A duplicate port name: the last one wins.
		srvNode.srv, srvNode.srvExtra = make([]miekg.RR, 0, len(ready)), make([]miekg.RR, 0, len(ready))
		for _, ep := range ready {
			srvNode.srv = append(srvNode.srv, &miekg.SRV{
				Hdr:      b.header(owner, miekg.TypeSRV),
				Priority: 0, Weight: weight, Port: uint16(p.Port), Target: ep.name,
			})
			srvNode.srvExtra = append(srvNode.srvExtra, ep.rr)
		}
	}
}

// endpoints returns svc's endpoints that can be named, sorted by ID so that
// answers do not depend on the order the servers sent them in.
func (b *indexBuilder) endpoints(svc *api.ServiceEndpoints, svcName string) []endpoint {
	var eps []endpoint
	seen := map[string]bool{}
	for _, e := range svc.Endpoints {
		id := strings.ToLower(e.ID)
		ip, err := parseIP(e.IP)
		switch {
		case !isLabel(id):
			b.log.Warn("dns: endpoint ID is not a DNS label, left out", "service", svcName, "endpoint", e.ID)
			continue
		case err != nil:
			if e.IP != "" { // an endpoint without an address yet is normal
				b.log.Warn("dns: endpoint address does not parse, left out", "service", svcName, "endpoint", e.ID, "ip", e.IP)
			}
			continue
		case seen[id]:
			b.log.Warn("dns: duplicate endpoint ID, first one kept", "service", svcName, "endpoint", e.ID)
			continue
		}
		seen[id] = true
		name := id + "." + svcName
		eps = append(eps, endpoint{name: name, ip: ip, ready: e.Ready, rr: b.addressRR(name, ip)})
	}
	slices.SortFunc(eps, func(x, y endpoint) int { return cmp.Compare(x.name, y.name) })
	return eps
}

func parseIP(s string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return ip, err
	}
	return ip.Unmap().WithZone(""), nil
}

// isLabel reports whether s is a lowercase DNS label as Flotilla names
// are: 1 to 63 of [a-z0-9-], not starting or ending with '-'.
func isLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
