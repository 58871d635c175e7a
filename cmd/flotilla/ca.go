package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"flotilla/api"
)

// newCACmd is `flotilla operator ca`: the workload CA, which signs the
// certificates services ask for (spec.certificates).
func newCACmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "Show or replace the workload CA, which signs services' certificates (spec.certificates)",
	}
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the workload CA's certificate (PEM): the bundle clients of services trust",
		Example: `  flotilla operator ca show > flotilla-workload-ca.pem
  curl --cacert flotilla-workload-ca.pem https://web.default.svc.flotilla:8443/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return fetchAndPrint(cmd, g, "workload CA", (*api.Client).WorkloadCA, func(w io.Writer, ca *api.WorkloadCA) error {
				_, err := fmt.Fprint(w, ca.Certificate)
				return err
			})
		},
	}
	var certFile, keyFile string
	set := &cobra.Command{
		Use:     "set --cert CA.pem --key CA-KEY.pem",
		Short:   "Replace the workload CA with your own (a CA certificate and its key); replicas get certificates of it as they renew",
		Example: `  flotilla operator ca set --cert my-ca.pem --key my-ca-key.pem`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if certFile == "" {
				return fmt.Errorf("--cert: required (the CA's certificate, PEM)")
			}
			if keyFile == "" {
				return fmt.Errorf("--key: required (the CA's private key, PEM)")
			}
			certPEM, err := os.ReadFile(certFile)
			if err != nil {
				return fmt.Errorf("--cert: %w", err)
			}
			keyPEM, err := os.ReadFile(keyFile)
			if err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			set := func(c *api.Client, ctx context.Context) (api.SetWorkloadCAResponse, error) {
				return c.SetWorkloadCA(ctx, api.SetWorkloadCARequest{Certificate: string(certPEM), Key: string(keyPEM)})
			}
			return fetchAndPrint(cmd, g, "set the workload CA", set, func(w io.Writer, resp api.SetWorkloadCAResponse) error {
				fmt.Fprintf(w, "workload CA set: %s (SHA-256 %s), valid until %s\n", resp.CA.Subject, resp.CA.Fingerprint, resp.CA.NotAfter.Format(time.RFC3339))
				if resp.Previous != "" && resp.Previous != resp.CA.Fingerprint {
					fmt.Fprintf(w, "it replaces the CA %s: replicas keep certificates of that one until they renew them, at two thirds of their lifetime (or new replicas start)\n", resp.Previous)
				}
				return nil
			})
		},
	}
	set.Flags().StringVar(&certFile, "cert", "", "the CA's certificate (PEM)")
	set.Flags().StringVar(&keyFile, "key", "", "the CA's private key (PEM: PKCS #8, EC or RSA)")
	cmd.AddCommand(show, set)
	return cmd
}
