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

// TestEveryLibraryScenarioPassesLive runs each scenario of the library in
// a sim lab of its own, one after another, as `flotilla scenario run`
// does, and checks that the lab leaves nothing behind. Those that ask for
// a containerd lab (partition) are played by a root-only test instead.
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
			l, err := scenario.StartLab(ctx, sc.Lab, name, bin)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			defer func() {
				if err := l.Teardown(); err != nil {
					t.Errorf("teardown: %v", err)
				}
				if _, err := os.Stat(l.Root); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("the lab's directory %s is still there: %v", l.Root, err)
				}
				if left, _ := exec.Command("pgrep", "-f", l.Root).Output(); len(left) > 0 {
					t.Errorf("processes left: %s", left)
				}
				if t.Failed() {
					t.Logf("the run:\n%s", out.String())
				}
			}()
			client, err := api.NewClient(l.Addresses())
			if err != nil {
				t.Fatal(err)
			}
			client.AttemptTimeout = 5 * time.Second
			r := &scenario.Runner{Cluster: client, Lab: l, DNS: l.DNS(), Where: l.Describe(), Report: &scenario.TextReporter{W: &out}}
			start := time.Now()
			if err := r.Run(ctx, sc); err != nil {
				t.Fatalf("%v", err)
			}
			took = append(took, name+" "+time.Since(start).Round(100*time.Millisecond).String())
		})
	}
	t.Logf("live run times: %s", strings.Join(took, ", "))
}
