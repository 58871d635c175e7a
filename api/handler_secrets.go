package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// FileStore is what a backend offers for configs and secrets (files.go).
// A backend without it answers 404 on their routes.
type FileStore interface {
	ApplyConfig(ctx context.Context, spec FileObjectSpec) (FileWriteResponse, error)
	DeleteConfig(ctx context.Context, namespace, name string) (WriteResponse, error)
	// Configs lists a namespace's configs ("" for every namespace).
	Configs(ctx context.Context, namespace string, q QueryOptions) ([]*Config, uint64, error)
	Config(ctx context.Context, namespace, name string, q QueryOptions) (*Config, uint64, error)
	ApplySecret(ctx context.Context, spec FileObjectSpec) (FileWriteResponse, error)
	DeleteSecret(ctx context.Context, namespace, name string) (WriteResponse, error)
	// Secrets and Secret never carry values.
	Secrets(ctx context.Context, namespace string, q QueryOptions) ([]*Secret, uint64, error)
	Secret(ctx context.Context, namespace, name string, q QueryOptions) (*Secret, uint64, error)
	// SecretValues decrypts a secret: the one read of values for people.
	SecretValues(ctx context.Context, namespace, name string) (*SecretValues, error)
	// AllocationFiles is what the agent of node mounts for allocation id,
	// ErrNotFound unless the allocation is placed on that node.
	AllocationFiles(ctx context.Context, node, id string) (*AllocationFiles, error)
}

// Keyrings is what a backend offers for the keyring that encrypts
// secrets at rest.
type Keyrings interface {
	// KeyringRotate makes a new active key, hands it to every server and
	// encrypts every secret again under it (leader only).
	KeyringRotate(ctx context.Context) (KeyringRotateResponse, error)
	// KeyringStatus is the cluster's keys and which servers hold each
	// (leader only: it asks the others).
	KeyringStatus(ctx context.Context) (*KeyringStatus, error)
	// KeyringLocal is this server's own keyring.
	KeyringLocal(ctx context.Context) (*KeyringLocal, error)
}

// registerSecrets adds the routes of configs, secrets and the keyring.
func (h *handler) registerSecrets(mux *http.ServeMux) {
	files, _ := h.b.(FileStore)
	keys, _ := h.b.(Keyrings)
	need := func(ok bool, what string, fn http.HandlerFunc) http.HandlerFunc {
		if ok {
			return fn
		}
		return func(w http.ResponseWriter, r *http.Request) {
			writeError(w, fmt.Errorf("this server keeps no %s: %w", what, ErrNotFound))
		}
	}
	fs := &fileHandlers{h: h, b: files}
	mux.HandleFunc("GET /v1/configs", need(files != nil, "configs", fs.configs))
	mux.HandleFunc("GET /v1/configs/{ns}/{name}", need(files != nil, "configs", fs.config))
	mux.HandleFunc("PUT /v1/configs/{ns}/{name}", need(files != nil, "configs", h.write(fs.apply(KindConfig))))
	mux.HandleFunc("DELETE /v1/configs/{ns}/{name}", need(files != nil, "configs", h.write(fs.deleteConfig)))
	mux.HandleFunc("GET /v1/secrets", need(files != nil, "secrets", fs.secrets))
	mux.HandleFunc("GET /v1/secrets/{ns}/{name}", need(files != nil, "secrets", fs.secret))
	mux.HandleFunc("GET /v1/secrets/{ns}/{name}/values", need(files != nil, "secrets", fs.secretValues))
	mux.HandleFunc("PUT /v1/secrets/{ns}/{name}", need(files != nil, "secrets", h.write(fs.apply(KindSecret))))
	mux.HandleFunc("DELETE /v1/secrets/{ns}/{name}", need(files != nil, "secrets", h.write(fs.deleteSecret)))
	mux.HandleFunc("GET /v1/nodes/{name}/allocations/{id}/files", need(files != nil, "configs or secrets", fs.allocationFiles))
	kh := &keyringHandlers{b: keys}
	mux.HandleFunc("POST /v1/operator/keyring/rotate", need(keys != nil, "keyring", h.write(kh.rotate)))
	// The list asks every server which keys it holds: the leader knows
	// them all (the Raft configuration), so it answers.
	mux.HandleFunc("GET /v1/operator/keyring", need(keys != nil, "keyring", h.write(kh.status)))
	mux.HandleFunc("GET /v1/operator/keyring/local", need(keys != nil, "keyring", kh.local))
}

type fileHandlers struct {
	h *handler
	b FileStore
}

func (f *fileHandlers) configs(w http.ResponseWriter, r *http.Request) {
	read(f.h, w, r, func(ctx context.Context, q QueryOptions) ([]*Config, uint64, error) {
		c, i, err := f.b.Configs(ctx, r.URL.Query().Get("namespace"), q)
		if c == nil {
			c = []*Config{}
		}
		return c, i, err
	})
}

func (f *fileHandlers) config(w http.ResponseWriter, r *http.Request) {
	read(f.h, w, r, func(ctx context.Context, q QueryOptions) (*Config, uint64, error) {
		return f.b.Config(ctx, r.PathValue("ns"), r.PathValue("name"), q)
	})
}

func (f *fileHandlers) secrets(w http.ResponseWriter, r *http.Request) {
	read(f.h, w, r, func(ctx context.Context, q QueryOptions) ([]*Secret, uint64, error) {
		s, i, err := f.b.Secrets(ctx, r.URL.Query().Get("namespace"), q)
		if s == nil {
			s = []*Secret{}
		}
		return s, i, err
	})
}

func (f *fileHandlers) secret(w http.ResponseWriter, r *http.Request) {
	read(f.h, w, r, func(ctx context.Context, q QueryOptions) (*Secret, uint64, error) {
		return f.b.Secret(ctx, r.PathValue("ns"), r.PathValue("name"), q)
	})
}

// secretValues is a consistent read answered by the server asked, which
// decrypts with its own keyring.
func (f *fileHandlers) secretValues(w http.ResponseWriter, r *http.Request) {
	read(f.h, w, r, func(ctx context.Context, q QueryOptions) (*SecretValues, uint64, error) {
		v, err := f.b.SecretValues(ctx, r.PathValue("ns"), r.PathValue("name"))
		if err != nil {
			return nil, 0, err
		}
		return v, v.ModifyIndex, nil
	})
}

func (f *fileHandlers) allocationFiles(w http.ResponseWriter, r *http.Request) {
	read(f.h, w, r, func(ctx context.Context, q QueryOptions) (*AllocationFiles, uint64, error) {
		files, err := f.b.AllocationFiles(ctx, r.PathValue("name"), r.PathValue("id"))
		return files, 0, err
	})
}

func (f *fileHandlers) apply(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(r.Body)
		if err != nil {
			writeError(w, err)
			return
		}
		spec, err := DecodeFileObjectJSON("request", data)
		if err != nil {
			writeError(w, err)
			return
		}
		if spec.Kind != kind {
			writeError(w, &FieldError{Field: "kind", Message: fmt.Sprintf("%q does not match the URL's /v1/%ss", spec.Kind, strings.ToLower(kind))})
			return
		}
		if ns := r.PathValue("ns"); spec.Metadata.Namespace != ns {
			writeError(w, &FieldError{Field: "metadata.namespace", Message: fmt.Sprintf("%q does not match the URL's namespace %q", spec.Metadata.Namespace, ns)})
			return
		}
		if name := r.PathValue("name"); spec.Metadata.Name != name {
			writeError(w, &FieldError{Field: "metadata.name", Message: fmt.Sprintf("%q does not match the URL's name %q", spec.Metadata.Name, name)})
			return
		}
		var resp FileWriteResponse
		if kind == KindSecret {
			resp, err = f.b.ApplySecret(r.Context(), spec)
		} else {
			resp, err = f.b.ApplyConfig(r.Context(), spec)
		}
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, resp.Index, resp)
	}
}

func (f *fileHandlers) deleteConfig(w http.ResponseWriter, r *http.Request) {
	resp, err := f.b.DeleteConfig(r.Context(), r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp.Index, resp)
}

func (f *fileHandlers) deleteSecret(w http.ResponseWriter, r *http.Request) {
	resp, err := f.b.DeleteSecret(r.Context(), r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp.Index, resp)
}

type keyringHandlers struct{ b Keyrings }

func (k *keyringHandlers) rotate(w http.ResponseWriter, r *http.Request) {
	resp, err := k.b.KeyringRotate(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp.Index, resp)
}

func (k *keyringHandlers) status(w http.ResponseWriter, r *http.Request) {
	st, err := k.b.KeyringStatus(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, 0, st)
}

func (k *keyringHandlers) local(w http.ResponseWriter, r *http.Request) {
	l, err := k.b.KeyringLocal(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, 0, l)
}
