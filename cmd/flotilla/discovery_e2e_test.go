package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	miekg "github.com/miekg/dns"

	"flotilla/api"
)

// labEnv reads `flotilla lab env` into a map.
func (l *labCLI) labEnv() map[string]string {
	l.t.Helper()
	env := map[string]string{}
	for _, line := range strings.Split(l.must("lab", "env"), "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if ok {
			env[k] = strings.Trim(v, `"`)
		}
	}
	return env
}

func query(t *testing.T, server, name string, qtype uint16) *miekg.Msg {
	t.Helper()
	m := new(miekg.Msg)
	m.SetQuestion(miekg.Fqdn(name), qtype)
	in, err := miekg.Exchange(m, server)
	if err != nil {
		t.Fatalf("query %s %s: %v", miekg.TypeToString[qtype], name, err)
	}
	return in
}

// TestServiceDiscoveryInALab is the discovery issue's check: the VIP and
// SRV records from an agent's DNS server, requests through the VIP spread
// over every ready replica, and a steady stream of GETs that loses nothing
// (after one client retry) while a replica's node is killed.
func TestServiceDiscoveryInALab(t *testing.T) {
	l := startLab(t)
	dnsAddr := l.labEnv()["FLOTILLA_DNS_ADDR"]
	if dnsAddr == "" {
		t.Fatal("lab env exports no FLOTILLA_DNS_ADDR")
	}
	spec := "kind: Service\nname: web\nimage: flotilla.local/demo:v1\nargs: [--version, v1]\nreplicas: 3\n" +
		"ports: [{name: http, port: 8080, protocol: http}]\n"
	file := t.TempDir() + "/web.yaml"
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	l.must("apply", "-f", file)

	var vip string
	waitFor(t, 20*time.Second, "the VIP in DNS and 3 ready SRV targets", func() bool {
		a := query(t, dnsAddr, "web.default.svc.flotilla", miekg.TypeA)
		srv := query(t, dnsAddr, "_http._tcp.web.default.svc.flotilla", miekg.TypeSRV)
		if len(a.Answer) != 1 || len(srv.Answer) != 3 {
			return false
		}
		vip = a.Answer[0].(*miekg.A).A.String()
		return true
	})
	var svc api.ServiceDocument
	json.Unmarshal([]byte(l.must("get", "services", "web", "-o", "json")), &svc)
	if vip != svc.VIP || !strings.HasPrefix(vip, "127.") {
		t.Fatalf("DNS says %s, the service's VIP is %s", vip, svc.VIP)
	}
	if nx := query(t, dnsAddr, "nope.default.svc.flotilla", miekg.TypeA); nx.Rcode != miekg.RcodeNameError {
		t.Fatalf("unknown name: rcode %s, want NXDOMAIN", miekg.RcodeToString[nx.Rcode])
	}

	// 300 requests through the VIP reach every replica, none fails.
	client := &http.Client{Timeout: 5 * time.Second}
	byAlloc := map[string]int{}
	for i := 0; i < 300; i++ {
		resp, err := client.Get("http://" + net.JoinHostPort(vip, "8080") + "/")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		var body map[string]string
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %s", i, resp.Status)
		}
		byAlloc[body["allocation"]]++
	}
	if len(byAlloc) != 3 {
		t.Fatalf("served by %d replicas: %v", len(byAlloc), byAlloc)
	}
	for id, n := range byAlloc {
		if n < 60 {
			t.Fatalf("replica %s served %d of 300, want at least 20%%: %v", id, n, byAlloc)
		}
	}

	// A steady stream of GETs while the node of one replica dies (not n1,
	// whose DNS server the test asks).
	var victim string
	for _, a := range l.allocs() {
		if a.DesiredStatus == api.DesiredRun && a.Status == api.AllocRunning && a.Node != "n1" {
			victim = a.Node
			break
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var sent, retried, lost int
	var failures []string
	wg.Add(1)
	go func() {
		defer wg.Done()
		get := func() error {
			resp, err := client.Get("http://" + net.JoinHostPort(vip, "8080") + "/")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %s", resp.Status)
			}
			return nil
		}
		for {
			select {
			case <-stop:
				return
			default:
			}
			err := get()
			var status bool
			if err != nil {
				status = strings.HasPrefix(err.Error(), "status")
				if !status {
					// The connection itself broke (the proxy that had
					// accepted it died with its node): retry once, as an
					// HTTP client retries an idempotent GET.
					err = get()
					mu.Lock()
					retried++
					mu.Unlock()
				}
			}
			mu.Lock()
			sent++
			if err != nil {
				lost++
				failures = append(failures, err.Error())
			}
			mu.Unlock()
			time.Sleep(10 * time.Millisecond) // pacing the stream, not synchronisation
		}
	}()
	time.Sleep(time.Second) // a second of traffic before the fault; pacing
	l.must("lab", "kill", victim)
	waitFor(t, 20*time.Second, "3 ready endpoints again, none on the dead node", func() bool {
		srv := query(t, dnsAddr, "_http._tcp.web.default.svc.flotilla", miekg.TypeSRV)
		return len(srv.Answer) == 3
	})
	time.Sleep(time.Second) // a second of traffic after recovery; pacing
	close(stop)
	wg.Wait()
	t.Logf("%d requests while %s died: %d retried once, %d lost", sent, victim, retried, lost)
	if lost > 0 || sent < 50 {
		t.Fatalf("%d of %d requests lost after the retry: %v", lost, sent, failures)
	}
}
