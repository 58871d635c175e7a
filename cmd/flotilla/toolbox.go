package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"flotilla/runtime/toolbox"
)

// newToolboxCmd is the hidden `flotilla toolbox CMD ARGS...`: the
// busybox-style commands that `flotilla exec` runs in the demo image.
func newToolboxCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "toolbox COMMAND [ARGS...]",
		Short:              "Run a busybox-style command: " + strings.Join(toolbox.Commands(), ", "),
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 || args[0] == "--help" || args[0] == "-h" {
				fmt.Fprintf(cmd.OutOrStdout(), "Usage: flotilla toolbox COMMAND [ARGS...]\n\nCommands: %s\n", strings.Join(toolbox.Commands(), ", "))
				return nil
			}
			code := toolbox.Run(cmd.Context(), args, environ(), os.DirFS("/"), cmd.OutOrStdout(), cmd.ErrOrStderr())
			if code != 0 {
				return silentExit(code)
			}
			return nil
		},
	}
}

// runToolboxIfCalledAs is the multi-call entry: in the demo image /bin/echo
// and friends are symlinks to flotilla, so a process whose argv[0] names a
// toolbox command runs it (with the process's environment and the real
// root) and exits with its code; ok is false for any other name.
func runToolboxIfCalledAs(argv0 string, args []string) (code int, ok bool) {
	name := filepath.Base(argv0)
	if name == "flotilla" || !toolbox.Has(name) {
		return 0, false
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	argv := append([]string{name}, args...)
	return toolbox.Run(ctx, argv, environ(), os.DirFS("/"), os.Stdout, os.Stderr), true
}

// environ is the process's environment as a map.
func environ() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if name, value, ok := strings.Cut(kv, "="); ok {
			env[name] = value
		}
	}
	return env
}
