package scheduler

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"flotilla/api"
)

func TestWakeScalesAServiceAtZeroToOneReplicaOnceForABurst(t *testing.T) {
	c := startCluster(t, 3, nil)
	waitLeader(t, c)
	client := clientFor(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	registerNodes(t, ctx, client, 1, api.Resources{CPU: 4000, Memory: 4 << 30})
	spec := webSpec(t, "web", 0, "ports: [{name: http, port: 8080, protocol: http}]\n"+
		"autoscale: {min: 0, max: 4, metric: rps, target: 10, stabilizationWindow: 30s}\n")
	if _, err := client.ApplyService(ctx, spec); err != nil {
		t.Fatal(err)
	}
	se, err := client.ServiceEndpoints(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if !se.ScaleToZero {
		t.Fatalf("endpoints of a min-0 service: ScaleToZero unset: %+v", se)
	}

	// Every server's proxies ask at once: followers forward to the leader,
	// which writes once.
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := range 30 {
		addr := c.HTTPAddrs()[i%3]
		wg.Go(func() {
			cl, err := api.NewClient(addr)
			if err == nil {
				_, err = cl.WakeService(ctx, "default", "web")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("wake: %v", err)
		}
	}
	svc, _, err := client.Service(ctx, "default", "web", api.QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Replicas != 1 {
		t.Fatalf("replicas %d after the wake, want 1", svc.Replicas)
	}
	eventually(t, 10*time.Second, "one placement", func() bool { return total(placedOn(t, ctx, client, "web")) == 1 })
	events, _, err := client.Events(ctx, api.EventFilter{Namespace: "default", Service: "web"}, api.QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	woken := 0
	for _, e := range events {
		if strings.Contains(e.Message, "woken from zero") {
			woken++
			if !strings.Contains(e.Message, "0 → 1") {
				t.Fatalf("wake event %q lacks 0 → 1", e.Message)
			}
		}
	}
	if woken != 1 {
		t.Fatalf("%d wake events for a burst of 30 calls, want 1: %+v", woken, events)
	}

	// Idempotent: a service with a replica writes nothing.
	resp, err := client.WakeService(ctx, "default", "web")
	if err != nil || resp.Index != 0 {
		t.Fatalf("wake with a replica: %+v, %v; want nothing written", resp, err)
	}
}

func TestWakeRefusesServicesThatDoNotScaleToZero(t *testing.T) {
	c := startCluster(t, 1, nil)
	waitLeader(t, c)
	client := clientFor(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := client.ApplyService(ctx, webSpec(t, "web", 0, "")); err != nil {
		t.Fatal(err)
	}
	_, err := client.WakeService(ctx, "default", "web")
	if err == nil || !strings.Contains(err.Error(), "does not scale to zero") {
		t.Fatalf("wake of a service without autoscale min 0: %v, want a refusal", err)
	}
	svc, _, err := client.Service(ctx, "default", "web", api.QueryOptions{})
	if err != nil || svc.Replicas != 0 {
		t.Fatalf("replicas after a refused wake: %+v, %v; want 0", svc, err)
	}
	if _, err := client.WakeService(ctx, "default", "nope"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("wake of a missing service: %v, want not found", err)
	}
}
