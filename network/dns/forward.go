package dns

import (
	"context"

	miekg "github.com/miekg/dns"

	"flotilla/internal/vnet"
)

// forward sends a query for a name outside the zone to the upstreams in
// order, over the transport the client used, and relays the first answer
// (whatever its rcode) with the client's query ID. An upstream that does
// not answer within the timeout, or fails, hands over to the next; when
// none answers the client gets SERVFAIL, and REFUSED when there are none.
func (s *Server) forward(w miekg.ResponseWriter, req *miekg.Msg, reqOPT *miekg.OPT, tcp bool) {
	if len(s.upstreams) == 0 {
		var m miekg.Msg
		s.reply(w, &m, req, reqOPT, tcp, miekg.RcodeRefused)
		return
	}
	select {
	case s.forwardSlots <- struct{}{}:
	default:
		// As many forwarded queries are waiting as the server allows: a
		// flood of outside names must not hold every socket and goroutine.
		var m miekg.Msg
		s.reply(w, &m, req, reqOPT, tcp, miekg.RcodeServerFailure)
		return
	}
	if u, ok := w.(udpReader); ok {
		// A UDP reader must not wait on an upstream: it has more queries
		// to read.
		w = u.detach()
		s.forwards.Add(1)
		go func() {
			defer s.forwards.Done()
			defer func() { <-s.forwardSlots }()
			s.exchange(w, req, reqOPT, tcp)
		}()
		return
	}
	defer func() { <-s.forwardSlots }()
	s.exchange(w, req, reqOPT, tcp)
}

// udpReader is the ResponseWriter of a query a UDP reader read (readUDP's
// or servePackets'): detach gives one that can answer later, from another
// goroutine.
type udpReader interface {
	detach() miekg.ResponseWriter
}

// exchange is forward's work, once a slot is taken.
func (s *Server) exchange(w miekg.ResponseWriter, req *miekg.Msg, reqOPT *miekg.OPT, tcp bool) {
	client := s.udpClient
	if tcp {
		client = s.tcpClient
	}
	for _, upstream := range s.upstreams {
		resp, err := s.ask(client, upstream, req)
		if err != nil {
			s.log.Debug("dns: forward", "upstream", upstream, "name", req.Question[0].Name, "err", err)
			if s.ctx.Err() != nil {
				return // shutting down: the client will ask again elsewhere
			}
			continue
		}
		s.metrics.forwardOK.Inc()
		s.metrics.count(questionType(req), resp.Rcode)
		s.send(w, resp, reqOPT, tcp)
		return
	}
	s.metrics.forwardKO.Inc()
	var m miekg.Msg
	s.reply(w, &m, req, reqOPT, tcp, miekg.RcodeServerFailure)
}

// ask sends req to one upstream and waits for its answer, the timeout at
// most. The client keeps req's ID and drops answers with another one.
// miekg's client heeds a context's deadline but not its end, so the
// connection is closed when Run stops: shutting down waits for no upstream.
func (s *Server) ask(client *miekg.Client, upstream string, req *miekg.Msg) (*miekg.Msg, error) {
	conn, err := s.dial(client, upstream)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(s.ctx, func() { conn.Close() })
	defer stop()
	resp, _, err := client.ExchangeWithConnContext(s.ctx, req, conn)
	return resp, err
}

// dial connects to an upstream as client would; through the server's Net
// when it is not the host's, and then over TCP whatever the client's
// transport: a simulated network carries streams only (vnet.Memory dials
// no datagrams), and the answer goes back the way the query came.
func (s *Server) dial(client *miekg.Client, upstream string) (*miekg.Conn, error) {
	if vnet.IsHost(s.cfg.Net) {
		return client.DialContext(s.ctx, upstream)
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.forwardTimeout)
	defer cancel()
	c, err := s.cfg.Net.DialContext(ctx, "tcp", upstream)
	if err != nil {
		return nil, err
	}
	return &miekg.Conn{Conn: c}, nil
}
