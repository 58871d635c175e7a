package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	miekg "github.com/miekg/dns"
)

// TestLoadAServiceByNameInALab is `flotilla load`'s end-to-end check: in a
// sim lab, 100 rps for 3s to the service web by its name (the VIP from the
// API, checked against the lab's DNS) are all answered by its 3 replicas of
// v1.
func TestLoadAServiceByNameInALab(t *testing.T) {
	l := startLab(t)
	dnsAddr := l.labEnv()["FLOTILLA_DNS_ADDR"]
	if dnsAddr == "" {
		t.Fatal("lab env exports no FLOTILLA_DNS_ADDR")
	}
	// Labs have VIP ranges of their own (by base port); a port of its own
	// is one more guard against a cluster started outside any lab.
	port := 10000 + rand.IntN(10000)
	spec := "kind: Service\nname: web\nimage: flotilla.local/demo:v1\nargs: [--version, v1]\nreplicas: 3\n" +
		fmt.Sprintf("ports: [{name: http, port: %d, protocol: http}]\n", port)
	file := t.TempDir() + "/web.yaml"
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	l.must("apply", "-f", file)
	waitFor(t, 20*time.Second, "the VIP in DNS and 3 ready SRV targets", func() bool {
		a := query(t, dnsAddr, "web.default.svc.flotilla", miekg.TypeA)
		srv := query(t, dnsAddr, "_http._tcp.web.default.svc.flotilla", miekg.TypeSRV)
		return len(a.Answer) == 1 && len(srv.Answer) == 3
	})

	// stdout alone: it must be nothing but the JSON summary.
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(l.bin, "load", "web", "--rate", "100", "--duration", "3s", "-o", "json")
	cmd.Env = append(l.env, "FLOTILLA_DNS_ADDR="+dnsAddr)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("flotilla load: %v: %s", err, stderr.String())
	}
	var res loadResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("decode %q: %v (stderr %q)", stdout.String(), err, stderr.String())
	}
	t.Logf("load web: %d requests, %d errors, %.1f rps, p50 %.2fms p99 %.2fms, versions %v",
		res.Requests, res.Errors, res.RPS, res.P50Ms, res.P99Ms, res.Versions)
	if res.Requests < 250 || res.Requests > 350 || res.Errors != 0 {
		t.Fatalf("%d requests with %d errors (%v, %v), want about 300 and none", res.Requests, res.Errors, res.ErrorKinds, res.ErrorSamples)
	}
	if len(res.Versions) != 1 || res.Versions["v1"] != res.Requests || res.Statuses["200"] != res.Requests {
		t.Fatalf("versions %v statuses %v, want every answer a 200 from v1", res.Versions, res.Statuses)
	}
	if !strings.HasSuffix(res.Target, fmt.Sprintf(":%d/", port)) || res.Service != "default/web" || res.DNS != "agrees" {
		t.Fatalf("target %q service %q dns %q, want port %d of default/web, resolved by the API and agreed by DNS", res.Target, res.Service, res.DNS, port)
	}
	if stderr.Len() != 0 {
		t.Fatalf("stderr %q, want nothing", stderr.String())
	}
}
