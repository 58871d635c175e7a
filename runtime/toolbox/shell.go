package toolbox

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// The toolbox shell: enough of sh for `flotilla exec ALLOC -- sh -c '...'`.
// It runs command lists (;, newlines, && and ||) of toolbox commands, with
// quoting ('...', "...", \), $NAME, ${NAME}, ${NAME:-WORD}, $?, $#, $0-$9,
// $@ and $*, field splitting of unquoted expansions, NAME=VALUE
// assignments (before a command: for it alone) and the builtins exit,
// export, unset, set -e/-x, cd, help and ":". Pipelines, redirections,
// globbing, command substitution and control flow (if, for, while, case)
// are refused with a message saying so: there is no process to pipe to,
// and commands run inside the agent (sim) with no file to write.

const shUsage = "usage: sh [-ex] -c 'COMMANDS' [NAME [ARG...]] | sh [-ex] FILE [ARG...]"

// maxShellDepth bounds sh running sh (a script that runs itself).
const maxShellDepth = 8

type shellDepthKey struct{}

// sh [-ex] -c SCRIPT [NAME [ARG...]], or sh [-ex] FILE [ARG...].
func runSh(inv *invocation) int {
	depth, _ := inv.ctx.Value(shellDepthKey{}).(int)
	if depth >= maxShellDepth {
		return inv.errorf(ExitFailure, "shells nested more than %d deep", maxShellDepth)
	}
	var opts shellOptions
	fromArg := false
	args := inv.args
	for len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' {
		if args[0] == "--" {
			args = args[1:]
			break
		}
		for _, c := range args[0][1:] {
			switch c {
			case 'c':
				fromArg = true
			case 'e':
				opts.errexit = true
			case 'x':
				opts.xtrace = true
			default:
				return inv.errorf(ExitUsage, "unknown option -%c (%s)", c, shUsage)
			}
		}
		args = args[1:]
	}
	var script, name string
	switch {
	case fromArg:
		if len(args) == 0 {
			return inv.errorf(ExitUsage, "-c needs the commands to run (%s)", shUsage)
		}
		script, name, args = args[0], "sh", args[1:]
		if len(args) > 0 {
			name, args = args[0], args[1:]
		}
	case len(args) > 0:
		if inv.files == nil {
			return inv.errorf(ExitFailure, "no file system")
		}
		data, err := fs.ReadFile(inv.files, fsPath(args[0]))
		if err != nil {
			return inv.errorf(ExitNotFound, "%s: %s", args[0], describe(err))
		}
		script, name, args = string(data), args[0], args[1:]
	default:
		return inv.errorf(ExitUsage, "exec has no terminal to read commands from: give them with -c, e.g.\n"+
			"  sh -c 'echo $HOSTNAME; ls -la / && wget -qO- http://localhost:8080/'\n"+
			"Commands: %s\n%s", strings.Join(Commands(), ", "), shUsage)
	}
	prog, err := parseScript(script)
	if err != nil {
		return inv.errorf(ExitUsage, "%v", err)
	}
	sh := &shell{
		inv:      inv,
		ctx:      context.WithValue(inv.ctx, shellDepthKey{}, depth+1),
		opts:     opts,
		vars:     maps.Clone(inv.env),
		exported: map[string]bool{},
		name:     name,
		params:   args,
	}
	for k := range inv.env {
		sh.exported[k] = true
	}
	return sh.run(prog)
}

type shellOptions struct{ errexit, xtrace bool }

// shell is one run of a script.
type shell struct {
	inv      *invocation
	ctx      context.Context
	opts     shellOptions
	vars     map[string]string
	exported map[string]bool
	name     string   // $0
	params   []string // $1...
	status   int      // $?
	exiting  bool     // the exit builtin ran
}

func (sh *shell) run(prog []andOr) int {
	for _, list := range prog {
		code, last := sh.runAndOr(list)
		sh.status = code
		if sh.exiting {
			return code
		}
		if sh.ctx.Err() != nil {
			return ExitTerminated
		}
		// As set -e: a failure that && or || looked at does not end it.
		if sh.opts.errexit && code != 0 && last {
			return code
		}
	}
	return sh.status
}

// runAndOr runs one && / || list; last tells whether its last command ran.
func (sh *shell) runAndOr(list andOr) (code int, last bool) {
	code = sh.runCommand(list.commands[0])
	ran := 0
	for i, op := range list.ops {
		if sh.exiting || sh.ctx.Err() != nil {
			break
		}
		if (op == "&&") == (code == 0) {
			sh.status = code
			code = sh.runCommand(list.commands[i+1])
			ran = i + 1
		}
	}
	return code, ran == len(list.ops)
}

func (sh *shell) runCommand(c simpleCommand) int {
	if sh.ctx.Err() != nil {
		return ExitTerminated
	}
	var fields []string
	for _, w := range c.words {
		fields = append(fields, sh.expand(w)...)
	}
	assigns := map[string]string{}
	for _, a := range c.assigns {
		assigns[a.name] = sh.expandJoined(a.value)
	}
	if len(fields) == 0 {
		for name, value := range assigns {
			sh.vars[name] = value
		}
		return ExitOK
	}
	if sh.opts.xtrace {
		fmt.Fprintf(sh.inv.stderr, "+ %s\n", strings.Join(fields, " "))
	}
	if builtin, ok := shellBuiltins[fields[0]]; ok {
		return builtin(sh, fields[1:])
	}
	env := map[string]string{}
	for name := range sh.exported {
		if v, ok := sh.vars[name]; ok {
			env[name] = v
		}
	}
	maps.Copy(env, assigns)
	return Run(sh.ctx, fields, env, sh.inv.files, sh.inv.stdout, sh.inv.stderr)
}

// param is the value of $name.
func (sh *shell) param(name string) string {
	switch name {
	case "?":
		return strconv.Itoa(sh.status)
	case "#":
		return strconv.Itoa(len(sh.params))
	case "@", "*":
		return strings.Join(sh.params, " ")
	case "0":
		return sh.name
	}
	if n, err := strconv.Atoi(name); err == nil {
		if n >= 1 && n <= len(sh.params) {
			return sh.params[n-1]
		}
		return ""
	}
	return sh.vars[name]
}

func (sh *shell) value(p wordPart) string {
	if p.param == "" {
		return p.text
	}
	v := sh.param(p.param)
	if v == "" && p.hasDefault {
		return p.text
	}
	return v
}

// expand turns a word into fields: unquoted expansions are split on
// blanks, an expansion to nothing unquoted makes no field, "" makes an
// empty one, and "$@" makes one field per parameter.
func (sh *shell) expand(w word) []string {
	if isQuotedAt(w) {
		return slices.Clone(sh.params)
	}
	var fields []string
	var cur strings.Builder
	have := false
	for _, p := range w {
		v := sh.value(p)
		if p.param == "" || p.quoted {
			cur.WriteString(v)
			have = true
			continue
		}
		for _, r := range v {
			if r == ' ' || r == '\t' || r == '\n' {
				if have {
					fields = append(fields, cur.String())
					cur.Reset()
					have = false
				}
				continue
			}
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		fields = append(fields, cur.String())
	}
	return fields
}

// isQuotedAt reports whether w is "$@" alone.
func isQuotedAt(w word) bool {
	at := false
	for _, p := range w {
		switch {
		case p.quoted && p.param == "@" && !at:
			at = true
		case p.quoted && p.param == "" && p.text == "":
		default:
			return false
		}
	}
	return at
}

// expandJoined expands a word without splitting (an assignment's value).
func (sh *shell) expandJoined(w word) string {
	var b strings.Builder
	for _, p := range w {
		b.WriteString(sh.value(p))
	}
	return b.String()
}

type builtin func(sh *shell, args []string) int

var shellBuiltins map[string]builtin

func init() {
	shellBuiltins = map[string]builtin{
		":":      func(*shell, []string) int { return ExitOK },
		"exit":   shExit,
		"export": shExport,
		"unset":  shUnset,
		"set":    shSet,
		"cd":     shCd,
		"help":   shHelp,
	}
}

func (sh *shell) errorf(code int, format string, a ...any) int {
	fmt.Fprintf(sh.inv.stderr, "sh: %s\n", fmt.Sprintf(format, a...))
	return code
}

func shExit(sh *shell, args []string) int {
	sh.exiting = true
	switch len(args) {
	case 0:
		return sh.status
	case 1:
		n, err := strconv.Atoi(args[0])
		if err != nil {
			return sh.errorf(ExitUsage, "exit: %s: numeric argument required", args[0])
		}
		return n & 0xff
	}
	sh.exiting = false
	return sh.errorf(ExitFailure, "exit: too many arguments")
}

// export [NAME[=VALUE]...]: without arguments, the exported variables.
func shExport(sh *shell, args []string) int {
	if len(args) == 0 {
		var b strings.Builder
		for _, name := range slices.Sorted(maps.Keys(sh.exported)) {
			if v, ok := sh.vars[name]; ok {
				fmt.Fprintf(&b, "export %s=%s\n", name, shellQuote(v))
			}
		}
		sh.inv.stdout.Write([]byte(b.String()))
		return ExitOK
	}
	code := ExitOK
	for _, a := range args {
		name, value, set := strings.Cut(a, "=")
		if !validName(name) {
			code = sh.errorf(ExitFailure, "export: %q: not a valid name", name)
			continue
		}
		if set {
			sh.vars[name] = value
		}
		sh.exported[name] = true
	}
	return code
}

func shUnset(sh *shell, args []string) int {
	for _, name := range args {
		delete(sh.vars, name)
		delete(sh.exported, name)
	}
	return ExitOK
}

// set -e|+e|-x|+x...: the only options there are.
func shSet(sh *shell, args []string) int {
	if len(args) == 0 {
		var b strings.Builder
		for _, name := range slices.Sorted(maps.Keys(sh.vars)) {
			fmt.Fprintf(&b, "%s=%s\n", name, shellQuote(sh.vars[name]))
		}
		sh.inv.stdout.Write([]byte(b.String()))
		return ExitOK
	}
	for _, a := range args {
		if len(a) < 2 || (a[0] != '-' && a[0] != '+') {
			return sh.errorf(ExitUsage, "set: only -e and -x (and +e, +x) are supported")
		}
		on := a[0] == '-'
		for _, c := range a[1:] {
			switch c {
			case 'e':
				sh.opts.errexit = on
			case 'x':
				sh.opts.xtrace = on
			default:
				return sh.errorf(ExitUsage, "set: -%c is not supported (only -e and -x)", c)
			}
		}
	}
	return ExitOK
}

func shCd(sh *shell, args []string) int {
	return sh.errorf(ExitFailure, "cd: the toolbox has no working directory: give commands absolute paths")
}

func shHelp(sh *shell, args []string) int {
	fmt.Fprintf(sh.inv.stdout, "The toolbox shell runs command lists: ;, newlines, && and ||, with quoting and $VARIABLES.\n"+
		"No pipes, redirections, globs, $(...), if, for or while.\n"+
		"Builtins: %s\nCommands: %s\n",
		strings.Join(slices.Sorted(maps.Keys(shellBuiltins)), ", "), strings.Join(Commands(), ", "))
	return ExitOK
}

// shellQuote writes s so that sh reads it back as one word.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func validName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && r >= '0' && r <= '9':
		default:
			return false
		}
	}
	return true
}
