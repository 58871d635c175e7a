package scheduler

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/internal/testutil"
	"flotilla/security/pki"
)

// waitWorkloadCA waits until the cluster's leader made the workload CA.
func waitWorkloadCA(t *testing.T, client *api.Client) *api.WorkloadCA {
	t.Helper()
	var ca *api.WorkloadCA
	eventually(t, 20*time.Second, "the workload CA", func() bool {
		got, err := client.WorkloadCA(context.Background())
		ca = got
		return err == nil
	})
	return ca
}

func TestTheFirstLeaderMakesTheWorkloadCAAndItsKeyIsSealedInRaftAndOnDisk(t *testing.T) {
	c, dir := keyringCluster(t)
	client := clientFor(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ca := waitWorkloadCA(t, client)
	if ca.Source != api.CASourceGenerated || !strings.Contains(ca.Certificate, "BEGIN CERTIFICATE") || strings.Contains(ca.Certificate, "PRIVATE KEY") {
		t.Fatalf("workload CA: %+v", ca)
	}
	cert, err := pki.ParseCertificate([]byte(ca.Certificate))
	if err != nil || !cert.IsCA {
		t.Fatalf("the CA bundle is no CA certificate: %v", err)
	}
	// Every server answers the same CA (public: a consistent read).
	for _, addr := range c.HTTPAddrs() {
		got, err := serverClient(t, addr).WorkloadCA(ctx)
		if err != nil || got.Fingerprint != ca.Fingerprint {
			t.Fatalf("CA from %s: %+v %v", addr, got, err)
		}
	}
	leader := waitLeader(t, c)
	stored := leader.store.Snapshot().WorkloadCA(nil)
	opened, err := leader.openWorkloadCA(stored)
	if err != nil {
		t.Fatal(err)
	}
	// A piece of the key's PEM body: in no state, snapshot or file.
	body := strings.Split(string(opened.KeyPEM), "\n")[1]
	var state bytes.Buffer
	if err := leader.store.Snapshot().Write(&state); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(state.Bytes(), []byte("PRIVATE KEY")) || bytes.Contains(state.Bytes(), []byte(body)) {
		t.Fatal("the state's snapshot holds the CA key in the clear")
	}
	if !bytes.Contains(state.Bytes(), []byte(ca.Fingerprint)) {
		t.Fatal("the state's snapshot holds no workload CA at all (the check above proves nothing)")
	}
	for _, s := range c.Servers() {
		if err := s.raft.Snapshot().Error(); err != nil {
			t.Fatalf("snapshot of %s: %v", s.Name(), err)
		}
	}
	if found := testutil.FilesHolding(t, dir, body); len(found) > 0 {
		t.Fatalf("the CA key is on disk in the clear in %v", found)
	}
	if found := testutil.FilesHolding(t, dir, "PRIVATE KEY"); len(found) > 0 {
		t.Fatalf("a PEM private key is on disk in %v", found)
	}

	// A keyring rotation seals it again under the new key, and every
	// server still opens it.
	r, err := client.KeyringRotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the CA sealed under the new key on every server", func() bool {
		for _, s := range c.Servers() {
			st := s.store.Snapshot().WorkloadCA(nil)
			if st == nil || st.KeyID != r.KeyID {
				return false
			}
		}
		return true
	})
	for _, s := range c.Servers() {
		got, err := s.openWorkloadCA(s.store.Snapshot().WorkloadCA(nil))
		if err != nil || !bytes.Equal(got.Cert.Raw, cert.Raw) {
			t.Fatalf("%s opens the resealed CA: %v", s.Name(), err)
		}
	}
	if again := waitWorkloadCA(t, client); again.Fingerprint != ca.Fingerprint {
		t.Fatalf("the rotation changed the CA: %s, was %s", again.Fingerprint, ca.Fingerprint)
	}
}

// csrFor makes a key and a CSR naming names.
func csrFor(t *testing.T, key any, names ...string) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "whatever"}, DNSNames: names}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func apiStatus(err error) (int, string) {
	var e *api.Error
	if errors.As(err, &e) {
		return e.Status, e.Field
	}
	return 0, ""
}

// certCluster is one server, two nodes and web (one replica, a
// certificate "tls") placed on one of them.
func certCluster(t *testing.T) (*LocalCluster, *api.Client, *api.Allocation) {
	t.Helper()
	c := startCluster(t, 1, nil)
	waitLeader(t, c)
	client := clientFor(t, c)
	ctx := context.Background()
	registerNodes(t, ctx, client, 2, api.Resources{CPU: 4000, Memory: 8 << 30})
	waitWorkloadCA(t, client)
	if _, err := client.ApplyService(ctx, webSpec(t, "web", 1, "certificates: [{name: tls, path: /etc/tls, dnsNames: [web.default.svc.flotilla, web]}]")); err != nil {
		t.Fatal(err)
	}
	var alloc *api.Allocation
	eventually(t, 20*time.Second, "web placed", func() bool {
		allocs, _, err := client.Allocations(ctx, api.AllocFilter{Namespace: "default", Service: "web"}, api.QueryOptions{})
		if err != nil || len(allocs) != 1 {
			return false
		}
		alloc = allocs[0]
		return true
	})
	return c, client, alloc
}

func TestIssuanceSignsTheSpecsNamesForTheAllocationsOwnNodeOnly(t *testing.T) {
	_, client, alloc := certCluster(t)
	ctx := context.Background()
	other := "n1"
	if alloc.Node == "n1" {
		other = "n2"
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// The CSR asks for another service's name and a foreign one: the
	// certificate has the spec's names only.
	csr := csrFor(t, key, "db.default.svc.flotilla", "evil.example")
	got, err := client.IssueCertificate(ctx, alloc.Node, alloc.ID, "tls", csr)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.ParseCertificate([]byte(got.Certificate))
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := pki.ParseCertificate([]byte(got.CA))
	if err != nil {
		t.Fatal(err)
	}
	ca := &pki.CA{Cert: caCert}
	now := time.Now()
	if err := ca.Verify(cert, "web.default.svc.flotilla", x509.ExtKeyUsageServerAuth, now); err != nil {
		t.Fatalf("the certificate does not verify for web.default.svc.flotilla: %v", err)
	}
	if err := ca.Verify(cert, "web", x509.ExtKeyUsageClientAuth, now); err != nil {
		t.Fatalf("the certificate does not verify for web as a client: %v", err)
	}
	for _, name := range []string{"db.default.svc.flotilla", "evil.example"} {
		if err := ca.Verify(cert, name, x509.ExtKeyUsageServerAuth, now); err == nil {
			t.Fatalf("the certificate verifies for %s, which the CSR asked for", name)
		}
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		t.Fatal("the certificate is not for the CSR's key")
	}
	if len(cert.URIs) != 1 || cert.URIs[0].String() != api.WorkloadURI("default", "web", alloc.ID) {
		t.Fatalf("URI names %v, want the allocation's", cert.URIs)
	}
	if life := cert.NotAfter.Sub(now); life < 23*time.Hour || life > 25*time.Hour {
		t.Fatalf("lifetime %s, want the default 24h", life)
	}

	// Refusals.
	rsaWeak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what               string
		node, id, cert     string
		csr                []byte
		wantStatus         int
		wantField, wantMsg string
	}{
		{"another node", other, alloc.ID, "tls", csr, http.StatusNotFound, "", "not placed on node " + other},
		{"no such allocation", alloc.Node, "nope", "tls", csr, http.StatusNotFound, "", "not placed"},
		{"a certificate the spec lacks", alloc.Node, alloc.ID, "other", csr, http.StatusNotFound, "", `no certificate "other"`},
		{"not a CSR", alloc.Node, alloc.ID, "tls", []byte("hello"), http.StatusBadRequest, "csr", "no PEM"},
		{"a certificate, not a CSR", alloc.Node, alloc.ID, "tls", []byte(got.Certificate), http.StatusBadRequest, "csr", "CERTIFICATE REQUEST"},
		{"a weak key", alloc.Node, alloc.ID, "tls", csrFor(t, rsaWeak, "web"), http.StatusBadRequest, "csr", "1024 bits"},
	} {
		_, err := client.IssueCertificate(ctx, tc.node, tc.id, tc.cert, tc.csr)
		status, field := apiStatus(err)
		if status != tc.wantStatus || field != tc.wantField || !strings.Contains(err.Error(), tc.wantMsg) {
			t.Errorf("%s: %d %q %v, want %d %q %q", tc.what, status, field, err, tc.wantStatus, tc.wantField, tc.wantMsg)
		}
	}
	// A tampered CSR (signature broken) is refused.
	block, _ := pem.Decode(csr)
	block.Bytes[len(block.Bytes)-3] ^= 0xff
	if _, err := client.IssueCertificate(ctx, alloc.Node, alloc.ID, "tls", pem.EncodeToMemory(block)); err == nil {
		t.Error("a CSR with a broken signature was signed")
	}
}

func TestIssuanceRouteIsStrictAndSizeLimited(t *testing.T) {
	c, _, alloc := certCluster(t)
	base := c.HTTPAddrs()[0] + "/v1/nodes/" + alloc.Node + "/allocations/" + alloc.ID + "/certificates/tls"
	post := func(body string) (int, string) {
		resp, err := http.Post(base, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	if status, body := post(`{"csr": "x", "names": ["evil"]}`); status != http.StatusBadRequest || !strings.Contains(body, "names") {
		t.Errorf("an unknown field: %d %s", status, body)
	}
	if status, body := post(`{}`); status != http.StatusBadRequest || !strings.Contains(body, `"field":"csr"`) {
		t.Errorf("no csr: %d %s", status, body)
	}
	if status, body := post(`{"csr": "` + strings.Repeat("A", api.MaxCSRBytes) + `"}`); status != http.StatusRequestEntityTooLarge {
		t.Errorf("an oversized CSR: %d %s", status, body)
	}
}

func TestOperatorCASetChecksTheCAAndItsKeyThenSignsWithIt(t *testing.T) {
	_, client, alloc := certCluster(t)
	ctx := context.Background()
	before := waitWorkloadCA(t, client)
	now := time.Now()
	mine, err := pki.NewCA(pki.CAOptions{CommonName: "My Org CA"}, now)
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewCA(pki.CAOptions{}, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := mine.Issue(pki.LeafRequest{DNSNames: []string{"x.example"}, ServerAuth: true}, now)
	if err != nil {
		t.Fatal(err)
	}
	expired, err := pki.NewCA(pki.CAOptions{Lifetime: time.Hour}, now.Add(-2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what       string
		cert, key  []byte
		wantField  string
		wantInText string
	}{
		{"not PEM", []byte("hello"), mine.KeyPEM, "certificate", "no PEM certificate"},
		{"a leaf, not a CA", leaf.CertPEM, leaf.KeyPEM, "certificate", "not a CA"},
		{"an expired CA", expired.CertPEM, expired.KeyPEM, "certificate", "expired"},
		{"another CA's key", mine.CertPEM, other.KeyPEM, "key", "does not belong"},
		{"no key", mine.CertPEM, []byte("nothing"), "key", "no PEM private key"},
		{"two certificates", append(append([]byte{}, mine.CertPEM...), other.CertPEM...), mine.KeyPEM, "certificate", "2 certificates"},
	} {
		_, err := client.SetWorkloadCA(ctx, api.SetWorkloadCARequest{Certificate: string(tc.cert), Key: string(tc.key)})
		status, field := apiStatus(err)
		if status != http.StatusBadRequest || field != tc.wantField || !strings.Contains(err.Error(), tc.wantInText) {
			t.Errorf("%s: %d %q %v, want 400 %q %q", tc.what, status, field, err, tc.wantField, tc.wantInText)
		}
		if got := waitWorkloadCA(t, client); got.Fingerprint != before.Fingerprint {
			t.Fatalf("%s changed the CA", tc.what)
		}
	}

	// An RSA CA of one's own is taken, and signs from then on.
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "My RSA CA"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &rsaKey.PublicKey, rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	rsaKeyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})
	resp, err := client.SetWorkloadCA(ctx, api.SetWorkloadCARequest{Certificate: string(rsaCert), Key: string(rsaKeyPEM)})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Previous != before.Fingerprint || resp.CA.Source != api.CASourceSupplied || !strings.Contains(resp.CA.Subject, "My RSA CA") {
		t.Fatalf("set: %+v", resp)
	}
	if shown := waitWorkloadCA(t, client); shown.Certificate != string(rsaCert) {
		t.Fatalf("ca show after set: %+v", shown)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	got, err := client.IssueCertificate(ctx, alloc.Node, alloc.ID, "tls", csrFor(t, key))
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := pki.ParseCertificate([]byte(got.Certificate))
	caCert, _ := pki.ParseCertificate(rsaCert)
	if err := (&pki.CA{Cert: caCert}).Verify(cert, "web.default.svc.flotilla", x509.ExtKeyUsageServerAuth, time.Now()); err != nil {
		t.Fatalf("a certificate issued after set does not verify against the supplied CA: %v", err)
	}
	if got.CA != string(rsaCert) {
		t.Fatal("the issuance's CA bundle is not the supplied CA")
	}
	if cert.NotAfter.After(caCert.NotAfter) {
		t.Fatal("a certificate outlives its CA")
	}
	u, _ := url.Parse(api.WorkloadURI("default", "web", alloc.ID))
	if len(cert.URIs) != 1 || *cert.URIs[0] != *u {
		t.Fatalf("URI names %v", cert.URIs)
	}
}
