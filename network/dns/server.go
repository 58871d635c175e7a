package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	miekg "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"flotilla/api"
	"flotilla/internal/vnet"
)

// udpReadSize is the buffer a UDP query is read into, and the payload size
// the server advertises in its EDNS0 answers.
const udpReadSize = 4096

// udpSocketBuffer is the receive buffer asked for the UDP socket.
const udpSocketBuffer = 4 << 20

// maxForwards bounds the forwarded queries waiting on upstreams at once;
// past it, outside names are answered SERVFAIL at once.
const maxForwards = 1024

// shutdownGrace bounds how long Run waits for queries in flight once its
// context has ended (forwarded ones are cancelled at once).
const shutdownGrace = 3 * time.Second

// Server is one agent's DNS server. Its methods are safe for concurrent
// use.
type Server struct {
	cfg       Config
	log       *slog.Logger
	upstreams []string
	udpConn   net.PacketConn
	// udp is udpConn when it is the host's UDP socket, which readUDP
	// reads in batches; nil on a simulated network (see Run).
	udp   *net.UDPConn
	tcpLn net.Listener
	addr  string
	self  netip.AddrPort // the bound address

	records atomic.Pointer[index]

	updateMu sync.Mutex
	serial   uint32

	metrics *metrics

	// The forwarding clients, one per transport; a query goes upstream the
	// way it came in.
	udpClient, tcpClient *miekg.Client
	// ctx ends forwarded queries when Run stops; it is set before Run
	// starts serving and never changes after.
	ctx context.Context
	// forwardSlots bounds the forwarded queries waiting on upstreams;
	// forwards counts the ones the UDP readers started.
	forwardSlots chan struct{}
	forwards     sync.WaitGroup

	running atomic.Bool
}

// New checks cfg, binds UDP and TCP on cfg.Listen (the same port for both)
// and returns a server with an empty record set. Run serves it.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	udpConn, tcpLn, err := listen(cfg.Net, cfg.Listen)
	if err != nil {
		return nil, err
	}
	self, err := netip.ParseAddrPort(udpConn.LocalAddr().String())
	if err != nil {
		udpConn.Close()
		tcpLn.Close()
		return nil, fmt.Errorf("dns: bound address %s: %w", udpConn.LocalAddr(), err)
	}
	ups, err := upstreams(cfg, self)
	if err != nil {
		udpConn.Close()
		tcpLn.Close()
		return nil, err
	}
	s := &Server{
		cfg:          cfg,
		log:          cfg.Logger,
		udpConn:      udpConn,
		tcpLn:        tcpLn,
		addr:         udpConn.LocalAddr().String(),
		self:         self,
		udpClient:    &miekg.Client{Net: "udp", Timeout: cfg.forwardTimeout},
		tcpClient:    &miekg.Client{Net: "tcp", Timeout: cfg.forwardTimeout},
		ctx:          context.Background(),
		forwardSlots: make(chan struct{}, maxForwards),
		// Serials count up from the start time, so that a restarted server
		// does not go back (nothing transfers this zone; it is for show).
		serial: uint32(time.Now().Unix()),
	}
	s.udp, _ = udpConn.(*net.UDPConn)
	for _, u := range ups {
		s.upstreams = append(s.upstreams, u.String())
	}
	s.metrics = newMetrics(func() float64 { return float64(len(s.records.Load().names)) })
	s.records.Store(buildIndex(cfg.Domain, cfg.TTL, s.serial, nil, s.log))
	s.log.Info("dns: listening", "addr", s.addr, "domain", cfg.Domain, "upstreams", s.upstreams)
	return s, nil
}

// listen binds UDP and TCP on addr, on n (nil: the host's network). With
// port 0 the UDP socket picks the port and TCP takes the same one, trying
// again if it is taken for TCP.
func listen(n vnet.Net, addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dns: listen address %q: %w", addr, err)
	}
	n = vnet.Or(n)
	attempts := 1
	if port == "0" {
		attempts = 10
	}
	for i := 0; ; i++ {
		pc, err := n.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dns: listen udp %s: %w", addr, err)
		}
		if udpConn, ok := pc.(*net.UDPConn); ok {
			// Room for bursts: a full buffer drops queries. The kernel
			// caps it at net.core.rmem_max; less is no error worth
			// failing for.
			_ = udpConn.SetReadBuffer(udpSocketBuffer)
		}
		bound, err := netip.ParseAddrPort(pc.LocalAddr().String())
		if err != nil {
			pc.Close()
			return nil, nil, fmt.Errorf("dns: bound address %s: %w", pc.LocalAddr(), err)
		}
		tcpAddr := net.JoinHostPort(host, fmt.Sprint(bound.Port()))
		ln, err := n.Listen("tcp", tcpAddr)
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if i+1 >= attempts {
			return nil, nil, fmt.Errorf("dns: listen tcp %s: %w", tcpAddr, err)
		}
	}
}

// Close releases the sockets of a server that never ran; a server that ran
// closed them when Run returned, and Close does nothing.
func (s *Server) Close() error {
	if !s.running.CompareAndSwap(false, true) {
		return nil
	}
	s.udpConn.Close()
	return s.tcpLn.Close()
}

// Addr is the bound host:port, for UDP and TCP alike.
func (s *Server) Addr() string { return s.addr }

// Update replaces the whole record set with the one services make. Queries
// see the old set or the new one, never a mix.
func (s *Server) Update(services []api.ServiceEndpoints) {
	s.updateMu.Lock()
	defer s.updateMu.Unlock()
	s.serial++
	idx := buildIndex(s.cfg.Domain, s.cfg.TTL, s.serial, services, s.log)
	s.records.Store(idx)
	s.log.Debug("dns: records updated", "services", len(services), "names", len(idx.names), "serial", s.serial)
}

// Collectors are the server's Prometheus figures, for the agent's registry:
// flotilla_dns_queries_total{type,rcode}, flotilla_dns_forwarded_total{result},
// flotilla_dns_truncated_total and flotilla_dns_names.
func (s *Server) Collectors() []prometheus.Collector { return s.metrics.collectors }

// Run serves UDP and TCP until ctx ends, then shuts both down, waits (a
// little) for queries in flight and closes the sockets. It returns nil after
// such a stop, and an error if a socket fails first. A server runs once.
func (s *Server) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("dns: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.ctx = ctx

	started := make(chan struct{}, 2)
	errc := make(chan error, 2)
	handler := miekg.HandlerFunc(s.serveDNS)
	newServer := func() *miekg.Server {
		return &miekg.Server{Handler: handler, MsgAcceptFunc: s.acceptMsg, MsgInvalidFunc: s.invalidMsg,
			NotifyStartedFunc: func() { started <- struct{}{} }}
	}
	var servers []*miekg.Server // miekg's, to shut down
	tcpServer := newServer()
	tcpServer.Listener = s.tcpLn
	servers = append(servers, tcpServer)
	switch {
	case s.udp == nil:
		// A simulated network's socket: read one packet at a time.
		started <- struct{}{}
		go func() { errc <- s.servePackets() }()
	case s.self.Addr().IsUnspecified() || s.cfg.miekgUDP:
		udpServer := newServer()
		udpServer.PacketConn, udpServer.UDPSize = s.udpConn, udpReadSize
		servers = append(servers, udpServer)
	default:
		started <- struct{}{}
		go func() { errc <- s.serveUDP() }()
	}
	for _, srv := range servers {
		go func() { errc <- srv.ActivateAndServe() }()
	}

	// miekg's servers can only be shut down once they have started.
	var runErr error
	exited := 0
	for n := 0; n < 2 && runErr == nil; {
		select {
		case <-started:
			n++
		case err := <-errc:
			exited++
			runErr = fmt.Errorf("dns: serve %s: %w", s.addr, err)
		}
	}
	if runErr == nil {
		select {
		case <-ctx.Done():
		case err := <-errc:
			exited++
			runErr = fmt.Errorf("dns: serve %s: %w", s.addr, err)
		}
	}
	cancel() // ends forwarded queries in flight

	shutdownCtx, stop := context.WithTimeout(context.Background(), shutdownGrace)
	defer stop()
	for _, srv := range servers {
		_ = srv.ShutdownContext(shutdownCtx) // "not started" for one that failed
	}
	// Closing the sockets ends serveUDP, and a server that never started.
	s.udpConn.Close()
	s.tcpLn.Close()
	for ; exited < 2; exited++ {
		<-errc
	}
	s.forwards.Wait() // no reader is left to start one
	s.log.Info("dns: stopped", "addr", s.addr)
	return runErr
}

// acceptMsg is miekg's default check (one question, an opcode it knows),
// counted: rejected messages are answered FORMERR or NOTIMP before they
// reach serveDNS.
func (s *Server) acceptMsg(h miekg.Header) miekg.MsgAcceptAction {
	action := miekg.DefaultMsgAcceptFunc(h)
	switch action {
	case miekg.MsgReject:
		s.metrics.count(0, miekg.RcodeFormatError)
	case miekg.MsgRejectNotImplemented:
		s.metrics.count(0, miekg.RcodeNotImplemented)
	}
	return action
}

// invalidMsg counts a message that did not parse. One with a whole header
// is answered FORMERR; a shorter one is dropped.
func (s *Server) invalidMsg(m []byte, _ error) {
	if len(m) >= 12 {
		s.metrics.count(0, miekg.RcodeFormatError)
	}
}
