package dns

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	miekg "github.com/miekg/dns"
)

// The fast path must give the answer the general path gives: same header,
// question as asked, same records. Names in records may differ in case
// only: the fast path's compression points into the question as asked (as
// BIND's and Unbound's answers do), and DNS names are case-insensitive.
func TestFastPathAnswersAsTheGeneralPathDoes(t *testing.T) {
	for _, upstreams := range [][]string{{}, {silentUpstream(t)}} { // RA clear and set
		s := startServer(t, Config{Upstreams: upstreams})
		s.Update(testServices())
		names := make([]string, 0, len(s.records.Load().names))
		for name := range s.records.Load().names {
			names = append(names, name)
		}
		slices.Sort(names)
		names = append(names, "nope.default.svc.flotilla.", "www.example.test.")

		rng := rand.New(rand.NewPCG(1, 2))
		fast := 0
		for _, name := range names {
			for _, qtype := range []uint16{miekg.TypeA, miekg.TypeAAAA, miekg.TypeSRV, miekg.TypeTXT, miekg.TypeSOA} {
				for _, edns := range []struct {
					size uint16
					do   bool
				}{{0, false}, {512, false}, {1232, true}, {4096, false}} {
					q := query(randomCase(rng, name), qtype)
					q.Id = uint16(rng.Uint32())
					q.RecursionDesired = rng.IntN(2) == 0
					q.CheckingDisabled = rng.IntN(2) == 0
					if edns.size != 0 {
						q.SetEdns0(edns.size, edns.do)
					}
					packed, err := q.Pack()
					if err != nil {
						t.Fatal(err)
					}
					out, _, _, ok := s.fastAnswer(nil, packed)
					if !ok {
						continue
					}
					fast++
					got := new(miekg.Msg)
					if err := got.Unpack(out); err != nil {
						t.Fatalf("%s: unpack fast answer: %v", q.Question[0].String(), err)
					}
					w := &recorder{}
					s.serveDNS(w, q)
					want := new(miekg.Msg)
					if err := want.Unpack(w.last); err != nil {
						t.Fatal(err)
					}
					if d := diffAnswers(got, want); d != "" {
						t.Errorf("%s (EDNS %d, DO %v): fast path differs: %s", q.Question[0].String(), edns.size, edns.do, d)
					}
				}
			}
		}
		// A, AAAA and SRV of every name but the big ones without EDNS0,
		// whatever the EDNS0: the fast path is not an empty promise.
		if want := len(names) * 3 * 4 / 2; fast < want {
			t.Errorf("fast path answered %d queries, want at least %d", fast, want)
		}
	}
}

func randomCase(rng *rand.Rand, name string) string {
	b := []byte(name)
	for i, c := range b {
		if c >= 'a' && c <= 'z' && rng.IntN(2) == 0 {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func diffAnswers(got, want *miekg.Msg) string {
	var d []string
	if got.MsgHdr != want.MsgHdr {
		d = append(d, fmt.Sprintf("header %+v, want %+v", got.MsgHdr, want.MsgHdr))
	}
	if !slices.Equal(got.Question, want.Question) {
		d = append(d, fmt.Sprintf("question %v, want %v", got.Question, want.Question))
	}
	for _, sec := range []struct {
		name      string
		got, want []miekg.RR
	}{{"answer", got.Answer, want.Answer}, {"authority", got.Ns, want.Ns}, {"additional", got.Extra, want.Extra}} {
		if g, w := rrStrings(sec.got), rrStrings(sec.want); !slices.Equal(g, w) {
			d = append(d, fmt.Sprintf("%s %q, want %q", sec.name, g, w))
		}
	}
	return strings.Join(d, "; ")
}

// rrStrings prints records whole, OPT included, in their order,
// lowercased.
func rrStrings(rrs []miekg.RR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, strings.ToLower(rr.String()))
	}
	return out
}

func TestFastPathLeavesOddPacketsToTheGeneralPath(t *testing.T) {
	s := startServer(t, Config{})
	s.Update(testServices())
	pack := func(m *miekg.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	base := func() *miekg.Msg { return query("web.default.svc.flotilla.", miekg.TypeA) }
	ok := pack(base())
	if _, _, _, fast := s.fastAnswer(nil, ok); !fast {
		t.Fatal("the plain query is not answered by the fast path")
	}
	escaped := query(`we\.b.default.svc.flotilla.`, miekg.TypeA)
	chaos := base()
	chaos.Question[0].Qclass = miekg.ClassCHAOS
	ednsV1 := base()
	ednsV1.SetEdns0(1232, false)
	ednsV1.IsEdns0().SetVersion(1)
	withCookie := base()
	withCookie.SetEdns0(1232, false)
	withCookie.IsEdns0().Option = []miekg.EDNS0{&miekg.EDNS0_COOKIE{Code: miekg.EDNS0COOKIE, Cookie: "0123456789abcdef"}}
	notify := base()
	notify.Opcode = miekg.OpcodeNotify
	response := base()
	response.Response = true
	withAnswer := base()
	withAnswer.Answer = []miekg.RR{&miekg.A{Hdr: miekg.RR_Header{Name: "x.", Rrtype: miekg.TypeA, Class: miekg.ClassINET}, A: []byte{127, 0, 0, 1}}}
	bigNoEDNS := query("_http._tcp.big.default.svc.flotilla.", miekg.TypeSRV)

	for _, tc := range []struct {
		name   string
		packet []byte
	}{
		{"trailing bytes", append(pack(base()), 0)},
		{"cut short", ok[:len(ok)-1]},
		{"a name that needs escaping", pack(escaped)},
		{"class CHAOS", pack(chaos)},
		{"EDNS version 1", pack(ednsV1)},
		{"an EDNS0 option", pack(withCookie)},
		{"opcode NOTIFY", pack(notify)},
		{"a response", pack(response)},
		{"an answer section", pack(withAnswer)},
		{"an unknown name", pack(query("nope.default.svc.flotilla.", miekg.TypeA))},
		{"a name outside the zone", pack(query("www.example.test.", miekg.TypeA))},
		{"a type without a packed answer", pack(query("svc.flotilla.", miekg.TypeSOA))},
		{"an answer that needs truncating", pack(bigNoEDNS)},
		{"the root", pack(query(".", miekg.TypeA))},
	} {
		if _, _, _, fast := s.fastAnswer(nil, tc.packet); fast {
			t.Errorf("%s: answered by the fast path", tc.name)
		}
	}
}

// FuzzFastAnswer: no packet makes the fast path panic, and what it answers
// parses, carries the query's ID and has the general path's records.
func FuzzFastAnswer(f *testing.F) {
	s := startServer(f, Config{})
	s.Update(testServices())
	for _, q := range []*miekg.Msg{
		query("web.default.svc.flotilla.", miekg.TypeA),
		query("_HTTP._tcp.web.default.svc.flotilla.", miekg.TypeSRV),
		query("six.default.svc.flotilla.", miekg.TypeAAAA),
		query("_http._tcp.big.default.svc.flotilla.", miekg.TypeSRV).SetEdns0(4096, true),
	} {
		b, err := q.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, packet []byte) {
		out, _, _, ok := s.fastAnswer(nil, packet)
		if !ok {
			return
		}
		got := new(miekg.Msg)
		if err := got.Unpack(out); err != nil {
			t.Fatalf("fast answer does not parse: %v", err)
		}
		req := new(miekg.Msg)
		if err := req.Unpack(packet); err != nil {
			t.Fatalf("fast path answered a query that does not parse: %v", err)
		}
		w := &recorder{}
		s.serveDNS(w, req)
		want := new(miekg.Msg)
		if err := want.Unpack(w.last); err != nil {
			t.Fatal(err)
		}
		if d := diffAnswers(got, want); d != "" {
			t.Errorf("fast path differs: %s", d)
		}
	})
}
