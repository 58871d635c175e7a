package sim

import (
	"bytes"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"

	miekg "github.com/miekg/dns"

	"flotilla/api"
	"flotilla/internal/vnet"
)

// TestContainersOnASimulatedNetwork runs a container with Config.Net a
// vnet.Memory, inside a synctest bubble (a socket of the host's would
// block virtual time and hang the test): an address whose port is taken
// on that network is skipped, the workload listens on every port there,
// and exec's wget and nslookup dial there, the lookups going to the
// node's DNS server on it over TCP.
func TestContainersOnASimulatedNetwork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := vnet.NewMemory()
		taken, err := n.Listen("tcp", "127.128.9.2:8080")
		if err != nil {
			t.Fatal(err)
		}
		defer taken.Close()
		var webIP atomic.Value // the container's address, for the DNS server
		webIP.Store("")
		dnsLn, err := n.Listen("tcp", "127.0.0.1:53")
		if err != nil {
			t.Fatal(err)
		}
		dns := &miekg.Server{Listener: dnsLn, Handler: miekg.HandlerFunc(func(w miekg.ResponseWriter, q *miekg.Msg) {
			m := new(miekg.Msg)
			m.SetReply(q)
			if q.Question[0].Name == "web.shop.svc.flotilla." && q.Question[0].Qtype == miekg.TypeA {
				rr, _ := miekg.NewRR("web.shop.svc.flotilla. 5 IN A " + webIP.Load().(string))
				m.Answer = append(m.Answer, rr)
			} else if q.Question[0].Name != "web.shop.svc.flotilla." {
				m.Rcode = miekg.RcodeNameError
			}
			w.WriteMsg(m)
		})}
		go dns.ActivateAndServe()
		defer dns.Shutdown()

		rt := newRuntime(t, Config{Subnet: netip.MustParsePrefix("127.128.9.0/24"), DNS: "127.0.0.1:53", Net: n})
		s := spec("web", "--version", "v7")
		s.Namespace = "shop"
		s.Ports = []api.Port{{Name: "http", Port: 8080}, {Name: "admin", Port: 9090}}
		mustCreate(t, rt, s)
		addr := ip(t, rt, "web")
		if addr.String() != "127.128.9.3" {
			t.Errorf("the container got %s, want 127.128.9.3 (.2's port is taken on the network)", addr)
		}
		webIP.Store(addr.String())
		if err := rt.Start(ctx, "web"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the workload is listening

		client := &http.Client{Transport: &http.Transport{DialContext: n.DialContext}}
		defer client.CloseIdleConnections()
		for _, port := range []string{"8080", "9090"} {
			resp, err := client.Get("http://" + addr.String() + ":" + port + "/")
			if err != nil {
				t.Fatalf("port %s: %v", port, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), `"version":"v7"`) {
				t.Errorf("port %s answers %s", port, body)
			}
		}

		for _, cmd := range [][]string{
			{"wget", "-q", "-O", "-", "http://localhost:9090/"},
			{"wget", "-q", "-O", "-", "http://web:8080/"},
		} {
			var out, errOut bytes.Buffer
			code, err := rt.Exec(ctx, "web", cmd, &out, &errOut)
			if err != nil || code != 0 || !strings.Contains(out.String(), `"allocation":"web"`) {
				t.Errorf("%s: %d %v %q %q", strings.Join(cmd, " "), code, err, out.String(), errOut.String())
			}
		}
		var out, errOut bytes.Buffer
		code, err := rt.Exec(ctx, "web", []string{"nslookup", "web"}, &out, &errOut)
		if want := "Name:\tweb.shop.svc.flotilla\nAddress: " + addr.String() + "\n"; err != nil || code != 0 || !strings.Contains(out.String(), want) {
			t.Errorf("nslookup web: %d %v %q %q", code, err, out.String(), errOut.String())
		}
	})
}
