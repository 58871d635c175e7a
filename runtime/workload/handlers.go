package workload

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// routes is the app's mux; ServeHTTP wraps it with counting and logging.
func (a *App) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.serveRoot)
	mux.HandleFunc("POST /checkout", a.serveCheckout)
	mux.HandleFunc("GET /healthz", a.serveLiveness)
	mux.HandleFunc("GET /ready", a.serveReadiness)
	mux.Handle("GET /metrics", a.metrics.handler())
	mux.HandleFunc("GET /admin", a.serveAdminState)
	mux.HandleFunc("POST /admin/readiness", a.adminReadiness)
	mux.HandleFunc("POST /admin/liveness", a.adminLiveness)
	mux.HandleFunc("POST /admin/errors", a.adminErrors)
	mux.HandleFunc("POST /admin/latency", a.adminLatency)
	mux.HandleFunc("POST /admin/crash", a.adminCrash)
	return mux
}

// isObservation tells the orchestrator's probes and scrapes from load.
func isObservation(path string) bool {
	return path == "/healthz" || path == "/ready" || path == "/metrics"
}

// ServeHTTP serves one request: counted, measured and logged.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !a.active.enter() {
		http.Error(w, "stopping", http.StatusServiceUnavailable)
		return
	}
	defer a.active.leave()
	start := a.clock.Now()
	load := !isObservation(r.URL.Path)
	if load {
		a.usage.inFlight.Add(1)
	}
	a.metrics.inFlight.Inc()
	rec := &statusRecorder{ResponseWriter: w}
	a.handler.ServeHTTP(rec, r)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	d := a.clock.Now().Sub(start)
	a.metrics.inFlight.Dec()
	a.metrics.observe(r.URL.Path, rec.status, d)
	if load {
		a.usage.inFlight.Add(-1)
		a.usage.requests.Add(1)
	}
	a.log.Info(LogRequest, "method", r.Method, "path", r.URL.Path, "status", rec.status, "duration", d)
	if rec.crashAfterAnswer {
		// The 202 is on the wire; now die as a crashing process would.
		a.crash("POST /admin/crash")
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status           int
	crashAfterAnswer bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Identity is what GET / answers: which version served the request, where
// and when.
type Identity struct {
	Version    string `json:"version"`
	Node       string `json:"node"`
	Allocation string `json:"allocation"`
	Hostname   string `json:"hostname"`
	// Time is when the answer was made, by the app's clock (RFC 3339 with
	// nanoseconds, UTC). Like hostname and allocation it differs between any
	// two answers, as real apps' timestamps and IDs do: what a shadow
	// rollout's noise baseline has to learn to ignore.
	Time string `json:"time"`
	// Error is set on the injected 500s.
	Error string `json:"error,omitempty"`
}

func (a *App) serveRoot(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	fail := a.errorRate > 0 && a.rng.Float64() < a.errorRate
	delay := a.latency.Sample(a.rng)
	rate := a.errorRate
	a.mu.Unlock()

	if delay > 0 {
		select {
		case <-a.clock.After(delay):
		case <-r.Context().Done():
			return // the client left; nobody reads an answer
		case <-a.abortCtx.Done():
			http.Error(w, "stopping", http.StatusServiceUnavailable)
			return
		}
	}
	if d := a.cfg.CPUPerRequest; d > 0 {
		if !a.cfg.Simulated {
			a.burn(d)
		}
		a.usage.cpu.add(a.clock.Now(), d)
	}
	id := a.identity()
	status := http.StatusOK
	if fail {
		status = http.StatusInternalServerError
		id.Error = fmt.Sprintf("injected error (error rate %g)", rate)
	}
	writeJSON(w, status, id)
}

// identity says who answers, now.
func (a *App) identity() Identity {
	return Identity{Version: a.cfg.Version, Node: a.cfg.Node, Allocation: a.cfg.Allocation, Hostname: a.cfg.Hostname,
		Time: a.clock.Now().UTC().Format(time.RFC3339Nano)}
}

// ConversionHeader marks a POST /checkout that converted ("1"); a checkout
// that did not convert answers 200 without it. `flotilla load --users`
// counts conversions by it, and an A/B goal can name it.
const ConversionHeader = "X-Conversion"

// Checkout is what POST /checkout answers: who served it, and whether the
// visitor bought.
type Checkout struct {
	Identity
	Converted bool `json:"converted"`
}

// serveCheckout converts with probability --conversion-rate, drawn from the
// app's Rand so that a seeded run converts the same visits. Both outcomes
// are 200: a visitor who does not buy is not an error.
func (a *App) serveCheckout(w http.ResponseWriter, _ *http.Request) {
	a.mu.Lock()
	converted := a.cfg.ConversionRate > 0 && a.rng.Float64() < a.cfg.ConversionRate
	a.mu.Unlock()
	a.metrics.checkout(converted)
	if converted {
		w.Header().Set(ConversionHeader, "1")
	}
	writeJSON(w, http.StatusOK, Checkout{Identity: a.identity(), Converted: converted})
}

func (a *App) serveLiveness(w http.ResponseWriter, _ *http.Request) {
	a.mu.Lock()
	failing := a.livenessFailing
	a.mu.Unlock()
	if failing {
		http.Error(w, "liveness failing", http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, "ok")
}

func (a *App) serveReadiness(w http.ResponseWriter, _ *http.Request) {
	a.mu.Lock()
	failing := a.readinessFailing
	a.mu.Unlock()
	switch {
	case a.draining.Load():
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
	case failing:
		http.Error(w, "readiness failing", http.StatusServiceUnavailable)
	default:
		fmt.Fprintln(w, "ok")
	}
}

// AdminState is what GET /admin and every admin change answer.
type AdminState struct {
	Readiness string  `json:"readiness"` // ok | failing
	Liveness  string  `json:"liveness"`  // ok | failing
	ErrorRate float64 `json:"errorRate"`
	Latency   string  `json:"latency"`
}

func (a *App) adminState() AdminState {
	a.mu.Lock()
	defer a.mu.Unlock()
	word := func(failing bool) string {
		if failing {
			return "failing"
		}
		return "ok"
	}
	return AdminState{
		Readiness: word(a.readinessFailing),
		Liveness:  word(a.livenessFailing),
		ErrorRate: a.errorRate,
		Latency:   a.latency.String(),
	}
}

func (a *App) serveAdminState(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.adminState())
}

func (a *App) setReadinessFailing(failing bool, why string) {
	a.mu.Lock()
	a.readinessFailing = failing
	a.mu.Unlock()
	a.log.Info("admin change", "setting", "readiness", "failing", failing, "by", why)
}

func (a *App) setLivenessFailing(failing bool, why string) {
	a.mu.Lock()
	a.livenessFailing = failing
	a.mu.Unlock()
	a.log.Info("admin change", "setting", "liveness", "failing", failing, "by", why)
}

func (a *App) adminReadiness(w http.ResponseWriter, r *http.Request) {
	failing, ok := boolParam(w, r, "fail")
	if !ok {
		return
	}
	a.setReadinessFailing(failing, "POST /admin/readiness")
	writeJSON(w, http.StatusOK, a.adminState())
}

func (a *App) adminLiveness(w http.ResponseWriter, r *http.Request) {
	failing, ok := boolParam(w, r, "fail")
	if !ok {
		return
	}
	a.setLivenessFailing(failing, "POST /admin/liveness")
	writeJSON(w, http.StatusOK, a.adminState())
}

func (a *App) adminErrors(w http.ResponseWriter, r *http.Request) {
	raw, ok := param(w, r, "rate")
	if !ok {
		return
	}
	rate, err := parseRate(raw)
	if err != nil {
		badParam(w, "rate", err)
		return
	}
	a.mu.Lock()
	a.errorRate = rate
	a.mu.Unlock()
	a.log.Info("admin change", "setting", "error-rate", "rate", rate, "by", "POST /admin/errors")
	writeJSON(w, http.StatusOK, a.adminState())
}

func (a *App) adminLatency(w http.ResponseWriter, r *http.Request) {
	raw, ok := param(w, r, "d")
	if !ok {
		return
	}
	l, err := ParseLatency(raw)
	if err != nil {
		badParam(w, "d", err)
		return
	}
	a.mu.Lock()
	a.latency = l
	a.mu.Unlock()
	a.log.Info("admin change", "setting", "latency", "latency", l.String(), "by", "POST /admin/latency")
	writeJSON(w, http.StatusOK, a.adminState())
}

func (a *App) adminCrash(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "crashing"})
	if rec, ok := w.(*statusRecorder); ok {
		rec.Flush()
		rec.crashAfterAnswer = true
		return
	}
	a.crash("POST /admin/crash")
}

// param reads a required query parameter, answering 400 when it is missing.
func param(w http.ResponseWriter, r *http.Request, name string) (string, bool) {
	q := r.URL.Query()
	if !q.Has(name) {
		badParam(w, name, fmt.Errorf("missing"))
		return "", false
	}
	return q.Get(name), true
}

func boolParam(w http.ResponseWriter, r *http.Request, name string) (bool, bool) {
	raw, ok := param(w, r, name)
	if !ok {
		return false, false
	}
	v, err := strconv.ParseBool(raw)
	if err != nil {
		badParam(w, name, fmt.Errorf("want true or false, got %q", raw))
		return false, false
	}
	return v, true
}

// ParamError is the body of a 400 from an admin endpoint.
type ParamError struct {
	Error     string `json:"error"`
	Parameter string `json:"parameter"`
}

func badParam(w http.ResponseWriter, name string, err error) {
	writeJSON(w, http.StatusBadRequest, ParamError{
		Error:     fmt.Sprintf("parameter %s: %v", name, err),
		Parameter: name,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v) // a write error means the client left
}

// Compile-time check: the recorder keeps streaming (metrics) working.
var _ http.Flusher = (*statusRecorder)(nil)
