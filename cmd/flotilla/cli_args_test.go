package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"flotilla/api"
)

// noServer points the CLI at an API server that fails the test when asked
// anything, and at a lab directory of the test's own.
func noServer(t *testing.T) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the command asked the server %s %s", r.Method, r.URL)
		w.WriteHeader(http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)
	t.Setenv(api.AddressEnv, srv.URL)
	t.Setenv("FLOTILLA_LAB_DIR", t.TempDir())
}

func TestCLIUnknownSubcommandOfAGroupFails(t *testing.T) {
	noServer(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"lab", "kil", "n2"}, `unknown command "kil" for "flotilla lab"; did you mean "kill"?`},
		{[]string{"rollout", "stats", "web"}, `unknown command "stats" for "flotilla rollout"; did you mean "status"?`},
		{[]string{"node", "drian", "n1"}, `unknown command "drian" for "flotilla node"; did you mean "drain"?`},
		{[]string{"acl", "tokn", "list"}, `unknown command "tokn" for "flotilla acl"; did you mean "token"?`},
		{[]string{"operator", "raft", "remov-peer", "s3"}, `unknown command "remov-peer" for "flotilla operator raft"; did you mean "remove-peer"?`},
		{[]string{"statuss"}, `unknown command "statuss" for "flotilla"; did you mean "status"?`},
		{[]string{"lab", "--name", "x", "kil"}, `unknown command "kil" for "flotilla lab"; did you mean "kill"?`},
		{[]string{"lab", "zzzz"}, `unknown command "zzzz" for "flotilla lab"; see 'flotilla lab --help'`},
		{[]string{"completion", "bsh"}, `unknown command "bsh" for "flotilla completion"; did you mean "bash", "fish" or "zsh"?`},
	} {
		out, errOut, err := runFlotilla(t, tc.args...)
		if err == nil {
			t.Errorf("%v: no error (stdout %q)", tc.args, out)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("%v: error %q, want %q", tc.args, err, tc.want)
		}
		if strings.ContainsAny(err.Error(), "\n\t") {
			t.Errorf("%v: error %q is not one line", tc.args, err)
		}
		if out != "" || errOut != "" {
			t.Errorf("%v: printed %q and %q besides the error", tc.args, out, errOut)
		}
	}
}

func TestCLIGroupAlonePrintsHelp(t *testing.T) {
	noServer(t)
	for _, args := range [][]string{
		{}, {"lab"}, {"lab", "--help"}, {"operator", "raft"}, {"rollout"}, {"bench"}, {"help", "lab"},
	} {
		out, _, err := runFlotilla(t, args...)
		if err != nil {
			t.Errorf("%v: %v", args, err)
			continue
		}
		if !strings.Contains(out, "Available Commands:") || !strings.Contains(out, " [command]\n") {
			t.Errorf("%v: no help:\n%s", args, out)
		}
		// Usage reads "flotilla lab [command]" only, as before: a group
		// does nothing of its own.
		if usage, _, _ := strings.Cut(out[strings.Index(out, "Usage:"):], "\n\n"); strings.Contains(usage, "[flags]") {
			t.Errorf("%v: usage offers the group itself:\n%s", args, usage)
		}
	}
}

// Every group, however deep and whoever added it, refuses what is not one
// of its subcommands.
func TestCLIEveryGroupRefusesUnknownSubcommands(t *testing.T) {
	noServer(t)
	group := reflect.ValueOf(cobra.PositionalArgs(unknownSubcommand)).Pointer()
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		// A command with subcommands and a Run of its own (none yet)
		// takes arguments of its own: it is not run here.
		if c.HasSubCommands() && c.Args != nil && reflect.ValueOf(c.Args).Pointer() == group {
			paths = append(paths, path)
		}
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string(nil), path...), sub.Name()))
		}
	}
	walk(newRoot(), nil)
	if len(paths) < 20 { // 22 when written, the root and completion included
		t.Fatalf("only %d groups: %v", len(paths), paths)
	}
	for _, path := range paths {
		_, _, err := runFlotilla(t, append(path, "no-such-subcommand")...)
		want := `unknown command "no-such-subcommand" for "` + strings.Join(append([]string{"flotilla"}, path...), " ") + `"`
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%v no-such-subcommand: error %v, want one starting %s", path, err, want)
		}
	}
}

// lab env of a lab whose servers are all stopped still prints its
// exports, with a warning on stderr.
func TestLabEnvOfALabThatIsDownWarns(t *testing.T) {
	noServer(t)
	writeLabState(t, "gone", `"runtime": "sim", "processes": [
		{"name": "s1", "role": "server", "http": "127.0.0.1:5646"},
		{"name": "n1", "role": "agent", "http": "127.0.0.1:5746"}]`)
	out, errOut, err := runFlotilla(t, "lab", "env", "--name", "gone")
	if err != nil || !strings.Contains(out, "export FLOTILLA_LAB=gone") {
		t.Fatalf("lab env: %v\n%s", err, out)
	}
	if want := "warning: lab gone is down (s1 stopped)"; !strings.Contains(errOut, want) {
		t.Fatalf("stderr %q, want %q", errOut, want)
	}
}

// A wrong number of arguments is said with the command's usage.
func TestCLIArgumentErrorsSayTheUsage(t *testing.T) {
	noServer(t)
	for args, want := range map[string]string{
		"delete web":  "flotilla delete: accepts 2 arg(s), received 1 (usage: flotilla delete service|config|secret NAME [flags])",
		"exec abc123": "flotilla exec: requires at least 2 arg(s), only received 1 (usage: flotilla exec ALLOC -- COMMAND [ARGS...]",
	} {
		_, _, err := runFlotilla(t, strings.Fields(args)...)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: %v, want an error beginning %q", args, err, want)
		}
	}
}

// A command's --help shows its usage line, under a group too.
func TestCLIHelpOfACommandShowsItsUsage(t *testing.T) {
	noServer(t)
	for args, want := range map[string]string{
		"get --help":                    "Usage:\n  flotilla get [services|nodes|allocs|evals|endpoints|configs|secrets [NAME]] [flags]",
		"lab up --help":                 "Usage:\n  flotilla lab up [flags]",
		"operator snapshot save --help": "Usage:\n  flotilla operator snapshot save FILE [flags]",
		"rollout status --help":         "Usage:\n  flotilla rollout status NAME [flags]",
	} {
		out, _, err := runFlotilla(t, strings.Fields(args)...)
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("%s: %v, want %q in:\n%s", args, err, want, out)
		}
	}
}

// Commands that print text only refuse -o rather than ignore it, before
// asking the cluster anything.
func TestTextOnlyCommandsRefuseOutput(t *testing.T) {
	noServer(t)
	for args, want := range map[string]string{
		"describe web -o json":          "--output json: this command prints text only (get KIND NAME -o json prints the object)",
		"scale web 3 -o yaml":           "--output yaml: this command prints text only",
		"delete service web -o json":    "--output json: this command prints text only",
		"apply -f nothing.yaml -o json": "--output json: this command prints text only",
		"lab status -o json":            "--output json: this command prints text only",
	} {
		_, _, err := runFlotilla(t, strings.Fields(args)...)
		if err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", args, err, want)
		}
	}
}

// A containerd lab that is down has taken its unreachable routes with it:
// lab env refuses to point anything at its addresses.
func TestLabEnvOfADownContainerdLabRefuses(t *testing.T) {
	noServer(t)
	writeLabState(t, "gone", `"runtime": "containerd", "network": {"bridge": "flgone-br"}, "processes": [
		{"name": "s1", "role": "server", "http": "10.199.0.11:4646"}]`)
	out, _, err := runFlotilla(t, "lab", "env", "--name", "gone")
	if err == nil || !strings.Contains(err.Error(), "lab gone is down (s1 stopped), and its addresses now lead off this machine") || out != "" {
		t.Fatalf("lab env of a down containerd lab: %v, printed %q", err, out)
	}
}

// writeLabState records a lab in the test's lab directory (noServer's) as
// lab up leaves it, with every process stopped: fields are lab.json's
// beside its name and directory.
func writeLabState(t *testing.T, name, fields string) {
	t.Helper()
	dir := filepath.Join(os.Getenv("FLOTILLA_LAB_DIR"), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	state := `{"name": "` + name + `", "dir": "` + dir + `", ` + fields + `}`
	if err := os.WriteFile(filepath.Join(dir, "lab.json"), []byte(state), 0o644); err != nil {
		t.Fatal(err)
	}
}
