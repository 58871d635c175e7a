package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"flotilla/api"
)

// clientTLS are a client's TLS files: --ca-cert, --client-cert and
// --client-key, each defaulting to its environment variable.
type clientTLS struct {
	caCert, clientCert, clientKey string
}

func (c *clientTLS) register(f *pflag.FlagSet) {
	f.StringVar(&c.caCert, "ca-cert", "", "CA certificate the servers' certificates chain to; with it, addresses are https:// (default $"+api.CACertEnv+")")
	f.StringVar(&c.clientCert, "client-cert", "", "client certificate to present to servers and agents (flotilla tls cert create --cli) (default $"+api.ClientCertEnv+")")
	f.StringVar(&c.clientKey, "client-key", "", "the client certificate's key (default $"+api.ClientKeyEnv+")")
}

// config is the client TLS the flags and environment name, nil when they
// name none.
func (c *clientTLS) config() (*tls.Config, error) {
	files := api.TLSFiles{CA: or(c.caCert, os.Getenv(api.CACertEnv)), Cert: or(c.clientCert, os.Getenv(api.ClientCertEnv)), Key: or(c.clientKey, os.Getenv(api.ClientKeyEnv))}
	if !files.IsSet() {
		return nil, nil
	}
	flags := [3]string{"--ca-cert ($" + api.CACertEnv + ")", "--client-cert ($" + api.ClientCertEnv + ")", "--client-key ($" + api.ClientKeyEnv + ")"}
	if err := missingTLSFiles(files, flags); err != nil {
		return nil, err
	}
	m, err := files.Load(flags)
	if err != nil {
		return nil, err
	}
	return m.ClientConfig(""), nil
}

// use makes c speak HTTPS with the client TLS, when there is one.
func (c *clientTLS) use(client *api.Client) error {
	cfg, err := c.config()
	if err != nil || cfg == nil {
		return err
	}
	client.UseTLS(cfg)
	return nil
}

// missingTLSFiles names every one of the three files that is missing
// when some are given (flags name them: CA, certificate, key), and what
// was given: "--client-cert and --client-key are required with --ca-cert",
// not only the first missing one as if the other had been given.
func missingTLSFiles(files api.TLSFiles, flags [3]string) error {
	var missing, given []string
	for i, v := range []string{files.CA, files.Cert, files.Key} {
		if v == "" {
			missing = append(missing, flags[i])
		} else {
			given = append(given, flags[i])
		}
	}
	switch {
	case len(missing) == 0 || len(given) == 0:
		return nil
	case len(missing) == 1:
		return fmt.Errorf("%s is required with %s", missing[0], strings.Join(given, " and "))
	}
	return fmt.Errorf("%s are required with %s", strings.Join(missing, " and "), strings.Join(given, " and "))
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// daemonTLS are a server's or agent's TLS flags: --tls-ca, --tls-cert,
// --tls-key, and --insecure to listen beyond loopback without them.
type daemonTLS struct {
	files    api.TLSFiles
	insecure bool
}

func (d *daemonTLS) register(f *pflag.FlagSet, what string) {
	f.StringVar(&d.files.CA, "tls-ca", "", "CA certificate: clients of "+what+" must present a certificate it signed (mutual TLS)")
	f.StringVar(&d.files.Cert, "tls-cert", "", "this process's certificate (flotilla tls cert create)")
	f.StringVar(&d.files.Key, "tls-key", "", "this process's certificate key")
	f.BoolVar(&d.insecure, "insecure", false, "listen on addresses other than loopback without TLS: anyone who reaches them controls the cluster")
}

// load reads the TLS files (nil without them) and refuses, naming the
// flag, a listener beyond loopback without TLS unless --insecure: listeners
// are flag-address pairs ("--http", "10.0.0.5:4646"; an empty address is
// no listener).
func (d *daemonTLS) load(listeners ...[2]string) (*api.MutualTLS, error) {
	if d.files.IsSet() {
		if d.insecure {
			return nil, fmt.Errorf("--insecure and --tls-ca, --tls-cert, --tls-key contradict each other: give one or the other")
		}
		flags := [3]string{"--tls-ca", "--tls-cert", "--tls-key"}
		if err := missingTLSFiles(d.files, flags); err != nil {
			return nil, err
		}
		return d.files.Load(flags)
	}
	if d.insecure {
		return nil, nil
	}
	for _, l := range listeners {
		switch {
		case l[1] == "" || isLoopback(l[1]):
		case l[0] == "--gossip":
			return nil, fmt.Errorf("--gossip %s is not a loopback address: encrypt gossip with --gossip-key-file (flotilla operator gossip keyring generate), or secure the cluster with --tls-ca, --tls-cert and --tls-key, or pass --insecure to gossip in the clear", l[1])
		default:
			return nil, fmt.Errorf("%s %s is not a loopback address: secure it with --tls-ca, --tls-cert and --tls-key (see flotilla tls), or pass --insecure to serve it without TLS", l[0], l[1])
		}
	}
	return nil, nil
}

// isLoopback says whether a listen address is on loopback only.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// streamClient is an HTTP client for c's servers outside the API client
// (the event stream): with c's TLS, if it has any.
func streamClient(c *api.Client) *http.Client {
	if c.TLS() == nil {
		return http.DefaultClient
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = c.TLS().Clone()
	return &http.Client{Transport: t}
}
