package dns

import (
	"encoding/binary"

	miekg "github.com/miekg/dns"
)

// The fast path answers the queries a cluster asks all day (A, AAAA or SRV
// of a name that exists, over UDP) from answers packed once per record set:
// it reads the question straight from the packet and copies the ready
// answer, with the client's ID, flags and spelling of the name patched in.
// Anything else (forwarded names, NXDOMAIN, EDNS0 versions, answers that
// need truncating, odd packets) goes the general way, through miekg's
// Unpack and Pack; the same records give the same answer either way.

// wireTypes are the query types with packed answers, in node.wire's order.
var wireTypes = [...]uint16{miekg.TypeA, miekg.TypeAAAA, miekg.TypeSRV}

// wireAnswer is one packed answer. Its ID is 0, RD and CD are clear, and
// its question is the name lowercased.
type wireAnswer struct {
	msg   []byte
	rcode int
}

const (
	headerLen = 12
	optLen    = 11 // an OPT record without options
)

// fastAnswer appends to dst the answer to packet if the fast path can give
// it; ok false means the general path must.
func (s *Server) fastAnswer(dst, packet []byte) (out []byte, qtype uint16, rcode int, ok bool) {
	if len(packet) < headerLen+5 {
		return nil, 0, 0, false
	}
	// A query (QR 0) with opcode QUERY and one question; no answer or
	// authority records, at most one additional (an OPT).
	if packet[2]&0xF8 != 0 || be16(packet[4:]) != 1 || be16(packet[6:]) != 0 || be16(packet[8:]) != 0 || be16(packet[10:]) > 1 {
		return nil, 0, 0, false
	}
	// The name, lowercased in presentation form for the index. A byte that
	// would need escaping there sends the query the general way.
	var nameBuf [255]byte
	n, off := 0, headerLen
	for {
		if off >= len(packet) {
			return nil, 0, 0, false
		}
		l := int(packet[off])
		off++
		if l == 0 {
			break
		}
		if l > 63 || off+l > len(packet) || n+l+1 > len(nameBuf) {
			return nil, 0, 0, false
		}
		for _, c := range packet[off : off+l] {
			switch {
			case c >= 'A' && c <= 'Z':
				c += 'a' - 'A'
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			default:
				return nil, 0, 0, false
			}
			nameBuf[n] = c
			n++
		}
		nameBuf[n] = '.'
		n++
		off += l
	}
	nameEnd := off
	if n == 0 || off+4 > len(packet) || be16(packet[off+2:]) != miekg.ClassINET {
		return nil, 0, 0, false
	}
	qtype = be16(packet[off:])
	off += 4

	size, withOPT, do := miekg.MinMsgSize, false, false
	if be16(packet[10:]) == 1 {
		// OPT: root name, type, UDP size as class, then extended rcode,
		// version and flags as TTL, and no options: those (cookies,
		// client subnet) are for miekg to parse and check. The resolvers
		// of Go, glibc and musl send none.
		if off+optLen > len(packet) || packet[off] != 0 || be16(packet[off+1:]) != miekg.TypeOPT ||
			packet[off+6] != 0 || be16(packet[off+9:]) != 0 {
			return nil, 0, 0, false
		}
		size = min(max(size, int(be16(packet[off+3:]))), maxUDPAnswer)
		do = packet[off+7]&0x80 != 0
		withOPT = true
		off += optLen
	}
	if off != len(packet) {
		return nil, 0, 0, false
	}

	idx := s.records.Load()
	node := idx.names[string(nameBuf[:n])] // no allocation for a lookup
	if node == nil {
		return nil, 0, 0, false
	}
	wa := s.wireAnswer(idx, node, nameBuf[:n], qtype)
	if wa == nil {
		return nil, 0, 0, false
	}
	need := len(wa.msg)
	if withOPT {
		need += optLen
	}
	if need > size {
		return nil, 0, 0, false // truncating is the general path's
	}

	out = append(dst[:0], wa.msg...)
	copy(out[0:2], packet[0:2])                             // ID
	out[2] |= packet[2] & 0x01                              // RD
	out[3] |= packet[3] & 0x10                              // CD
	copy(out[headerLen:nameEnd], packet[headerLen:nameEnd]) // the name as asked (0x20)
	if withOPT {
		binary.BigEndian.PutUint16(out[10:], be16(out[10:])+1)
		var flags byte
		if do {
			flags = 0x80
		}
		out = append(out, 0, 0, byte(miekg.TypeOPT), byte(udpReadSize>>8), byte(udpReadSize&0xFF), 0, 0, flags, 0, 0, 0)
	}
	return out, qtype, wa.rcode, true
}

// wireAnswer returns node's packed answer to qtype, packing it on first
// use; nil for a type without one.
func (s *Server) wireAnswer(idx *index, node *node, name []byte, qtype uint16) *wireAnswer {
	slot := -1
	for i, t := range wireTypes {
		if t == qtype {
			slot = i
		}
	}
	if slot < 0 {
		return nil
	}
	if wa := node.wire[slot].Load(); wa != nil {
		return wa
	}
	// As serveDNS and reply would answer, less what the query adds.
	m := miekg.Msg{Compress: true}
	m.Response, m.Authoritative = true, true
	m.RecursionAvailable = len(s.upstreams) > 0
	m.Question = []miekg.Question{{Name: string(name), Qtype: qtype, Qclass: miekg.ClassINET}}
	node.fill(&m, qtype, idx.soa)
	msg, err := m.Pack()
	if err != nil {
		s.log.Warn("dns: pack answer", "name", string(name), "err", err)
		return nil
	}
	wa := &wireAnswer{msg: msg, rcode: miekg.RcodeSuccess}
	node.wire[slot].Store(wa) // one that raced here stored the same bytes
	return wa
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
