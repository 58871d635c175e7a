package dns

import (
	"fmt"
	"slices"
	"testing"
	"time"

	miekg "github.com/miekg/dns"

	"flotilla/api"
)

const soaSummary = "soa svc.flotilla."

func TestZoneAnswersFollowKubernetesConventions(t *testing.T) {

	cases := []struct {
		name   string
		qname  string
		qtype  uint16
		qclass uint16 // IN unless set
		rcode  int
		answer []string
		extra  []string
		ns     []string
	}{
		{
			name: "service name answers its VIP", qname: "web.default.svc.flotilla.", qtype: miekg.TypeA,
			answer: []string{"a web.default.svc.flotilla. 127.1.0.10"},
		},
		{
			name: "headless service answers its ready endpoints only", qname: "db.data.svc.flotilla.", qtype: miekg.TypeA,
			answer: []string{"a db.data.svc.flotilla. 127.0.2.1"},
		},
		{
			name: "headless service with nothing ready is NODATA", qname: "cold.default.svc.flotilla.", qtype: miekg.TypeA,
			ns: []string{soaSummary},
		},
		{
			name: "SRV of a named port lists ready endpoints with their addresses", qname: "_http._tcp.web.default.svc.flotilla.", qtype: miekg.TypeSRV,
			answer: []string{
				"srv _http._tcp.web.default.svc.flotilla. 0 50 8080 a1.web.default.svc.flotilla.",
				"srv _http._tcp.web.default.svc.flotilla. 0 50 8080 a2.web.default.svc.flotilla.",
			},
			extra: []string{"a a1.web.default.svc.flotilla. 127.0.1.1", "a a2.web.default.svc.flotilla. 127.0.1.2"},
		},
		{
			name: "SRV of a second port carries that port's number", qname: "_admin._tcp.web.default.svc.flotilla.", qtype: miekg.TypeSRV,
			answer: []string{
				"srv _admin._tcp.web.default.svc.flotilla. 0 50 9090 a1.web.default.svc.flotilla.",
				"srv _admin._tcp.web.default.svc.flotilla. 0 50 9090 a2.web.default.svc.flotilla.",
			},
			extra: []string{"a a1.web.default.svc.flotilla. 127.0.1.1", "a a2.web.default.svc.flotilla. 127.0.1.2"},
		},
		{
			name: "SRV of a headless service", qname: "_pg._tcp.db.data.svc.flotilla.", qtype: miekg.TypeSRV,
			answer: []string{"srv _pg._tcp.db.data.svc.flotilla. 0 100 5432 d1.db.data.svc.flotilla."},
			extra:  []string{"a d1.db.data.svc.flotilla. 127.0.2.1"},
		},
		{
			name: "SRV of a port with nothing ready is NODATA", qname: "_http._tcp.cold.default.svc.flotilla.", qtype: miekg.TypeSRV,
			ns: []string{soaSummary},
		},
		{
			name: "SRV over _udp is NODATA", qname: "_http._udp.web.default.svc.flotilla.", qtype: miekg.TypeSRV,
			ns: []string{soaSummary},
		},
		{
			name: "an unnamed port cannot be asked by number", qname: "_80._tcp.plain.default.svc.flotilla.", qtype: miekg.TypeSRV,
			rcode: miekg.RcodeNameError, ns: []string{soaSummary},
		},
		{
			name: "an unknown port name is NXDOMAIN", qname: "_grpc._tcp.web.default.svc.flotilla.", qtype: miekg.TypeSRV,
			rcode: miekg.RcodeNameError, ns: []string{soaSummary},
		},
		{
			name: "a ready endpoint's name answers its address", qname: "a1.web.default.svc.flotilla.", qtype: miekg.TypeA,
			answer: []string{"a a1.web.default.svc.flotilla. 127.0.1.1"},
		},
		{
			name: "an endpoint that is not ready still has its name", qname: "a3.web.default.svc.flotilla.", qtype: miekg.TypeA,
			answer: []string{"a a3.web.default.svc.flotilla. 127.0.1.3"},
		},
		{
			name: "an endpoint of a headless service that is not ready still has its name", qname: "d2.db.data.svc.flotilla.", qtype: miekg.TypeA,
			answer: []string{"a d2.db.data.svc.flotilla. 127.0.2.2"},
		},
		{
			name: "an endpoint without an address has no name", qname: "a4.web.default.svc.flotilla.", qtype: miekg.TypeA,
			rcode: miekg.RcodeNameError, ns: []string{soaSummary},
		},
		{
			name: "AAAA of a name with only an IPv4 address is NODATA", qname: "web.default.svc.flotilla.", qtype: miekg.TypeAAAA,
			ns: []string{soaSummary},
		},
		{
			name: "AAAA of an IPv6 VIP", qname: "six.default.svc.flotilla.", qtype: miekg.TypeAAAA,
			answer: []string{"aaaa six.default.svc.flotilla. fd00::10"},
		},
		{
			name: "A of an IPv6-only service is NODATA", qname: "six.default.svc.flotilla.", qtype: miekg.TypeA,
			ns: []string{soaSummary},
		},
		{
			name: "a type the zone never has is NODATA", qname: "web.default.svc.flotilla.", qtype: miekg.TypeTXT,
			ns: []string{soaSummary},
		},
		{
			name: "an unknown service is NXDOMAIN", qname: "nope.default.svc.flotilla.", qtype: miekg.TypeA,
			rcode: miekg.RcodeNameError, ns: []string{soaSummary},
		},
		{
			name: "an unknown namespace is NXDOMAIN", qname: "web.nope.svc.flotilla.", qtype: miekg.TypeA,
			rcode: miekg.RcodeNameError, ns: []string{soaSummary},
		},
		{
			name: "an unknown endpoint is NXDOMAIN", qname: "zz.web.default.svc.flotilla.", qtype: miekg.TypeA,
			rcode: miekg.RcodeNameError, ns: []string{soaSummary},
		},
		{
			name: "a name below an endpoint is NXDOMAIN", qname: "x.a1.web.default.svc.flotilla.", qtype: miekg.TypeA,
			rcode: miekg.RcodeNameError, ns: []string{soaSummary},
		},
		{
			name: "a namespace exists as an empty non-terminal: NODATA", qname: "default.svc.flotilla.", qtype: miekg.TypeA,
			ns: []string{soaSummary},
		},
		{
			name: "the zone apex answers its SOA", qname: "svc.flotilla.", qtype: miekg.TypeSOA,
			answer: []string{soaSummary},
		},
		{
			name: "A of the zone apex is NODATA", qname: "svc.flotilla.", qtype: miekg.TypeA,
			ns: []string{soaSummary},
		},
		{
			name: "names are case-insensitive", qname: "WEB.Default.SVC.flotilla.", qtype: miekg.TypeA,
			answer: []string{"a web.default.svc.flotilla. 127.1.0.10"},
		},
		{
			name: "SRV names are case-insensitive", qname: "_PG._TCP.DB.DATA.SVC.FLOTILLA.", qtype: miekg.TypeSRV,
			answer: []string{"srv _pg._tcp.db.data.svc.flotilla. 0 100 5432 d1.db.data.svc.flotilla."},
			extra:  []string{"a d1.db.data.svc.flotilla. 127.0.2.1"},
		},
		{
			name: "a class other than IN is refused", qname: "web.default.svc.flotilla.", qtype: miekg.TypeA, qclass: miekg.ClassCHAOS,
			rcode: miekg.RcodeRefused,
		},
		{
			name: "zone transfers are refused", qname: "svc.flotilla.", qtype: miekg.TypeAXFR,
			rcode: miekg.RcodeRefused,
		},
	}
	for _, tr := range transports {
		s := startServer(t, Config{miekgUDP: tr.miekgUDP})
		s.Update(testServices())
		for _, tc := range cases {
			t.Run(tr.name+"/"+tc.name, func(t *testing.T) {
				q := query(tc.qname, tc.qtype)
				if tc.qclass != 0 {
					q.Question[0].Qclass = tc.qclass
				}
				r := ask(t, tr.network, s.Addr(), q)
				if r.Rcode != tc.rcode {
					t.Errorf("rcode %s, want %s", miekg.RcodeToString[r.Rcode], miekg.RcodeToString[tc.rcode])
				}
				if got, want := summary(r.Answer), tc.answer; !slices.Equal(got, want) {
					t.Errorf("answer\n got %q\nwant %q", got, want)
				}
				if got, want := summary(r.Extra), tc.extra; !slices.Equal(got, want) {
					t.Errorf("additional\n got %q\nwant %q", got, want)
				}
				if got, want := summary(r.Ns), tc.ns; !slices.Equal(got, want) {
					t.Errorf("authority\n got %q\nwant %q", got, want)
				}
				if r.Id != q.Id || !r.Response || r.Truncated {
					t.Errorf("header: id %d (asked %d), response %v, truncated %v", r.Id, q.Id, r.Response, r.Truncated)
				}
				if want := tc.rcode != miekg.RcodeRefused; r.Authoritative != want {
					t.Errorf("authoritative %v, want %v", r.Authoritative, want)
				}
				if r.RecursionAvailable {
					t.Errorf("recursion available without upstreams")
				}
			})
		}
	}
}

func TestQuestionIsEchoedAsAsked(t *testing.T) {
	s := startServer(t, Config{})
	s.Update(testServices())
	// Resolvers that randomise the case of names (0x20) check the echo.
	r := ask(t, "udp", s.Addr(), query("wEb.DEFAULT.svc.Flotilla.", miekg.TypeA))
	if got := r.Question[0].Name; got != "wEb.DEFAULT.svc.Flotilla." {
		t.Errorf("question echoed as %q", got)
	}
	if len(r.Answer) != 1 {
		t.Fatalf("answer %v", r.Answer)
	}
}

func TestRecordsCarryTheConfiguredTTL(t *testing.T) {
	for _, tc := range []struct {
		name string
		ttl  uint32
		want uint32
	}{
		{"default is 5 seconds", 0, 5},
		{"configured", 30, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, Config{TTL: tc.ttl})
			s.Update(testServices())
			var rrs []miekg.RR
			for _, q := range []*miekg.Msg{
				query("web.default.svc.flotilla.", miekg.TypeA),
				query("_http._tcp.web.default.svc.flotilla.", miekg.TypeSRV),
				query("a3.web.default.svc.flotilla.", miekg.TypeA),
				query("nope.default.svc.flotilla.", miekg.TypeA),
			} {
				r := ask(t, "udp", s.Addr(), q)
				rrs = append(rrs, r.Answer...)
				rrs = append(rrs, r.Ns...)
				rrs = append(rrs, r.Extra...)
			}
			if len(rrs) < 6 {
				t.Fatalf("only %d records", len(rrs))
			}
			for _, rr := range rrs {
				if rr.Header().Ttl != tc.want {
					t.Errorf("%s: TTL %d, want %d", rr, rr.Header().Ttl, tc.want)
				}
				if soa, ok := rr.(*miekg.SOA); ok && soa.Minttl != tc.want {
					t.Errorf("SOA minimum %d, want %d (negative answers cached as long as positive ones)", soa.Minttl, tc.want)
				}
			}
		})
	}
}

func TestDomainIsConfigurable(t *testing.T) {
	s := startServer(t, Config{Domain: "Cluster.Local"})
	s.Update(testServices())
	r := ask(t, "udp", s.Addr(), query("web.default.cluster.local.", miekg.TypeA))
	if got := summary(r.Answer); !slices.Equal(got, []string{"a web.default.cluster.local. 127.1.0.10"}) {
		t.Errorf("answer %q", got)
	}
	// The default zone is now outside and, without upstreams, refused.
	r = ask(t, "udp", s.Addr(), query("web.default.svc.flotilla.", miekg.TypeA))
	if r.Rcode != miekg.RcodeRefused {
		t.Errorf("rcode %s, want REFUSED", miekg.RcodeToString[r.Rcode])
	}
}

func TestLargeAnswersAreTruncatedOverUDPAndWholeOverTCP(t *testing.T) {
	for _, tr := range transports[:2] {
		t.Run(tr.name, func(t *testing.T) {
			testTruncation(t, Config{miekgUDP: tr.miekgUDP})
		})
	}
}

func testTruncation(t *testing.T, cfg Config) {
	s := startServer(t, cfg)
	s.Update(testServices()) // big.default has 60 ready endpoints
	cases := []struct {
		name      string
		network   string
		qname     string
		qtype     uint16
		edns      uint16 // 0: no OPT record
		truncated bool
		maxSize   int // of the answer over UDP
	}{
		{"SRV over UDP fits 512 bytes", "udp", "_http._tcp.big.default.svc.flotilla.", miekg.TypeSRV, 0, true, 512},
		{"SRV over UDP fits the EDNS0 buffer", "udp", "_http._tcp.big.default.svc.flotilla.", miekg.TypeSRV, 1232, true, 1232},
		{"SRV over UDP is cut at 1232 bytes whatever the EDNS0 buffer", "udp", "_http._tcp.big.default.svc.flotilla.", miekg.TypeSRV, 8192, true, 1232},
		{"SRV over TCP is whole", "tcp", "_http._tcp.big.default.svc.flotilla.", miekg.TypeSRV, 0, false, 0},
		{"A over UDP fits 512 bytes", "udp", "big.default.svc.flotilla.", miekg.TypeA, 0, true, 512},
		{"A over UDP with EDNS0 4096 is whole", "udp", "big.default.svc.flotilla.", miekg.TypeA, 4096, false, 4096},
		{"A over TCP is whole", "tcp", "big.default.svc.flotilla.", miekg.TypeA, 0, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := query(tc.qname, tc.qtype)
			if tc.edns != 0 {
				q.SetEdns0(tc.edns, false)
			}
			var r *miekg.Msg
			if tc.network == "udp" {
				packed, err := q.Pack()
				if err != nil {
					t.Fatal(err)
				}
				var size int
				r, size = rawExchangeSize(t, s.Addr(), packed, 5*time.Second)
				if r == nil {
					t.Fatal("no answer")
				}
				if size > tc.maxSize {
					t.Errorf("answer is %d bytes, more than %d", size, tc.maxSize)
				}
			} else {
				r = ask(t, tc.network, s.Addr(), q)
			}
			if r.Truncated != tc.truncated {
				t.Errorf("TC %v, want %v", r.Truncated, tc.truncated)
			}
			if tc.truncated {
				if len(r.Answer) == 0 || len(r.Answer) >= 60 {
					t.Errorf("%d answers in a truncated answer, want some but not all 60", len(r.Answer))
				}
				return
			}
			if len(r.Answer) != 60 {
				t.Errorf("%d answers, want 60", len(r.Answer))
			}
			if tc.qtype == miekg.TypeSRV && len(summary(r.Extra)) != 60 {
				t.Errorf("%d additional addresses, want 60", len(summary(r.Extra)))
			}
			if tc.edns != 0 && r.IsEdns0() == nil {
				t.Errorf("EDNS0 query answered without an OPT record")
			}
		})
	}
}

func TestMalformedAndUnsupportedQueries(t *testing.T) {
	for _, tr := range transports[:2] {
		t.Run(tr.name, func(t *testing.T) {
			testMalformed(t, Config{miekgUDP: tr.miekgUDP})
		})
	}
}

func testMalformed(t *testing.T, cfg Config) {
	s := startServer(t, cfg)
	s.Update(testServices())

	pack := func(m *miekg.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	withOpcode := func(op int) []byte {
		m := query("web.default.svc.flotilla.", miekg.TypeA)
		m.Opcode = op
		return pack(m)
	}
	twoQuestions := query("web.default.svc.flotilla.", miekg.TypeA)
	twoQuestions.Question = append(twoQuestions.Question, miekg.Question{Name: "db.data.svc.flotilla.", Qtype: miekg.TypeA, Qclass: miekg.ClassINET})
	noQuestion := query("web.default.svc.flotilla.", miekg.TypeA)
	noQuestion.Question = nil
	cutShort := pack(query("web.default.svc.flotilla.", miekg.TypeA))
	cutShort = cutShort[:len(cutShort)-6] // the name's end and the type are missing
	ednsV1 := query("web.default.svc.flotilla.", miekg.TypeA)
	ednsV1.SetEdns0(1232, false)
	ednsV1.IsEdns0().SetVersion(1)

	cases := []struct {
		name   string
		packet []byte
		rcode  int // -1: no answer at all
	}{
		{"two questions are FORMERR", pack(twoQuestions), miekg.RcodeFormatError},
		{"no question is FORMERR", pack(noQuestion), miekg.RcodeFormatError},
		{"a question cut short is FORMERR", cutShort, miekg.RcodeFormatError},
		{"a packet shorter than a header gets no answer", []byte{1, 2, 3}, -1},
		{"opcode UPDATE is NOTIMP", withOpcode(miekg.OpcodeUpdate), miekg.RcodeNotImplemented},
		{"opcode NOTIFY is NOTIMP", withOpcode(miekg.OpcodeNotify), miekg.RcodeNotImplemented},
		{"opcode STATUS is NOTIMP", withOpcode(miekg.OpcodeStatus), miekg.RcodeNotImplemented},
		{"EDNS version 1 is BADVERS", pack(ednsV1), miekg.RcodeBadVers},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wait := 2 * time.Second
			if tc.rcode < 0 {
				wait = 200 * time.Millisecond
			}
			r := rawExchange(t, s.Addr(), tc.packet, wait)
			if tc.rcode < 0 {
				if r != nil {
					t.Fatalf("got an answer: %v", r)
				}
				return
			}
			if r == nil {
				t.Fatal("no answer")
			}
			if r.Rcode != tc.rcode {
				t.Errorf("rcode %s, want %s", miekg.RcodeToString[r.Rcode], miekg.RcodeToString[tc.rcode])
			}
			if len(r.Answer) != 0 {
				t.Errorf("answer %v", r.Answer)
			}
		})
	}
	// The server still answers after all that.
	r := ask(t, "udp", s.Addr(), query("web.default.svc.flotilla.", miekg.TypeA))
	if len(r.Answer) != 1 {
		t.Errorf("answer after malformed queries: %v", r)
	}
}

// TestLeavingOutOnlyAdditionalRecordsIsNoTruncation: an SRV answer whose
// records fit 512 bytes but whose targets' addresses do not is whole
// (RFC 2181, 9): TC stays clear, so clients do not retry over TCP.
func TestLeavingOutOnlyAdditionalRecordsIsNoTruncation(t *testing.T) {
	s := startServer(t, Config{miekgUDP: true})
	se := api.ServiceEndpoints{Namespace: "default", Name: "ten", VIP: "127.64.9.9",
		Ports: []api.Port{{Name: "http", Port: 8080, Protocol: "http"}}}
	for i := 0; i < 6; i++ {
		se.Endpoints = append(se.Endpoints, api.Endpoint{ID: fmt.Sprintf("%016x", i), Node: "n1", Revision: 1, IP: fmt.Sprintf("127.128.0.%d", i+2), Ready: true})
	}
	s.Update([]api.ServiceEndpoints{se})
	r := ask(t, "udp", s.Addr(), query("_http._tcp.ten.default.svc.flotilla.", miekg.TypeSRV))
	if len(r.Answer) != 6 {
		t.Fatalf("%d SRV records, want all 6", len(r.Answer))
	}
	if len(r.Extra) >= 6 {
		t.Skipf("all %d additional records fitted; the case needs them not to", len(r.Extra))
	}
	if r.Truncated {
		t.Fatal("TC set although every answer record is there")
	}
}
