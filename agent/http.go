package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"

	"flotilla/api"
	"flotilla/runtime"
)

// ExecRequest is the body of POST /v1/agent/allocations/{id}/exec.
type ExecRequest struct {
	Command []string `json:"command"`
}

// ExecResponse is the answer: the command's exit code and output.
type ExecResponse struct {
	ExitCode int    `json:"exitCode"`
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
}

// maxExecOutput bounds what one exec may return.
const maxExecOutput = 1 << 20

// AllocationView is one allocation as GET /v1/agent/allocations shows it.
type AllocationView struct {
	ID       string `json:"id"`
	Service  string `json:"service"`
	State    string `json:"state"`
	IP       string `json:"ip,omitempty"`
	ExitCode int    `json:"exitCode"`
	Restarts int    `json:"restarts"`
}

// RoutesView is GET /v1/agent/routes: per service ("namespace/name"), the
// version of its endpoints and routes the node's proxy uses and since when.
type RoutesView struct {
	Services map[string]AppliedRoute `json:"services"`
}

// AppliedRoute is the version of one service's endpoints the proxy uses,
// and the ones it used before (at most maxPreviousRoutes, oldest first): a
// version that the next replaced within milliseconds still has its time.
type AppliedRoute struct {
	RouteVersion
	Previous []RouteVersion `json:"previous,omitempty"`
}

// RouteVersion is one version of a service's endpoints (their ModifyIndex,
// a Raft index) and the agent's time when its proxy applied it.
type RouteVersion struct {
	ModifyIndex uint64    `json:"modifyIndex"`
	AppliedAt   time.Time `json:"appliedAt"`
}

// handler serves the agent's own API: logs (?follow=true, ?tail=N,
// ?since=RFC3339), exec, what it runs, metrics.
func (a *Agent) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/agent/allocations", a.serveAllocations)
	mux.HandleFunc("GET /v1/agent/allocations/{id}/logs", a.serveLogs)
	mux.HandleFunc("POST /v1/agent/allocations/{id}/exec", a.serveExec)
	mux.HandleFunc("GET /v1/agent/routes", a.serveRoutes)
	mux.Handle("GET /metrics", a.metrics.handler())
	return mux
}

func agentError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.ErrorResponse{Error: err.Error()})
}

func runtimeError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, runtime.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, runtime.ErrNotRunning):
		status = http.StatusConflict
	}
	agentError(w, status, err)
}

func (a *Agent) runtimeReady(w http.ResponseWriter) bool {
	select {
	case <-a.registered:
		return true
	default:
		agentError(w, http.StatusServiceUnavailable, fmt.Errorf("agent %s is still registering", a.cfg.Name))
		return false
	}
}

func (a *Agent) serveAllocations(w http.ResponseWriter, r *http.Request) {
	if !a.runtimeReady(w) {
		return
	}
	perms, err := a.callers.permissions(r)
	if err != nil {
		aclError(w, err)
		return
	}
	list, err := a.rt.List(r.Context())
	if err != nil {
		runtimeError(w, err)
		return
	}
	out := []AllocationView{}
	a.mu.Lock()
	for _, st := range list {
		v := AllocationView{ID: st.ID, State: string(st.State), IP: st.IP, ExitCode: st.ExitCode}
		l := a.local[st.ID]
		if l != nil {
			v.Service, v.Restarts = l.Namespace+"/"+l.Service, l.Restarts
		}
		// With ACLs, node read sees everything, namespace read its own.
		if perms != nil && !perms.AllowNode(api.LevelRead) && (l == nil || !perms.AllowNamespace(l.Namespace, api.CapRead)) {
			continue
		}
		out = append(out, v)
	}
	a.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// serveRoutes answers what the node's proxy routes by: empty without a
// proxy or before its first update.
func (a *Agent) serveRoutes(w http.ResponseWriter, r *http.Request) {
	if !a.allowNode(w, r) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(a.routes.view())
}

// flushWriter flushes after every write, so that followed logs stream.
type flushWriter struct {
	w http.ResponseWriter
	f http.Flusher
}

func (fw flushWriter) Write(p []byte) (int, error) {
	n, err := fw.w.Write(p)
	fw.f.Flush()
	return n, err
}

func (a *Agent) serveLogs(w http.ResponseWriter, r *http.Request) {
	if !a.runtimeReady(w) {
		return
	}
	id := r.PathValue("id")
	if !a.allowAllocation(w, r, id, api.CapRead) {
		return
	}
	q, err := parseLogQuery(r)
	if err != nil {
		agentError(w, http.StatusBadRequest, err)
		return
	}
	if _, err := a.rt.Status(r.Context(), id); err != nil {
		runtimeError(w, err)
		return
	}
	if _, selects := a.rt.(selectingLogs); !q.since.IsZero() && !selects {
		agentError(w, http.StatusNotImplemented, fmt.Errorf("since: the %s runtime %w", a.cfg.Runtime, errNoLineTimes))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	var out io.Writer = w
	if f, ok := w.(http.Flusher); ok && q.follow {
		out = flushWriter{w: w, f: f}
	}
	w.WriteHeader(http.StatusOK)
	_ = a.copyLogs(r.Context(), id, q, out) // the client went away, or the container is gone
}

// limitedBuffer keeps at most max bytes.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room < len(p) {
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

func (a *Agent) serveExec(w http.ResponseWriter, r *http.Request) {
	if !a.runtimeReady(w) {
		return
	}
	if !a.allowAllocation(w, r, r.PathValue("id"), api.CapExec) {
		return
	}
	var req ExecRequest
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, api.MaxBodyBytes))
	if err == nil {
		err = api.DecodeStrict("request", "", data, &req)
	}
	if err == nil && len(req.Command) == 0 {
		err = &api.FieldError{Field: "command", Message: "required"}
	}
	if err != nil {
		agentError(w, http.StatusBadRequest, err)
		return
	}
	stdout, stderr := &limitedBuffer{max: maxExecOutput}, &limitedBuffer{max: maxExecOutput}
	code, err := a.rt.Exec(r.Context(), r.PathValue("id"), req.Command, stdout, stderr)
	if err != nil {
		runtimeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ExecResponse{ExitCode: code, Stdout: stdout.String(), Stderr: stderr.String()})
}
