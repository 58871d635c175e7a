package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"flotilla/agent"
	"flotilla/api"
	"flotilla/scheduler"
)

// TestFakeNodesRegisterHeartbeatAndRunAllocations runs 50 fake nodes from
// one process against a real server: they become ready, stay ready past
// several heartbeat TTLs, and report their allocations running.
func TestFakeNodesRegisterHeartbeatAndRunAllocations(t *testing.T) {
	cluster, err := scheduler.StartLocalCluster(t.TempDir(), 1, func(c *scheduler.Config) { c.HeartbeatTTL = time.Second })
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	client, err := api.NewClient(strings.Join(cluster.HTTPAddrs(), ","))
	if err != nil {
		t.Fatal(err)
	}
	fakes, err := api.NewClient(strings.Join(cluster.HTTPAddrs(), ","))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	revisions := agent.NewRevisions(nil, fakes.Revision)
	go func() {
		done <- runFakeNodes(ctx, agent.Config{Name: "fake", Capacity: api.Resources{CPU: 4000, Memory: 8 << 30}, Revisions: revisions}, fakes, 50, io.Discard)
	}()
	readyNodes := func() int {
		nodes, _, err := client.Nodes(context.Background(), api.QueryOptions{})
		if err != nil {
			return -1
		}
		n := 0
		for _, node := range nodes {
			if node.Status == api.NodeReady && node.Heartbeat && strings.HasPrefix(node.Name, "fake-") {
				n++
			}
		}
		return n
	}
	waitFor(t, 30*time.Second, "50 fake nodes ready", func() bool { return readyNodes() == 50 })
	specs, err := api.DecodeServices("test", []byte("kind: Service\nname: many\nimage: demo\nreplicas: 100\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.ApplyService(context.Background(), specs[0]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "100 allocations running on fake nodes", func() bool {
		allocs, _, err := client.Allocations(context.Background(), api.AllocFilter{Namespace: "default", Service: "many"}, api.QueryOptions{})
		if err != nil {
			return false
		}
		n := 0
		for _, a := range allocs {
			if a.Status == api.AllocRunning && a.Ready {
				n++
			}
		}
		return n == 100
	})
	// The 50 nodes fetched the revision of their 100 replicas once.
	if n := revisions.Fetches(); n != 1 {
		t.Fatalf("%d revision fetches for one revision, want 1", n)
	}
	// Three TTLs later every node still heartbeats.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if n := readyNodes(); n != 50 {
			t.Fatalf("%d of 50 fake nodes ready while they heartbeat", n)
		}
		time.Sleep(200 * time.Millisecond) // sampling interval
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("fake nodes did not stop")
	}
}
