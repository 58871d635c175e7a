package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"time"
)

// Default lifetimes, as Nomad's: five years for a CA, one for a leaf.
const (
	DefaultCALifetime   = 5 * 365 * 24 * time.Hour
	DefaultLeafLifetime = 365 * 24 * time.Hour
)

// clockSkew backdates NotBefore, so that a machine whose clock is a
// little behind the issuer's accepts a certificate issued just now.
const clockSkew = time.Minute

// Domain is the DNS domain of the role names (server.flotilla).
const Domain = "flotilla"

// Role is what a leaf certificate is for; it decides the certificate's
// default names and key usages (ForRole).
type Role string

// The roles of `flotilla tls cert create`.
const (
	// RoleServer: a control-plane server. It serves the API and Raft and
	// is a client of the other servers.
	RoleServer Role = "server"
	// RoleAgent: a node agent. It serves its own API and is a client of
	// the servers.
	RoleAgent Role = "agent"
	// RoleCLI: a user's client (the CLI, a script, a browser).
	RoleCLI Role = "cli"
)

// DNSName is the role's name in every certificate of the role:
// server.flotilla, agent.flotilla, cli.flotilla. Servers check it on
// each other's certificates (a Raft peer must be a server).
func (r Role) DNSName() string { return string(r) + "." + Domain }

// CA is a certificate authority: its certificate and signing key.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte
}

// CAOptions say what CA to make; zero values take the defaults.
type CAOptions struct {
	// CommonName of the CA (default "Flotilla CA").
	CommonName string
	// Lifetime from now (default DefaultCALifetime).
	Lifetime time.Duration
}

// NewCA makes a new CA valid from now for opts.Lifetime.
func NewCA(opts CAOptions, now time.Time) (*CA, error) {
	if opts.CommonName == "" {
		opts.CommonName = "Flotilla CA"
	}
	if opts.Lifetime == 0 {
		opts.Lifetime = DefaultCALifetime
	}
	if opts.Lifetime < 0 {
		return nil, fmt.Errorf("CA lifetime %s: want a positive duration", opts.Lifetime)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	keyID, err := subjectKeyID(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: opts.CommonName, Organization: []string{"Flotilla"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(opts.Lifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // it signs leaves only
		SubjectKeyId:          keyID,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("sign CA certificate: %w", err)
	}
	return caFrom(der, key)
}

func caFrom(der []byte, key *ecdsa.PrivateKey) (*CA, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, CertPEM: encodeCert(der), KeyPEM: keyPEM}, nil
}

// LeafRequest says what leaf certificate to issue.
type LeafRequest struct {
	// CommonName is the subject's name (default the first DNS name).
	CommonName string
	// DNSNames and IPs are the names the certificate is valid for.
	DNSNames []string
	IPs      []netip.Addr
	// ServerAuth and ClientAuth are the extended key usages: serving TLS,
	// and presenting the certificate as a client. At least one.
	ServerAuth, ClientAuth bool
	// Lifetime from now (default DefaultLeafLifetime).
	Lifetime time.Duration
	// URIs are URI names (a workload's identity, as SPIFFE IDs are);
	// OrganizationalUnit, when set, goes into the subject.
	URIs               []*url.URL
	OrganizationalUnit string
}

// ForRole is the request for a role's certificate: the role's name
// (server.flotilla) and, for servers and agents, localhost and 127.0.0.1,
// then dnsNames and ips; servers and agents may serve and be clients, the
// CLI is a client only. lifetime 0 is DefaultLeafLifetime.
func ForRole(role Role, dnsNames []string, ips []netip.Addr, lifetime time.Duration) LeafRequest {
	r := LeafRequest{CommonName: role.DNSName(), DNSNames: []string{role.DNSName()}, ClientAuth: true, Lifetime: lifetime}
	if role != RoleCLI {
		r.ServerAuth = true
		r.DNSNames = append(r.DNSNames, "localhost")
		r.IPs = append(r.IPs, netip.AddrFrom4([4]byte{127, 0, 0, 1}))
	}
	for _, n := range dnsNames {
		if !slices.Contains(r.DNSNames, n) {
			r.DNSNames = append(r.DNSNames, n)
		}
	}
	for _, ip := range ips {
		if !slices.Contains(r.IPs, ip) {
			r.IPs = append(r.IPs, ip)
		}
	}
	return r
}

// KeyPair is an issued certificate and its private key.
type KeyPair struct {
	Cert    *x509.Certificate
	CertPEM []byte
	KeyPEM  []byte
}

// Issue signs a new leaf certificate, with a new key, valid from now for
// req.Lifetime (never past the CA's own end).
func (ca *CA) Issue(req LeafRequest, now time.Time) (*KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	cert, certPEM, err := ca.Sign(&key.PublicKey, req, now)
	if err != nil {
		return nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &KeyPair{Cert: cert, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// Sign signs a leaf certificate for a public key someone else holds the
// private key of (a certificate signing request's), valid from now for
// req.Lifetime (never past the CA's own end). The names are req's only.
func (ca *CA) Sign(pub crypto.PublicKey, req LeafRequest, now time.Time) (*x509.Certificate, []byte, error) {
	if len(req.DNSNames) == 0 && len(req.IPs) == 0 {
		return nil, nil, errors.New("issue certificate: no DNS name or IP address to issue it for")
	}
	if !req.ServerAuth && !req.ClientAuth {
		return nil, nil, errors.New("issue certificate: want server or client use (or both)")
	}
	if req.Lifetime == 0 {
		req.Lifetime = DefaultLeafLifetime
	}
	if req.Lifetime < 0 {
		return nil, nil, fmt.Errorf("certificate lifetime %s: want a positive duration", req.Lifetime)
	}
	if req.CommonName == "" {
		if len(req.DNSNames) > 0 {
			req.CommonName = req.DNSNames[0]
		} else {
			req.CommonName = req.IPs[0].String()
		}
	}
	notAfter := now.Add(req.Lifetime)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	if !notAfter.After(now) {
		return nil, nil, fmt.Errorf("issue certificate: the CA %q expired at %s", ca.Cert.Subject.CommonName, ca.Cert.NotAfter.Format(time.RFC3339))
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	subject := pkix.Name{CommonName: req.CommonName, Organization: []string{"Flotilla"}}
	if req.OrganizationalUnit != "" {
		subject.OrganizationalUnit = []string{req.OrganizationalUnit}
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		DNSNames:              req.DNSNames,
		URIs:                  req.URIs,
		AuthorityKeyId:        ca.Cert.SubjectKeyId,
	}
	if _, isRSA := pub.(*rsa.PublicKey); isRSA {
		// RSA key exchange of TLS 1.2 enciphers with the key.
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	for _, ip := range req.IPs {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.IP(ip.AsSlice()))
	}
	if req.ServerAuth {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if req.ClientAuth {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return cert, encodeCert(der), nil
}

// ParseCA reads a CA from its PEM certificate and key (as NewCA made them).
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := ParseCertificate(certPEM)
	if err != nil {
		return nil, err
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("certificate %q is not a CA", cert.Subject.CommonName)
	}
	key, err := ParsePrivateKey(keyPEM)
	if err != nil {
		return nil, err
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("the CA key does not belong to the CA certificate")
	}
	return &CA{Cert: cert, Key: key, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// ParseCertificate reads the first certificate of a PEM block list.
func ParseCertificate(data []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM certificate found")
		}
		if block.Type == "CERTIFICATE" {
			return x509.ParseCertificate(block.Bytes)
		}
	}
}

// Verify checks that cert chains to the CA at now and is valid for name
// (a DNS name or an IP address; "" skips the name) and for usage.
func (ca *CA) Verify(cert *x509.Certificate, name string, usage x509.ExtKeyUsage, now time.Time) error {
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	_, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage}})
	return err
}

// ParsePrivateKey reads the first private key of a PEM block list:
// PKCS #8 ("PRIVATE KEY"), SEC 1 ("EC PRIVATE KEY") or PKCS #1 ("RSA
// PRIVATE KEY"); ECDSA, RSA or Ed25519.
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM private key found")
		}
		switch block.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, err
			}
			signer, ok := k.(crypto.Signer)
			if !ok {
				return nil, fmt.Errorf("a %T key: want ECDSA, RSA or Ed25519", k)
			}
			return signer, nil
		case "EC PRIVATE KEY":
			return x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			return x509.ParsePKCS1PrivateKey(block.Bytes)
		}
	}
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// newSerial is a random 128-bit serial number, as RFC 5280 allows (at most
// 20 octets, positive).
func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil
}

// subjectKeyID is the SHA-256 of the public key, cut to 20 bytes.
func subjectKeyID(pub *ecdsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return sum[:20], nil
}
