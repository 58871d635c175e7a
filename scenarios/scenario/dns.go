package scenario

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	miekg "github.com/miekg/dns"

	"flotilla/api"
	"flotilla/internal/vnet"
)

// dnsTimeout bounds one question to the cluster's DNS server.
const dnsTimeout = 2 * time.Second

// dnsTypes are the record types a DNS condition may ask for.
var dnsTypes = map[string]uint16{"A": miekg.TypeA, "SRV": miekg.TypeSRV}

func (c *DNSCondition) qtype() string {
	if c.Type == "" {
		return "A"
	}
	return strings.ToUpper(c.Type)
}

func (c *DNSCondition) check(ctx context.Context, w *world) (verdict, error) {
	if w.dns == "" {
		return verdict{}, fmt.Errorf("no cluster DNS server is known (a lab's own is; with --address, give --dns)")
	}
	subject := fmt.Sprintf("DNS %s %s", c.qtype(), c.Name)
	t := newTally()
	m := new(miekg.Msg)
	m.SetQuestion(miekg.Fqdn(c.Name), dnsTypes[c.qtype()])
	in, err := exchangeDNS(ctx, w, m)
	if err != nil {
		// A server that does not answer is something to wait out.
		t.ok = false
		t.wants = append(t.wants, "an answer")
		return t.verdict(subject, "no answer from "+w.dns+": "+err.Error(), nil), nil
	}
	var answers []string
	for _, rr := range in.Answer {
		switch rr := rr.(type) {
		case *miekg.A:
			answers = append(answers, rr.A.String())
		case *miekg.SRV:
			answers = append(answers, fmt.Sprintf("%s:%d", strings.TrimSuffix(rr.Target, "."), rr.Port))
		}
	}
	rcode := miekg.RcodeToString[in.Rcode]
	t.is("rcode", strings.ToUpper(c.Rcode), rcode)
	t.count("answers", c.Answers, len(answers))
	if c.VIP != "" {
		name, ns, _ := strings.Cut(c.VIP, ".")
		svc, _, err := w.cluster.Service(ctx, namespaceOr(ns), name, api.QueryOptions{})
		if err != nil {
			return verdict{}, fmt.Errorf("read service %s: %w", c.VIP, err)
		}
		t.wants = append(t.wants, fmt.Sprintf("the VIP of %s (%s)", c.VIP, svc.VIP))
		if svc.VIP == "" || !slices.Contains(answers, svc.VIP) {
			t.ok = false
		}
	}
	seen := rcode
	if len(answers) > 0 {
		seen += ": " + strings.Join(answers, ", ")
	}
	return t.verdict(subject, seen, map[string]any{"rcode": rcode, "answers": answers}), nil
}

// exchangeDNS asks the cluster's DNS server: over UDP on the machine's
// network, over TCP (which the server answers too) through a simulated one.
func exchangeDNS(ctx context.Context, w *world, m *miekg.Msg) (*miekg.Msg, error) {
	if vnet.IsHost(w.net) {
		in, _, err := (&miekg.Client{Timeout: dnsTimeout}).ExchangeContext(ctx, m, w.dns)
		return in, err
	}
	ctx, cancel := context.WithTimeout(ctx, dnsTimeout)
	defer cancel()
	conn, err := w.net.DialContext(ctx, "tcp", w.dns)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	in, _, err := (&miekg.Client{Net: "tcp", Timeout: dnsTimeout}).ExchangeWithConnContext(ctx, m, &miekg.Conn{Conn: conn})
	return in, err
}
