package dns

import (
	"net"
	"strings"
	"sync"

	miekg "github.com/miekg/dns"
)

// newOPT is the OPT record of an answer to an EDNS0 query. Each answer
// needs its own: packing a message writes its extended rcode into the OPT.
func newOPT(do bool) *miekg.OPT {
	o := &miekg.OPT{Hdr: miekg.RR_Header{Name: ".", Rrtype: miekg.TypeOPT}}
	o.SetUDPSize(udpReadSize)
	if do {
		o.SetDo()
	}
	return o
}

// packBuffers are reused for packing answers, so that an answer costs no
// buffer of its own.
var packBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// serveDNS answers one query. Names of the zone are answered from the
// current index; others are forwarded.
func (s *Server) serveDNS(w miekg.ResponseWriter, req *miekg.Msg) {
	_, tcp := w.LocalAddr().(*net.TCPAddr)
	reqOPT := req.IsEdns0()

	var qtype uint16
	if len(req.Question) == 1 {
		qtype = req.Question[0].Qtype
	}
	var m miekg.Msg
	switch {
	case req.Opcode != miekg.OpcodeQuery:
		s.reply(w, &m, req, nil, tcp, miekg.RcodeNotImplemented)
		return
	case len(req.Question) != 1:
		s.reply(w, &m, req, nil, tcp, miekg.RcodeFormatError)
		return
	case reqOPT != nil && reqOPT.Version() != 0:
		s.reply(w, &m, req, reqOPT, tcp, miekg.RcodeBadVers)
		return
	}

	q := &req.Question[0]
	name := strings.ToLower(q.Name) // allocates only when the name has capitals
	idx := s.records.Load()
	if !inZone(name, idx.zone) {
		s.forward(w, req, reqOPT, tcp)
		return
	}
	if (q.Qclass != miekg.ClassINET && q.Qclass != miekg.ClassANY) || qtype == miekg.TypeAXFR || qtype == miekg.TypeIXFR {
		s.reply(w, &m, req, reqOPT, tcp, miekg.RcodeRefused) // another class; no zone transfers
		return
	}
	m.Authoritative = true
	n := idx.names[name]
	if n == nil {
		m.Ns = idx.soa
		s.reply(w, &m, req, reqOPT, tcp, miekg.RcodeNameError)
		return
	}
	n.fill(&m, qtype, idx.soa)
	s.reply(w, &m, req, reqOPT, tcp, miekg.RcodeSuccess)
}

// inZone reports whether the lowercased name is zone or below it.
func inZone(name, zone string) bool {
	return len(name) >= len(zone) && name[len(name)-len(zone):] == zone &&
		(len(name) == len(zone) || name[len(name)-len(zone)-1] == '.')
}

// reply fills in m's header as the answer to req with rcode, adds an OPT
// record if req had one, fits m to the client's UDP buffer and sends it.
// m's sections may be the index's shared slices: they are only read or
// resliced, and appends copy because the index clips them.
func (s *Server) reply(w miekg.ResponseWriter, m, req *miekg.Msg, reqOPT *miekg.OPT, tcp bool, rcode int) {
	m.Id = req.Id
	m.Response = true
	m.Opcode = req.Opcode
	m.RecursionDesired = req.RecursionDesired
	m.RecursionAvailable = len(s.upstreams) > 0
	m.CheckingDisabled = req.CheckingDisabled
	m.Rcode = rcode
	if len(req.Question) == 1 {
		m.Question = req.Question // echoed as asked, capitals included
	}
	if reqOPT != nil {
		m.Extra = append(m.Extra, newOPT(reqOPT.Do()))
	}
	s.metrics.count(questionType(req), rcode) // before the client can see it
	s.send(w, m, reqOPT, tcp)
}

// maxUDPAnswer caps UDP answers whatever buffer a client advertises.
const maxUDPAnswer = 1232

// send fits m to what the client can take over UDP (512 bytes, or its
// EDNS0 buffer size) and writes it.
func (s *Server) send(w miekg.ResponseWriter, m *miekg.Msg, reqOPT *miekg.OPT, tcp bool) {
	if tcp {
		m.Compress = true
		m.Truncate(miekg.MaxMsgSize) // a huge headless answer still fits TCP's 64 KiB
	} else {
		size := miekg.MinMsgSize
		if reqOPT != nil {
			// At most 1232 bytes, as DNS Flag Day 2020 advises: no
			// fragmented UDP answers on bridges and veths.
			size = min(max(size, int(reqOPT.UDPSize())), maxUDPAnswer)
		}
		answers, authority := len(m.Answer), len(m.Ns)
		// Truncate compresses only when the answer does not fit without.
		m.Truncate(size)
		if m.Truncated && len(m.Answer) == answers && len(m.Ns) == authority {
			// Only additional records were left out: that is no
			// truncation (RFC 2181, 9); the client need not retry on TCP.
			m.Truncated = false
		}
		if m.Truncated {
			s.metrics.truncated.Inc()
		}
	}
	bp := packBuffers.Get().(*[]byte)
	out, err := m.PackBuffer((*bp)[:cap(*bp)]) // it packs into len, not cap
	if err != nil {
		s.log.Warn("dns: pack answer", "err", err)
		packBuffers.Put(bp)
		return
	}
	if _, err := w.Write(out); err != nil {
		s.log.Debug("dns: write answer", "err", err)
	}
	if cap(out) <= 64<<10 {
		*bp = out[:0] // keep the grown buffer
	}
	packBuffers.Put(bp)
}

func questionType(req *miekg.Msg) uint16 {
	if len(req.Question) != 1 {
		return 0
	}
	return req.Question[0].Qtype
}
