package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"flotilla/runtime/workload"
)

const workloadLong = `Runs the demo HTTP app: the demo image's entrypoint, and what the sim
runtime runs in process. GET / answers {"version","node","allocation","hostname"};
/healthz, /ready and /metrics are there for probes and scrapes; the flags and
POST /admin/{readiness,liveness,errors,latency,crash} make it slow, flaky,
unready, dead or crashing on purpose. SIGTERM stops it gracefully (after
--shutdown-delay); a crash exits with code 1. Logs go to stderr.`

// newWorkloadCmd is `flotilla workload [--version v1 ...]`. Its flags are
// the workload's own (workload.ParseArgs, shared with the sim runtime), so
// cobra hands the arguments over unparsed.
func newWorkloadCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "workload [--version v1 ...]",
		Short:              "Run the demo HTTP app",
		Long:               workloadLong,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := workload.ParseArgs(args, environ())
			if errors.Is(err, workload.ErrHelp) {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\n\nUsage:\n  flotilla workload [flags]\n\nFlags:\n%s", workloadLong, workload.Usage())
				return nil
			}
			if err != nil {
				return fmt.Errorf("workload: %w", err)
			}
			err = workload.New(cfg, cmd.ErrOrStderr()).Run(cmd.Context(), nil)
			var exit *workload.ExitError
			if errors.As(err, &exit) {
				return silentExit(exit.Code) // the crash is in the log already
			}
			return err
		},
	}
}
