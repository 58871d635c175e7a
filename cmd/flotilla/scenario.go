package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"flotilla/api"
	"flotilla/internal/text"
	"flotilla/scenarios/library"
	"flotilla/scenarios/scenario"
)

func newScenarioCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scenario",
		Short: "Teaching scenarios: a cluster, something done to it, narrated and checked",
		Long: `A scenario is a script that builds a cluster, does something to it (apply,
load, kill a node, crash a replica, roll out, scale), narrates what happens
and checks that it happened. The library's scenarios are built in (list,
show); run also takes a file of your own.`,
	}
	cmd.AddCommand(newScenarioListCmd(g), newScenarioShowCmd(), newScenarioRunCmd(g))
	return cmd
}

func newScenarioListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the library's scenarios and what each teaches",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(g.output); err != nil {
				return err
			}
			type entry struct {
				Name    string `json:"name"`
				Title   string `json:"title"`
				Teaches string `json:"teaches"`
				Steps   int    `json:"steps"`
			}
			var list []entry
			for _, name := range library.Names() {
				sc, err := library.Load(name)
				if err != nil {
					return err
				}
				list = append(list, entry{Name: name, Title: sc.Title, Teaches: strings.TrimSpace(sc.Teaches), Steps: len(sc.Steps)})
			}
			if g.output != "table" {
				return printObject(cmd.OutOrStdout(), g.output, list)
			}
			t := newTable(cmd.OutOrStdout(), "NAME", "STEPS", "TITLE")
			for _, e := range list {
				t.row(e.Name, fmt.Sprint(e.Steps), e.Title)
			}
			return t.flush()
		},
	}
}

func newScenarioShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Print a library scenario's file",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, err := library.Load(args[0])
			if err != nil {
				return err
			}
			_, err = io.WriteString(cmd.OutOrStdout(), sc.Text)
			return err
		},
	}
}

// scenarioRunOptions are the flags of scenario run.
type scenarioRunOptions struct {
	keep    bool
	virtual bool
	seed    uint64
	log     string
	dns     string
}

func newScenarioRunCmd(g *globals) *cobra.Command {
	var o scenarioRunOptions
	cmd := &cobra.Command{
		Use:   "run NAME|FILE",
		Short: "Run a scenario in a lab of its own (or on --address), narrating and checking every step",
		Long: `Run a scenario of the library (by name) or a file. Without --address it
starts the lab the scenario asks for, in a temporary directory on a free
block of ports, and tears it down at the end, whatever happened (Ctrl-C,
SIGTERM or a hangup too), unless --keep. With --address it plays on that
cluster, and only on services it creates: it refuses to start, changing
nothing, when a service the scenario applies exists there already (or when
a step deletes, scales, rolls out or injects a fault into a service the
scenario does not apply), and at the end deletes the services it created,
and no others (unless --keep). Each step is printed as it happens with the cluster time since the
start, and so are the cluster's events; the exit status is non-zero when a
step fails, naming it, what was expected and what was seen.`,
		Example: `  flotilla scenario run node-loss
  flotilla scenario run my-scenario.yaml --keep
  flotilla scenario run rollout-canary -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScenario(cmd, g, &o, args[0])
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.keep, "keep", false, "leave the lab running at the end (it says how to reach and stop it); with --address, leave the services the run created")
	f.BoolVar(&o.virtual, "virtual", false, "run the lab in this process in virtual time: an hour of cluster time in seconds, the same story for the same --seed")
	f.Uint64Var(&o.seed, "seed", 1, "with --virtual: the seed every random choice of the run derives from (1 or more): the same seed, the same trace")
	f.StringVar(&o.log, "log", "", "with --virtual: write the servers' and agents' logs to this file")
	f.StringVar(&o.dns, "dns", "", "with --address: the cluster's DNS server, HOST:PORT, for dns conditions (default $FLOTILLA_DNS_ADDR)")
	return cmd
}

// loadScenario reads a library scenario by name, or a file.
func loadScenario(arg string) (*scenario.Scenario, error) {
	if strings.ContainsRune(arg, os.PathSeparator) || strings.HasSuffix(arg, ".yaml") || strings.HasSuffix(arg, ".yml") {
		data, err := os.ReadFile(arg)
		if err != nil {
			return nil, err
		}
		return scenario.Parse(filepath.Base(arg), data, os.DirFS(filepath.Dir(arg)), ".")
	}
	return library.Load(arg)
}

func runScenario(cmd *cobra.Command, g *globals, o *scenarioRunOptions, arg string) (err error) {
	if !o.virtual && (cmd.Flags().Changed("seed") || o.log != "") {
		return errors.New("--seed and --log go with --virtual")
	}
	if o.seed == 0 {
		return errors.New("--seed: 0 is not a seed; give 1 or more")
	}
	if o.virtual && g.address != "" {
		return errors.New("--virtual runs the scenario's lab in this process; it cannot play on --address")
	}
	if g.output != "table" && g.output != "json" {
		return fmt.Errorf("--output %q: scenario run prints table (lines as it goes) or json (one object per line)", g.output)
	}
	sc, err := loadScenario(arg)
	if err != nil {
		return err
	}
	// A hangup (the terminal closed) ends the run as Ctrl-C and SIGTERM
	// do (main), tearing its lab down. Only here: other commands (the
	// demo app) take SIGHUP to mean something else.
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGHUP)
	defer stop()
	out := cmd.OutOrStdout()
	var report scenario.Reporter = &scenario.TextReporter{W: out, Colour: loadIsTerminal(out) && os.Getenv("NO_COLOR") == ""}
	if g.output == "json" {
		report = &scenario.JSONReporter{W: out}
	}
	if o.virtual {
		return runVirtual(ctx, o, sc, report, cmd.ErrOrStderr())
	}
	r := &scenario.Runner{Report: report}
	address := g.address
	if address == "" {
		if err := sc.CheckOwnLab(); err != nil {
			return err // before a lab starts for nothing
		}
		bin, err := os.Executable()
		if err != nil {
			return err
		}
		if g.output == "table" {
			fmt.Fprintf(out, "starting a lab: %s, %s (%s)...\n", text.Count(sc.Lab.Servers, "server"), text.Count(sc.Lab.Agents, "agent"), sc.Lab.Runtime)
		}
		l, err := scenario.StartLab(ctx, sc.Lab, labName(sc.Name), bin)
		if err != nil {
			return err
		}
		defer func() {
			if o.keep {
				printKeptLab(cmd.ErrOrStderr(), l)
				return
			}
			if derr := l.Teardown(); derr != nil {
				err = errors.Join(err, fmt.Errorf("tear the lab down: %w", derr))
			}
		}()
		address, r.Lab, r.DNS, r.Where = l.Addresses(), l, l.DNS(), l.Describe()
	} else {
		r.DNS = o.dns
		if r.DNS == "" {
			r.DNS = os.Getenv("FLOTILLA_DNS_ADDR")
		}
		r.Where = "cluster at " + address
		// Someone else's cluster: the run refuses to start when a service
		// it applies exists already, and at the end deletes those it
		// created, and only those (unless --keep).
		r.Shared, r.Keep = true, o.keep
	}
	client, err := scenarioClient(g, address, r.Lab)
	if err != nil {
		return err
	}
	client.AttemptTimeout = 5 * time.Second
	g.useToken(client)
	r.Cluster = client
	if err := r.Check(sc); err != nil {
		return err
	}
	return r.Run(ctx, sc)
}

// labName is the lab's name for a scenario: its own when it is a valid
// name, else "scenario".
func labName(name string) string {
	if api.ValidateName("lab", name) == nil {
		return name
	}
	return "scenario"
}

// printKeptLab says how to reach and stop a lab --keep left running.
func printKeptLab(w io.Writer, l *scenario.OwnLab) {
	self := os.Args[0]
	fmt.Fprintf(w, "\nThe lab is still running (--keep). To use it:\n")
	fmt.Fprintf(w, "  export FLOTILLA_LAB_DIR=%s FLOTILLA_LAB=%s\n", l.Root, l.Name)
	fmt.Fprintf(w, "  eval \"$(%s lab env)\"\n", self)
	fmt.Fprintf(w, "  %s get allocs\n", self)
	fmt.Fprintf(w, "To stop it and remove its directory:\n")
	fmt.Fprintf(w, "  %s lab down --dir %s --name %s && rm -rf %s\n", self, l.Root, l.Name, l.Root)
}
