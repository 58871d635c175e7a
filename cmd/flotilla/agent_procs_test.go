package main

import (
	"strings"
	"testing"
)

// An agent runs on the processors --procs gives it, else on GOMAXPROCS's
// from its environment, else on one per four cores, at least one.
func TestDefaultProcs(t *testing.T) {
	for _, c := range []struct {
		flag  int
		env   string
		cores int
		want  int
	}{
		{0, "", 1, 1},
		{0, "", 2, 1},
		{0, "", 4, 1},
		{0, "", 8, 2},
		{0, "", 64, 16},
		{0, "6", 6, 6},  // the runtime took it from the environment
		{3, "6", 6, 3},  // the flag wins
		{16, "", 2, 16}, // as asked, even beyond the cores
	} {
		if got := defaultProcs(c.flag, c.env, c.cores); got != c.want {
			t.Errorf("defaultProcs(%d, %q, %d) = %d, want %d", c.flag, c.env, c.cores, got, c.want)
		}
	}
}

func TestNegativeProcsAreRefusedNamingTheFlag(t *testing.T) {
	noServer(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"agent", "--name", "n1", "--data-dir", t.TempDir(), "--procs", "-1"}, "--procs: -1: must be 0"},
		{[]string{"bench", "proxy", "--proxy-procs", "-2"}, "--proxy-procs: -2: must be 0"},
		{[]string{"bench", "dns", "--dns-procs", "-3"}, "--dns-procs: -3: must be 0"},
	} {
		_, err := runCLI(t, "", c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: %v, want a one-line error with %q", c.args, err, c.want)
		}
	}
}
