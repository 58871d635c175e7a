package dns

import (
	"fmt"
	"net"
	"testing"
	"time"

	miekg "github.com/miekg/dns"

	"flotilla/api"
)

// The benchmarks measure one query three ways: in process through the fast
// path (what readUDP does with a packet) and through the general path
// (miekg's Unpack, serveDNS, Pack), and over real UDP on loopback, where
// clients in this process share the cores with the server. "udp" is
// readUDP; "udp-miekg" is miekg's server, as on an unspecified address.
func BenchmarkServeA(b *testing.B) {
	benchmarkServe(b, "web.default.svc.flotilla.", miekg.TypeA)
}

func BenchmarkServeSRV(b *testing.B) {
	benchmarkServe(b, "_http._tcp.web.default.svc.flotilla.", miekg.TypeSRV)
}

func benchmarkServe(b *testing.B, name string, qtype uint16) {
	s := startServer(b, Config{})
	s.Update(testServices())
	q := query(name, qtype)
	packed, err := q.Pack()
	if err != nil {
		b.Fatal(err)
	}

	b.Run("fast-path", func(b *testing.B) {
		w := &recorder{}
		b.ReportAllocs()
		for b.Loop() {
			s.serveUDPPacket(w, packed)
		}
		if err := answerError(w.last); err != nil {
			b.Fatal(err)
		}
	})

	b.Run("general-path", func(b *testing.B) {
		w := &recorder{}
		b.ReportAllocs()
		for b.Loop() {
			// miekg hands the handler a fresh request each time.
			req := new(miekg.Msg)
			if err := req.Unpack(packed); err != nil {
				b.Fatal(err)
			}
			s.serveDNS(w, req)
		}
		if err := answerError(w.last); err != nil {
			b.Fatal(err)
		}
	})

	b.Run("general-path-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			w := &recorder{}
			for pb.Next() {
				req := new(miekg.Msg)
				if err := req.Unpack(packed); err != nil {
					b.Error(err)
					return
				}
				s.serveDNS(w, req)
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
	})

	miekgServer := startServer(b, Config{miekgUDP: true})
	miekgServer.Update(testServices())
	for _, tc := range []struct {
		name string
		addr string
	}{{"udp", s.Addr()}, {"udp-miekg", miekgServer.Addr()}} {
		b.Run(tc.name, func(b *testing.B) { benchmarkUDP(b, tc.addr, packed) })
	}
}

// benchmarkUDP asks addr over loopback from several clients, each with its
// own socket and one query in flight at a time.
func benchmarkUDP(b *testing.B, addr string, packed []byte) {
	b.SetParallelism(8)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		conn, err := net.Dial("udp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		buf := make([]byte, 4096)
		var n int
		for pb.Next() {
			if _, err := conn.Write(packed); err != nil {
				b.Error(err)
				return
			}
			conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			if n, err = conn.Read(buf); err != nil {
				b.Error(err)
				return
			}
		}
		if n == 0 {
			return // this client got no iteration
		}
		if err := answerError(buf[:n]); err != nil {
			b.Error(err)
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
}

// answerError says what is wrong with a packed answer, if anything.
func answerError(packed []byte) error {
	r := new(miekg.Msg)
	if err := r.Unpack(packed); err != nil {
		return err
	}
	if r.Rcode != miekg.RcodeSuccess || len(r.Answer) == 0 {
		return fmt.Errorf("answer %v", r)
	}
	return nil
}

// BenchmarkUpdate rebuilds the record set of 1,000 services with 10 ready
// endpoints and 2 named ports each, as an agent does on every change.
func BenchmarkUpdate(b *testing.B) {
	s, err := New(Config{Listen: "127.0.0.1:0", Upstreams: []string{}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.udpConn.Close()
	defer s.tcpLn.Close()
	var services []api.ServiceEndpoints
	for i := range 1000 {
		svc := api.ServiceEndpoints{Namespace: "default", Name: fmt.Sprintf("svc%d", i),
			VIP:   fmt.Sprintf("127.1.%d.%d", i/250, i%250+1),
			Ports: []api.Port{{Name: "http", Port: 80, Protocol: api.ProtocolHTTP}, {Name: "admin", Port: 9000, Protocol: api.ProtocolTCP}}}
		for j := range 10 {
			svc.Endpoints = append(svc.Endpoints, api.Endpoint{ID: fmt.Sprintf("%012x%04x", i, j),
				IP: fmt.Sprintf("127.0.%d.%d", i%250, j+1), Ready: true})
		}
		services = append(services, svc)
	}
	b.ReportAllocs()
	for b.Loop() {
		s.Update(services)
	}
	b.ReportMetric(float64(len(s.records.Load().names)), "names")
}
