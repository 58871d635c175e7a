package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"flotilla/internal/vnet"
)

// MaxBodyBytes limits every request body.
const MaxBodyBytes = 1 << 20

// Blocking query bounds.
const (
	DefaultWait = time.Minute
	MaxWait     = 5 * time.Minute
)

// IndexHeader carries the index an answer reflects.
const IndexHeader = "X-Flotilla-Index"

// Every read also says what the answering server knows of the leader:
// KnownLeaderHeader is "true" or "false", LastContactHeader the
// milliseconds since it last heard from the leader (0 on the leader, -1
// when it never has). A stale read (?stale) is only as fresh as these say.
const (
	KnownLeaderHeader = "X-Flotilla-Known-Leader"
	LastContactHeader = "X-Flotilla-Last-Contact"
	// LeaderAPIHeader is "unknown" when QueryMeta.LeaderAPIUnknown.
	LeaderAPIHeader = "X-Flotilla-Leader-Api"
)

// RequestIDHeader carries the ID a client chose for one logical write; it
// stays the same when the client sends the write again (after a timeout,
// to another server), and the servers apply a write with an ID they have
// applied once only once, answering the first result.
const RequestIDHeader = "X-Flotilla-Request-Id"

// MaxSnapshotBytes limits a snapshot sent to PUT /v1/operator/snapshot.
const MaxSnapshotBytes = 4 << 30

type requestIDKey struct{}

// WithRequestID returns ctx carrying a write's request ID.
func WithRequestID(ctx context.Context, id string) context.Context {
	if id == "" {
		return ctx
	}
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFrom is the request ID a write's context carries, or "".
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// validRequestID accepts up to 128 letters, digits and -_.:
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:", r)) {
			return false
		}
	}
	return true
}

// QueryMeta is what a server knows of the leader when it answers a read.
type QueryMeta struct {
	KnownLeader bool
	// LastContact is how long ago this server heard from the leader: 0 on
	// the leader, negative when it never has.
	LastContact time.Duration
	// LeaderAPIUnknown: Raft names a leader, but gossip never told this
	// server the leader's API address, so it cannot forward writes or
	// confirm reads (a server outside the gossip pool).
	LeaderAPIUnknown bool
}

// ReadConsistency is what a backend offers for consistent reads (a
// backend without it answers every read from its own state, as stale).
type ReadConsistency interface {
	// ReadBarrier returns once this server's state holds every write
	// committed before the call: on the leader, once a quorum confirmed it
	// still leads; on a follower, once it applied up to the index the
	// leader gave it. ErrNoLeader when that cannot be known.
	ReadBarrier(ctx context.Context) error
	// ReadIndex is the leader's half of ReadBarrier: it confirms its
	// leadership and answers the index a follower must reach.
	ReadIndex(ctx context.Context) (uint64, error)
	// WaitForIndex returns once this server's state reflects index.
	WaitForIndex(ctx context.Context, index uint64) error
	QueryMeta() QueryMeta
}

// Operator is what a backend offers operators: backup and restore of the
// whole state and removal of a dead server.
type Operator interface {
	// SnapshotSave is an archive of the state and the index it reflects;
	// SnapshotRestore replaces the state with one (leader only).
	SnapshotSave(ctx context.Context) (io.ReadCloser, uint64, error)
	// force restores another cluster's state, or one whose secrets'
	// keys this cluster lacks.
	SnapshotRestore(ctx context.Context, r io.Reader, force bool) (uint64, error)
	// RemovePeer removes a server from the Raft voters (leader only).
	RemovePeer(ctx context.Context, id string) (uint64, error)
}

// ReadIndexResponse answers GET /v1/status/read-index.
type ReadIndexResponse struct {
	Index uint64 `json:"index"`
}

// forwardedHeader marks a write a follower forwarded, so that it is never
// forwarded twice.
const forwardedHeader = "X-Flotilla-Forwarded"

// HandlerOptions are the handler's optional parts.
type HandlerOptions struct {
	// Metrics serves GET /metrics.
	Metrics http.Handler
	// UI serves the web dashboard under GET /ui/ (package ui); GET /
	// then redirects there.
	UI     http.Handler
	Logger *slog.Logger
	// Net is where writes are forwarded to the leader through: nil for
	// the host's network, or a simulated one (vnet.Memory).
	Net vnet.Net
	// ForwardTLS, when set, is the client TLS writes are forwarded to
	// the leader with, over HTTPS (handler_tls.go).
	ForwardTLS *tls.Config
}

type handler struct {
	b      Backend
	logger *slog.Logger
	// fwd carries the writes forwarded to the leader, over
	// forwardScheme (https with ForwardTLS).
	fwd           forwarders
	forwardScheme string
	// reads and ops are the backend's optional parts, nil when it has none.
	reads ReadConsistency
	ops   Operator
	// aclResolver and aclStore are the backend's ACLs (handler_acl.go),
	// nil when it has none: every request is then allowed.
	aclResolver ACLResolver
	aclStore    ACLStore
}

// NewHandler serves the /v1 API (README.md, "HTTP API") over a backend.
func NewHandler(b Backend, opts HandlerOptions) http.Handler {
	return newHandler(b, opts, defaultForwarders)
}

func newHandler(b Backend, opts HandlerOptions, fwd forwarders) http.Handler {
	h := &handler{b: b, logger: opts.Logger, fwd: fwd, forwardScheme: "http"}
	if !vnet.IsHost(opts.Net) {
		h.fwd = h.fwd.with(func(t *http.Transport) { t.DialContext = opts.Net.DialContext })
	}
	h.useForwardTLS(opts.ForwardTLS)
	if h.logger == nil {
		h.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	h.reads, _ = b.(ReadConsistency)
	h.ops, _ = b.(Operator)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status/leader", h.leader)
	mux.HandleFunc("GET /v1/status/peers", h.peers)
	mux.HandleFunc("GET /v1/status/read-index", h.readIndex)
	mux.HandleFunc("GET /v1/operator/snapshot", h.snapshotSave)
	mux.HandleFunc("PUT /v1/operator/snapshot", h.writeUpTo(MaxSnapshotBytes, h.snapshotRestore))
	mux.HandleFunc("DELETE /v1/operator/raft/peers/{id}", h.write(h.removePeer))
	h.registerGossip(mux)
	mux.HandleFunc("GET /v1/services", h.services)
	mux.HandleFunc("GET /v1/services/{ns}/{name}", h.service)
	mux.HandleFunc("PUT /v1/services/{ns}/{name}", h.write(h.applyService))
	mux.HandleFunc("DELETE /v1/services/{ns}/{name}", h.write(h.deleteService))
	mux.HandleFunc("GET /v1/services/{ns}/{name}/revisions", h.revisions)
	mux.HandleFunc("GET /v1/services/{ns}/{name}/revisions/{revision}", h.revision)
	mux.HandleFunc("POST /v1/services/{ns}/{name}/scale", h.write(h.scaleService))
	mux.HandleFunc("POST /v1/services/{ns}/{name}/wake", h.write(h.wakeService))
	mux.HandleFunc("GET /v1/services/{ns}/{name}/rollout", h.rollout)
	mux.HandleFunc("POST /v1/services/{ns}/{name}/rollout/undo", h.write(h.undoRollout))
	mux.HandleFunc("POST /v1/services/{ns}/{name}/rollout/{action}", h.write(h.rolloutAction))
	mux.HandleFunc("GET /v1/nodes", h.nodes)
	mux.HandleFunc("GET /v1/nodes/{name}", h.node)
	mux.HandleFunc("PUT /v1/nodes/{name}", h.write(h.registerNode))
	mux.HandleFunc("POST /v1/nodes/{name}/heartbeat", h.writeVia(h.fwd.heartbeats, MaxBodyBytes, h.heartbeat))
	mux.HandleFunc("POST /v1/nodes/{name}/drain", h.write(h.drain))
	mux.HandleFunc("POST /v1/nodes/{name}/eligibility", h.write(h.eligibility))
	mux.HandleFunc("POST /v1/nodes/{name}/status", h.write(h.nodeStatus))
	mux.HandleFunc("GET /v1/nodes/{name}/allocations", h.nodeAllocations)
	mux.HandleFunc("GET /v1/allocations", h.allocations)
	mux.HandleFunc("GET /v1/allocations/{id}", h.allocation)
	mux.HandleFunc("POST /v1/allocations/status", h.write(h.allocStatus))
	mux.HandleFunc("GET /v1/evaluations", h.evaluations)
	mux.HandleFunc("GET /v1/events", h.events)
	mux.HandleFunc("GET /v1/endpoints", h.endpoints)
	mux.HandleFunc("GET /v1/services/{ns}/{name}/endpoints", h.serviceEndpoints)
	mux.HandleFunc("POST /v1/nodes/{name}/traffic", h.write(h.reportTraffic))
	// Traffic figures live on the leader: reads of them go there too.
	mux.HandleFunc("GET /v1/services/{ns}/{name}/traffic", h.write(h.traffic))
	// And a shadow rollout's merged comparison figures.
	mux.HandleFunc("GET /v1/services/{ns}/{name}/rollout/diffs", h.write(h.rolloutDiffs))
	// So do the allocations' CPU and memory figures.
	mux.HandleFunc("POST /v1/nodes/{name}/usage", h.write(h.reportUsage))
	mux.HandleFunc("GET /v1/top/allocations", h.write(h.topAllocations))
	h.registerSecrets(mux) // configs, secrets, the keyring (handler_secrets.go)
	h.registerACL(mux)
	h.registerCerts(mux) // the workload CA, replicas' certificates (handler_certs.go)
	if opts.Metrics != nil {
		mux.Handle("GET /metrics", opts.Metrics)
	}
	if opts.UI != nil {
		mux.Handle("GET /ui/", opts.UI)
		mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if allowed := allowedMethods(mux, r); len(allowed) > 0 {
			// The path is a route, under other methods: 405, as
			// ServeMux answers when no pattern catches everything.
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeJSON(w, http.StatusMethodNotAllowed, 0, ErrorResponse{Error: fmt.Sprintf("%s %s: method not allowed (allowed: %s)", r.Method, r.URL.Path, strings.Join(allowed, ", "))})
			return
		}
		writeError(w, fmt.Errorf("no such endpoint: %s %s: %w", r.Method, r.URL.Path, ErrNotFound))
	})
	return withNodeSecrets(h.authorize(mux))
}

// allowedMethods lists the methods under which mux routes r's path to a
// handler of its own (not the catch-all "/").
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" {
			out = append(out, m)
		}
	}
	return out
}

// writeError maps an error to a status and the {"error", "field"} body.
func writeError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	body := ErrorResponse{Error: err.Error()}
	var fe *FieldError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &fe):
		status, body.Field = http.StatusBadRequest, fe.Field
	case errors.As(err, &tooBig):
		status, body.Error = http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", tooBig.Limit)
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrConflict):
		status = http.StatusConflict
	case errors.Is(err, ErrPermissionDenied):
		status = http.StatusForbidden
	case errors.Is(err, ErrACLDisabled):
		status = http.StatusNotImplemented
	case errors.Is(err, ErrNoLeader):
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
		var nl *NoLeaderError
		if errors.As(err, &nl) {
			w.Header().Set(NoLeaderForHeader, strconv.FormatInt(nl.For.Milliseconds(), 10))
		}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, 0, body)
}

// writeWith decodes a write's body (strictly, size-limited) into a T, runs
// call with it and answers what call returns, its index in the header; an
// error (a field error included) answers as writeError does.
func writeWith[T any](w http.ResponseWriter, r *http.Request, call func(ctx context.Context, req T) (any, uint64, error)) {
	var req T
	if err := body(r, "", &req); err != nil {
		writeError(w, err)
		return
	}
	resp, index, err := call(r.Context(), req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, index, resp)
}

func writeJSON(w http.ResponseWriter, status int, index uint64, v any) {
	w.Header().Set("Content-Type", "application/json")
	if index > 0 {
		w.Header().Set(IndexHeader, strconv.FormatUint(index, 10))
	}
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v) // the client went away; nothing to tell it
}

// query reads ?index=N&wait=D.
func query(r *http.Request) (QueryOptions, error) {
	var q QueryOptions
	if s := r.URL.Query().Get("index"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return q, &FieldError{Field: "index", Message: fmt.Sprintf("not a number: %q", s)}
		}
		q.Index = n
		q.Wait = DefaultWait
	}
	if s := r.URL.Query().Get("wait"); s != "" {
		d, err := ParseDuration(s)
		if err != nil {
			return q, &FieldError{Field: "wait", Message: err.Error()}
		}
		q.Wait = d.Std()
	}
	if q.Wait > MaxWait {
		q.Wait = MaxWait
	}
	stale, err := boolParam(r, "stale")
	q.Stale = stale
	return q, err
}

// boolParam reads a flag of the query: false when absent, true when given
// without a value (?stale), else true or false.
func boolParam(r *http.Request, name string) (bool, error) {
	v, ok := r.URL.Query()[name]
	if !ok {
		return false, nil
	}
	if len(v) == 0 || v[0] == "" {
		return true, nil
	}
	b, err := strconv.ParseBool(v[0])
	if err != nil {
		return false, &FieldError{Field: name, Message: fmt.Sprintf("want true or false, got %q", v[0])}
	}
	return b, nil
}

// read serves a (possibly blocking) read, consistent unless ?stale.
func read[T any](h *handler, w http.ResponseWriter, r *http.Request, fn func(ctx context.Context, q QueryOptions) (T, uint64, error)) {
	readWith(h, w, r, true, fn)
}

// readWith is read; raftIndex is false where ?index is not a Raft index.
func readWith[T any](h *handler, w http.ResponseWriter, r *http.Request, raftIndex bool, fn func(ctx context.Context, q QueryOptions) (T, uint64, error)) {
	q, err := query(r)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx := r.Context()
	if q.Wait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, q.Wait)
		defer cancel()
	}
	if err := h.consistent(ctx, w, q, raftIndex); err != nil {
		writeError(w, err)
		return
	}
	// Consistency is settled: the backend answers from its state either way.
	q.Stale = false
	v, index, err := fn(ctx, q)
	if err != nil {
		writeError(w, err)
		return
	}
	if q.Index == 0 {
		writeJSON(w, http.StatusOK, index, v)
		return
	}
	// A write wakes many watchers at once (thousands of nodes'): they
	// encode their answers a few at a time, parked meanwhile rather than
	// runnable ahead of Raft's heartbeats.
	var buf bytes.Buffer
	encodeSlots <- struct{}{}
	err = json.NewEncoder(&buf).Encode(v)
	<-encodeSlots
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(IndexHeader, strconv.FormatUint(index, 10))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes()) // the client went away; nothing to tell it
}

// encodeSlots bounds the blocking queries encoding their answers at once.
var encodeSlots = make(chan struct{}, runtime.GOMAXPROCS(0))

// consistent makes a read consistent: unless it asked for ?stale, it waits
// for the read barrier (ReadConsistency.ReadBarrier). A stale read with an
// index (a watch going on) first waits until this server's state reached
// that index, so that a watcher that moves to a server further behind
// never sees the past; raftIndex is false where the index is not a Raft
// index (event IDs). It sets the leader headers either way.
func (h *handler) consistent(ctx context.Context, w http.ResponseWriter, q QueryOptions, raftIndex bool) error {
	if h.reads == nil {
		return nil
	}
	var err error
	switch {
	case !q.Stale:
		err = h.reads.ReadBarrier(ctx)
	case q.Index > 0 && raftIndex:
		if err = h.reads.WaitForIndex(ctx, q.Index); err != nil {
			err = fmt.Errorf("this server has not caught up with index %d yet: %v: %w", q.Index, err, ErrNoLeader)
		}
	}
	h.setQueryMeta(w)
	return err
}

// setQueryMeta sets the headers that say what this server knows of the
// leader.
func (h *handler) setQueryMeta(w http.ResponseWriter) {
	if h.reads == nil {
		return
	}
	m := h.reads.QueryMeta()
	w.Header().Set(KnownLeaderHeader, strconv.FormatBool(m.KnownLeader))
	ms := int64(-1)
	if m.LastContact >= 0 {
		ms = m.LastContact.Milliseconds()
	}
	w.Header().Set(LastContactHeader, strconv.FormatInt(ms, 10))
	if m.LeaderAPIUnknown {
		w.Header().Set(LeaderAPIHeader, "unknown")
	}
}

// write forwards a write to the leader, or runs it here when this server
// leads. The write's request ID, when the client sent one, goes with it
// (a forwarded write keeps the header) and into the context the backend
// gets.
func (h *handler) write(fn func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
	return h.writeUpTo(MaxBodyBytes, fn)
}

// writeUpTo is write with a body limit of its own.
func (h *handler) writeUpTo(limit int64, fn func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
	return h.writeVia(h.fwd.writes, limit, fn)
}

// writeVia is writeUpTo forwarding over a transport of its choosing.
func (h *handler) writeVia(rt http.RoundTripper, limit int64, fn func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if id != "" && !validRequestID(id) {
			writeError(w, &FieldError{Field: RequestIDHeader, Message: "want 1 to 128 letters, digits and -_.:"})
			return
		}
		target, err := h.b.WriteTarget(r.Context())
		if err != nil {
			writeError(w, err)
			return
		}
		if target == "" {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
			fn(w, r.WithContext(WithRequestID(r.Context(), id)))
			return
		}
		if r.Header.Get(forwardedHeader) != "" {
			writeError(w, fmt.Errorf("forwarded write reached a follower: %w", ErrNoLeader))
			return
		}
		h.forward(w, r, rt, target, limit)
	}
}

func (h *handler) forward(w http.ResponseWriter, r *http.Request, rt http.RoundTripper, target string, limit int64) {
	u := &url.URL{Scheme: h.forwardScheme, Host: target}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.Transport = rt
	proxy.Director = func(out *http.Request) {
		out.URL.Scheme, out.URL.Host = u.Scheme, u.Host
		out.Header.Set(forwardedHeader, "1")
	}
	proxy.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, tooBig)
			return
		}
		writeError(w, fmt.Errorf("forward to leader at %s: %v: %w", target, err, ErrNoLeader))
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	proxy.ServeHTTP(w, r)
}

// body decodes a request body strictly.
func body(r *http.Request, prefix string, v any) error {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return &FieldError{Field: prefix, Message: "request body is empty"}
	}
	return DecodeStrict("request", prefix, data, v)
}

// The status endpoints answer what this server itself knows (they are how
// an operator finds out which servers disagree), so they are never
// consistent reads.
func (h *handler) leader(w http.ResponseWriter, r *http.Request) {
	h.setQueryMeta(w)
	writeJSON(w, http.StatusOK, 0, h.b.Leader())
}

// readIndex is the leader's half of a follower's consistent read; only the
// leader answers it (a follower does not forward it: the asking follower
// finds the leader itself).
func (h *handler) readIndex(w http.ResponseWriter, r *http.Request) {
	if h.reads == nil {
		writeError(w, fmt.Errorf("no read index here: %w", ErrNotFound))
		return
	}
	index, err := h.reads.ReadIndex(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, index, ReadIndexResponse{Index: index})
}

func (h *handler) snapshotSave(w http.ResponseWriter, r *http.Request) {
	if h.ops == nil {
		writeError(w, fmt.Errorf("this server takes no snapshots: %w", ErrNotFound))
		return
	}
	q, err := query(r)
	if err == nil {
		err = h.consistent(r.Context(), w, QueryOptions{Stale: q.Stale}, true)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	archive, index, err := h.ops.SnapshotSave(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	defer archive.Close()
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set(IndexHeader, strconv.FormatUint(index, 10))
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, archive); err != nil {
		h.logger.Warn("send snapshot", "err", err) // the client sees a short archive, which restore refuses
	}
}

func (h *handler) snapshotRestore(w http.ResponseWriter, r *http.Request) {
	if h.ops == nil {
		writeError(w, fmt.Errorf("this server restores no snapshots: %w", ErrNotFound))
		return
	}
	force, err := boolParam(r, "force")
	if err != nil {
		writeError(w, err)
		return
	}
	index, err := h.ops.SnapshotRestore(r.Context(), r.Body, force)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, index, WriteResponse{Index: index})
}

func (h *handler) removePeer(w http.ResponseWriter, r *http.Request) {
	if h.ops == nil {
		writeError(w, fmt.Errorf("this server manages no peers: %w", ErrNotFound))
		return
	}
	index, err := h.ops.RemovePeer(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, index, WriteResponse{Index: index})
}

func (h *handler) peers(w http.ResponseWriter, r *http.Request) {
	h.setQueryMeta(w)
	peers, err := h.b.Peers()
	if err != nil {
		writeError(w, err)
		return
	}
	if peers == nil {
		peers = []Peer{}
	}
	writeJSON(w, http.StatusOK, 0, peers)
}

func (h *handler) services(w http.ResponseWriter, r *http.Request) {
	read(h, w, r, func(ctx context.Context, q QueryOptions) ([]*Service, uint64, error) {
		s, i, err := h.b.Services(ctx, q)
		s = filterNamespaces(ctx, s, func(s *Service) string { return s.Namespace })
		if s == nil {
			s = []*Service{}
		}
		return s, i, err
	})
}

func (h *handler) service(w http.ResponseWriter, r *http.Request) {
	read(h, w, r, func(ctx context.Context, q QueryOptions) (*Service, uint64, error) {
		return h.b.Service(ctx, r.PathValue("ns"), r.PathValue("name"), q)
	})
}

func (h *handler) revisions(w http.ResponseWriter, r *http.Request) {
	read(h, w, r, func(ctx context.Context, q QueryOptions) ([]*Revision, uint64, error) {
		revs, i, err := h.b.Revisions(ctx, r.PathValue("ns"), r.PathValue("name"), q)
		if revs == nil {
			revs = []*Revision{}
		}
		return revs, i, err
	})
}

func (h *handler) revision(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.PathValue("revision"))
	if err != nil || n < 1 {
		writeError(w, &FieldError{Field: "revision", Message: fmt.Sprintf("want a revision number, got %q", r.PathValue("revision"))})
		return
	}
	q, err := query(r)
	if err == nil {
		err = h.consistent(r.Context(), w, QueryOptions{Stale: q.Stale}, true)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	rev, err := h.b.Revision(r.Context(), r.PathValue("ns"), r.PathValue("name"), n)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rev.CreateIndex, rev)
}

func (h *handler) applyService(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, err)
		return
	}
	spec, err := DecodeServiceJSON("request", data)
	if err != nil {
		writeError(w, err)
		return
	}
	if ns := r.PathValue("ns"); spec.Namespace != ns {
		writeError(w, &FieldError{Field: "spec.namespace", Message: fmt.Sprintf("%q does not match the URL's namespace %q", spec.Namespace, ns)})
		return
	}
	if name := r.PathValue("name"); spec.Name != name {
		writeError(w, &FieldError{Field: "spec.name", Message: fmt.Sprintf("%q does not match the URL's name %q", spec.Name, name)})
		return
	}
	resp, err := h.b.ApplyService(r.Context(), spec)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp.Index, resp)
}

func (h *handler) deleteService(w http.ResponseWriter, r *http.Request) {
	resp, err := h.b.DeleteService(r.Context(), r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp.Index, resp)
}

func (h *handler) scaleService(w http.ResponseWriter, r *http.Request) {
	writeWith(w, r, func(ctx context.Context, req ScaleRequest) (any, uint64, error) {
		if req.Replicas < 0 || req.Replicas > MaxReplicas {
			return nil, 0, &FieldError{Field: "replicas", Message: fmt.Sprintf("must be between 0 and %d", MaxReplicas)}
		}
		resp, err := h.b.ScaleService(ctx, r.PathValue("ns"), r.PathValue("name"), req.Replicas)
		return resp, resp.Index, err
	})
}

// wakeService asks for a replica of a service at zero: proxies call it
// when they hold a request for a service without a ready endpoint.
func (h *handler) wakeService(w http.ResponseWriter, r *http.Request) {
	resp, err := h.b.WakeService(r.Context(), r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp.Index, resp)
}

func (h *handler) rollout(w http.ResponseWriter, r *http.Request) {
	read(h, w, r, func(ctx context.Context, q QueryOptions) (*Rollout, uint64, error) {
		return h.b.Rollout(ctx, r.PathValue("ns"), r.PathValue("name"), q)
	})
}

func (h *handler) rolloutAction(w http.ResponseWriter, r *http.Request) {
	writeWith(w, r, func(ctx context.Context, req RolloutAction) (any, uint64, error) {
		resp, err := h.b.RolloutAction(ctx, r.PathValue("ns"), r.PathValue("name"), r.PathValue("action"), req)
		return resp, resp.Index, err
	})
}

func (h *handler) undoRollout(w http.ResponseWriter, r *http.Request) {
	writeWith(w, r, func(ctx context.Context, req UndoRequest) (any, uint64, error) {
		if req.ToRevision < 0 {
			return nil, 0, &FieldError{Field: "toRevision", Message: "must not be negative"}
		}
		resp, err := h.b.UndoRollout(ctx, r.PathValue("ns"), r.PathValue("name"), req)
		return resp, resp.Index, err
	})
}

func (h *handler) nodes(w http.ResponseWriter, r *http.Request) {
	read(h, w, r, func(ctx context.Context, q QueryOptions) ([]*Node, uint64, error) {
		n, i, err := h.b.Nodes(ctx, q)
		if n == nil {
			n = []*Node{}
		}
		return n, i, err
	})
}

func (h *handler) node(w http.ResponseWriter, r *http.Request) {
	read(h, w, r, func(ctx context.Context, q QueryOptions) (*Node, uint64, error) {
		return h.b.Node(ctx, r.PathValue("name"), q)
	})
}

func (h *handler) registerNode(w http.ResponseWriter, r *http.Request) {
	writeWith(w, r, func(ctx context.Context, reg NodeRegistration) (any, uint64, error) {
		name := r.PathValue("name")
		if err := reg.Validate(name); err != nil {
			return nil, 0, err
		}
		resp, err := h.b.RegisterNode(ctx, name, reg)
		return resp, resp.Index, err
	})
}

func (h *handler) heartbeat(w http.ResponseWriter, r *http.Request) {
	resp, err := h.b.Heartbeat(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, 0, resp)
}

func (h *handler) drain(w http.ResponseWriter, r *http.Request) {
	writeWith(w, r, func(ctx context.Context, req DrainRequest) (any, uint64, error) {
		resp, err := h.b.DrainNode(ctx, r.PathValue("name"), req.Enable)
		return resp, resp.Index, err
	})
}

func (h *handler) eligibility(w http.ResponseWriter, r *http.Request) {
	writeWith(w, r, func(ctx context.Context, req EligibilityRequest) (any, uint64, error) {
		resp, err := h.b.SetEligibility(ctx, r.PathValue("name"), req.Eligible)
		return resp, resp.Index, err
	})
}

func (h *handler) nodeStatus(w http.ResponseWriter, r *http.Request) {
	writeWith(w, r, func(ctx context.Context, req NodeStatusRequest) (any, uint64, error) {
		if req.Status != NodeReady && req.Status != NodeDown {
			return nil, 0, &FieldError{Field: "status", Message: fmt.Sprintf("must be %q or %q", NodeReady, NodeDown)}
		}
		resp, err := h.b.SetNodeStatus(ctx, r.PathValue("name"), req.Status, req.Message)
		return resp, resp.Index, err
	})
}

func (h *handler) nodeAllocations(w http.ResponseWriter, r *http.Request) {
	h.listAllocations(w, r, AllocFilter{Node: r.PathValue("name"), ToRun: true})
}

func (h *handler) allocations(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	h.listAllocations(w, r, AllocFilter{Namespace: v.Get("namespace"), Service: v.Get("service"), Node: v.Get("node")})
}

func (h *handler) listAllocations(w http.ResponseWriter, r *http.Request, f AllocFilter) {
	if f.Service != "" && f.Namespace == "" {
		f.Namespace = DefaultNamespace
	}
	read(h, w, r, func(ctx context.Context, q QueryOptions) ([]*Allocation, uint64, error) {
		a, i, err := h.b.Allocations(ctx, f, q)
		a = filterNamespaces(ctx, a, func(a *Allocation) string { return a.Namespace })
		if a == nil {
			a = []*Allocation{}
		}
		return a, i, err
	})
}

func (h *handler) allocation(w http.ResponseWriter, r *http.Request) {
	q, err := query(r)
	if err == nil {
		err = h.consistent(r.Context(), w, QueryOptions{Stale: q.Stale}, true)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	a, index, err := h.b.Allocation(r.Context(), r.PathValue("id"))
	if err == nil {
		err = checkObjectNamespace(r.Context(), a.Namespace)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, index, a)
}

func (h *handler) allocStatus(w http.ResponseWriter, r *http.Request) {
	writeWith(w, r, func(ctx context.Context, batch AllocStatusBatch) (any, uint64, error) {
		if batch.Node == "" {
			return nil, 0, &FieldError{Field: "node", Message: "required"}
		}
		resp, err := h.b.UpdateAllocations(ctx, batch)
		return resp, resp.Index, err
	})
}

func (h *handler) evaluations(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	ns, svc := v.Get("namespace"), v.Get("service")
	if svc != "" && ns == "" {
		ns = DefaultNamespace
	}
	read(h, w, r, func(ctx context.Context, q QueryOptions) ([]*Evaluation, uint64, error) {
		e, i, err := h.b.Evaluations(ctx, ns, svc, q)
		e = filterNamespaces(ctx, e, func(e *Evaluation) string { return e.Namespace })
		if e == nil {
			e = []*Evaluation{}
		}
		return e, i, err
	})
}

func (h *handler) endpoints(w http.ResponseWriter, r *http.Request) {
	read(h, w, r, func(ctx context.Context, q QueryOptions) ([]*ServiceEndpoints, uint64, error) {
		e, i, err := h.b.Endpoints(ctx, q)
		e = filterNamespaces(ctx, e, func(e *ServiceEndpoints) string { return e.Namespace })
		if e == nil {
			e = []*ServiceEndpoints{}
		}
		return e, i, err
	})
}

func (h *handler) serviceEndpoints(w http.ResponseWriter, r *http.Request) {
	read(h, w, r, func(ctx context.Context, q QueryOptions) (*ServiceEndpoints, uint64, error) {
		return h.b.ServiceEndpoints(ctx, r.PathValue("ns"), r.PathValue("name"), q)
	})
}

func (h *handler) reportTraffic(w http.ResponseWriter, r *http.Request) {
	writeWith(w, r, func(ctx context.Context, batch TrafficBatch) (any, uint64, error) {
		return WriteResponse{}, 0, h.b.ReportTraffic(ctx, r.PathValue("name"), batch.Reports)
	})
}

func (h *handler) traffic(w http.ResponseWriter, r *http.Request) {
	t, err := h.b.Traffic(r.Context(), r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	// Lists are [] rather than null for readers that index them.
	out := ServiceTraffic{Namespace: r.PathValue("ns"), Service: r.PathValue("name"), Windows: []TrafficWindow{}}
	if t != nil {
		out = *t
		out.Windows = make([]TrafficWindow, len(t.Windows))
		for i, tw := range t.Windows {
			if tw.Revisions == nil {
				tw.Revisions = []TrafficFigures{}
			}
			out.Windows[i] = tw
		}
	}
	writeJSON(w, http.StatusOK, 0, out)
}

func (h *handler) rolloutDiffs(w http.ResponseWriter, r *http.Request) {
	d, err := h.b.RolloutDiffs(r.Context(), r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, 0, d)
}

func (h *handler) reportUsage(w http.ResponseWriter, r *http.Request) {
	writeWith(w, r, func(ctx context.Context, batch UsageBatch) (any, uint64, error) {
		return WriteResponse{}, 0, h.b.ReportUsage(ctx, r.PathValue("name"), batch.Reports)
	})
}

func (h *handler) topAllocations(w http.ResponseWriter, r *http.Request) {
	t, err := h.b.TopAllocations(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	out := TopAllocations{Allocations: []AllocationUsage{}}
	if t != nil && t.Allocations != nil {
		out = *t
		out.Allocations = filterTopAllocations(r.Context(), t.Allocations)
	}
	writeJSON(w, http.StatusOK, 0, out)
}

// events streams server-sent events, or answers a JSON list to a client
// that asks for application/json. ?index=N (or Last-Event-ID) resumes after
// event N.
func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	f := EventFilter{Namespace: v.Get("namespace"), Service: v.Get("service"), Node: v.Get("node")}
	if f.Service != "" && f.Namespace == "" {
		f.Namespace = DefaultNamespace
	}
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		readWith(h, w, r, false, func(ctx context.Context, q QueryOptions) ([]*Event, uint64, error) {
			e, i, err := h.b.Events(ctx, f, q)
			e = filterEvents(ctx, e)
			if e == nil {
				e = []*Event{}
			}
			return e, i, err
		})
		return
	}
	q, err := query(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := h.consistent(r.Context(), w, q, false); err != nil {
		writeError(w, err)
		return
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		if n, err := strconv.ParseUint(id, 10, 64); err == nil {
			q.Index = n
		}
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, errors.New("streaming unsupported"))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	after := q.Index
	for {
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		// The token is checked again every round, once the watch on the
		// ACLs runs: a token deleted (or a policy changed) before that is
		// caught by the check, one deleted during the wait ends the wait.
		aclChanged := h.watchACL(ctx, cancel)
		err := h.recheckACL(r)
		var events []*Event
		var index uint64
		if err == nil {
			events, index, err = h.b.Events(ctx, f, QueryOptions{Index: after, Wait: 30 * time.Second})
		}
		cancel()
		if r.Context().Err() != nil {
			return
		}
		if aclChanged() {
			continue // checked again, from the top
		}
		if err != nil {
			fmt.Fprintf(w, "event: error\ndata: %s\n\n", jsonLine(ErrorResponse{Error: err.Error()}))
			flusher.Flush()
			return
		}
		events = filterEvents(r.Context(), events)
		for _, e := range events {
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.ID, e.Type, jsonLine(e))
		}
		if len(events) == 0 {
			fmt.Fprint(w, ": keep-alive\n\n")
		}
		flusher.Flush()
		if index > after {
			after = index
		}
	}
}

func jsonLine(v any) string {
	b, _ := json.Marshal(v) // only api types, which always encode
	return string(b)
}
