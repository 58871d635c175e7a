package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestSimRangesAreTheLabsOwn(t *testing.T) {
	vips, nodes := simRanges(DefaultBasePort)
	if vips.String() != "127.64.0.0/16" || nodes.String() != "127.128.0.0/16" {
		t.Errorf("the default lab's ranges: %s %s, want the scheduler's defaults 127.64.0.0/16 and 127.128.0.0/16", vips, nodes)
	}
	// Base ports a few hundred apart, as labs' port blocks are, never share
	// a range; all are loopback, and no VIP range is a node range.
	seen := map[netip.Prefix]int{}
	for base := 4600; base < 4600+62*100; base += 100 {
		v, n := simRanges(base)
		for _, p := range []netip.Prefix{v, n} {
			if !loopback.Contains(p.Addr()) || p.Bits() != 16 {
				t.Fatalf("base port %d: range %s is not a /16 of loopback", base, p)
			}
			if other, ok := seen[p]; ok {
				t.Fatalf("base ports %d and %d share %s", other, base, p)
			}
			seen[p] = base
		}
		if v.Overlaps(n) || v.Overlaps(defaultVIPs) || n.Overlaps(defaultNodes) {
			t.Fatalf("base port %d: ranges %s and %s overlap each other or the default lab's", base, v, n)
		}
	}
}

func TestServerRanges(t *testing.T) {
	tests := []struct {
		name        string
		args        string
		vips, nodes string
		ok          bool
	}{
		{"a sim lab's server", "/tmp/x/flotilla server --name s1 --vip-cidr 127.70.0.0/16 --sim-cidr 127.134.0.0/16", "127.70.0.0/16", "127.134.0.0/16", true},
		{"flags with =", "flotilla server --vip-cidr=127.70.0.0/16 --sim-cidr=127.134.0.0/16", "127.70.0.0/16", "127.134.0.0/16", true},
		{"a server with the defaults", "./flotilla server --dev", "127.64.0.0/16", "127.128.0.0/16", true},
		{"a script run by its interpreter", "/bin/sh /tmp/x/flotilla server --vip-cidr 127.70.0.0/16", "127.70.0.0/16", "127.128.0.0/16", true},
		{"a containerd lab's server: no loopback VIPs", "flotilla server --cluster-cidr 10.200.0.0/16 --vip-cidr 10.201.0.0/16", "", "", false},
		{"an agent", "flotilla agent --name n1 --runtime sim", "", "", false},
		{"another program", "sleep server 10", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vips, nodes, ok := serverRanges(strings.Fields(tc.args))
			if ok != tc.ok || (ok && (vips.String() != tc.vips || nodes.String() != tc.nodes)) {
				t.Errorf("serverRanges(%q) = %s %s %v, want %s %s %v", tc.args, vips, nodes, ok, tc.vips, tc.nodes, tc.ok)
			}
		})
	}
}

// A sim lab whose ranges a running cluster on this host uses (whatever lab
// directory it came from) is refused before anything starts, naming the
// cluster.
func TestSimLabRefusesTheRangesOfARunningCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes; skipped with -short")
	}
	root := t.TempDir()
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		base := 40000 + rand.IntN(200)*100
		vips, nodes := simRanges(base)
		// Another cluster's server, standing in for flotilla: a script
		// named flotilla whose command line carries the same ranges.
		script := filepath.Join(t.TempDir(), "flotilla")
		if err := os.WriteFile(script, []byte("#!/bin/sh\nwhile true; do sleep 0.1; done\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		other := exec.Command(script, "server", "--name", "s1", "--vip-cidr", vips.String(), "--sim-cidr", nodes.String())
		if err := other.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { other.Process.Kill(); other.Wait() })

		name := fmt.Sprintf("ranges%d", attempt)
		_, err = Up(context.Background(), Config{Name: name, Servers: 1, Agents: 1, Runtime: "sim", Root: root, BasePort: base, Binary: "/bin/true"}, io.Discard)
		if err != nil && strings.Contains(err.Error(), "port 127.0.0.1:") {
			continue // a port of the block is taken: another block
		}
		want := fmt.Sprintf("%s (VIPs) and %s (node addresses) of base port %d are in use by a running cluster (pid %d", vips, nodes, base, other.Process.Pid)
		if err != nil && strings.Contains(err.Error(), "in use by a running cluster") && !strings.Contains(err.Error(), want) {
			continue // a lab of someone else's has these ranges: another block
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("lab up with the ranges of a running cluster: %v, want an error containing %q", err, want)
		}
		if _, err := Load(root, name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a refused lab up recorded a lab (%v)", err)
		}
		t.Logf("refused: %v", err)
		return
	}
	t.Fatalf("no free port block to test with: %v", err)
}
