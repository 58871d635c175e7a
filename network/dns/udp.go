package dns

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sync"

	miekg "github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Why not miekg's UDP server for UDP: it starts a goroutine per packet and
// makes two system calls per query, and in a VM the system calls and the
// scheduling cost far more than the answer. Here a few goroutines read the
// socket in batches (recvmmsg), answer each query in place (fast.go, or
// miekg's Unpack and Pack), and send the batch's answers in one sendmmsg.
// Only a forwarded query, which waits on an upstream, gets a goroutine.
// miekg's server still serves TCP. Replies leave from the bound address, so
// this loop serves only a socket bound to one address: on an unspecified one
// (0.0.0.0, ::) the source of each reply must come from the query's control
// message, which miekg's server handles (see Run).

// udpReaders is how many goroutines read the UDP socket: while one waits
// in a system call another can answer; past a few they only queue on the
// socket.
func udpReaders() int { return min(max(2, runtime.GOMAXPROCS(0)), 4) }

// serveUDP answers queries on s.udp until it is closed.
func (s *Server) serveUDP() error {
	n := udpReaders()
	errc := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { errc <- s.readUDP() })
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			return err
		}
	}
	return nil
}

// batchConn is ipv4's or ipv6's PacketConn: recvmmsg and sendmmsg.
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// udpBatch is how many packets one system call reads or writes at most.
const udpBatch = 32

// readUDP reads queries in batches and answers each batch with one write:
// in a VM a system call costs more than a DNS answer.
func (s *Server) readUDP() error {
	var conn batchConn = ipv4.NewPacketConn(s.udp)
	if !s.self.Addr().Unmap().Is4() {
		conn = ipv6.NewPacketConn(s.udp)
	}
	in := make([]ipv4.Message, udpBatch)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, udpReadSize)}
	}
	w := &batchResponse{conn: s.udp}
	for {
		n, err := conn.ReadBatch(in, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil // Run is stopping
			}
			return err
		}
		w.out = w.out[:0]
		for i := range in[:n] {
			addr, ok := in[i].Addr.(*net.UDPAddr)
			if !ok {
				continue
			}
			w.addr = addr
			// miekg's Unpack copies what it keeps, so the buffer is
			// free again once this returns, even if the query is
			// forwarded.
			s.serveUDPPacket(w, in[i].Buffers[0][:in[i].N])
		}
		for out := w.out; len(out) > 0; {
			sent, err := conn.WriteBatch(out, 0)
			if err != nil || sent == 0 {
				// The first one failed: UDP, its client will ask again.
				s.log.Debug("dns: write answer", "to", out[0].Addr, "err", err)
				sent = 1
			}
			out = out[sent:]
		}
	}
}

// serveUDPPacket answers one packet: by the fast path if it can, or else
// through miekg's checks and parsing, as its server would.
func (s *Server) serveUDPPacket(w miekg.ResponseWriter, packet []byte) {
	bp := packBuffers.Get().(*[]byte)
	if out, qtype, rcode, ok := s.fastAnswer(*bp, packet); ok {
		s.metrics.count(qtype, rcode)
		if _, err := w.Write(out); err != nil {
			s.log.Debug("dns: write answer", "err", err)
		}
		*bp = out[:0]
		packBuffers.Put(bp)
		return
	}
	packBuffers.Put(bp)
	if len(packet) < 12 {
		return // too short to answer
	}
	h := miekg.Header{
		Id:      binary.BigEndian.Uint16(packet[0:]),
		Bits:    binary.BigEndian.Uint16(packet[2:]),
		Qdcount: binary.BigEndian.Uint16(packet[4:]),
		Ancount: binary.BigEndian.Uint16(packet[6:]),
		Nscount: binary.BigEndian.Uint16(packet[8:]),
		Arcount: binary.BigEndian.Uint16(packet[10:]),
	}
	rcode := miekg.RcodeFormatError
	switch miekg.DefaultMsgAcceptFunc(h) {
	case miekg.MsgIgnore:
		return // a response, or something else not to answer
	case miekg.MsgRejectNotImplemented:
		rcode = miekg.RcodeNotImplemented
	case miekg.MsgAccept:
		req := new(miekg.Msg)
		if err := req.Unpack(packet); err == nil {
			s.serveDNS(w, req)
			return
		}
	}
	// Rejected, or did not parse: the header alone answers.
	req := &miekg.Msg{MsgHdr: miekg.MsgHdr{Id: h.Id, Opcode: int(h.Bits>>11) & 0xF}}
	var m miekg.Msg
	s.reply(w, &m, req, nil, false, rcode)
}

// batchResponse is the miekg.ResponseWriter of the queries of one batch
// read by readUDP: it collects their answers for one WriteBatch. Each reader
// reuses its own; a forwarded query, answered later, detaches.
type batchResponse struct {
	conn *net.UDPConn
	addr *net.UDPAddr // of the query being answered
	out  []ipv4.Message
	bufs [udpBatch][]byte
}

func (w *batchResponse) detach() miekg.ResponseWriter {
	return &udpResponse{conn: w.conn, addr: w.addr.AddrPort()}
}

func (w *batchResponse) LocalAddr() net.Addr  { return w.conn.LocalAddr() }
func (w *batchResponse) RemoteAddr() net.Addr { return w.addr }
func (w *batchResponse) WriteMsg(m *miekg.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Write queues b to be sent with the rest of the batch.
func (w *batchResponse) Write(b []byte) (int, error) {
	i := len(w.out)
	if i == len(w.bufs) {
		return 0, errors.New("dns: more answers than queries in a batch")
	}
	w.bufs[i] = append(w.bufs[i][:0], b...)
	w.out = append(w.out, ipv4.Message{Buffers: [][]byte{w.bufs[i]}, Addr: w.addr})
	return len(b), nil
}
func (w *batchResponse) Close() error        { return nil }
func (w *batchResponse) TsigStatus() error   { return nil }
func (w *batchResponse) TsigTimersOnly(bool) {}
func (w *batchResponse) Hijack()             {}

// udpResponse is a miekg.ResponseWriter that sends at once: the answer to
// a forwarded query.
type udpResponse struct {
	conn *net.UDPConn
	addr netip.AddrPort
}

func (w *udpResponse) LocalAddr() net.Addr  { return w.conn.LocalAddr() }
func (w *udpResponse) RemoteAddr() net.Addr { return net.UDPAddrFromAddrPort(w.addr) }
func (w *udpResponse) WriteMsg(m *miekg.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
func (w *udpResponse) Write(b []byte) (int, error) { return w.conn.WriteToUDPAddrPort(b, w.addr) }
func (w *udpResponse) Close() error                { return nil }
func (w *udpResponse) TsigStatus() error           { return nil }
func (w *udpResponse) TsigTimersOnly(bool)         {}
func (w *udpResponse) Hijack()                     {}

// servePackets answers queries on s.udpConn, a simulated network's socket
// (no system calls to batch), one packet at a time, until it is closed.
func (s *Server) servePackets() error {
	buf := make([]byte, udpReadSize)
	for {
		n, addr, err := s.udpConn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil // Run is stopping
			}
			return err
		}
		// As in readUDP, the buffer is free again once this returns.
		s.serveUDPPacket(&packetResponse{conn: s.udpConn, addr: addr}, buf[:n])
	}
}

// packetResponse is a miekg.ResponseWriter that sends at once to one
// client of a net.PacketConn: servePackets makes one per query.
type packetResponse struct {
	conn net.PacketConn
	addr net.Addr
}

// detach is w itself: it already sends at once, from any goroutine.
func (w *packetResponse) detach() miekg.ResponseWriter { return w }

func (w *packetResponse) LocalAddr() net.Addr  { return w.conn.LocalAddr() }
func (w *packetResponse) RemoteAddr() net.Addr { return w.addr }
func (w *packetResponse) WriteMsg(m *miekg.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
func (w *packetResponse) Write(b []byte) (int, error) { return w.conn.WriteTo(b, w.addr) }
func (w *packetResponse) Close() error                { return nil }
func (w *packetResponse) TsigStatus() error           { return nil }
func (w *packetResponse) TsigTimersOnly(bool)         {}
func (w *packetResponse) Hijack()                     {}
