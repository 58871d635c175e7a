package scheduler

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"flotilla/api"
)

// The agents share a node-write token; what only a node's own agent may
// do needs that node's secret as well: another node's secret (or none)
// reads no configs or secrets of its allocations, has no certificate
// signed for them, sends no heartbeat or status for the node, and cannot
// register it again while it is up.
func TestOnlyTheNodesOwnSecretActsForIt(t *testing.T) {
	c := startCluster(t, 1, nil)
	waitLeader(t, c)
	client := clientFor(t, c)
	bg := context.Background()
	secrets := map[string]string{"n1": "secret-of-n1-0123456789abcdef0123456789", "n2": "secret-of-n2-0123456789abcdef0123456789"}
	as := func(node string) context.Context { return api.WithNodeSecret(bg, secrets[node]) }
	for _, n := range []string{"n1", "n2"} {
		if _, err := client.RegisterNode(as(n), n, api.NodeRegistration{Capacity: api.Resources{CPU: 4000, Memory: 8 << 30}, Heartbeat: true}); err != nil {
			t.Fatal(err)
		}
	}
	waitWorkloadCA(t, client)
	if _, err := client.ApplyService(bg, webSpec(t, "web", 1, "certificates: [{name: tls, path: /etc/tls}]")); err != nil {
		t.Fatal(err)
	}
	var alloc *api.Allocation
	eventually(t, 20*time.Second, "web placed", func() bool {
		allocs, _, err := client.Allocations(bg, api.AllocFilter{Namespace: "default", Service: "web"}, api.QueryOptions{})
		if err != nil || len(allocs) != 1 {
			return false
		}
		alloc = allocs[0]
		return true
	})
	node, other := alloc.Node, "n1"
	if node == "n1" {
		other = "n2"
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr := csrFor(t, key, "web")

	// The node's own agent does all of it.
	if _, err := client.AllocationFiles(as(node), node, alloc.ID); err != nil {
		t.Fatalf("files with the node's secret: %v", err)
	}
	if _, err := client.IssueCertificate(as(node), node, alloc.ID, "tls", csr); err != nil {
		t.Fatalf("certificate with the node's secret: %v", err)
	}
	acts := []struct {
		what string
		do   func(ctx context.Context) error
	}{
		{"files", func(ctx context.Context) error { _, err := client.AllocationFiles(ctx, node, alloc.ID); return err }},
		{"certificate", func(ctx context.Context) error {
			_, err := client.IssueCertificate(ctx, node, alloc.ID, "tls", csr)
			return err
		}},
		{"heartbeat", func(ctx context.Context) error { _, err := client.Heartbeat(ctx, node); return err }},
		{"status", func(ctx context.Context) error {
			_, err := client.UpdateAllocations(ctx, api.AllocStatusBatch{Node: node,
				Updates: []api.AllocStatusUpdate{{ID: alloc.ID, Status: api.AllocFailed, Message: "forged"}}})
			return err
		}},
		{"traffic", func(ctx context.Context) error { return client.ReportTraffic(ctx, node, nil) }},
		{"usage", func(ctx context.Context) error { return client.ReportUsage(ctx, node, nil) }},
		{"registration", func(ctx context.Context) error {
			_, err := client.RegisterNode(ctx, node, api.NodeRegistration{Capacity: api.Resources{CPU: 4000, Memory: 8 << 30}, Heartbeat: true})
			return err
		}},
	}
	for _, act := range acts {
		for _, tc := range []struct {
			as   string
			ctx  context.Context
			want string
		}{
			{"another node's secret", as(other), "wrong"},
			{"no secret", bg, "missing"},
		} {
			err := act.do(tc.ctx)
			status, _ := apiStatus(err)
			want := fmt.Sprintf("node secret of %s %s", node, tc.want)
			if act.what == "registration" {
				want = map[string]string{"wrong": "registered under another node secret and it is up", "missing": "this registration carries none"}[tc.want]
			}
			if status != http.StatusForbidden || !strings.Contains(err.Error(), want) {
				t.Errorf("%s with %s: %d %v, want 403 saying %q", act.what, tc.as, status, err, want)
			}
		}
	}
	if a, err := client.Allocation(bg, alloc.ID); err != nil || a.Status == api.AllocFailed {
		t.Fatalf("allocation %s: %v, want the forged status refused", alloc.ID, err)
	}
	for _, act := range acts {
		if err := act.do(as(node)); err != nil {
			t.Errorf("%s with the node's own secret: %v", act.what, err)
		}
	}

	// No answer shows the hash.
	n, err := client.Node(bg, node)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(n)
	if strings.Contains(string(js), api.HashNodeSecret(secrets[node])) {
		t.Errorf("the node's answer carries its secret's hash: %s", js)
	}
}
