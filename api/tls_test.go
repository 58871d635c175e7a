package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"flotilla/api"
	"flotilla/security/pki"
	"flotilla/security/pki/pkitest"
)

// tlsServer is an API stand-in with mutual TLS that answers who leads and
// counts the requests it served over HTTP/2.
func tlsServer(t *testing.T, ca *pkitest.PKI) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var h2 atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 {
			h2.Add(1)
		}
		json.NewEncoder(w).Encode(api.Leader{Leader: "s1"})
	}))
	srv.EnableHTTP2 = true
	srv.TLS = ca.Mutual(pki.RoleServer).ServerConfig("")
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, &h2
}

func TestClientUseTLSSpeaksHTTPSWithEveryTransport(t *testing.T) {
	ca := pkitest.New(t)
	srv, h2 := tlsServer(t, ca)
	hostPort := strings.TrimPrefix(srv.URL, "https://")
	cli := ca.Mutual(pki.RoleCLI).ClientConfig("")
	ctx := context.Background()
	cases := map[string]func(c *api.Client){
		"alone":                        func(c *api.Client) { c.UseTLS(cli) },
		"then KeepAlivePerHost":        func(c *api.Client) { c.UseTLS(cli); c.KeepAlivePerHost(8) },
		"after KeepAlivePerHost":       func(c *api.Client) { c.KeepAlivePerHost(8); c.UseTLS(cli) },
		"then UseNet":                  func(c *api.Client) { c.UseTLS(cli); c.UseNet(nil) },
		"then Multiplex (HTTP/2)":      func(c *api.Client) { c.UseTLS(cli); c.Multiplex() },
		"after Multiplex (HTTP/2)":     func(c *api.Client) { c.Multiplex(); c.UseTLS(cli) },
		"an http:// address given too": func(c *api.Client) { c.UseTLS(cli) },
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			addr := hostPort
			if strings.Contains(name, "http://") {
				addr = "http://" + hostPort
			}
			c, err := api.NewClient(addr)
			if err != nil {
				t.Fatal(err)
			}
			setup(c)
			if got := c.Addresses(); len(got) != 1 || got[0] != "https://"+hostPort {
				t.Fatalf("addresses %v, want https://%s", got, hostPort)
			}
			before := h2.Load()
			l, err := c.Leader(ctx)
			if err != nil || l.Leader != "s1" {
				t.Fatalf("Leader over TLS: %+v %v", l, err)
			}
			// Over TLS every transport may negotiate HTTP/2; a
			// multiplexing one must.
			if strings.Contains(name, "HTTP/2") && h2.Load() == before {
				t.Fatal("a multiplexing client spoke HTTP/1.1 over TLS")
			}
		})
	}
	t.Run("without TLS", func(t *testing.T) {
		c, err := api.NewClient(hostPort)
		if err != nil {
			t.Fatal(err)
		}
		c.RetryFor = 0
		if _, err := c.Leader(ctx); err == nil {
			t.Fatal("a plain HTTP client was answered by a TLS server")
		}
	})
}

func TestClientTLSConfigFromFiles(t *testing.T) {
	ca := pkitest.New(t)
	srv, _ := tlsServer(t, ca)
	dir := t.TempDir()
	caFile, cert, key := ca.Files(dir, pki.RoleCLI)
	cfg, err := api.ClientTLSConfig(caFile, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := api.NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c.UseTLS(cfg)
	if _, err := c.Leader(context.Background()); err != nil {
		t.Fatalf("Leader with the files' TLS: %v", err)
	}
	for _, bad := range []struct{ ca, cert, key, want string }{
		{caFile, cert, "", "--client-key is required"},
		{"", cert, key, "--ca-cert is required"},
		{caFile, key, cert, "--client-cert"},
		{cert + ".missing", cert, key, "--ca-cert"},
	} {
		if _, err := api.ClientTLSConfig(bad.ca, bad.cert, bad.key); err == nil || !strings.Contains(err.Error(), bad.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ClientTLSConfig(%q, %q, %q) = %v, want a one-line error naming %s", bad.ca, bad.cert, bad.key, err, bad.want)
		}
	}
	// A certificate of another CA than the one named is refused at once.
	other := pkitest.New(t)
	_, otherCert, otherKey := other.Files(t.TempDir(), pki.RoleCLI)
	if _, err := api.ClientTLSConfig(caFile, otherCert, otherKey); err == nil || !strings.Contains(err.Error(), "not signed by") {
		t.Errorf("a certificate of another CA: %v", err)
	}
}
