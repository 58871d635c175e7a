package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"flotilla/api"
	"flotilla/scenarios/lab"
	"flotilla/scenarios/scenario"
)

// labTLSFlags are lab up's --tls and --insecure.
type labTLSFlags struct {
	tls, insecure bool
}

func (f *labTLSFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&f.tls, "tls", false, "secure the lab with mutual TLS: a CA and certificates of its own in the lab's directory, which lab env exports (default on for --runtime containerd, off for sim)")
	fs.BoolVar(&f.insecure, "insecure", false, "no TLS, also for --runtime containerd (the same as --tls=false)")
}

// want says whether the lab gets TLS: as --tls says, else on for a
// containerd lab (its nodes listen beyond loopback) and off for sim.
func (f *labTLSFlags) want(cmd *cobra.Command, runtime string) (bool, error) {
	set := cmd.Flags().Changed("tls")
	if f.insecure {
		if set && f.tls {
			return false, fmt.Errorf("--tls and --insecure contradict each other: give one or the other")
		}
		return false, nil
	}
	if set {
		return f.tls, nil
	}
	return runtime == "containerd", nil
}

// printLabTLS adds the TLS exports to lab up's "Next:".
func printLabTLS(out io.Writer, l *lab.Lab) {
	if l.TLS == nil {
		return
	}
	fmt.Fprintf(out, "  export %s=%s %s=%s %s=%s   # the lab's CA and client certificate (or: eval \"$(flotilla lab env)\")\n",
		api.CACertEnv, l.TLS.CA, api.ClientCertEnv, l.TLS.Cert, api.ClientKeyEnv, l.TLS.Key)
}

// scenarioClient is a scenario run's client: of its own lab, with the
// lab's certificate when the lab has TLS, or of the cluster at address,
// with the CLI's TLS flags.
func scenarioClient(g *globals, address string, own scenario.Lab) (*api.Client, error) {
	if l, ok := own.(*scenario.OwnLab); ok && l != nil {
		return l.Client()
	}
	client, err := api.NewClient(address)
	if err != nil {
		return nil, err
	}
	if err := g.tls.use(client); err != nil {
		return nil, err
	}
	return client, nil
}
