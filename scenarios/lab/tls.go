package lab

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"flotilla/api"
	"flotilla/security/pki"
)

// TLSFiles are a lab's client certificate (the CLI's: cli.pem) and the
// CA every certificate of the lab chains to, under the lab's tls/.
type TLSFiles struct {
	CA   string `json:"ca"`
	Cert string `json:"cert"`
	Key  string `json:"key"`
}

// A lab with TLS (Config.TLS) makes a CA of its own in its tls/
// directory at each lab up, a certificate for each server and agent
// valid for the address it listens on, and one for clients; every
// process gets --tls-ca, --tls-cert and --tls-key, and the lab's own
// clients (readiness, lab env, scenario runs) use the client one. The
// CA's key is not kept: nothing else is issued for the lab.

func (l *Lab) tlsDir() string { return filepath.Join(l.Dir, "tls") }

// planTLS gives each process its TLS flags; a containerd lab without TLS
// listens beyond loopback, which its processes must be told is meant.
func (l *Lab) planTLS(cfg Config) {
	if !cfg.TLS {
		if cfg.Runtime == "containerd" {
			for i := range l.Processes {
				l.Processes[i].Args = append(l.Processes[i].Args, "--insecure")
			}
		}
		return
	}
	dir := l.tlsDir()
	l.TLS = &TLSFiles{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "cli.pem"), Key: filepath.Join(dir, "cli-key.pem")}
	for i := range l.Processes {
		p := &l.Processes[i]
		p.Args = append(p.Args, "--tls-ca", l.TLS.CA, "--tls-cert", filepath.Join(dir, p.Name+".pem"), "--tls-key", filepath.Join(dir, p.Name+"-key.pem"))
	}
}

// writeCertificates makes the lab's CA and certificates afresh (those
// of an earlier lab of the name go): a server's is valid for its API's
// and Raft's addresses, an agent's for its API's.
func (l *Lab) writeCertificates(now time.Time) error {
	if l.TLS == nil {
		return nil
	}
	dir := l.tlsDir()
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	ca, err := pki.NewCA(pki.CAOptions{CommonName: "Flotilla lab " + l.Name + " CA"}, now)
	if err != nil {
		return err
	}
	if err := os.WriteFile(l.TLS.CA, ca.CertPEM, 0o644); err != nil {
		return err
	}
	issue := func(req pki.LeafRequest, cert, key string) error {
		kp, err := ca.Issue(req, now)
		if err != nil {
			return err
		}
		return pki.WritePair(cert, kp.CertPEM, key, kp.KeyPEM)
	}
	for _, p := range l.Processes {
		role, ips := pki.RoleAgent, listenIPs(p.HTTP)
		if p.Role == RoleServer {
			role, ips = pki.RoleServer, append(ips, listenIPs(p.Raft)...)
		}
		if err := issue(pki.ForRole(role, nil, ips, 0), filepath.Join(dir, p.Name+".pem"), filepath.Join(dir, p.Name+"-key.pem")); err != nil {
			return fmt.Errorf("lab %s: certificate of %s: %w", l.Name, p.Name, err)
		}
	}
	if err := issue(pki.ForRole(pki.RoleCLI, nil, nil, 0), l.TLS.Cert, l.TLS.Key); err != nil {
		return fmt.Errorf("lab %s: client certificate: %w", l.Name, err)
	}
	return nil
}

// listenIPs is the IP of a listen address (none for a name).
func listenIPs(addr string) []netip.Addr {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return nil
	}
	return []netip.Addr{ip}
}

// scheme is how the lab's APIs are spoken to: https with TLS.
func (l *Lab) scheme() string {
	if l.TLS == nil {
		return "http"
	}
	return "https"
}

// ClientTLS is the lab's client TLS (nil for a lab without TLS).
func (l *Lab) ClientTLS() (*tls.Config, error) {
	if l.TLS == nil {
		return nil, nil
	}
	return api.ClientTLSConfig(l.TLS.CA, l.TLS.Cert, l.TLS.Key)
}

// Client is a client of the lab's servers, with its client certificate
// when it has TLS and its token when it has ACLs.
func (l *Lab) Client() (*api.Client, error) { return l.clientOf(l.Addresses()) }

func (l *Lab) clientOf(addresses string) (*api.Client, error) {
	client, err := api.NewClient(addresses)
	if err != nil {
		return nil, err
	}
	cfg, err := l.ClientTLS()
	if err != nil {
		return nil, fmt.Errorf("lab %s: %w", l.Name, err)
	}
	if cfg != nil {
		client.UseTLS(cfg)
	}
	if l.ACL {
		client.SetToken(l.Token())
	}
	return client, nil
}

// HTTPClient is a plain HTTP client for the lab's APIs (an agent's, a
// server's /metrics), with the lab's client certificate when it has TLS.
func (l *Lab) HTTPClient(timeout time.Duration) (*http.Client, error) {
	cfg, err := l.ClientTLS()
	if err != nil {
		return nil, err
	}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: cfg}}, nil
}

// tlsEnv is the exports of the lab's client TLS ("" without).
func (l *Lab) tlsEnv() string {
	if l.TLS == nil {
		return ""
	}
	return fmt.Sprintf("export %s=%s\nexport %s=%s\nexport %s=%s\n", api.CACertEnv, l.TLS.CA, api.ClientCertEnv, l.TLS.Cert, api.ClientKeyEnv, l.TLS.Key)
}
