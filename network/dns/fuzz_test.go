package dns

import (
	"encoding/binary"
	"log/slog"
	"net"
	"testing"

	miekg "github.com/miekg/dns"
)

// tcpRecorder is a recorder on a TCP connection, for the answers serveDNS
// sizes for TCP.
type tcpRecorder struct{ recorder }

var recorderTCP = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}

func (r *tcpRecorder) LocalAddr() net.Addr { return recorderTCP }

// FuzzServeDNS: whatever arrives, the server answers nothing or one
// well-formed answer with the query's ID, over UDP (serveUDPPacket, the
// fast path first) and over TCP (miekg's checks and parsing, then
// serveDNS), and no UDP answer is larger than the client can take. The
// server has no upstreams, so nothing leaves the process.
func FuzzServeDNS(f *testing.F) {
	s, err := New(Config{Listen: "127.0.0.1:0", Upstreams: []string{}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	s.Update(testServices())

	for _, q := range []*miekg.Msg{
		query("web.default.svc.flotilla.", miekg.TypeA),
		query("WEB.default.svc.flotilla.", miekg.TypeAAAA),
		query("_http._tcp.web.default.svc.flotilla.", miekg.TypeSRV),
		query("_http._tcp.big.default.svc.flotilla.", miekg.TypeSRV),
		query("_http._tcp.big.default.svc.flotilla.", miekg.TypeSRV).SetEdns0(4096, true),
		query("nope.default.svc.flotilla.", miekg.TypeA).SetEdns0(512, false),
		query("svc.flotilla.", miekg.TypeSOA),
		query("svc.flotilla.", miekg.TypeAXFR),
		query("www.example.test.", miekg.TypeA),
		query(`we\.b.default.svc.flotilla.`, miekg.TypeA),
		query(".", miekg.TypeNS),
	} {
		b, err := q.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	notify := query("web.default.svc.flotilla.", miekg.TypeA)
	notify.Opcode = miekg.OpcodeNotify
	ednsV1 := query("web.default.svc.flotilla.", miekg.TypeA).SetEdns0(1232, false)
	ednsV1.IsEdns0().SetVersion(1)
	twoQuestions := query("web.default.svc.flotilla.", miekg.TypeA)
	twoQuestions.Question = append(twoQuestions.Question, twoQuestions.Question[0])
	for _, q := range []*miekg.Msg{notify, ednsV1, twoQuestions} {
		b, err := q.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x12, 0x34})
	f.Add([]byte{0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00})             // a question missing
	f.Add([]byte{0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x0c}) // a pointer to itself

	f.Fuzz(func(t *testing.T, packet []byte) {
		limit := maxUDPAnswer
		if req := new(miekg.Msg); req.Unpack(packet) == nil && req.IsEdns0() == nil {
			limit = miekg.MinMsgSize
		}
		udp := &recorder{}
		s.serveUDPPacket(udp, packet)
		checkAnswer(t, "udp", packet, udp.last, limit)

		// TCP, as miekg's server hands it over.
		if len(packet) < headerLen {
			return
		}
		tcp := &tcpRecorder{}
		req := new(miekg.Msg)
		h := miekg.Header{Id: binary.BigEndian.Uint16(packet), Bits: binary.BigEndian.Uint16(packet[2:]),
			Qdcount: binary.BigEndian.Uint16(packet[4:]), Ancount: binary.BigEndian.Uint16(packet[6:]),
			Nscount: binary.BigEndian.Uint16(packet[8:]), Arcount: binary.BigEndian.Uint16(packet[10:])}
		if s.acceptMsg(h) != miekg.MsgAccept || req.Unpack(packet) != nil {
			return // miekg answers those itself
		}
		s.serveDNS(tcp, req)
		if tcp.last == nil {
			t.Fatalf("tcp: no answer to %x", packet)
		}
		checkAnswer(t, "tcp", packet, tcp.last, miekg.MaxMsgSize)
	})
}

// checkAnswer checks that answer, if any, is a well-formed answer to
// packet of at most limit bytes.
func checkAnswer(t *testing.T, transport string, packet, answer []byte, limit int) {
	t.Helper()
	if answer == nil {
		return
	}
	if len(packet) < headerLen {
		t.Fatalf("%s: answered a %d-byte packet", transport, len(packet))
	}
	m := new(miekg.Msg)
	if err := m.Unpack(answer); err != nil {
		t.Fatalf("%s: answer to %x does not parse: %v", transport, packet, err)
	}
	if id := binary.BigEndian.Uint16(packet); m.Id != id || !m.Response {
		t.Fatalf("%s: answer to query %d has ID %d, response %v", transport, id, m.Id, m.Response)
	}
	if len(answer) > limit {
		t.Fatalf("%s: %d-byte answer, more than the %d the client takes", transport, len(answer), limit)
	}
}
