package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"flotilla/api"
)

// keyringBackend is a fakeBackend with a gossip keyring that records the
// changes asked of it.
type keyringBackend struct {
	fakeBackend
	changes []string
	err     error
}

func (b *keyringBackend) answer(op string, key []byte) (*api.GossipKeyringResponse, error) {
	if b.err != nil {
		return nil, b.err
	}
	if op != "list" {
		b.changes = append(b.changes, op+" "+base64.StdEncoding.EncodeToString(key))
	}
	return &api.GossipKeyringResponse{Op: op, Members: 4, Succeeded: 3, Failed: map[string]string{"n3": "no answer"},
		Keys: map[string]int{"K": 3}, PrimaryKeys: map[string]int{"K": 3}}, nil
}

func (b *keyringBackend) ListGossipKeys(ctx context.Context) (*api.GossipKeyringResponse, error) {
	return b.answer("list", nil)
}
func (b *keyringBackend) InstallGossipKey(ctx context.Context, key []byte) (*api.GossipKeyringResponse, error) {
	return b.answer("install", key)
}
func (b *keyringBackend) UseGossipKey(ctx context.Context, key []byte) (*api.GossipKeyringResponse, error) {
	return b.answer("use", key)
}
func (b *keyringBackend) RemoveGossipKey(ctx context.Context, key []byte) (*api.GossipKeyringResponse, error) {
	return b.answer("remove", key)
}

func TestGossipKeyringRoutesAnswerCounts(t *testing.T) {
	b := &keyringBackend{}
	srv := newTestServer(t, b, api.HandlerOptions{})
	client, err := api.NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	list, err := client.GossipKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if list.Op != "list" || list.Members != 4 || list.Succeeded != 3 || list.Failed["n3"] != "no answer" || list.Keys["K"] != 3 {
		t.Fatalf("list: %+v", list)
	}
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	for _, op := range []string{api.GossipKeyInstall, api.GossipKeyUse, api.GossipKeyRemove} {
		resp, err := client.GossipKeyring(ctx, op, key)
		if err != nil || resp.Op != op || resp.Succeeded != 3 {
			t.Fatalf("%s: %+v %v", op, resp, err)
		}
	}
	want := []string{"install " + key, "use " + key, "remove " + key}
	if strings.Join(b.changes, ",") != strings.Join(want, ",") {
		t.Fatalf("changes asked of the backend: %v, want %v", b.changes, want)
	}
	// The JSON is camelCase.
	r := send(t, srv.URL, http.MethodGet, "/v1/operator/gossip/keyring", "")
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"primaryKeys":{"K":3}`) {
		t.Fatalf("GET: %d %s", r.status, r.body)
	}
}

func TestGossipKeyringRefusesBadInputAndChangesNothing(t *testing.T) {
	b := &keyringBackend{}
	srv := newTestServer(t, b, api.HandlerOptions{})
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, tc := range []struct {
		name, body, field, want string
		status                  int
	}{
		{"no body", "", "", "request body is empty", 400},
		{"an unknown field", `{"op": "install", "key": "` + key + `", "primary": true}`, "primary", "", 400},
		{"no op", `{"key": "` + key + `"}`, "op", "required", 400},
		{"an unknown op", `{"op": "list", "key": "` + key + `"}`, "op", `"list": want install, use or remove`, 400},
		{"no key", `{"op": "install"}`, "key", "required", 400},
		{"a key not base64", `{"op": "use", "key": "abc!"}`, "key", "not base64", 400},
		{"a key of 8 bytes", `{"op": "remove", "key": "AAAAAAAAAAA="}`, "key", "8 bytes once decoded", 400},
		{"a key of the wrong type", `{"op": "install", "key": 32}`, "key", "", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, srv.URL, http.MethodPost, "/v1/operator/gossip/keyring", tc.body)
			var e api.ErrorResponse
			if err := json.Unmarshal(r.body, &e); err != nil {
				t.Fatalf("%d %s: %v", r.status, r.body, err)
			}
			if r.status != tc.status || e.Field != tc.field || !strings.Contains(e.Error, tc.want) {
				t.Fatalf("%d %+v, want %d on field %q saying %q", r.status, e, tc.status, tc.field, tc.want)
			}
		})
	}
	if len(b.changes) != 0 {
		t.Fatalf("refused requests reached the backend: %v", b.changes)
	}
	// The backend's own refusals keep their status.
	b.err = fmt.Errorf("gossip is in the clear: %w", api.ErrConflict)
	if r := send(t, srv.URL, http.MethodGet, "/v1/operator/gossip/keyring", ""); r.status != http.StatusConflict {
		t.Fatalf("GET with a backend refusal: %d %s", r.status, r.body)
	}
	// A backend without a keyring answers 404.
	plain := newTestServer(t, &fakeBackend{}, api.HandlerOptions{})
	if r := send(t, plain.URL, http.MethodPost, "/v1/operator/gossip/keyring", `{"op": "install", "key": "`+key+`"}`); r.status != http.StatusNotFound {
		t.Fatalf("POST to a backend without a keyring: %d %s", r.status, r.body)
	}
}
