// rand.Seed seeds math/rand's global source again (Go 1.24 made it a
// no-op): `scenario run --virtual --seed N` seeds what hashicorp/raft and
// memberlist draw.
//
//go:debug randseednop=0

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"flotilla/api"
)

// globals are the flags every client command shares.
type globals struct {
	address string
	output  string
	tls     clientTLS // --ca-cert, --client-cert, --client-key (tls_flags.go)
	token   string    // --token (acl.go)
	stale   bool      // --stale, of the commands that only read (get, describe)
}

// staleFlag adds --stale to a command that only reads.
func (g *globals) staleFlag(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&g.stale, "stale", false, "let any server answer from its own state, which may be behind, even with no leader elected (a majority of the servers down)")
}

// client talks to the cluster; an attempt on a server that does not answer
// within 5s moves on to the next one.
func (g *globals) client() (*api.Client, error) {
	c, err := api.NewClient(g.address)
	if err != nil {
		return nil, err
	}
	c.AttemptTimeout = 5 * time.Second
	c.Stale = g.stale
	if err := g.tls.use(c); err != nil {
		return nil, err
	}
	g.useToken(c)
	return c, nil
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "flotilla",
		Short:         "A container orchestrator for clusters that do not run Kubernetes",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       readBuildVersion().String(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.PersistentFlags().StringVar(&g.address, "address", "", "server address(es), comma-separated (default $"+api.AddressEnv+" or "+api.DefaultAddress+")")
	root.PersistentFlags().StringVarP(&g.output, "output", "o", "table", "output format: table, json or yaml (get also takes wide)")
	g.tls.register(root.PersistentFlags())
	root.PersistentFlags().StringVar(&g.token, "token", "", "ACL token to send (default $"+api.TokenEnv+")")
	root.AddCommand(
		newServerCmd(),
		newStatusCmd(g),
		newApplyCmd(g),
		newExplainCmd(),
		newGetCmd(g),
		newDescribeCmd(g),
		newDeleteCmd(g),
		newFileObjectCmd(g, api.KindConfig), newFileObjectCmd(g, api.KindSecret), // files.go
		newScaleCmd(g),
		newRolloutCmd(g),
		newNodeCmd(g),
		newOperatorCmd(g),
		newBenchCmd(g),
		newAgentCmd(),
		newLabCmd(),
		newLogsCmd(g),
		newExecCmd(g),
		newEventsCmd(g),
		newLoadCmd(g),
		newScenarioCmd(g),
		newTopCmd(g),
		newWorkloadCmd(),
		newToolboxCmd(),
		newTLSCmd(),
		newVersionCmd(g),
		newACLCmd(g),
	)
	sayUsageOnBadArgs(root)
	rejectUnknownSubcommands(root)
	return root
}

// sayUsageOnBadArgs gives a command's argument errors its usage line:
// cobra's own ("accepts 2 arg(s), received 1") say nothing of what the
// arguments are.
func sayUsageOnBadArgs(root *cobra.Command) {
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		check := c.Args
		if check == nil || !c.Runnable() {
			return
		}
		c.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				return fmt.Errorf("%s: %v (usage: %s)", c.CommandPath(), err, c.UseLine())
			}
			return nil
		}
	}
	walk(root)
}

// rejectUnknownSubcommands makes every group command (one with
// subcommands and no Run of its own, the root included) refuse a first
// argument that names none of its subcommands, so that a typo in a script
// fails instead of printing help and exiting 0. Alone (or with --help) a
// group still prints its help.
func rejectUnknownSubcommands(root *cobra.Command) {
	// cobra adds its completion command, itself a group, only when the
	// root is executed: add it now so that it is walked too.
	root.InitDefaultCompletionCmd()
	if root.SuggestionsMinimumDistance <= 0 {
		root.SuggestionsMinimumDistance = 2 // cobra's default, which SuggestionsFor does not apply
	}
	usage := root.UsageFunc()
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !c.HasSubCommands() || c.Runnable() {
			return
		}
		if c.SuggestionsMinimumDistance <= 0 {
			c.SuggestionsMinimumDistance = root.SuggestionsMinimumDistance
		}
		// cobra checks Args only for a runnable command. Alone, the group
		// is sent to help by Args (pflag.ErrHelp), before any persistent
		// hook (bench's --cpuprofile) runs; RunE is never reached.
		c.Args = unknownSubcommand
		c.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
		// RunE makes cobra print "CMD [flags]" in the usage, as if the
		// group did something of its own: print it as before. Its
		// subcommands inherit the function, and keep their own usage.
		group := c
		c.SetUsageFunc(func(c *cobra.Command) error {
			if c != group {
				return usage(c)
			}
			runE := c.RunE
			c.RunE = nil
			defer func() { c.RunE = runE }()
			return usage(c)
		})
	}
	walk(root)
}

// unknownSubcommand is the Args of a group command, which a known
// subcommand never reaches: without arguments, help (exit 0); else an error
// with cobra's suggestions.
func unknownSubcommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return pflag.ErrHelp
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
	var names []string
	if args[0] != "" && !c.DisableSuggestions {
		for _, s := range c.SuggestionsFor(args[0]) {
			if q := strconv.Quote(s); !slices.Contains(names, q) {
				names = append(names, q)
			}
		}
	}
	switch len(names) {
	case 0:
		return fmt.Errorf("%s; see '%s --help'", msg, c.CommandPath())
	case 1:
		return fmt.Errorf("%s; did you mean %s?", msg, names[0])
	}
	return fmt.Errorf("%s; did you mean %s or %s?", msg, strings.Join(names[:len(names)-1], ", "), names[len(names)-1])
}

func main() {
	// Called as echo, cat, wget, ... (a symlink in the demo image): be that.
	if code, ok := runToolboxIfCalledAs(os.Args[0], os.Args[1:]); ok {
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		var exit silentExit
		if errors.As(err, &exit) {
			os.Exit(int(exit))
		}
		msg := oneLine(err)
		if errors.Is(err, api.ErrNoLeader) {
			// Said once here rather than by every command.
			msg += "; electing a leader needs a majority of the servers (flotilla status shows which answer; get and describe --stale read a server's own state)"
		}
		fmt.Fprintln(os.Stderr, "error: "+msg)
		os.Exit(1)
	}
}

// silentExit ends the program with a status and nothing printed: the
// command already said what there was to say (exec passes on the exit code
// of the command it ran).
type silentExit int

func (e silentExit) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// oneLine keeps errors on one line, as users read them.
func oneLine(err error) string {
	msg := err.Error()
	out := make([]rune, 0, len(msg))
	for _, r := range msg {
		if r == '\n' || r == '\r' {
			r = ' '
		}
		out = append(out, r)
	}
	return string(out)
}
