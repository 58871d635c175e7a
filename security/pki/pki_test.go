package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"flotilla/api"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newCA(t *testing.T) *CA {
	t.Helper()
	ca, err := NewCA(CAOptions{}, now)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestRoleCertificatesVerifyForTheirNamesOnly(t *testing.T) {
	ca := newCA(t)
	extraIP := netip.MustParseAddr("192.0.2.7")
	cases := []struct {
		role      Role
		valid     []string
		invalid   []string
		serverUse bool
	}{
		{RoleServer, []string{"server.flotilla", "localhost", "127.0.0.1", "s1.example", "192.0.2.7"}, []string{"agent.flotilla", "192.0.2.8", "other.example"}, true},
		{RoleAgent, []string{"agent.flotilla", "localhost", "127.0.0.1", "s1.example", "192.0.2.7"}, []string{"server.flotilla", "cli.flotilla"}, true},
		{RoleCLI, []string{"cli.flotilla", "s1.example", "192.0.2.7"}, []string{"server.flotilla", "localhost", "127.0.0.1"}, false},
	}
	for _, c := range cases {
		t.Run(string(c.role), func(t *testing.T) {
			kp, err := ca.Issue(ForRole(c.role, []string{"s1.example"}, []netip.Addr{extraIP}, 0), now)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range c.valid {
				if err := ca.Verify(kp.Cert, name, x509.ExtKeyUsageClientAuth, now); err != nil {
					t.Errorf("%s certificate for %s: %v", c.role, name, err)
				}
			}
			for _, name := range c.invalid {
				if err := ca.Verify(kp.Cert, name, x509.ExtKeyUsageClientAuth, now); err == nil {
					t.Errorf("%s certificate verifies for %s", c.role, name)
				}
			}
			err = ca.Verify(kp.Cert, "", x509.ExtKeyUsageServerAuth, now)
			if c.serverUse != (err == nil) {
				t.Errorf("%s certificate for serving: %v, want allowed=%v", c.role, err, c.serverUse)
			}
			if _, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM); err != nil {
				t.Errorf("key pair: %v", err)
			}
		})
	}
}

func TestCertificateOfAnotherCAOrOutOfDateIsRefused(t *testing.T) {
	ca, other := newCA(t), newCA(t)
	kp, err := other.Issue(ForRole(RoleServer, nil, nil, 0), now)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Verify(kp.Cert, "server.flotilla", x509.ExtKeyUsageServerAuth, now); err == nil {
		t.Fatal("a certificate of another CA verifies")
	}
	kp, err = ca.Issue(ForRole(RoleServer, nil, nil, time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Verify(kp.Cert, "server.flotilla", x509.ExtKeyUsageServerAuth, now.Add(59*time.Minute)); err != nil {
		t.Fatalf("within its hour: %v", err)
	}
	if err := ca.Verify(kp.Cert, "server.flotilla", x509.ExtKeyUsageServerAuth, now.Add(61*time.Minute)); err == nil {
		t.Fatal("an expired certificate verifies")
	}
}

func TestLeafNeverOutlivesItsCA(t *testing.T) {
	ca, err := NewCA(CAOptions{Lifetime: 24 * time.Hour, CommonName: "lab CA"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if ca.Cert.Subject.CommonName != "lab CA" || !ca.Cert.IsCA {
		t.Fatalf("CA subject %q, IsCA %v", ca.Cert.Subject.CommonName, ca.Cert.IsCA)
	}
	kp, err := ca.Issue(ForRole(RoleAgent, nil, nil, 0), now)
	if err != nil {
		t.Fatal(err)
	}
	if !kp.Cert.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Fatalf("leaf ends %s, CA %s", kp.Cert.NotAfter, ca.Cert.NotAfter)
	}
	if _, err := ca.Issue(ForRole(RoleAgent, nil, nil, 0), now.Add(48*time.Hour)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("issue from an expired CA: %v", err)
	}
}

func TestIssueRefusesARequestWithoutNamesOrUse(t *testing.T) {
	ca := newCA(t)
	if _, err := ca.Issue(LeafRequest{ClientAuth: true}, now); err == nil {
		t.Fatal("issued a certificate with no name")
	}
	if _, err := ca.Issue(LeafRequest{DNSNames: []string{"x"}}, now); err == nil {
		t.Fatal("issued a certificate for no use")
	}
	if _, err := NewCA(CAOptions{Lifetime: -time.Hour}, now); err == nil {
		t.Fatal("made a CA with a negative lifetime")
	}
}

func TestCAReadBackFromFiles(t *testing.T) {
	ca := newCA(t)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	if err := WritePair(cert, ca.CertPEM, key, ca.KeyPEM); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]os.FileMode{cert: 0o644, key: 0o600} {
		st, err := os.Stat(file)
		if err != nil || st.Mode().Perm() != want {
			t.Fatalf("%s: mode %v (%v), want %v", file, st.Mode().Perm(), err, want)
		}
	}
	loaded, err := LoadCA(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := loaded.Issue(ForRole(RoleCLI, nil, nil, 0), now)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Verify(kp.Cert, "cli.flotilla", x509.ExtKeyUsageClientAuth, now); err != nil {
		t.Fatalf("a certificate of the CA read back: %v", err)
	}
	if err := WritePair(cert, ca.CertPEM, filepath.Join(dir, "new-key.pem"), ca.KeyPEM); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("WritePair over an existing file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "new-key.pem")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a refused WritePair wrote the key")
	}
	other := newCA(t)
	if _, err := ParseCA(ca.CertPEM, other.KeyPEM); err == nil {
		t.Fatal("ParseCA took another CA's key")
	}
	if _, err := ParseCA(kp.CertPEM, kp.KeyPEM); err == nil {
		t.Fatal("ParseCA took a leaf certificate")
	}
}

// The servers check the name pki puts in servers' certificates.
func TestServerRoleNameIsTheAPIs(t *testing.T) {
	if RoleServer.DNSName() != api.ServerTLSName {
		t.Fatalf("pki %q, api %q", RoleServer.DNSName(), api.ServerTLSName)
	}
}
