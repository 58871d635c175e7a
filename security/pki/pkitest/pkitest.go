// Package pkitest makes certificates for tests of mutual TLS: a CA and
// mutual-TLS sides (api.MutualTLS) for each role, and the same from a
// second, unrelated CA, whose certificates every check must refuse.
package pkitest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/security/pki"
)

// PKI is a test CA.
type PKI struct {
	t  testing.TB
	CA *pki.CA
}

// New makes a CA valid for a day around now.
func New(t testing.TB) *PKI {
	t.Helper()
	ca, err := pki.NewCA(pki.CAOptions{Lifetime: 24 * time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &PKI{t: t, CA: ca}
}

// Roots is a pool holding the CA.
func (p *PKI) Roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.CA.Cert)
	return pool
}

// Issue is a key pair of role with its default names and ips.
func (p *PKI) Issue(role pki.Role, ips ...netip.Addr) *pki.KeyPair {
	p.t.Helper()
	kp, err := p.CA.Issue(pki.ForRole(role, nil, ips, time.Hour), time.Now())
	if err != nil {
		p.t.Fatal(err)
	}
	return kp
}

// Mutual is role's side of mutual TLS, with a certificate of this CA.
func (p *PKI) Mutual(role pki.Role, ips ...netip.Addr) *api.MutualTLS {
	p.t.Helper()
	kp := p.Issue(role, ips...)
	cert, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	if err != nil {
		p.t.Fatal(err)
	}
	return api.NewMutualTLS(p.Roots(), cert)
}

// Files writes the CA certificate and a certificate of role into dir and
// returns their paths (ca, cert, key).
func (p *PKI) Files(dir string, role pki.Role) (ca, cert, key string) {
	p.t.Helper()
	kp := p.Issue(role)
	ca, cert, key = filepath.Join(dir, "ca.pem"), filepath.Join(dir, string(role)+".pem"), filepath.Join(dir, string(role)+"-key.pem")
	if _, err := os.Stat(ca); err != nil {
		if err := os.WriteFile(ca, p.CA.CertPEM, 0o644); err != nil {
			p.t.Fatal(err)
		}
	}
	if err := pki.WritePair(cert, kp.CertPEM, key, kp.KeyPEM); err != nil {
		p.t.Fatal(err)
	}
	return ca, cert, key
}

// NoCertificate is a client configuration that trusts the CA but has no
// certificate of its own.
func (p *PKI) NoCertificate() *tls.Config {
	return &tls.Config{RootCAs: p.Roots(), MinVersion: tls.VersionTLS12}
}

// Handshake connects to addr through dial with cfg and waits up to a
// second for the peer's first word: the error that ended the connection
// (a handshake the peer refused: no certificate, one of another CA, not
// a server's), or nil when the peer kept it open, having accepted the
// client. With TLS 1.3 the client's handshake ends before the server has
// checked the client's certificate; its verdict comes as the first read.
func Handshake(ctx context.Context, dial func(ctx context.Context, network, addr string) (net.Conn, error), addr string, cfg *tls.Config) error {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	raw, err := dial(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer raw.Close()
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName, _, _ = net.SplitHostPort(addr)
	}
	c := tls.Client(raw, cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		return err
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	var b [1]byte
	_, err = c.Read(b[:])
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	if err == nil {
		return nil // the peer spoke: it accepted the client
	}
	return err
}
