package agent

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"flotilla/internal/clock"
	"flotilla/internal/testutil"
	"flotilla/security/pki"
	"flotilla/security/pki/pkitest"
)

// TestAgentAPIWithTLSAnswersOnlyCertificatesOfItsCA: with Config.TLS the
// agent's API (allocations, logs, exec, metrics) answers a client with a
// certificate of the CA over HTTPS, and refuses one without a certificate,
// one with another CA's, and plain HTTP.
func TestAgentAPIWithTLSAnswersOnlyCertificatesOfItsCA(t *testing.T) {
	ca, other := pkitest.New(t), pkitest.New(t)
	servers, rt := newFakeServers(), NewNullRuntime()
	var logs testutil.SyncBuffer
	a := runTestAgent(t, Config{HTTP: "127.0.0.1:0", Clock: clock.NewFake(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)), TLS: ca.Mutual(pki.RoleAgent),
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))},
		servers, servers, rt, rt).registered().agent
	ctx := t.Context()

	get := func(cfg *tls.Config, scheme, path string) (int, error) {
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
		resp, err := c.Get(scheme + "://" + a.HTTPAddr() + path)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	cli := ca.Mutual(pki.RoleCLI).ClientConfig("")
	for _, path := range []string{"/v1/agent/allocations", "/metrics"} {
		if code, err := get(cli, "https", path); err != nil || code != http.StatusOK {
			t.Fatalf("GET %s with the CA's certificate: %d %v", path, code, err)
		}
	}
	strangers := map[string]*tls.Config{
		"no certificate":           ca.NoCertificate(),
		"another CA's certificate": other.Mutual(pki.RoleCLI).ClientConfig(""),
	}
	strangers["another CA's certificate"].RootCAs = ca.Roots()
	for what, cfg := range strangers {
		if err := pkitest.Handshake(ctx, nil, a.HTTPAddr(), cfg); err == nil {
			t.Errorf("the agent's API accepted a client with %s", what)
		}
		if code, err := get(cfg, "https", "/v1/agent/allocations"); err == nil {
			t.Errorf("the agent's API answered a client with %s: %d", what, code)
		}
	}
	if code, err := get(nil, "http", "/v1/agent/allocations"); err == nil && code == http.StatusOK {
		t.Error("the agent's API answered plain HTTP")
	}
	// The refused handshakes are in the agent's own log.
	testutil.Eventually(t, 5*time.Second, "a refused handshake in the agent's log", func() error {
		if !strings.Contains(logs.String(), `level=WARN msg="http: TLS handshake error`) {
			return fmt.Errorf("the log holds:\n%s", logs.String())
		}
		return nil
	})
}
