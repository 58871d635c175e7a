package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestACSRsKeyGetsACertificateWithTheSignersNamesOnly(t *testing.T) {
	ca := newCA(t)
	keyPEM, csrPEM, err := NewKeyAndCSR("asked.example")
	if err != nil {
		t.Fatal(err)
	}
	csr, err := ParseCSR(csrPEM)
	if err != nil {
		t.Fatal(err)
	}
	uri, _ := url.Parse("spiffe://flotilla/ns/default/svc/web/alloc/a1")
	cert, certPEM, err := ca.Sign(csr.PublicKey, LeafRequest{DNSNames: []string{"web.default.svc.flotilla"}, URIs: []*url.URL{uri}, ServerAuth: true, ClientAuth: true, Lifetime: time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Verify(cert, "web.default.svc.flotilla", x509.ExtKeyUsageServerAuth, now); err != nil {
		t.Fatal(err)
	}
	if err := ca.Verify(cert, "asked.example", x509.ExtKeyUsageServerAuth, now); err == nil {
		t.Fatal("the certificate verifies for the CSR's own name")
	}
	if err := ca.Verify(cert, "web.default.svc.flotilla", x509.ExtKeyUsageServerAuth, now.Add(2*time.Hour)); err == nil {
		t.Fatal("the certificate verifies past its lifetime")
	}
	key, err := ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !key.Public().(*ecdsa.PublicKey).Equal(cert.PublicKey) {
		t.Fatal("the certificate is not for the CSR's key")
	}
	if len(cert.URIs) != 1 || cert.URIs[0].String() != uri.String() || !strings.Contains(string(certPEM), "BEGIN CERTIFICATE") {
		t.Fatalf("URIs %v", cert.URIs)
	}
}

func TestParseCSRRefusals(t *testing.T) {
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, weak)
	if err != nil {
		t.Fatal(err)
	}
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	der224, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, p224)
	if err != nil {
		t.Fatal(err)
	}
	_, good, _ := NewKeyAndCSR("x")
	block, _ := pem.Decode(good)
	tampered := append([]byte{}, block.Bytes...)
	tampered[len(tampered)-2] ^= 0xff
	for _, tc := range []struct {
		what string
		data []byte
		want string
	}{
		{"not PEM", []byte("hello"), "no PEM block"},
		{"a key", newCA(t).KeyPEM, `"PRIVATE KEY" block`},
		{"two requests", append(append([]byte{}, good...), good...), "more than one"},
		{"a weak RSA key", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), "1024 bits"},
		{"a P-224 key", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der224}), "P-224"},
		{"a broken signature", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: tampered}), "signature"},
	} {
		if _, err := ParseCSR(tc.data); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.what, err, tc.want)
		}
	}
}

func TestParseCATakesRSAKeysAndRefusesAnotherCAsKey(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "RSA CA"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	ca, err := ParseCA(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.CheckSigning(now); err != nil {
		t.Fatal(err)
	}
	if err := ca.CheckSigning(now.Add(2 * time.Hour)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("an expired CA: %v", err)
	}
	leaf, err := ca.Issue(LeafRequest{DNSNames: []string{"a.example"}, ServerAuth: true}, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Verify(leaf.Cert, "a.example", x509.ExtKeyUsageServerAuth, now); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseCA(certPEM, newCA(t).KeyPEM); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Fatalf("another CA's key: %v", err)
	}
	noSign := *ca.Cert
	noSign.KeyUsage = x509.KeyUsageDigitalSignature
	if err := (&CA{Cert: &noSign}).CheckSigning(now); err == nil {
		t.Fatal("a CA whose key usage excludes signing certificates")
	}
}
