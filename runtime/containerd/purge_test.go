package containerd

import (
	"context"
	"testing"
	"time"
)

// Purge kills the running containers and leaves no namespace; purging an
// absent namespace is no error.
func TestPurgeLeavesNoNamespace(t *testing.T) {
	address := requireContainerd(t)
	network := testNetwork(t)
	node := "test-" + randomName(t, 4)
	t.Cleanup(func() { Purge(context.Background(), address, node) }) // when the test fails half-way
	cfg := Config{Address: address, Node: node, Network: network, StateDir: t.TempDir(), Binary: testBinary(t)}
	rt := newRuntime(t, cfg)
	running, created := demoSpec(t, 8080), demoSpec(t, 8080)
	ctx := testCtx(t, 60*time.Second)
	for _, spec := range []string{running.ID, created.ID} {
		t.Cleanup(func() { network.Remove(context.Background(), spec) }) // Purge leaves networks to their owner
	}
	if err := rt.Create(ctx, running); err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx, running.ID); err != nil {
		t.Fatal(err)
	}
	if err := rt.Create(ctx, created); err != nil {
		t.Fatal(err)
	}
	pid := taskPID(t, directClient(t, address, rt.Namespace()), running.ID)

	if err := Purge(ctx, address, node); err != nil {
		t.Fatalf("purge: %v", err)
	}
	if namespaceExists(t, address, rt.Namespace()) {
		t.Errorf("namespace %s is still there", rt.Namespace())
	}
	if processExists(int(pid)) {
		t.Errorf("the task's process %d is still alive", pid)
	}
	if err := Purge(ctx, address, node); err != nil {
		t.Errorf("purge of an absent namespace: %v", err)
	}
}
