package toolbox

import (
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// echo [-n] ARGS...
func runEcho(inv *invocation) int {
	args, newline := inv.args, "\n"
	if len(args) > 0 && args[0] == "-n" {
		args, newline = args[1:], ""
	}
	inv.stdout.Write([]byte(strings.Join(args, " ") + newline))
	return ExitOK
}

// env [NAME=VALUE...] [COMMAND ARGS...]: print the environment, or run a
// command with some variables added.
func runEnv(inv *invocation) int {
	env := maps.Clone(inv.env)
	args := inv.args
	for len(args) > 0 {
		name, value, ok := strings.Cut(args[0], "=")
		if !ok || name == "" {
			break
		}
		env[name] = value
		args = args[1:]
	}
	if len(args) > 0 {
		return Run(inv.ctx, args, env, inv.files, inv.stdout, inv.stderr)
	}
	printEnv(inv, env)
	return ExitOK
}

func printEnv(inv *invocation, env map[string]string) {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(env)) {
		b.WriteString(name + "=" + env[name] + "\n")
	}
	inv.stdout.Write([]byte(b.String()))
}

// printenv [NAME...]: print values; 1 if one is not set.
func runPrintenv(inv *invocation) int {
	if len(inv.args) == 0 {
		printEnv(inv, inv.env)
		return ExitOK
	}
	code := ExitOK
	for _, name := range inv.args {
		v, ok := inv.env[name]
		if !ok {
			code = ExitFailure
			continue
		}
		inv.stdout.Write([]byte(v + "\n"))
	}
	return code
}

// hostname: $HOSTNAME, which runtimes set to the container's name, else the
// machine's.
func runHostname(inv *invocation) int {
	name := inv.env["HOSTNAME"]
	if name == "" {
		var err error
		if name, err = os.Hostname(); err != nil {
			return inv.errorf(ExitFailure, "%v", err)
		}
	}
	inv.stdout.Write([]byte(name + "\n"))
	return ExitOK
}

// sleep D: D in seconds ("1", "0.5") or as a duration ("1s", "250ms").
func runSleep(inv *invocation) int {
	if len(inv.args) != 1 {
		return inv.errorf(ExitUsage, "usage: sleep SECONDS|DURATION")
	}
	d, err := parseSleep(inv.args[0])
	if err != nil {
		return inv.errorf(ExitUsage, "invalid time interval %q", inv.args[0])
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return ExitOK
	case <-inv.ctx.Done():
		return ExitTerminated
	}
}

func parseSleep(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f < 0 || f > 1e9 {
			return 0, strconv.ErrRange
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, strconv.ErrSyntax
	}
	return d, nil
}
