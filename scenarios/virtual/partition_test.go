package virtual

import (
	"strings"
	"testing"
)

// TestPartitionPlaysInVirtualTime: the library's partition passes on the
// simulated network. n3 is cut off without being stopped (gossip marks
// it down, its replicas are placed again, heartbeats make it ready after
// the heal, nothing moves back); then the leader is cut off and another
// is elected. Its story is not golden yet (notGolden), so the lines that
// do not vary are checked here.
func TestPartitionPlaysInVirtualTime(t *testing.T) {
	if testing.Short() {
		t.Skip("plays a scenario")
	}
	trace := play(t, "partition", nil)
	for _, want := range []string{
		"standing in for the containerd lab the scenario asks for",
		"n3 cut off the network: it keeps running",
		"node n3 is down: gossip: agent failed",
		"2 allocations of default/web lost on n3",
		"6 running (n1 3, n2 3), 6 ready",
		"n3 connected again",
		"node n3 is ready: heartbeats resumed",
		"(the leader) cut off the network",
		"every node is connected again",
		"PASS partition: 31 steps",
	} {
		if !strings.Contains(trace, want) {
			t.Errorf("the trace does not say %q:\n%s", want, trace)
		}
	}
}
