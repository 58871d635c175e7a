package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"flotilla/runtime/workload"
)

const workloadLong = `Runs the demo HTTP app: the demo image's entrypoint, and what the sim
runtime runs in process. GET / answers {"version","node","allocation","hostname"};
/healthz, /ready and /metrics are there for probes and scrapes; the flags and
POST /admin/{readiness,liveness,errors,latency,crash} make it slow, flaky,
unready, dead or crashing on purpose. SIGTERM stops it gracefully (after
--shutdown-delay); SIGHUP, SIGUSR1 and SIGUSR2 are logged (a config
reloaded by signal); a crash exits with code 1. Logs go to stderr.`

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
			// A config reloaded by signal (configs[].reload: signal)
			// sends one: the demo app has nothing to reload, but says
			// so rather than die of it (Go's default for SIGHUP).
			reloads := make(chan os.Signal, 4)
			signal.Notify(reloads, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
			defer signal.Stop(reloads)
			go func() {
				for sig := range reloads {
					fmt.Fprintf(cmd.ErrOrStderr(), "flotilla workload: received %s (configs reloaded)\n", unix.SignalName(sig.(syscall.Signal)))
				}
			}()
			err = workload.New(cfg, cmd.ErrOrStderr()).Run(cmd.Context(), nil)
			var exit *workload.ExitError
			if errors.As(err, &exit) {
				return silentExit(exit.Code) // the crash is in the log already
			}
			return err
		},
	}
}
