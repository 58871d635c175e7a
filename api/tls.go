package api

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// Environment variables of a client's TLS files (the CLI's --ca-cert,
// --client-cert and --client-key).
const (
	CACertEnv     = "FLOTILLA_CACERT"
	ClientCertEnv = "FLOTILLA_CLIENT_CERT"
	ClientKeyEnv  = "FLOTILLA_CLIENT_KEY"
)

// ServerTLSName is the DNS name every server's certificate carries
// (flotilla tls cert create --server): servers require it of each other,
// on Raft and when they forward to the leader, so that an agent's or a
// user's certificate cannot pose as a server.
const ServerTLSName = "server.flotilla"

// MutualTLS is one process's side of mutual TLS: its certificate, and the
// CA that every peer's certificate must chain to.
type MutualTLS struct {
	roots *x509.CertPool
	cert  tls.Certificate
}

// TLSFiles names the PEM files of mutual TLS.
type TLSFiles struct {
	CA, Cert, Key string
}

// IsSet says whether any file is named.
func (f TLSFiles) IsSet() bool { return f.CA != "" || f.Cert != "" || f.Key != "" }

// Load reads the files; all three must be named. flags names them in
// errors ("--tls-ca", "--tls-cert", "--tls-key").
func (f TLSFiles) Load(flags [3]string) (*MutualTLS, error) {
	for i, v := range []string{f.CA, f.Cert, f.Key} {
		if v == "" {
			return nil, fmt.Errorf("%s is required with %s", flags[i], strings.Join(others(flags, i), " and "))
		}
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flags[0], err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%s %s: no PEM certificate in it", flags[0], f.CA)
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("%s %s, %s %s: %w", flags[1], f.Cert, flags[2], f.Key, err)
	}
	// A certificate of another CA would be refused by every peer: say so
	// now rather than in their logs.
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("%s %s: %w", flags[1], f.Cert, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, fmt.Errorf("%s %s is not signed by %s %s: %w", flags[1], f.Cert, flags[0], f.CA, err)
	}
	return &MutualTLS{roots: roots, cert: cert}, nil
}

func others(flags [3]string, i int) []string {
	var out []string
	for j, f := range flags {
		if j != i {
			out = append(out, f)
		}
	}
	return out
}

// NewMutualTLS is mutual TLS from a CA pool and a certificate in memory.
func NewMutualTLS(roots *x509.CertPool, cert tls.Certificate) *MutualTLS {
	return &MutualTLS{roots: roots, cert: cert}
}

// ServerConfig is the listener's side: it presents the process's
// certificate and requires one of the client, signed by the CA; with
// peerName, the client's certificate must also be valid for that name
// (ServerTLSName: only servers may connect). It offers HTTP/2 and
// HTTP/1.1.
func (m *MutualTLS) ServerConfig(peerName string) *tls.Config {
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{m.cert},
		ClientCAs:    m.roots,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		NextProtos:   []string{"h2", "http/1.1"},
	}
	if peerName != "" {
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no client certificate")
			}
			if err := cs.PeerCertificates[0].VerifyHostname(peerName); err != nil {
				return fmt.Errorf("client certificate is not a %s's: %w", peerName, err)
			}
			return nil
		}
	}
	return cfg
}

// Listener wraps an API listener (a server's or an agent's) in mutual
// TLS: only clients with a certificate of the CA get through. A nil
// MutualTLS (a process without TLS) leaves ln as it is.
func (m *MutualTLS) Listener(ln net.Listener) net.Listener {
	if m == nil {
		return ln
	}
	return tls.NewListener(ln, m.ServerConfig(""))
}

// ClientConfig is the dialer's side: it presents the process's
// certificate and verifies the server's against the CA, for serverName,
// or, when it is "", for the address dialled (as any HTTPS client does).
func (m *MutualTLS) ClientConfig(serverName string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{m.cert},
		RootCAs:      m.roots,
		ServerName:   serverName,
	}
}

// ClientTLSConfig is a client's TLS configuration from its files: the CA
// that the servers' certificates chain to, and the client's certificate
// and key (made with flotilla tls cert create --cli). The servers'
// certificates are verified for the address dialled.
func ClientTLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	m, err := TLSFiles{CA: caFile, Cert: certFile, Key: keyFile}.Load([3]string{"--ca-cert", "--client-cert", "--client-key"})
	if err != nil {
		return nil, err
	}
	return m.ClientConfig(""), nil
}

// UseTLS makes the client speak HTTPS with cfg to every server: its
// http:// addresses become https:// (a server with TLS speaks nothing
// else). KeepAlivePerHost, UseNet and Multiplex, before or after, keep
// it. Call it before the client is used.
func (c *Client) UseTLS(cfg *tls.Config) {
	c.tls = cfg
	for i, a := range c.addrs {
		if u, err := url.Parse(a); err == nil && u.Scheme == "http" {
			u.Scheme = "https"
			c.addrs[i] = u.String()
		}
	}
	c.setTransport(c.transport())
}

// TLS is the client's TLS configuration (nil without UseTLS).
func (c *Client) TLS() *tls.Config { return c.tls }

// transport is a copy of the client's transport (the default one's
// settings when it has none of its own yet).
func (c *Client) transport() *http.Transport {
	if cur, ok := c.http.Transport.(*http.Transport); ok {
		return cur.Clone()
	}
	return http.DefaultTransport.(*http.Transport).Clone()
}

// applyTLS gives t the client's TLS; a multiplexing transport then speaks
// HTTP/2 over TLS, as it spoke it without.
func (c *Client) applyTLS(t *http.Transport) {
	if c.tls == nil {
		return
	}
	t.TLSClientConfig = c.tls.Clone()
	if t.Protocols != nil && t.Protocols.UnencryptedHTTP2() {
		p := *t.Protocols
		p.SetHTTP2(true)
		t.Protocols = &p
	}
}

// httpsOnlyHint explains the answer of a server with TLS to plain HTTP.
func httpsOnlyHint(body []byte) string {
	if !strings.Contains(string(body), "HTTP request to an HTTPS server") {
		return ""
	}
	return " (the server speaks HTTPS only: give --ca-cert, --client-cert and --client-key, or $" + CACertEnv + ", $" + ClientCertEnv + " and $" + ClientKeyEnv + ")"
}
