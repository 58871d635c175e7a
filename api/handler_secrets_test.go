package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"flotilla/api"
)

// fakeFiles is a backend with configs and secrets: it records the specs
// it was sent and lists what a test puts in it.
type fakeFiles struct {
	*fakeBackend
	applied []api.FileObjectSpec
	secrets []*api.Secret
}

func (f *fakeFiles) ApplyConfig(ctx context.Context, spec api.FileObjectSpec) (api.FileWriteResponse, error) {
	f.applied = append(f.applied, spec)
	return api.FileWriteResponse{Index: 7, Version: 7, Created: true, Changed: true}, nil
}
func (f *fakeFiles) ApplySecret(ctx context.Context, spec api.FileObjectSpec) (api.FileWriteResponse, error) {
	f.applied = append(f.applied, spec)
	return api.FileWriteResponse{Index: 8, Version: 8, Created: true, Changed: true}, nil
}
func (f *fakeFiles) DeleteConfig(ctx context.Context, namespace, name string) (api.WriteResponse, error) {
	return api.WriteResponse{}, nil
}
func (f *fakeFiles) DeleteSecret(ctx context.Context, namespace, name string) (api.WriteResponse, error) {
	return api.WriteResponse{}, nil
}
func (f *fakeFiles) Configs(ctx context.Context, namespace string, q api.QueryOptions) ([]*api.Config, uint64, error) {
	return nil, 1, nil
}
func (f *fakeFiles) Config(ctx context.Context, namespace, name string, q api.QueryOptions) (*api.Config, uint64, error) {
	return nil, 0, api.ErrNotFound
}
func (f *fakeFiles) Secrets(ctx context.Context, namespace string, q api.QueryOptions) ([]*api.Secret, uint64, error) {
	return f.secrets, 1, nil
}
func (f *fakeFiles) Secret(ctx context.Context, namespace, name string, q api.QueryOptions) (*api.Secret, uint64, error) {
	return f.secrets[0], 1, nil
}
func (f *fakeFiles) SecretValues(ctx context.Context, namespace, name string) (*api.SecretValues, error) {
	return &api.SecretValues{Name: name, Namespace: namespace, Data: map[string]string{"password": "hunter2"}, ModifyIndex: 3}, nil
}
func (f *fakeFiles) AllocationFiles(ctx context.Context, node, id string) (*api.AllocationFiles, error) {
	if node != "n1" {
		return nil, api.ErrNotFound
	}
	return &api.AllocationFiles{Allocation: id}, nil
}

func TestFileObjectWritesRefuseBadInputNamingTheFieldAndNeverTheValue(t *testing.T) {
	b := &fakeFiles{fakeBackend: &fakeBackend{}}
	srv := newTestServer(t, b, api.HandlerOptions{})
	for _, c := range []struct {
		name, path, body, field, want string
	}{
		{"key not a file name", "/v1/secrets/default/db", `{"kind": "Secret", "metadata": {"name": "db"}, "data": {"../etc": "hunter2"}}`, `data["../etc"]`, "invalid key"},
		{"value not a string", "/v1/secrets/default/db", `{"kind": "Secret", "metadata": {"name": "db"}, "data": {"pin": 424242}}`, "data.pin", "must be a string"},
		{"data not an object", "/v1/secrets/default/db", `{"kind": "Secret", "metadata": {"name": "db"}, "data": "hunter2"}`, "data", "must be an object"},
		{"unknown field", "/v1/configs/default/app", `{"kind": "Config", "metadata": {"name": "app"}, "data": {}, "stringData": {}}`, "stringData", "unknown field"},
		{"kind of the other route", "/v1/configs/default/db", `{"kind": "Secret", "metadata": {"name": "db"}, "data": {}}`, "kind", "does not match"},
		{"name of another URL", "/v1/configs/default/app", `{"kind": "Config", "metadata": {"name": "other"}, "data": {}}`, "metadata.name", "does not match"},
		{"bad name", "/v1/configs/default/App", `{"kind": "Config", "metadata": {"name": "App"}, "data": {}}`, "metadata.name", "invalid name"},
		{"too big", "/v1/configs/default/big", `{"kind": "Config", "metadata": {"name": "big"}, "data": {"a": "` + strings.Repeat("x", api.MaxFileObjectBytes) + `"}}`, "data", "64 KiB"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := send(t, srv.URL, http.MethodPut, c.path, c.body)
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			e := r.errorBody(t)
			if e.Field != c.field || !strings.Contains(e.Error, c.want) {
				t.Fatalf("error %+v, want field %s and %q", e, c.field, c.want)
			}
			for _, v := range []string{"hunter2", "424242"} {
				if strings.Contains(e.Error, v) {
					t.Fatalf("the error quotes a value: %s", e.Error)
				}
			}
		})
	}
	if len(b.applied) != 0 {
		t.Fatalf("bad input reached the backend: %+v", b.applied)
	}
	r := send(t, srv.URL, http.MethodPut, "/v1/secrets/default/db", `{"kind": "Secret", "metadata": {"name": "db"}, "data": {"password": "hunter2"}}`)
	if r.status != http.StatusOK || len(b.applied) != 1 || b.applied[0].Metadata.Namespace != "default" || b.applied[0].Data["password"] != "hunter2" {
		t.Fatalf("a good secret: %d %s, applied %+v", r.status, r.body, b.applied)
	}
}

func TestSecretListsCarryKeysAndSizesOnly(t *testing.T) {
	b := &fakeFiles{fakeBackend: &fakeBackend{}, secrets: []*api.Secret{{Name: "db", Namespace: "default", Keys: []api.SecretKey{{Name: "password", Size: 7}}, Hash: "abc", KeyID: "k-1"}}}
	srv := newTestServer(t, b, api.HandlerOptions{})
	r := send(t, srv.URL, http.MethodGet, "/v1/secrets", "")
	var list []map[string]any
	if err := json.Unmarshal(r.body, &list); err != nil || r.status != http.StatusOK || len(list) != 1 {
		t.Fatalf("list: %d %s %v", r.status, r.body, err)
	}
	if _, has := list[0]["data"]; has || !strings.Contains(string(r.body), `"size":7`) {
		t.Fatalf("a listed secret: %s", r.body)
	}
	if r := send(t, srv.URL, http.MethodGet, "/v1/secrets/default/db/values", ""); r.status != http.StatusOK || !strings.Contains(string(r.body), "hunter2") {
		t.Fatalf("values: %d %s", r.status, r.body)
	}
	if r := send(t, srv.URL, http.MethodGet, "/v1/nodes/n2/allocations/a1/files", ""); r.status != http.StatusNotFound {
		t.Fatalf("files of an allocation asked for by another node: %d %s", r.status, r.body)
	}
	if r := send(t, srv.URL, http.MethodGet, "/v1/configs", ""); r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != "[]" {
		t.Fatalf("empty config list: %d %s", r.status, r.body)
	}
}

func TestBackendWithoutFileStoreAnswers404(t *testing.T) {
	srv := newTestServer(t, &fakeBackend{}, api.HandlerOptions{})
	for _, p := range []string{"/v1/configs", "/v1/secrets/default/db", "/v1/operator/keyring/local"} {
		if r := send(t, srv.URL, http.MethodGet, p, ""); r.status != http.StatusNotFound {
			t.Fatalf("GET %s: %d %s", p, r.status, r.body)
		}
	}
}

func TestDecodeDocumentsTakesEveryKind(t *testing.T) {
	docs, err := api.DecodeDocuments("all.yaml", []byte(`kind: Config
metadata: {name: app}
data: {app.yaml: "a: 1\n"}
---
kind: Secret
metadata: {name: db, namespace: prod}
data: {password: "hunter2"}
---
kind: Service
name: web
image: demo
secrets: [{name: db, env: {DB_PASSWORD: password}}]
`))
	if err != nil || len(docs) != 3 {
		t.Fatalf("decode: %v %+v", err, docs)
	}
	if docs[0].File == nil || docs[0].File.Metadata.Namespace != "default" || docs[1].File.Kind != api.KindSecret || docs[2].Service == nil {
		t.Fatalf("documents: %+v", docs)
	}
	_, err = api.DecodeDocuments("bad.yaml", []byte("kind: Secret\nmetadata: {name: db}\ndata: {pin: 1234}\n"))
	var fe *api.FieldError
	if !errors.As(err, &fe) || fe.Field != "data.pin" || strings.Contains(err.Error(), "1234") {
		t.Fatalf("a number value: %v", err)
	}
	// A secret as get prints it (no values) is not applied back as a
	// service, nor as an empty secret.
	printed, _ := json.Marshal(api.Secret{Name: "db", Namespace: "default", Keys: []api.SecretKey{{Name: "password", Size: 7}}, Hash: "ab12", KeyID: "k-1"})
	_, err = api.DecodeDocuments("db.json", printed)
	if !errors.As(err, &fe) || fe.Field != "kind" || !strings.Contains(fe.Message, "a secret as get prints it, which holds no values and cannot be applied back") {
		t.Fatalf("a printed secret applied back: %v", err)
	}
}
