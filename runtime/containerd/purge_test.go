package containerd

import (
	"context"
	"testing"
	"time"

	"flotilla/runtime"
)

// Purge kills the running containers and leaves no namespace; purging an
// absent namespace is no error.
func TestPurgeLeavesNoNamespace(t *testing.T) {
	address := requireContainerd(t)
	network := testNetwork(t)
	node := "test-" + randomName(t, 4)
	t.Cleanup(func() { Purge(context.Background(), address, NamespacePrefix+node) }) // when the test fails half-way
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

	if err := Purge(ctx, address, rt.Namespace()); err != nil {
		t.Fatalf("purge: %v", err)
	}
	if namespaceExists(t, address, rt.Namespace()) {
		t.Errorf("namespace %s is still there", rt.Namespace())
	}
	if processExists(int(pid)) {
		t.Errorf("the task's process %d is still alive", pid)
	}
	if err := Purge(ctx, address, rt.Namespace()); err != nil {
		t.Errorf("purge of an absent namespace: %v", err)
	}
}

// Two labs' nodes of the same name share one daemon in namespaces of
// their own (Config.Namespace): purging one lab's node leaves the other's
// containers running.
func TestPurgeLeavesAnotherLabsNodeOfTheSameName(t *testing.T) {
	address := requireContainerd(t)
	network := testNetwork(t)
	node := "test-" + randomName(t, 4)
	mine, theirs := NamespacePrefix+"la-"+node, NamespacePrefix+"lb-"+node
	for _, ns := range []string{mine, theirs} {
		t.Cleanup(func() { Purge(context.Background(), address, ns) })
	}
	ctx := testCtx(t, 60*time.Second)
	var specs []string
	var runtimes []*Runtime
	for _, ns := range []string{mine, theirs} {
		rt := newRuntime(t, Config{Address: address, Node: node, Namespace: ns, Network: network, StateDir: t.TempDir(), Binary: testBinary(t)})
		if rt.Namespace() != ns {
			t.Fatalf("runtime namespace %s, want %s", rt.Namespace(), ns)
		}
		spec := demoSpec(t, 8080)
		t.Cleanup(func() { network.Remove(context.Background(), spec.ID) })
		if err := rt.Create(ctx, spec); err != nil {
			t.Fatal(err)
		}
		if err := rt.Start(ctx, spec.ID); err != nil {
			t.Fatal(err)
		}
		specs, runtimes = append(specs, spec.ID), append(runtimes, rt)
	}
	pid := taskPID(t, directClient(t, address, theirs), specs[1])

	if err := Purge(ctx, address, mine); err != nil {
		t.Fatalf("purge %s: %v", mine, err)
	}
	if namespaceExists(t, address, mine) {
		t.Errorf("namespace %s is still there", mine)
	}
	if !processExists(int(pid)) {
		t.Fatalf("the other lab's container (pid %d) died with the purge of %s", pid, mine)
	}
	if st, err := runtimes[1].Status(ctx, specs[1]); err != nil || st.State != runtime.StateRunning {
		t.Errorf("the other lab's container: %+v %v, want it running", st, err)
	}
	removeAtEnd(t, runtimes[1], specs[1])
}
