package containerd

import (
	"testing"

	"flotilla/runtime/runtimetest"
)

// TestContract runs the runtime contract: every subtest gets a fresh
// Runtime on one node (one namespace, one demo image build) attached to a
// CNI bridge of the test's own, so the suite reaches each container at its
// own IP:8080.
func TestContract(t *testing.T) {
	address := requireContainerd(t)
	binary := testBinary(t)
	network := testNetwork(t)
	node := testNode(t, address)
	runtimetest.Run(t, runtimetest.Harness{
		New: func(t *testing.T) runtimetest.Runtime {
			// A state directory per subtest: they run in parallel, and
			// each Runtime writes its log driver into its own.
			return newRuntime(t, Config{
				Address:  address,
				Node:     node,
				Network:  network,
				StateDir: t.TempDir(),
				Binary:   binary,
			})
		},
		Image: DemoImagePrefix + "test",
	})
}
