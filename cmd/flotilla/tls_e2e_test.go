package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/security/pki/pkitest"
)

// TestSimLabWithTLS is the TLS issue's end-to-end check: lab up --tls
// gives every server and agent a certificate of the lab's own CA; lab env
// exports https:// addresses and the lab's client certificate, with which
// status and get nodes work (and logs, through an agent's API); plain
// HTTP, a client without a certificate and the CLI without the lab's
// files are refused by servers and agents alike.
func TestSimLabWithTLS(t *testing.T) {
	l := startNamedLab(t, "tlse2e", "--tls", "--servers", "3", "--agents", "1")
	env := l.labEnv()
	for _, k := range []string{api.CACertEnv, api.ClientCertEnv, api.ClientKeyEnv} {
		if _, err := os.Stat(env[k]); err != nil {
			t.Fatalf("lab env: %s=%q: %v", k, env[k], err)
		}
	}
	addrs := strings.Split(env[api.AddressEnv], ",")
	if len(addrs) != 3 || !strings.HasPrefix(addrs[0], "https://127.0.0.1:") {
		t.Fatalf("lab env: %s=%q, want three https:// addresses", api.AddressEnv, env[api.AddressEnv])
	}

	waitFor(t, 10*time.Second, "status over TLS to name a leader and n1 ready", func() bool {
		out, err := l.run("status")
		return err == nil && strings.Contains(out, "Leader:  s") && strings.Contains(out, "1 ready of 1")
	})
	var nodes []*api.Node
	if err := json.Unmarshal([]byte(l.must("get", "nodes", "-o", "json")), &nodes); err != nil || len(nodes) != 1 || nodes[0].Status != api.NodeReady {
		t.Fatalf("get nodes over TLS: %+v %v", nodes, err)
	}
	agentAddr := nodes[0].HTTPAddress

	// logs and exec reach the agent's API with the same certificate.
	spec := t.TempDir() + "/web.yaml"
	if err := os.WriteFile(spec, []byte("kind: Service\nname: web\nimage: demo\nreplicas: 1\nports: [{name: http, port: 8080, protocol: http}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l.must("apply", "-f", spec)
	var alloc string
	waitFor(t, 20*time.Second, "web's replica running", func() bool {
		for _, a := range l.allocs() {
			if a.Service == "web" && a.Status == api.AllocRunning {
				alloc = a.ID
				return true
			}
		}
		return false
	})
	if out := l.must("exec", alloc, "--", "echo", "over-tls"); strings.TrimSpace(out) != "over-tls" {
		t.Fatalf("exec over TLS: %q", out)
	}
	waitFor(t, 10*time.Second, "the replica's logs over TLS", func() bool {
		out, err := l.run("logs", alloc)
		return err == nil && strings.Contains(out, "listen=")
	})

	// lab restart waits for readiness over TLS (a server that knows a
	// leader; an agent whose API answers the lab's certificate).
	for _, name := range []string{"s1", "n1"} {
		if out := l.must("lab", "restart", name); !strings.Contains(out, "ready in") {
			t.Fatalf("lab restart %s: %s", name, out)
		}
	}

	// The CLI without the lab's certificate is refused, and says why.
	bare := slices.DeleteFunc(slices.Clone(l.env), func(kv string) bool {
		return strings.HasPrefix(kv, "FLOTILLA_CACERT=") || strings.HasPrefix(kv, "FLOTILLA_CLIENT_")
	})
	if out, err := runCLIIn(l.bin, bare, "", "--address", strings.Replace(addrs[0], "https://", "http://", 1), "status"); err == nil || !strings.Contains(err.Error()+out, "HTTPS only") {
		t.Fatalf("status over plain HTTP: %v\n%s", err, out)
	}

	roots := x509.NewCertPool()
	caPEM, err := os.ReadFile(env[api.CACertEnv])
	if err != nil || !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("the lab's CA: %v", err)
	}
	withCert, err := api.ClientTLSConfig(env[api.CACertEnv], env[api.ClientCertEnv], env[api.ClientKeyEnv])
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for what, addr := range map[string]string{"server": strings.TrimPrefix(addrs[0], "https://"), "agent": agentAddr} {
		get := func(cfg *tls.Config, scheme string) (int, error) {
			c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
			resp, err := c.Get(scheme + "://" + addr + "/metrics")
			if err != nil {
				return 0, err
			}
			resp.Body.Close()
			return resp.StatusCode, nil
		}
		if code, err := get(withCert, "https"); err != nil || code != http.StatusOK {
			t.Errorf("%s at %s with the lab's certificate: %d %v", what, addr, code, err)
		}
		if code, err := get(nil, "http"); err == nil && code == http.StatusOK {
			t.Errorf("%s at %s answered plain HTTP", what, addr)
		}
		noCert := &tls.Config{RootCAs: roots}
		if code, err := get(noCert, "https"); err == nil {
			t.Errorf("%s at %s answered a client without a certificate: %d", what, addr, code)
		}
		if err := pkitest.Handshake(ctx, nil, addr, noCert); err == nil {
			t.Errorf("%s at %s accepted a TLS handshake without a client certificate", what, addr)
		}
	}
}
