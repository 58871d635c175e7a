package main

import (
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"flotilla/security/pki"
)

// Files `flotilla tls ca create` writes, and where `tls cert create`
// looks for them by default.
const (
	caCertFile = "flotilla-ca.pem"
	caKeyFile  = "flotilla-ca-key.pem"
)

func newTLSCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tls",
		Short: "Make the certificates of the cluster's mutual TLS: a CA, then servers', agents' and users' certificates",
		Long: `Make the certificates of the cluster's mutual TLS, as nomad tls does.

Every server and agent serves its API (and servers Raft) to clients with a
certificate of the cluster's CA only. Make the CA once, keep its key off the
cluster's machines, and issue each machine its certificates:

  flotilla tls ca create
  flotilla tls cert create --server --additional-ipaddress 10.0.0.11
  flotilla tls cert create --agent --additional-ipaddress 10.0.0.11
  flotilla tls cert create --cli

then start servers and agents with --tls-ca, --tls-cert and --tls-key, and
point clients at the cluster with FLOTILLA_CACERT, FLOTILLA_CLIENT_CERT and
FLOTILLA_CLIENT_KEY (or --ca-cert, --client-cert, --client-key).`,
	}
	ca := &cobra.Command{Use: "ca", Short: "Make the cluster's certificate authority"}
	ca.AddCommand(newTLSCACreateCmd())
	cert := &cobra.Command{Use: "cert", Short: "Issue certificates signed by the cluster's CA"}
	cert.AddCommand(newTLSCertCreateCmd())
	cmd.AddCommand(ca, cert)
	return cmd
}

func newTLSCACreateCmd() *cobra.Command {
	var dir, commonName string
	var days int
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Make a new CA: " + caCertFile + " and " + caKeyFile + " (ECDSA P-256; the key readable by its owner only)",
		Example: `  flotilla tls ca create
  flotilla tls ca create --dir /secure/flotilla --days 3650 --common-name "ACME cluster CA"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if days <= 0 {
				return fmt.Errorf("--days %d: want 1 or more", days)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("--dir: %w", err)
			}
			certPath, keyPath := filepath.Join(dir, caCertFile), filepath.Join(dir, caKeyFile)
			ca, err := pki.NewCA(pki.CAOptions{CommonName: commonName, Lifetime: time.Duration(days) * 24 * time.Hour}, time.Now())
			if err != nil {
				return err
			}
			if err := pki.WritePair(certPath, ca.CertPEM, keyPath, ca.KeyPEM); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "wrote %s (CA certificate %q, until %s)\n", certPath, ca.Cert.Subject.CommonName, ca.Cert.NotAfter.Format(time.DateOnly))
			fmt.Fprintf(out, "wrote %s (CA key: keep it secret and off the cluster's machines)\n", keyPath)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", ".", "directory to write the CA's files into")
	f.IntVar(&days, "days", int(pki.DefaultCALifetime/(24*time.Hour)), "days the CA is valid")
	f.StringVar(&commonName, "common-name", "Flotilla CA", "the CA's common name")
	return cmd
}

func newTLSCertCreateCmd() *cobra.Command {
	var server, agent, cli bool
	var dir, caPath, caKeyPath, name string
	var dnsNames, ipFlags []string
	var days int
	cmd := &cobra.Command{
		Use:   "create --server|--agent|--cli",
		Short: "Issue a server's, an agent's or a user's certificate: ROLE-N.pem and ROLE-N-key.pem (N the first number free)",
		Long: `Issue a certificate signed by the CA, and its key (readable by its owner only).

A server's certificate is valid for server.flotilla, localhost and 127.0.0.1,
an agent's for agent.flotilla, localhost and 127.0.0.1, a user's (--cli) for
cli.flotilla; add the names and addresses clients dial a server or agent at
with --additional-dnsname and --additional-ipaddress. Servers require
server.flotilla of each other (Raft, forwarded writes), so a certificate of
another role can never pose as a server.`,
		Example: `  flotilla tls cert create --server --additional-ipaddress 10.0.0.11 --additional-dnsname s1.example.com
  flotilla tls cert create --agent --additional-ipaddress 10.0.0.11 --dir tls/s1 --name agent
  flotilla tls cert create --cli --name alice`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var role pki.Role
			n := 0
			for _, r := range []struct {
				on   bool
				role pki.Role
			}{{server, pki.RoleServer}, {agent, pki.RoleAgent}, {cli, pki.RoleCLI}} {
				if r.on {
					role = r.role
					n++
				}
			}
			if n != 1 {
				return fmt.Errorf("want one of --server, --agent or --cli")
			}
			if days <= 0 {
				return fmt.Errorf("--days %d: want 1 or more", days)
			}
			if name != "" && (strings.ContainsAny(name, `/\`) || name == "." || name == "..") {
				return fmt.Errorf("--name %q: want a file name, without a directory (see --dir)", name)
			}
			var ips []netip.Addr
			for _, s := range ipFlags {
				ip, err := netip.ParseAddr(s)
				if err != nil {
					return fmt.Errorf("--additional-ipaddress %q: not an IP address", s)
				}
				ips = append(ips, ip.Unmap())
			}
			for _, d := range dnsNames {
				if d == "" || strings.ContainsAny(d, " \t/,:") {
					return fmt.Errorf("--additional-dnsname %q: not a DNS name", d)
				}
			}
			ca, err := pki.LoadCA(caPath, caKeyPath)
			if err != nil {
				return fmt.Errorf("%w (make one with flotilla tls ca create, or name it with --ca and --ca-key)", err)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("--dir: %w", err)
			}
			certPath, keyPath, err := leafPaths(dir, string(role), name)
			if err != nil {
				return err
			}
			kp, err := ca.Issue(pki.ForRole(role, dnsNames, ips, time.Duration(days)*24*time.Hour), time.Now())
			if err != nil {
				return err
			}
			if err := pki.WritePair(certPath, kp.CertPEM, keyPath, kp.KeyPEM); err != nil {
				return err
			}
			names := append([]string(nil), kp.Cert.DNSNames...)
			for _, ip := range kp.Cert.IPAddresses {
				names = append(names, ip.String())
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "wrote %s (%s certificate for %s, until %s)\n", certPath, role, strings.Join(names, ", "), kp.Cert.NotAfter.Format(time.DateOnly))
			fmt.Fprintf(out, "wrote %s (its key)\n", keyPath)
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&server, "server", false, "a server's certificate (server.flotilla)")
	f.BoolVar(&agent, "agent", false, "an agent's certificate (agent.flotilla)")
	f.BoolVar(&cli, "cli", false, "a user's certificate, for the CLI, scripts and browsers (cli.flotilla)")
	f.StringVar(&dir, "dir", ".", "directory to write the certificate and key into")
	f.StringVar(&caPath, "ca", caCertFile, "the CA's certificate")
	f.StringVar(&caKeyPath, "ca-key", caKeyFile, "the CA's key")
	f.StringSliceVar(&dnsNames, "additional-dnsname", nil, "another DNS name the certificate is valid for (repeatable)")
	f.StringSliceVar(&ipFlags, "additional-ipaddress", nil, "another IP address the certificate is valid for (repeatable)")
	f.IntVar(&days, "days", int(pki.DefaultLeafLifetime/(24*time.Hour)), "days the certificate is valid (never past the CA's end)")
	f.StringVar(&name, "name", "", "write NAME.pem and NAME-key.pem instead of ROLE-N.pem and ROLE-N-key.pem")
	return cmd
}

// leafPaths are the files a new certificate goes to: NAME.pem and
// NAME-key.pem, or ROLE-N.pem and ROLE-N-key.pem with N the first number
// for which neither exists.
func leafPaths(dir, role, name string) (cert, key string, err error) {
	if name != "" {
		return filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem"), nil
	}
	for n := 0; n < 10000; n++ {
		cert, key = filepath.Join(dir, fmt.Sprintf("%s-%d.pem", role, n)), filepath.Join(dir, fmt.Sprintf("%s-%d-key.pem", role, n))
		if !fileExists(cert) && !fileExists(key) {
			return cert, key, nil
		}
	}
	return "", "", fmt.Errorf("%s: no free %s-N.pem name: %w", dir, role, fs.ErrExist)
}

func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
