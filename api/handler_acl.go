package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
)

// ACLResolver is what a backend with ACLs offers the handler: whether they
// are on, and who a token is.
type ACLResolver interface {
	ACLEnabled() bool
	// ResolveToken finds the token whose secret is given ("" for a
	// request without one: the anonymous token, with the anonymous
	// policy when one exists) and what it may do. An unknown or expired
	// secret is a *PermissionError.
	ResolveToken(ctx context.Context, secret string) (*ACLToken, *ACLPermissions, error)
}

// ACLStore keeps policies and tokens (writes run on the leader).
type ACLStore interface {
	// ACLBootstrap makes the first management token, once; its answer is
	// the only time its secret is shown.
	ACLBootstrap(ctx context.Context) (*ACLToken, error)
	UpsertACLPolicy(ctx context.Context, p ACLPolicy) (WriteResponse, error)
	DeleteACLPolicy(ctx context.Context, name string) (WriteResponse, error)
	ACLPolicies(ctx context.Context, q QueryOptions) ([]*ACLPolicy, uint64, error)
	ACLPolicy(ctx context.Context, name string, q QueryOptions) (*ACLPolicy, uint64, error)
	// CreateACLToken answers the new token with its secret.
	CreateACLToken(ctx context.Context, req ACLTokenRequest) (*ACLToken, error)
	DeleteACLToken(ctx context.Context, accessor string) (WriteResponse, error)
	// ACLTokens and ACLToken answer tokens without their secrets.
	ACLTokens(ctx context.Context, q QueryOptions) ([]*ACLToken, uint64, error)
	ACLToken(ctx context.Context, accessor string, q QueryOptions) (*ACLToken, uint64, error)
}

// registerACL serves /v1/acl/...
func (h *handler) registerACL(mux *http.ServeMux) {
	h.aclResolver, _ = h.b.(ACLResolver)
	h.aclStore, _ = h.b.(ACLStore)
	mux.HandleFunc("POST /v1/acl/bootstrap", h.write(h.aclBootstrap))
	mux.HandleFunc("GET /v1/acl/token/self", h.aclTokenSelf)
	mux.HandleFunc("GET /v1/acl/policies", h.aclPolicies)
	mux.HandleFunc("GET /v1/acl/policy/{name}", h.aclPolicy)
	mux.HandleFunc("PUT /v1/acl/policy/{name}", h.write(h.aclUpsertPolicy))
	mux.HandleFunc("DELETE /v1/acl/policy/{name}", h.write(h.aclDeletePolicy))
	mux.HandleFunc("GET /v1/acl/tokens", h.aclTokens)
	mux.HandleFunc("POST /v1/acl/token", h.write(h.aclCreateToken))
	mux.HandleFunc("GET /v1/acl/token/{accessor}", h.aclToken)
	mux.HandleFunc("DELETE /v1/acl/token/{accessor}", h.write(h.aclDeleteToken))
}

// aclEnabled reports whether this server enforces ACLs.
func (h *handler) aclEnabled() bool {
	return h.aclResolver != nil && h.aclResolver.ACLEnabled()
}

// requestACL is what the authorisation found, in the request's context.
type requestACL struct {
	perms   *ACLPermissions
	seesAll bool
}

type requestACLKey struct{}

// aclOf is the request's permissions; ok is false when ACLs are off.
func aclOf(ctx context.Context) (*requestACL, bool) {
	a, ok := ctx.Value(requestACLKey{}).(*requestACL)
	return a, ok
}

// mayReadNamespace reports whether a request may see objects of ns (with
// ACLs off, always).
func mayReadNamespace(ctx context.Context, ns string) bool {
	a, ok := aclOf(ctx)
	return !ok || a.seesAll || a.perms.AllowNamespace(ns, CapRead)
}

// mayReadNodes reports whether a request may see node events.
func mayReadNodes(ctx context.Context) bool {
	a, ok := aclOf(ctx)
	return !ok || a.seesAll || a.perms.AllowNode(LevelRead)
}

// checkObjectNamespace is nil when the request may read an object of ns.
func checkObjectNamespace(ctx context.Context, ns string) error {
	a, ok := aclOf(ctx)
	if !ok || a.seesAll {
		return nil
	}
	return a.perms.CheckNamespace(ns, CapRead)
}

// filterNamespaces keeps the items the request may read.
func filterNamespaces[T any](ctx context.Context, items []*T, namespace func(*T) string) []*T {
	if _, ok := aclOf(ctx); !ok {
		return items
	}
	out := make([]*T, 0, len(items))
	for _, it := range items {
		if mayReadNamespace(ctx, namespace(it)) {
			out = append(out, it)
		}
	}
	return out
}

// filterEvents keeps the events the request may read: a service's by its
// namespace, a node's (no namespace) with node read.
func filterEvents(ctx context.Context, events []*Event) []*Event {
	if _, ok := aclOf(ctx); !ok {
		return events
	}
	out := make([]*Event, 0, len(events))
	for _, e := range events {
		if e.Namespace != "" && mayReadNamespace(ctx, e.Namespace) || e.Namespace == "" && mayReadNodes(ctx) {
			out = append(out, e)
		}
	}
	return out
}

// authorize enforces the route table (acl_routes.go) in front of the mux
// when ACLs are on.
func (h *handler) authorize(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !h.aclEnabled() {
			mux.ServeHTTP(w, r)
			return
		}
		_, pattern := mux.Handler(r)
		if pattern == "" {
			// No route of ours: the mux answers 404 or 405 by itself.
			mux.ServeHTTP(w, r)
			return
		}
		if aclOpenRoutes[pattern] {
			mux.ServeHTTP(w, r)
			return
		}
		check := aclCheckFor(pattern)
		if check == nil {
			writeError(w, &PermissionError{Reason: fmt.Sprintf("no ACL rule covers %s (refused while ACLs are on)", pattern)})
			return
		}
		q := &aclQuery{r: r, pattern: pattern}
		_, perms, err := h.aclResolver.ResolveToken(r.Context(), TokenFromRequest(r))
		if err != nil {
			writeError(w, err)
			return
		}
		q.perms = perms
		if err := check(q); err != nil {
			writeError(w, err)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), requestACLKey{}, &requestACL{perms: perms, seesAll: q.seesAll}))
		if q.filterBody {
			filterJSONList(w, r, mux)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// filterJSONList serves a list whose handler does not filter and keeps the
// elements whose "namespace" (or "metadata.namespace") the request may
// read; an element without one is dropped. Anything but a 200 JSON list
// passes as it is.
func filterJSONList(w http.ResponseWriter, r *http.Request, next http.Handler) {
	rec := &bufferedResponse{header: http.Header{}, status: http.StatusOK}
	next.ServeHTTP(rec, r)
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	body := rec.body.Bytes()
	var items []map[string]json.RawMessage
	if rec.status == http.StatusOK && json.Unmarshal(body, &items) == nil {
		kept := make([]map[string]json.RawMessage, 0, len(items))
		for _, it := range items {
			if ns := namespaceOfJSON(it); ns != "" && mayReadNamespace(r.Context(), ns) {
				kept = append(kept, it)
			}
		}
		if b, err := json.Marshal(kept); err == nil {
			body = append(b, '\n')
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.status)
	_, _ = w.Write(body) // the client went away
}

func namespaceOfJSON(obj map[string]json.RawMessage) string {
	var ns string
	if raw, ok := obj["namespace"]; ok && json.Unmarshal(raw, &ns) == nil {
		return ns
	}
	var meta struct {
		Namespace string `json:"namespace"`
	}
	if raw, ok := obj["metadata"]; ok && json.Unmarshal(raw, &meta) == nil {
		return meta.Namespace
	}
	return ""
}

// bufferedResponse keeps a handler's answer for filterJSONList.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if !b.wrote {
		b.status, b.wrote = status, true
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.wrote = true
	return b.body.Write(p)
}

// aclRoutesReady answers ErrACLDisabled (501) when ACLs are off.
func (h *handler) aclReady(w http.ResponseWriter) bool {
	if !h.aclEnabled() || h.aclStore == nil {
		writeError(w, fmt.Errorf("%s: %w", "acl", ErrACLDisabled))
		return false
	}
	return true
}

func (h *handler) aclBootstrap(w http.ResponseWriter, r *http.Request) {
	if !h.aclReady(w) {
		return
	}
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		writeError(w, err)
		return
	}
	t, err := h.aclStore.ACLBootstrap(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, t.CreateIndex, t)
}

func (h *handler) aclTokenSelf(w http.ResponseWriter, r *http.Request) {
	if !h.aclReady(w) {
		return
	}
	secret := TokenFromRequest(r)
	t, perms, err := h.aclResolver.ResolveToken(r.Context(), secret)
	if err != nil {
		writeError(w, err)
		return
	}
	self := *t
	self.SecretID, self.Permissions = secret, perms
	writeJSON(w, http.StatusOK, 0, &self)
}

func (h *handler) aclPolicies(w http.ResponseWriter, r *http.Request) {
	if !h.aclReady(w) {
		return
	}
	read(h, w, r, func(ctx context.Context, q QueryOptions) ([]*ACLPolicy, uint64, error) {
		p, i, err := h.aclStore.ACLPolicies(ctx, q)
		if p == nil {
			p = []*ACLPolicy{}
		}
		return p, i, err
	})
}

func (h *handler) aclPolicy(w http.ResponseWriter, r *http.Request) {
	if !h.aclReady(w) {
		return
	}
	read(h, w, r, func(ctx context.Context, q QueryOptions) (*ACLPolicy, uint64, error) {
		return h.aclStore.ACLPolicy(ctx, r.PathValue("name"), q)
	})
}

func (h *handler) aclUpsertPolicy(w http.ResponseWriter, r *http.Request) {
	if !h.aclReady(w) {
		return
	}
	writeWith(w, r, func(ctx context.Context, req ACLPolicyRequest) (any, uint64, error) {
		name := r.PathValue("name")
		if err := ValidateACLName("name", name); err != nil {
			return nil, 0, err
		}
		if len(req.Description) > maxACLDescriptionLength {
			return nil, 0, fieldErr("description", "must be at most %d characters", maxACLDescriptionLength)
		}
		if _, err := DecodeACLRules("rules", []byte(req.Rules)); err != nil {
			return nil, 0, err
		}
		resp, err := h.aclStore.UpsertACLPolicy(ctx, ACLPolicy{Name: name, Description: req.Description, Rules: req.Rules})
		return resp, resp.Index, err
	})
}

func (h *handler) aclDeletePolicy(w http.ResponseWriter, r *http.Request) {
	if !h.aclReady(w) {
		return
	}
	resp, err := h.aclStore.DeleteACLPolicy(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp.Index, resp)
}

func (h *handler) aclTokens(w http.ResponseWriter, r *http.Request) {
	if !h.aclReady(w) {
		return
	}
	read(h, w, r, func(ctx context.Context, q QueryOptions) ([]*ACLToken, uint64, error) {
		t, i, err := h.aclStore.ACLTokens(ctx, q)
		if t == nil {
			t = []*ACLToken{}
		}
		for _, tok := range t {
			tok.SecretID = "" // never in a list, whatever the backend did
		}
		return t, i, err
	})
}

func (h *handler) aclCreateToken(w http.ResponseWriter, r *http.Request) {
	if !h.aclReady(w) {
		return
	}
	writeWith(w, r, func(ctx context.Context, req ACLTokenRequest) (any, uint64, error) {
		if err := req.Validate(); err != nil {
			return nil, 0, err
		}
		t, err := h.aclStore.CreateACLToken(ctx, req)
		if err != nil {
			return nil, 0, err
		}
		return t, t.CreateIndex, nil
	})
}

func (h *handler) aclToken(w http.ResponseWriter, r *http.Request) {
	if !h.aclReady(w) {
		return
	}
	read(h, w, r, func(ctx context.Context, q QueryOptions) (*ACLToken, uint64, error) {
		t, i, err := h.aclStore.ACLToken(ctx, r.PathValue("accessor"), q)
		if t != nil {
			t.SecretID = ""
		}
		return t, i, err
	})
}

func (h *handler) aclDeleteToken(w http.ResponseWriter, r *http.Request) {
	if !h.aclReady(w) {
		return
	}
	resp, err := h.aclStore.DeleteACLToken(r.Context(), r.PathValue("accessor"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp.Index, resp)
}

// Validate checks a token request.
func (req *ACLTokenRequest) Validate() error {
	if req.Name == "" {
		return fieldErr("name", "required")
	}
	if len(req.Name) > maxACLNameLength {
		return fieldErr("name", "must be at most %d characters", maxACLNameLength)
	}
	switch req.Type {
	case "", TokenClient:
		if len(req.Policies) == 0 {
			return fieldErr("policies", "a client token needs at least one policy")
		}
	case TokenManagement:
		if len(req.Policies) > 0 {
			return fieldErr("policies", "a management token may do everything: give it no policies")
		}
	default:
		return fieldErr("type", "unknown type %q: want client or management", req.Type)
	}
	if len(req.Policies) > maxTokenPolicies {
		return fieldErr("policies", "at most %d policies", maxTokenPolicies)
	}
	seen := map[string]bool{}
	for i, p := range req.Policies {
		if err := ValidateACLName(indexPath("policies", i), p); err != nil {
			return err
		}
		if seen[p] {
			return fieldErr(indexPath("policies", i), "policy %q listed twice", p)
		}
		seen[p] = true
	}
	if req.TTL < 0 {
		return fieldErr("ttl", "must not be negative")
	}
	return nil
}

// watchACL calls changed once the ACL tokens or policies change, until ctx
// ends, and reports whether they did. The indexes it watches from are read
// first, so a change made meanwhile is seen. It watches nothing when the
// request is not under ACLs.
func (h *handler) watchACL(ctx context.Context, changed func()) (didChange func() bool) {
	var did atomic.Bool
	if _, ok := aclOf(ctx); !ok || h.aclStore == nil {
		return did.Load
	}
	watch := func(list func(ctx context.Context, q QueryOptions) (uint64, error)) {
		index, err := list(ctx, QueryOptions{})
		go func() {
			for err == nil && ctx.Err() == nil {
				var next uint64
				if next, err = list(ctx, QueryOptions{Index: index, Wait: MaxWait}); err == nil && next > index {
					did.Store(true)
					changed()
					return
				}
			}
		}()
	}
	watch(func(ctx context.Context, q QueryOptions) (uint64, error) {
		_, i, err := h.aclStore.ACLTokens(ctx, q)
		return i, err
	})
	watch(func(ctx context.Context, q QueryOptions) (uint64, error) {
		_, i, err := h.aclStore.ACLPolicies(ctx, q)
		return i, err
	})
	return did.Load
}

// recheckACL resolves a long request's token again (the event stream's,
// between batches): nil while it is still known, and the request's
// permissions follow its policies' changes.
func (h *handler) recheckACL(r *http.Request) error {
	a, ok := aclOf(r.Context())
	if !ok {
		return nil
	}
	_, perms, err := h.aclResolver.ResolveToken(r.Context(), TokenFromRequest(r))
	if err != nil {
		return err
	}
	a.perms = perms
	return nil
}

// filterTopAllocations keeps the figures of the namespaces the request may
// read.
func filterTopAllocations(ctx context.Context, in []AllocationUsage) []AllocationUsage {
	if _, ok := aclOf(ctx); !ok {
		return in
	}
	out := []AllocationUsage{}
	for _, a := range in {
		if mayReadNamespace(ctx, a.Namespace) {
			out = append(out, a)
		}
	}
	return out
}
