package library

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/scenarios/scenario"
)

// TestTheLibraryHasAtLeastTwelveScenariosThatParse: every file parses,
// says what it teaches, and opens with a comment that says how long it
// runs live.
func TestTheLibraryHasAtLeastTwelveScenariosThatParse(t *testing.T) {
	names := Names()
	if len(names) < 12 {
		t.Fatalf("%d scenarios, want at least 12: %v", len(names), names)
	}
	about := regexp.MustCompile(`About \d+ s live`)
	for _, name := range names {
		sc, err := Load(name)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if err := api.ValidateName("scenario", name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if len(strings.Fields(sc.Teaches)) < 20 {
			t.Errorf("%s teaches %q: say more", name, sc.Teaches)
		}
		if !strings.HasPrefix(sc.Text, "#") || !about.MatchString(sc.Text) {
			t.Errorf("%s does not open with a comment saying how long it runs (\"About N s live\")", name)
		}
	}
	if _, err := Load("nope"); err == nil || !strings.Contains(err.Error(), "node-loss") {
		t.Fatalf("an unknown name: %v", err)
	}
}

// buildFlotilla builds the binary the labs run, statically, as users do.
func buildFlotilla(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "flotilla")
	cmd := exec.Command("go", "build", "-o", bin, "flotilla/cmd/flotilla")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// labDir finds the directory of the lab in what `scenario run` prints:
// "lab NAME: 3 servers, ... (/tmp/flotilla-scenario-123/NAME)".
var labDir = regexp.MustCompile(`(?m)^\s*lab [a-z0-9-]+: .*\((/\S*flotilla-scenario-[0-9]+)/[^)]*\)$`)

// TestEveryLibraryScenarioPassesLive runs each scenario of the library
// with `flotilla scenario run NAME`, one after another, each in a sim lab
// of its own, as users do, and checks that the lab leaves nothing behind.
// The binary is built without the race detector: the stories' load (up to
// 500 requests a second, 4000 visitors' cookie jars) ran in this test's
// process before, where the race detector, beside CI's other race-built
// packages, stalled it for seconds. Those that ask for a containerd lab
// (partition) are played by a root-only test instead.
func TestEveryLibraryScenarioPassesLive(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a lab per scenario; skipped with -short")
	}
	bin := buildFlotilla(t)
	var took []string
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			sc, err := Load(name)
			if err != nil {
				t.Fatal(err)
			}
			if sc.Lab.Runtime != scenario.RuntimeSim {
				t.Skipf("%s asks for a %s lab (root, containerd): cmd/flotilla's TestScenarioPartitionOnContainerd plays it live; it runs anywhere with --virtual", name, sc.Lab.Runtime)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "scenario", "run", name)
			// Out of time, it is interrupted as Ctrl-C does, which tears
			// the lab down.
			cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
			cmd.WaitDelay = 30 * time.Second
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			start := time.Now()
			runErr := cmd.Run()
			// Where the lab was, as the run said: it must be gone, and no
			// process of it left.
			m := labDir.FindStringSubmatch(out.String())
			if m == nil {
				t.Fatalf("scenario run %s names no lab directory:\n%s", name, out.String())
			}
			if left, _ := exec.Command("pgrep", "-f", m[1]).Output(); len(left) > 0 {
				_ = exec.Command("pkill", "-KILL", "-f", m[1]).Run()
				t.Errorf("processes left: %s", left)
			}
			if _, err := os.Stat(m[1]); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the lab's directory %s is still there: %v", m[1], err)
			}
			if runErr != nil {
				t.Fatalf("scenario run %s: %v\n%s", name, runErr, out.String())
			}
			if !strings.Contains(out.String(), "PASS "+name) {
				t.Fatalf("scenario run %s exited 0 without saying PASS:\n%s", name, out.String())
			}
			took = append(took, name+" "+time.Since(start).Round(100*time.Millisecond).String())
		})
	}
	t.Logf("live run times: %s", strings.Join(took, ", "))
}
