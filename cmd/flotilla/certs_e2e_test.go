package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/security/pki"
)

// TestReplicasGetCertificatesOfTheWorkloadCA is the check of
// certificates on a sim lab: a service with certificates finds, in every
// replica, a certificate that verifies against `operator ca show` for its
// DNS name, its key (mode 0400) and the CA; `operator ca set` refuses a
// key of another CA, takes a CA of one's own, and new replicas get
// certificates of it.
func TestReplicasGetCertificatesOfTheWorkloadCA(t *testing.T) {
	l := startNamedLab(t, "certs")
	dir := t.TempDir()
	spec := writeCLITestFile(t, dir, "web.yaml", `kind: Service
name: web
image: flotilla.local/demo:v1
replicas: 2
ports: [{name: http, port: 8080, protocol: http}]
certificates: [{name: tls, dnsNames: [web.default.svc.flotilla], path: /etc/tls}]
`)
	l.must("apply", "-f", spec)
	runningWeb := func() []*api.Allocation {
		var out []*api.Allocation
		for _, a := range l.allocs() {
			if a.Service == "web" && a.DesiredStatus == api.DesiredRun && a.Status == api.AllocRunning {
				out = append(out, a)
			}
		}
		return out
	}
	waitFor(t, 30*time.Second, "2 replicas of web running", func() bool { return len(runningWeb()) == 2 })

	// checkReplica reads a replica's files through exec and checks them
	// against the CA PEM.
	checkReplica := func(a *api.Allocation, caPEM string) {
		t.Helper()
		caCert, err := pki.ParseCertificate([]byte(caPEM))
		if err != nil {
			t.Fatalf("the CA: %v\n%s", err, caPEM)
		}
		crt := l.must("exec", a.ID, "--", "cat", "/etc/tls/tls.crt")
		cert, err := pki.ParseCertificate([]byte(crt))
		if err != nil {
			t.Fatalf("tls.crt of %s: %v\n%s", a.ID, err, crt)
		}
		if err := (&pki.CA{Cert: caCert}).Verify(cert, "web.default.svc.flotilla", x509.ExtKeyUsageServerAuth, time.Now()); err != nil {
			t.Fatalf("tls.crt of %s does not verify against the CA for web.default.svc.flotilla: %v", a.ID, err)
		}
		if err := (&pki.CA{Cert: caCert}).Verify(cert, "db.default.svc.flotilla", x509.ExtKeyUsageServerAuth, time.Now()); err == nil {
			t.Fatal("tls.crt verifies for another service's name")
		}
		if len(cert.URIs) != 1 || !strings.HasSuffix(cert.URIs[0].String(), "/alloc/"+a.ID) {
			t.Fatalf("URI names of %s: %v", a.ID, cert.URIs)
		}
		key := l.must("exec", a.ID, "--", "cat", "/etc/tls/tls.key")
		if _, err := tls.X509KeyPair([]byte(crt), []byte(key)); err != nil {
			t.Fatalf("tls.key of %s does not go with tls.crt: %v", a.ID, err)
		}
		if got := l.must("exec", a.ID, "--", "cat", "/etc/tls/ca.crt"); got != caPEM {
			t.Fatalf("ca.crt of %s is not the CA operator ca show prints", a.ID)
		}
		ls := l.must("exec", a.ID, "--", "ls", "-l", "/etc/tls")
		for _, line := range strings.Split(strings.TrimSpace(ls), "\n") {
			if strings.HasSuffix(line, " tls.key") && !strings.HasPrefix(line, "-r--------") {
				t.Fatalf("tls.key is not mode 0400:\n%s", ls)
			}
		}
		if !strings.Contains(ls, " tls.key") {
			t.Fatalf("ls -l /etc/tls:\n%s", ls)
		}
	}

	caPEM := l.must("operator", "ca", "show")
	var shown api.WorkloadCA
	if err := json.Unmarshal([]byte(l.must("operator", "ca", "show", "-o", "json")), &shown); err != nil || shown.Source != api.CASourceGenerated || shown.Certificate != caPEM {
		t.Fatalf("operator ca show -o json: %+v %v", shown, err)
	}
	for _, a := range runningWeb() {
		checkReplica(a, caPEM)
	}

	// operator ca set: a key of another CA is refused, naming the field.
	mine, err := pki.NewCA(pki.CAOptions{CommonName: "Lab Org CA"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewCA(pki.CAOptions{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certFile := writeCLITestFile(t, dir, "ca.pem", string(mine.CertPEM))
	wrongKey := writeCLITestFile(t, dir, "other-key.pem", string(other.KeyPEM))
	keyFile := writeCLITestFile(t, dir, "ca-key.pem", string(mine.KeyPEM))
	if out, err := l.run("operator", "ca", "set", "--cert", certFile, "--key", wrongKey); err == nil || !strings.Contains(out, "key: the CA key does not belong to the CA certificate") {
		t.Fatalf("set with another CA's key: %v\n%s", err, out)
	}
	if l.must("operator", "ca", "show") != caPEM {
		t.Fatal("a refused set changed the CA")
	}
	if out := l.must("operator", "ca", "set", "--cert", certFile, "--key", keyFile); !strings.Contains(out, "workload CA set") || !strings.Contains(out, "it replaces the CA "+shown.Fingerprint) {
		t.Fatalf("set:\n%s", out)
	}
	if got := l.must("operator", "ca", "show"); got != string(mine.CertPEM) {
		t.Fatalf("operator ca show after set:\n%s", got)
	}
	// A new replica gets a certificate of the new CA.
	before := map[string]bool{}
	for _, a := range runningWeb() {
		before[a.ID] = true
	}
	l.must("scale", "web", "3")
	var fresh *api.Allocation
	waitFor(t, 30*time.Second, "a third replica running", func() bool {
		for _, a := range runningWeb() {
			if !before[a.ID] {
				fresh = a
				return true
			}
		}
		return false
	})
	checkReplica(fresh, string(mine.CertPEM))
}
