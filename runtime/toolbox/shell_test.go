package toolbox

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"
)

func TestShellRunsCommandLists(t *testing.T) {
	env := map[string]string{"HOSTNAME": "web-a1b2c", "GREETING": "hello world", "EMPTY": ""}
	for _, tc := range []struct {
		script string
		want   result
		stderr string // a substring of stderr
	}{
		{`echo one; echo two`, result{0, "one\ntwo\n", ""}, ""},
		{"echo one\necho two\n", result{0, "one\ntwo\n", ""}, ""},
		{`true && echo yes`, result{0, "yes\n", ""}, ""},
		{`false && echo yes`, result{1, "", ""}, ""},
		{`false || echo fallback`, result{0, "fallback\n", ""}, ""},
		{`false || false && echo no; echo $?`, result{0, "1\n", ""}, ""},
		{`false; echo "status $?"`, result{0, "status 1\n", ""}, ""},
		{"true &&\n  echo next line", result{0, "next line\n", ""}, ""},
		{`echo $HOSTNAME`, result{0, "web-a1b2c\n", ""}, ""},
		{`echo ${HOSTNAME}-x`, result{0, "web-a1b2c-x\n", ""}, ""},
		{`echo ${MISSING:-default} ${EMPTY:-also}`, result{0, "default also\n", ""}, ""},
		{`printenv GREETING`, result{0, "hello world\n", ""}, ""},
		// Unquoted expansions split into fields; quoted ones do not.
		{`echo $GREETING | true`, result{code: 2}, "pipelines (|): not supported"},
		{`ls /etc/*`, result{code: 2}, "globs (*): not supported"},
		{`echo '*' "a*b" \*`, result{0, "* a*b *\n", ""}, ""},
		{`for w in $GREETING; do echo $w; done`, result{code: 2}, "if, for, while and case are not supported"},
		{`sh -c 'echo $#' sh $GREETING`, result{0, "2\n", ""}, ""},
		{`sh -c 'echo $#' sh "$GREETING"`, result{0, "1\n", ""}, ""},
		{`env X="$GREETING" printenv X`, result{0, "hello world\n", ""}, ""},
		{`echo '$HOSTNAME' "\$HOSTNAME" \$HOSTNAME`, result{0, "$HOSTNAME $HOSTNAME $HOSTNAME\n", ""}, ""},
		{`echo 'it'\''s' "a \"quoted\" word"`, result{0, "it's a \"quoted\" word\n", ""}, ""},
		{`echo $EMPTY x "$EMPTY" y`, result{0, "x  y\n", ""}, ""},
		{`echo costs $5 and $`, result{0, "costs and $\n", ""}, ""},
		{`echo a#b # a comment`, result{0, "a#b\n", ""}, ""},
		// Assignments: alone they set a shell variable (not exported);
		// before a command, they are that command's environment.
		{`X=1; echo $X; printenv X`, result{1, "1\n", ""}, ""},
		{`X=1; export X; printenv X`, result{0, "1\n", ""}, ""},
		{`export Y=2 Z; printenv Y`, result{0, "2\n", ""}, ""},
		{`A=3 printenv A; echo "[$A]"`, result{0, "3\n[]\n", ""}, ""},
		{`unset HOSTNAME; hostname >/dev/null`, result{code: 2}, "redirections (>)"},
		{`unset GREETING; printenv GREETING`, result{code: 1}, ""},
		{`exit 3; echo never`, result{code: 3}, ""},
		{`false; exit`, result{code: 1}, ""},
		{`exit nope`, result{code: 2}, "numeric argument required"},
		{`set -e; echo a; false; echo b`, result{1, "a\n", ""}, ""},
		{`set -e; false || echo handled; echo after`, result{0, "handled\nafter\n", ""}, ""},
		{`nosuch arg`, result{code: 127}, "nosuch: command not found"},
		{`cd /etc`, result{code: 1}, "no working directory"},
		{`:`, result{0, "", ""}, ""},
		{`ls -la /etc/web && cat /etc/web/config.yaml`, result{code: 0}, ""},
		{`echo "unterminated`, result{code: 2}, "line 1: unterminated quoted string"},
		{"echo ok\necho 'open", result{code: 2}, "line 2: unterminated"},
		{`echo $(hostname)`, result{code: 2}, "command substitution"},
		{"echo `hostname`", result{code: 2}, "command substitution"},
		{`echo a &`, result{code: 2}, "background jobs"},
		{`&& echo`, result{code: 2}, "a command is missing before &&"},
		{`echo a &&`, result{code: 2}, "a command is missing before end of script"},
		{`echo ${A-B}`, result{code: 2}, "only ${NAME} and ${NAME:-WORD}"},
		{`sh -c 'echo nested $0 $1 $#' me arg`, result{0, "nested me arg 1\n", ""}, ""},
		{`sh -c 'for a in "$@"; do :; done'`, result{code: 2}, "not supported"},
		{`sh -c 'echo "$@"' sh "a b" c`, result{0, "a b c\n", ""}, ""},
		{`sh -c 'printenv "$1"' sh "HOSTNAME"`, result{0, "web-a1b2c\n", ""}, ""},
	} {
		t.Run(tc.script, func(t *testing.T) {
			got := run(t, env, "sh", "-c", tc.script)
			if got.code != tc.want.code || (tc.want.stdout != "" || tc.want.code != 0) && got.stdout != tc.want.stdout {
				t.Errorf("got code %d stdout %q, want %d %q (stderr %q)", got.code, got.stdout, tc.want.code, tc.want.stdout, got.stderr)
			}
			if tc.stderr == "" && got.stderr != "" && tc.want.code == 0 {
				t.Errorf("unexpected stderr %q", got.stderr)
			}
			if !strings.Contains(got.stderr, tc.stderr) {
				t.Errorf("stderr %q lacks %q", got.stderr, tc.stderr)
			}
		})
	}
}

func TestShellQuotedAtKeepsEachParameter(t *testing.T) {
	got := run(t, nil, "sh", "-c", `env "$@"`, "sh", "ONE=a b", "printenv", "ONE")
	if got.code != 0 || got.stdout != "a b\n" {
		t.Errorf("got %+v", got)
	}
}

func TestShellWithoutCommandsSaysHowToGiveThem(t *testing.T) {
	got := run(t, nil, "sh")
	if got.code != ExitUsage || !strings.Contains(got.stderr, "sh -c '") || !strings.Contains(got.stderr, "wget") {
		t.Errorf("got %+v, want a usage message naming sh -c and the commands", got)
	}
	if got := run(t, nil, "sh", "-c"); got.code != ExitUsage || !strings.Contains(got.stderr, "-c needs") {
		t.Errorf("sh -c alone: %+v", got)
	}
	if got := run(t, nil, "sh", "-q"); got.code != ExitUsage || !strings.Contains(got.stderr, "unknown option -q") {
		t.Errorf("sh -q: %+v", got)
	}
}

func TestShellHelpListsBuiltinsAndCommands(t *testing.T) {
	got := run(t, nil, "sh", "-c", "help")
	if got.code != 0 || !strings.Contains(got.stdout, "export") || !strings.Contains(got.stdout, "nslookup") {
		t.Errorf("got %+v", got)
	}
}

func TestShellTraceAndErrexitOptions(t *testing.T) {
	got := run(t, map[string]string{"N": "n1"}, "sh", "-ex", "-c", "echo $N; false; echo unreached")
	if got.code != 1 || got.stdout != "n1\n" || got.stderr != "+ echo n1\n+ false\n" {
		t.Errorf("got %+v", got)
	}
}

func TestShellRunsAScriptFile(t *testing.T) {
	files := fstest.MapFS{"etc/check.sh": {Data: []byte("# a check\necho checking $1\nprintenv HOSTNAME && exit 4\n")}}
	var out, errOut strings.Builder
	code := Run(context.Background(), []string{"sh", "/etc/check.sh", "web"}, map[string]string{"HOSTNAME": "h"}, files, &out, &errOut)
	if code != 4 || out.String() != "checking web\nh\n" {
		t.Errorf("got %d %q %q", code, out.String(), errOut.String())
	}
	code = Run(context.Background(), []string{"sh", "/etc/missing.sh"}, nil, files, &out, &errOut)
	if code != ExitNotFound || !strings.Contains(errOut.String(), "No such file") {
		t.Errorf("missing script: %d %q", code, errOut.String())
	}
}

func TestShellThatRunsItselfStops(t *testing.T) {
	files := fstest.MapFS{"loop.sh": {Data: []byte("sh /loop.sh\n")}}
	var errOut strings.Builder
	code := Run(context.Background(), []string{"sh", "/loop.sh"}, nil, files, nil, &errOut)
	if code != ExitFailure || !strings.Contains(errOut.String(), "nested more than") {
		t.Errorf("got %d %q", code, errOut.String())
	}
}

func TestShellStopsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := runCtx(t, ctx, nil, "sh", "-c", "echo a; echo b"); got.code != ExitTerminated || got.stdout != "" {
		t.Errorf("got %+v", got)
	}
}

func TestShellExportListsQuotedValues(t *testing.T) {
	got := run(t, map[string]string{"Q": "it's"}, "sh", "-c", "export")
	if got.code != 0 || got.stdout != `export Q='it'\''s'`+"\n" {
		t.Errorf("got %+v", got)
	}
}
