package toolbox

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"slices"
)

// Exit codes a shell would give.
const (
	ExitOK       = 0
	ExitFailure  = 1
	ExitUsage    = 2
	ExitNotFound = 127
	// ExitTerminated: the context ended a command (128 + SIGTERM).
	ExitTerminated = 143
)

// invocation is one command's view of the world.
type invocation struct {
	ctx            context.Context
	name           string
	args           []string
	env            map[string]string
	files          fs.FS
	stdout, stderr io.Writer
}

// errorf writes "NAME: message" to stderr and returns code.
func (inv *invocation) errorf(code int, format string, a ...any) int {
	fmt.Fprintf(inv.stderr, "%s: %s\n", inv.name, fmt.Sprintf(format, a...))
	return code
}

type command func(inv *invocation) int

var commands map[string]command

func init() {
	// Filled in init because env runs commands itself.
	commands = map[string]command{
		"echo":     runEcho,
		"env":      runEnv,
		"printenv": runPrintenv,
		"hostname": runHostname,
		"cat":      runCat,
		"ls":       runLs,
		"true":     func(*invocation) int { return ExitOK },
		"false":    func(*invocation) int { return ExitFailure },
		"sleep":    runSleep,
		"wget":     runWget,
		"fetch":    runFetch,
		"nslookup": runNslookup,
		"sh":       runSh,
	}
}

// Has reports whether name is a toolbox command.
func Has(name string) bool {
	_, ok := commands[name]
	return ok
}

// Commands lists the command names, sorted.
func Commands() []string {
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Run runs args[0] with args[1:] and returns its exit code. env is the
// command's environment, files its file system (absolute paths are taken
// from its root). An unknown command gives 127 and "NAME: command not found".
func Run(ctx context.Context, args []string, env map[string]string, files fs.FS, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "toolbox: no command given")
		return ExitNotFound
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "%s: command not found\n", args[0])
		return ExitNotFound
	}
	if env == nil {
		env = map[string]string{}
	}
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	return cmd(&invocation{ctx: ctx, name: args[0], args: args[1:], env: env, files: files, stdout: stdout, stderr: stderr})
}
