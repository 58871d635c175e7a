package main

import (
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/network/gossip"
	"flotilla/scheduler"
	"flotilla/security/pki"
	"flotilla/security/pki/pkitest"
)

// inDir runs fn with dir as the working directory.
func inDir(t *testing.T, dir string, fn func()) {
	t.Helper()
	old, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(old)
	fn()
}

// TestTLSCommandsMakeCertificatesThatVerifyForTheirNames: flotilla tls ca
// create and tls cert create (as nomad tls) write a CA and certificates
// that verify for the role's names and the additional ones only; keys
// are private; nothing is overwritten; bad flags change nothing.
func TestTLSCommandsMakeCertificatesThatVerifyForTheirNames(t *testing.T) {
	dir := t.TempDir()
	inDir(t, dir, func() {
		if out, err := runCLI(t, "", "tls", "ca", "create", "--days", "30"); err != nil || !strings.Contains(out, "wrote flotilla-ca.pem") {
			t.Fatalf("tls ca create: %v\n%s", err, out)
		}
		steps := [][]string{
			{"tls", "cert", "create", "--server", "--additional-ipaddress", "192.0.2.11", "--additional-dnsname", "s1.example.com"},
			{"tls", "cert", "create", "--server"},
			{"tls", "cert", "create", "--agent", "--additional-ipaddress", "192.0.2.11"},
			{"tls", "cert", "create", "--cli", "--name", "alice", "--days", "7"},
		}
		for _, args := range steps {
			if out, err := runCLI(t, "", args...); err != nil {
				t.Fatalf("%v: %v\n%s", args, err, out)
			}
		}
	})
	ca, err := pki.LoadCA(filepath.Join(dir, "flotilla-ca.pem"), filepath.Join(dir, "flotilla-ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(ca.Cert.NotAfter); d < 29*24*time.Hour || d > 31*24*time.Hour {
		t.Errorf("--days 30 made a CA valid for %s", d)
	}
	now := time.Now()
	cases := []struct {
		file         string
		valid, wrong []string
		usage        x509.ExtKeyUsage
	}{
		{"server-0.pem", []string{"server.flotilla", "localhost", "127.0.0.1", "192.0.2.11", "s1.example.com"}, []string{"192.0.2.12", "agent.flotilla"}, x509.ExtKeyUsageServerAuth},
		{"server-1.pem", []string{"server.flotilla", "127.0.0.1"}, []string{"192.0.2.11", "s1.example.com"}, x509.ExtKeyUsageServerAuth},
		{"agent-0.pem", []string{"agent.flotilla", "localhost", "127.0.0.1", "192.0.2.11"}, []string{"server.flotilla"}, x509.ExtKeyUsageServerAuth},
		{"alice.pem", []string{"cli.flotilla"}, []string{"server.flotilla", "127.0.0.1"}, x509.ExtKeyUsageClientAuth},
	}
	for _, c := range cases {
		data, err := os.ReadFile(filepath.Join(dir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		cert, err := pki.ParseCertificate(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range c.valid {
			if err := ca.Verify(cert, name, c.usage, now); err != nil {
				t.Errorf("%s for %s: %v", c.file, name, err)
			}
		}
		for _, name := range c.wrong {
			if ca.Verify(cert, name, c.usage, now) == nil {
				t.Errorf("%s verifies for %s", c.file, name)
			}
		}
		key := filepath.Join(dir, strings.TrimSuffix(c.file, ".pem")+"-key.pem")
		if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, want mode 0600", key, err)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "flotilla-ca-key.pem")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("CA key: %v, want mode 0600", err)
	}

	entries := func() int {
		es, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}
	before := entries()
	inDir(t, dir, func() {
		for _, bad := range []struct {
			args []string
			want string
		}{
			{[]string{"tls", "ca", "create"}, "flotilla-ca.pem already exists"},
			{[]string{"tls", "cert", "create"}, "want one of --server, --agent or --cli"},
			{[]string{"tls", "cert", "create", "--server", "--agent"}, "want one of --server, --agent or --cli"},
			{[]string{"tls", "cert", "create", "--server", "--additional-ipaddress", "192.0.2"}, "--additional-ipaddress"},
			{[]string{"tls", "cert", "create", "--server", "--days", "0"}, "--days"},
			{[]string{"tls", "cert", "create", "--cli", "--name", "alice"}, "alice.pem already exists"},
			{[]string{"tls", "cert", "create", "--cli", "--name", "../x"}, "--name"},
			{[]string{"tls", "cert", "create", "--cli", "--ca", "missing.pem"}, "make one with flotilla tls ca create"},
		} {
			_, err := runCLI(t, "", bad.args...)
			if err == nil || !strings.Contains(err.Error(), bad.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%v: %v, want a one-line error naming %q", bad.args, err, bad.want)
			}
		}
	})
	if after := entries(); after != before {
		t.Errorf("refused commands changed the directory: %d files, were %d", after, before)
	}
}

// TestCLIWithTLSEnvironmentTalksToATLSCluster: FLOTILLA_CACERT,
// FLOTILLA_CLIENT_CERT and FLOTILLA_CLIENT_KEY make every command speak
// HTTPS (a plain address becomes https://); without them the server's
// refusal says what to give.
func TestCLIWithTLSEnvironmentTalksToATLSCluster(t *testing.T) {
	ca := pkitest.New(t)
	c, err := scheduler.StartLocalCluster(t.TempDir(), 1, func(cfg *scheduler.Config) { cfg.TLS = ca.Mutual(pki.RoleServer) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	srv := c.Servers()[0]
	caFile, cert, key := ca.Files(t.TempDir(), pki.RoleCLI)

	_, err = runCLI(t, srv.HTTPAddr(), "status")
	if err == nil || !strings.Contains(err.Error(), "HTTPS only") || !strings.Contains(err.Error(), api.CACertEnv) {
		t.Fatalf("status without TLS files: %v, want a refusal naming $%s", err, api.CACertEnv)
	}
	t.Setenv(api.CACertEnv, caFile)
	t.Setenv(api.ClientCertEnv, cert)
	t.Setenv(api.ClientKeyEnv, key)
	waitFor(t, 20*time.Second, "status over TLS to name the leader", func() bool {
		out, err := runCLI(t, srv.HTTPAddr(), "status")
		return err == nil && strings.Contains(out, "Leader:  s1")
	})
	if out, err := runCLI(t, "http://"+srv.HTTPAddr(), "get", "nodes"); err != nil || !strings.Contains(out, "NAME") {
		t.Fatalf("get nodes with an http:// address and TLS files: %v\n%s", err, out)
	}
	// The flags override the environment; a half-given set is refused.
	t.Setenv(api.ClientKeyEnv, "")
	if _, err := runCLI(t, srv.HTTPAddr(), "status"); err == nil || !strings.Contains(err.Error(), "--client-key") {
		t.Fatalf("status without a client key: %v", err)
	}
	if out, err := runCLI(t, srv.HTTPAddr(), "--client-key", key, "status"); err != nil || !strings.Contains(out, "Leader:") {
		t.Fatalf("status with --client-key: %v\n%s", err, out)
	}
}

// TestServersAndAgentsRefuseToListenBeyondLoopbackWithoutTLS: secure by
// default. Without TLS files a server or agent listening on an address
// other than loopback is refused, naming the flag and --insecure, before
// anything is made; loopback (and --dev) need nothing; --insecure and TLS
// files together are refused.
func TestServersAndAgentsRefuseToListenBeyondLoopbackWithoutTLS(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"server", "--data-dir", data, "--http", "0.0.0.0:0"}, "--http 0.0.0.0:0 is not a loopback address"},
		{[]string{"server", "--data-dir", data, "--http", "127.0.0.1:0", "--raft", "192.0.2.1:0"}, "--raft 192.0.2.1:0"},
		{[]string{"server", "--dev", "--http", ":0"}, "--http :0"},
		{[]string{"agent", "--data-dir", data, "--http", "192.0.2.1:0"}, "--http 192.0.2.1:0"},
		// Gossip in the clear beyond loopback: anyone who reaches it joins.
		{[]string{"server", "--data-dir", data, "--http", "127.0.0.1:0", "--raft", "127.0.0.1:0", "--gossip", "0.0.0.0:0"},
			"--gossip 0.0.0.0:0 is not a loopback address: encrypt gossip with --gossip-key-file"},
		{[]string{"agent", "--data-dir", data, "--http", "127.0.0.1:0", "--gossip", "192.0.2.1:0"}, "--gossip 192.0.2.1:0 is not a loopback address"},
		{[]string{"server", "--data-dir", data, "--http", "0.0.0.0:0", "--insecure", "--tls-ca", "x.pem"}, "--insecure and --tls-ca"},
		{[]string{"agent", "--data-dir", data, "--tls-ca", filepath.Join(dir, "missing.pem"), "--tls-cert", "c", "--tls-key", "k"}, "--tls-ca"},
	} {
		_, err := runCLI(t, "", c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: %v, want a one-line error with %q", c.args, err, c.want)
		}
		if err != nil && strings.Contains(c.want, "loopback") && !strings.Contains(err.Error(), "--insecure") {
			t.Errorf("%v: %v does not name --insecure", c.args, err)
		}
		if _, err := os.Stat(data); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%v: a refused command made its data dir (%v)", c.args, err)
		}
	}
	// Encrypted gossip (a key, or a keyring saved in the data dir) may
	// listen anywhere.
	var g gossipKeyFlags
	if l := g.listener("0.0.0.0:4648", "", []byte("0123456789abcdef")); l != [2]string{} {
		t.Errorf("with a key, gossip is checked as a listener: %v", l)
	}
	keyring := filepath.Join(dir, "keyed")
	os.MkdirAll(keyring, 0o700)
	os.WriteFile(filepath.Join(keyring, gossip.KeyringFileName), []byte("[]"), 0o600)
	if l := g.listener("0.0.0.0:4648", keyring, nil); l != [2]string{} {
		t.Errorf("with a saved keyring, gossip is checked as a listener: %v", l)
	}
	if l := g.listener("0.0.0.0:4648", dir, nil); l != [2]string{"--gossip", "0.0.0.0:4648"} {
		t.Errorf("without a key, gossip is not checked: %v", l)
	}
	for _, ok := range []string{"127.0.0.1:4646", "localhost:4646", "[::1]:4646", "127.9.9.9:1"} {
		if !isLoopback(ok) {
			t.Errorf("%s is not taken for loopback", ok)
		}
	}
	for _, not := range []string{"0.0.0.0:4646", ":4646", "[::]:4646", "10.0.0.1:4646", "example.com:4646", "nonsense"} {
		if isLoopback(not) {
			t.Errorf("%s is taken for loopback", not)
		}
	}
}

// TestMissingTLSFilesAreAllNamed: with only the CA given (both other
// environment variables empty), the error names both missing files, not
// one as if the other had been given. The servers' and agents' flags say
// the same.
func TestMissingTLSFilesAreAllNamed(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(api.CACertEnv, filepath.Join(dir, "ca.pem"))
	t.Setenv(api.ClientCertEnv, "")
	t.Setenv(api.ClientKeyEnv, "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"status"}, "--client-cert ($FLOTILLA_CLIENT_CERT) and --client-key ($FLOTILLA_CLIENT_KEY) are required with --ca-cert ($FLOTILLA_CACERT)"},
		{[]string{"--client-key", "k.pem", "status"}, "--client-cert ($FLOTILLA_CLIENT_CERT) is required with --ca-cert ($FLOTILLA_CACERT) and --client-key ($FLOTILLA_CLIENT_KEY)"},
		{[]string{"agent", "--data-dir", filepath.Join(dir, "data"), "--tls-ca", "ca.pem"}, "--tls-cert and --tls-key are required with --tls-ca"},
		{[]string{"server", "--data-dir", filepath.Join(dir, "data"), "--tls-cert", "c.pem"}, "--tls-ca and --tls-key are required with --tls-cert"},
	} {
		_, err := runCLI(t, "", c.args...)
		if err == nil || err.Error() != c.want {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused command made its data dir (%v)", err)
	}
}
