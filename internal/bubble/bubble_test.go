package bubble

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestRunFakesTheClock runs this test binary again as a program that
// calls Run (Run cannot be called from inside a test): an hour of sleep
// inside the bubble passes at once, and f's output reaches stdout.
func TestRunFakesTheClock(t *testing.T) {
	if os.Getenv("BUBBLE_CHILD") == "1" {
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMain$")
	cmd.Env = append(os.Environ(), "BUBBLE_CHILD=1")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.Contains(string(out), "slept 1h0m0s of virtual time") {
		t.Fatalf("output %q", out)
	}
	if strings.Contains(string(out), "PASS") {
		t.Fatalf("the testing package's PASS reached stdout: %q", out)
	}
	if wall := time.Since(start); wall > 20*time.Second {
		t.Fatalf("an hour of virtual sleep took %s of wall time", wall)
	}
}

// TestMain is the child program of TestRunFakesTheClock when BUBBLE_CHILD
// is set.
func TestMain(m *testing.M) {
	if os.Getenv("BUBBLE_CHILD") != "1" {
		os.Exit(m.Run())
	}
	err := Run(func() {
		start := time.Now()
		done := make(chan struct{})
		go func() { time.Sleep(time.Hour); close(done) }()
		<-done
		os.Stdout.WriteString("slept " + time.Since(start).String() + " of virtual time\n")
	})
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	os.Exit(0)
}
