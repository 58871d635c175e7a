package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"flotilla/api"
)

// A client sends the node secret its context carries, the handler hands
// it to the backend in the request's context, and a secret too long to
// be one is refused before the backend hears of it.
func TestTheNodeSecretGoesFromTheClientsContextToTheBackends(t *testing.T) {
	var got []string
	b := &fakeBackend{HeartbeatFn: func(ctx context.Context, name string) (api.HeartbeatResponse, error) {
		got = append(got, api.NodeSecretFrom(ctx))
		return api.HeartbeatResponse{}, nil
	}}
	srv := newTestServer(t, b, api.HandlerOptions{})
	client, err := api.NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, secret := range []string{"the-secret-of-n1", ""} {
		if _, err := client.Heartbeat(api.WithNodeSecret(ctx, secret), "n1"); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 2 || got[0] != "the-secret-of-n1" || got[1] != "" {
		t.Fatalf("the backend heard %q, want the secret, then none", got)
	}

	resp := send(t, srv.URL, http.MethodPost, "/v1/nodes/n1/heartbeat", "", api.NodeSecretHeader, strings.Repeat("x", 257))
	if resp.status != http.StatusBadRequest || !strings.Contains(string(resp.body), api.NodeSecretHeader) || len(got) != 2 {
		t.Fatalf("an over-long secret: %d %s (backend heard %d), want 400 naming the header, unheard", resp.status, resp.body, len(got))
	}
	if !api.NodeSecretMatches(api.HashNodeSecret("s"), "s") || api.NodeSecretMatches(api.HashNodeSecret("s"), "t") || api.NodeSecretMatches(api.HashNodeSecret("s"), "") {
		t.Error("NodeSecretMatches: want a match for the same secret only")
	}
}
