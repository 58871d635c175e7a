package workload

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"flotilla/internal/clock"
	"flotilla/internal/testutil"
)

// harness is one app running on a fake clock, on a loopback port.
type harness struct {
	t      *testing.T
	app    *App
	clock  *clock.Fake
	logs   *testutil.SyncBuffer
	base   string
	cancel context.CancelFunc
	done   chan error
	client *http.Client
}

const waitLimit = 5 * time.Second

// start runs the app with cfg on a fake clock. Unless cfg.Listen is set it
// serves a listener opened here; it waits for the app to serve unless the
// config delays its start.
func start(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{
		t:      t,
		clock:  clock.NewFake(time.Unix(1_700_000_000, 0)),
		logs:   &testutil.SyncBuffer{},
		done:   make(chan error, 1),
		client: &http.Client{Timeout: waitLimit},
	}
	cfg.Clock = h.clock
	if cfg.Rand == nil {
		cfg.Rand = rand.NewPCG(7, 11)
	}
	if cfg.Version == "" {
		cfg.Version = "v1"
	}
	cfg.Node, cfg.Allocation, cfg.Hostname = "n1", "a1b2c3d4", "web-a1b2c"
	var ln net.Listener
	if cfg.Listen == "" {
		var err error
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		h.base = "http://" + ln.Addr().String()
	} else {
		h.base = "http://" + cfg.Listen
	}
	h.app = New(cfg, h.logs)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- h.app.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		h.app.Kill() // a shutdown delay on a fake clock would never end
		select {
		case <-h.done:
		case <-time.After(waitLimit):
			t.Error("Run did not return after Kill")
		}
		h.client.CloseIdleConnections()
	})
	if cfg.StartupDelay == 0 {
		h.waitServing()
	}
	return h
}

func (h *harness) waitServing() {
	h.t.Helper()
	select {
	case <-h.app.serving:
	case err := <-h.done:
		h.t.Fatalf("Run returned before serving: %v", err)
	case <-time.After(waitLimit):
		h.t.Fatal("app not serving")
	}
}

// waitTimers waits until the app has armed n timers on the fake clock, so
// that advancing it fires them.
func (h *harness) waitTimers(n int) {
	h.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for h.clock.Waiters() < n {
		if time.Now().After(deadline) {
			h.t.Fatalf("%d timers armed, want %d", h.clock.Waiters(), n)
		}
		time.Sleep(time.Millisecond) // polling, not synchronising by sleep
	}
}

func (h *harness) waitExit() error {
	h.t.Helper()
	select {
	case err := <-h.done:
		h.done <- err // cleanup reads it again
		return err
	case <-time.After(waitLimit):
		h.t.Fatal("Run did not return")
		return nil
	}
}

func (h *harness) do(method, path string) (int, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.base+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (h *harness) get(path string) (int, string)  { return h.do(http.MethodGet, path) }
func (h *harness) post(path string) (int, string) { return h.do(http.MethodPost, path) }

func (h *harness) expect(method, path string, want int) string {
	h.t.Helper()
	code, body := h.do(method, path)
	if code != want {
		h.t.Fatalf("%s %s: %d %s, want %d", method, path, code, body, want)
	}
	return body
}

func TestRootAnswersVersionNodeAllocationHostnameAndTime(t *testing.T) {
	h := start(t, Config{Version: "v7"})
	body := h.expect(http.MethodGet, "/", 200)
	var id Identity
	if err := json.Unmarshal([]byte(body), &id); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	want := Identity{Version: "v7", Node: "n1", Allocation: "a1b2c3d4", Hostname: "web-a1b2c", Time: "2023-11-14T22:13:20Z"}
	if id != want {
		t.Errorf("got %+v, want %+v", id, want)
	}
	for _, key := range []string{`"version"`, `"node"`, `"allocation"`, `"hostname"`, `"time"`} {
		if !strings.Contains(body, key) {
			t.Errorf("body %s lacks %s", body, key)
		}
	}
	// The time is the app's clock's, to the nanosecond: two answers apart
	// in time differ in it.
	h.clock.Advance(1500 * time.Microsecond)
	json.Unmarshal([]byte(h.expect(http.MethodGet, "/", 200)), &id)
	if id.Time != "2023-11-14T22:13:20.0015Z" {
		t.Errorf("time %q after 1.5ms, want 2023-11-14T22:13:20.0015Z", id.Time)
	}
}

func TestCheckoutConvertsAtTheConfiguredRate(t *testing.T) {
	a := New(Config{ConversionRate: 0.12, Version: "v2", Clock: clock.NewFake(time.Unix(0, 0)), Rand: rand.NewPCG(3, 4)}, nil)
	const n = 4000
	converted := 0
	for range n {
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/checkout", nil))
		var c Checkout
		if err := json.Unmarshal(rec.Body.Bytes(), &c); err != nil || rec.Code != 200 {
			t.Fatalf("checkout: %d %s (%v), want 200 with a JSON body", rec.Code, rec.Body, err)
		}
		if c.Version != "v2" || c.Time == "" {
			t.Fatalf("checkout body %s lacks the identity", rec.Body)
		}
		mark := rec.Header().Get(ConversionHeader)
		switch {
		case c.Converted && mark == "1":
			converted++
		case !c.Converted && mark == "" && len(rec.Header().Values(ConversionHeader)) == 0:
		default:
			t.Fatalf("converted %v with %s %q: the header marks exactly the conversions", c.Converted, ConversionHeader, mark)
		}
	}
	// 480 expected, standard deviation 20.6: ±65 is three of them.
	if converted < 415 || converted > 545 {
		t.Errorf("%d of %d checkouts converted, want 0.12 ± 3σ (415..545)", converted, n)
	}
	if s := a.Stats(); s.Requests != n {
		t.Errorf("stats count %d requests, want the %d checkouts", s.Requests, n)
	}
}

func TestCheckoutIsSeededByTheAppsRand(t *testing.T) {
	outcomes := func(seed uint64) string {
		a := New(Config{ConversionRate: 0.5, Clock: clock.NewFake(time.Unix(0, 0)), Rand: rand.NewPCG(seed, 1)}, nil)
		var b strings.Builder
		for range 64 {
			rec := httptest.NewRecorder()
			a.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/checkout", nil))
			b.WriteString(strconv.Itoa(len(rec.Header().Get(ConversionHeader))))
		}
		return b.String()
	}
	if outcomes(9) != outcomes(9) {
		t.Error("the same seed converted different checkouts")
	}
	if outcomes(9) == outcomes(10) {
		t.Error("two seeds converted the same 64 checkouts")
	}
}

func TestCheckoutEdgesAndMethod(t *testing.T) {
	h := start(t, Config{})
	for range 20 {
		if body := h.expect(http.MethodPost, "/checkout", 200); !strings.Contains(body, `"converted":false`) {
			t.Fatalf("without --conversion-rate a checkout never converts: %s", body)
		}
	}
	h.expect(http.MethodGet, "/checkout", 405)

	always := start(t, Config{ConversionRate: 1, ErrorRate: 1})
	resp, err := always.client.Post(always.base+"/checkout", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get(ConversionHeader) != "1" {
		t.Errorf("rate 1: %d with %s %q, want 200 and a conversion (--error-rate is GET /'s only)",
			resp.StatusCode, ConversionHeader, resp.Header.Get(ConversionHeader))
	}
	body := always.expect(http.MethodGet, "/metrics", 200)
	for _, want := range []string{
		`flotilla_workload_checkouts_total{converted="true"} 1`,
		`flotilla_workload_requests_total{code="200",path="/checkout"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestUnknownPathsAre404AndWrongMethods405(t *testing.T) {
	h := start(t, Config{})
	h.expect(http.MethodGet, "/nope", 404)
	h.expect(http.MethodPost, "/", 405)
	h.expect(http.MethodGet, "/admin/crash", 405)
	h.expect(http.MethodGet, "/admin", 200)
}

func TestErrorRateIsHonouredWithinTolerance(t *testing.T) {
	a := New(Config{ErrorRate: 0.3, Clock: clock.NewFake(time.Unix(0, 0)), Rand: rand.NewPCG(1, 2)}, nil)
	const n = 4000
	failed := 0
	for range n {
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		switch rec.Code {
		case 500:
			failed++
			if !strings.Contains(rec.Body.String(), `"error"`) || !strings.Contains(rec.Body.String(), `"version"`) {
				t.Fatalf("a failed answer carries the identity and an error: %s", rec.Body)
			}
		case 200:
		default:
			t.Fatalf("status %d", rec.Code)
		}
	}
	if share := float64(failed) / n; share < 0.27 || share > 0.33 {
		t.Errorf("%.3f of answers failed, want 0.3 ± 0.03", share)
	}
}

func TestErrorRateOnlyTouchesTheRoot(t *testing.T) {
	h := start(t, Config{ErrorRate: 1})
	h.expect(http.MethodGet, "/", 500)
	h.expect(http.MethodGet, "/healthz", 200)
	h.expect(http.MethodGet, "/ready", 200)
}

func TestLatencyHoldsTheAnswerUntilItHasPassed(t *testing.T) {
	h := start(t, Config{Latency: FixedLatency(100 * time.Millisecond)})
	answered := make(chan int, 1)
	go func() {
		resp, err := h.client.Get(h.base + "/")
		if err != nil {
			answered <- -1
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	h.waitTimers(1) // the request waits on the clock
	select {
	case code := <-answered:
		t.Fatalf("answered %d before the latency passed", code)
	default:
	}
	h.clock.Advance(100 * time.Millisecond)
	select {
	case code := <-answered:
		if code != 200 {
			t.Errorf("status %d", code)
		}
	case <-time.After(waitLimit):
		t.Fatal("no answer after the latency passed")
	}
	if !strings.Contains(h.logs.String(), "duration=100ms") {
		t.Errorf("the request line does not show the latency:\n%s", h.logs)
	}
}

func TestStartupDelayKeepsThePortClosed(t *testing.T) {
	addr := reservePort(t)
	h := start(t, Config{Listen: addr, StartupDelay: 5 * time.Second})
	h.waitTimers(1)
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("listening before the startup delay passed")
	}
	h.clock.Advance(5 * time.Second)
	h.waitServing()
	h.expect(http.MethodGet, "/", 200)
	if !strings.Contains(h.logs.String(), "startupDelay=5s") {
		t.Errorf("no line about the startup delay:\n%s", h.logs)
	}
}

func TestStopDuringStartupDelayIsGraceful(t *testing.T) {
	h := start(t, Config{Listen: reservePort(t), StartupDelay: time.Minute})
	h.waitTimers(1)
	h.cancel()
	if err := h.waitExit(); err != nil {
		t.Errorf("got %v, want a graceful nil", err)
	}
}

func reservePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestFailReadinessAfter(t *testing.T) {
	h := start(t, Config{FailReadinessAfter: 30 * time.Second})
	h.expect(http.MethodGet, "/ready", 200)
	h.clock.Advance(30 * time.Second)
	h.expect(http.MethodGet, "/ready", 503)
	h.expect(http.MethodGet, "/healthz", 200)
	h.expect(http.MethodGet, "/", 200)
	h.expect(http.MethodPost, "/admin/readiness?fail=false", 200)
	h.expect(http.MethodGet, "/ready", 200)
}

func TestFailLivenessAfter(t *testing.T) {
	h := start(t, Config{FailLivenessAfter: 10 * time.Second})
	h.clock.Advance(9 * time.Second)
	h.expect(http.MethodGet, "/healthz", 200)
	h.clock.Advance(time.Second)
	h.expect(http.MethodGet, "/healthz", 500)
	h.expect(http.MethodGet, "/ready", 200)
	if !strings.Contains(h.logs.String(), `by="fail-liveness-after 10s"`) {
		t.Errorf("no line for the liveness fault:\n%s", h.logs)
	}
}

func TestCrashAfterExitsWithCode1(t *testing.T) {
	h := start(t, Config{CrashAfter: 300 * time.Millisecond})
	h.clock.Advance(300 * time.Millisecond)
	var exit *ExitError
	if err := h.waitExit(); !errors.As(err, &exit) || exit.Code != 1 || exit.Reason != "crash-after 300ms" {
		t.Fatalf("got %v, want exit code 1 for crash-after 300ms", err)
	}
	if !strings.Contains(h.logs.String(), "msg=crash") {
		t.Errorf("no crash line:\n%s", h.logs)
	}
}

func TestAdminCrashAnswers202ThenExits(t *testing.T) {
	h := start(t, Config{})
	h.expect(http.MethodPost, "/admin/crash", 202)
	var exit *ExitError
	if err := h.waitExit(); !errors.As(err, &exit) || exit.Code != 1 || !strings.Contains(exit.Reason, "/admin/crash") {
		t.Fatalf("got %v, want exit code 1 from /admin/crash", err)
	}
}

func TestGracefulStopServesThroughTheShutdownDelay(t *testing.T) {
	h := start(t, Config{ShutdownDelay: 10 * time.Second})
	h.cancel()
	h.waitTimers(1) // the shutdown delay
	h.expect(http.MethodGet, "/ready", 503)
	h.expect(http.MethodGet, "/", 200)
	select {
	case err := <-h.done:
		t.Fatalf("Run returned before the shutdown delay passed: %v", err)
	default:
	}
	h.clock.Advance(10 * time.Second)
	if err := h.waitExit(); err != nil {
		t.Fatalf("got %v, want nil after a graceful stop", err)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "msg=\"shutting down\" shutdownDelay=10s") || !strings.Contains(logs, "msg=stopped") {
		t.Errorf("no shutdown and stop lines:\n%s", logs)
	}
}

func TestKillCutsTheShutdownDelayShortWith137(t *testing.T) {
	h := start(t, Config{ShutdownDelay: time.Hour})
	h.cancel()
	h.waitTimers(1)
	h.app.Kill()
	var exit *ExitError
	if err := h.waitExit(); !errors.As(err, &exit) || exit.Code != 137 {
		t.Fatalf("got %v, want exit code 137", err)
	}
}

func TestKillAbortsRequestsWaitingOnLatency(t *testing.T) {
	h := start(t, Config{Latency: FixedLatency(time.Hour)})
	go func() {
		if resp, err := h.client.Get(h.base + "/"); err == nil {
			resp.Body.Close()
		}
	}()
	h.waitTimers(1)
	h.app.Kill()
	var exit *ExitError
	if err := h.waitExit(); !errors.As(err, &exit) || exit.Code != 137 {
		t.Fatalf("got %v, want exit code 137", err)
	}
}

func TestAdminEndpointsChangeBehaviour(t *testing.T) {
	h := start(t, Config{})
	h.expect(http.MethodPost, "/admin/readiness?fail=true", 200)
	h.expect(http.MethodGet, "/ready", 503)
	h.expect(http.MethodPost, "/admin/readiness?fail=false", 200)
	h.expect(http.MethodGet, "/ready", 200)

	h.expect(http.MethodPost, "/admin/liveness?fail=true", 200)
	h.expect(http.MethodGet, "/healthz", 500)
	h.expect(http.MethodPost, "/admin/liveness?fail=false", 200)
	h.expect(http.MethodGet, "/healthz", 200)

	h.expect(http.MethodPost, "/admin/errors?rate=1", 200)
	h.expect(http.MethodGet, "/", 500)
	h.expect(http.MethodPost, "/admin/errors?rate=0%25", 200)
	h.expect(http.MethodGet, "/", 200)

	body := h.expect(http.MethodPost, "/admin/latency?d=50ms..150ms", 200)
	var state AdminState
	if err := json.Unmarshal([]byte(body), &state); err != nil {
		t.Fatal(err)
	}
	if state != (AdminState{Readiness: "ok", Liveness: "ok", ErrorRate: 0, Latency: "50ms..150ms"}) {
		t.Errorf("state after changes: %+v", state)
	}
	logs := h.logs.String()
	for _, setting := range []string{"setting=readiness", "setting=liveness", "setting=error-rate", "setting=latency"} {
		if !strings.Contains(logs, setting) {
			t.Errorf("no admin line with %s", setting)
		}
	}
}

func TestAdminLatencyTakesEffect(t *testing.T) {
	h := start(t, Config{})
	h.expect(http.MethodPost, "/admin/latency?d=200ms", 200)
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		if resp, err := h.client.Get(h.base + "/"); err == nil {
			resp.Body.Close()
		}
	}()
	h.waitTimers(1)
	h.clock.Advance(200 * time.Millisecond)
	select {
	case <-answered:
	case <-time.After(waitLimit):
		t.Fatal("no answer")
	}
}

func TestAdminBadParametersAre400NamingTheParameter(t *testing.T) {
	h := start(t, Config{})
	for _, tc := range []struct{ path, param string }{
		{"/admin/readiness", "fail"},
		{"/admin/readiness?fail=maybe", "fail"},
		{"/admin/liveness?fail=", "fail"},
		{"/admin/errors", "rate"},
		{"/admin/errors?rate=1.5", "rate"},
		{"/admin/errors?rate=lots", "rate"},
		{"/admin/latency?d=slow", "d"},
		{"/admin/latency", "d"},
	} {
		code, body := h.post(tc.path)
		var perr ParamError
		if code != 400 || json.Unmarshal([]byte(body), &perr) != nil || perr.Parameter != tc.param ||
			!strings.Contains(perr.Error, tc.param) {
			t.Errorf("POST %s: %d %s, want 400 naming %q", tc.path, code, body, tc.param)
		}
	}
	if state := h.app.adminState(); state != (AdminState{Readiness: "ok", Liveness: "ok", Latency: "0s"}) {
		t.Errorf("bad parameters changed the state: %+v", state)
	}
}

func TestMetricsCountRequestsByPathAndCode(t *testing.T) {
	h := start(t, Config{})
	h.get("/")
	h.get("/")
	h.get("/nope")
	body := h.expect(http.MethodGet, "/metrics", 200)
	for _, want := range []string{
		`flotilla_workload_requests_total{code="200",path="/"} 2`,
		`flotilla_workload_requests_total{code="404",path="other"} 1`,
		`flotilla_workload_request_duration_seconds_bucket{path="/",le="0.001"}`,
		`flotilla_workload_in_flight_requests 1`, // the scrape itself
		`flotilla_workload_info{allocation="a1b2c3d4",node="n1",version="v1"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestLogsHaveStartRequestAndShutdownLines(t *testing.T) {
	h := start(t, Config{Version: "v3"})
	h.get("/")
	h.cancel()
	if err := h.waitExit(); err != nil {
		t.Fatal(err)
	}
	logs := h.logs.String()
	for _, want := range []string{
		`msg="workload started" version=v3 listen=127.0.0.1:`,
		`msg=request method=GET path=/ status=200 duration=`,
		`msg="shutting down"`,
		`msg=stopped`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	if !strings.Contains(logs, "time=2023-11-1") {
		t.Errorf("lines are not stamped by the app's clock:\n%s", logs)
	}
}

func TestStatsModelCPUMemoryAndRequests(t *testing.T) {
	h := start(t, Config{CPUPerRequest: 100 * time.Millisecond, Memory: 64 << 20, Simulated: true})
	h.clock.Advance(10 * time.Second)
	for range 10 {
		h.expect(http.MethodGet, "/", 200)
	}
	h.get("/healthz")
	h.get("/ready")
	h.get("/metrics")
	s := h.app.Stats()
	if s.Requests != 10 {
		t.Errorf("requests %d, want 10 (probes and scrapes do not count)", s.Requests)
	}
	if s.Memory != BaseMemory+64<<20 {
		t.Errorf("memory %v, want base + 64Mi", s.Memory)
	}
	// 10 × 100ms of CPU in the 5s window: 200 millicores.
	if s.CPU != 200 {
		t.Errorf("cpu %v, want 200m", s.CPU)
	}
	if s.InFlight != 0 {
		t.Errorf("in flight %d", s.InFlight)
	}
	h.clock.Advance(10 * time.Second)
	if s := h.app.Stats(); s.CPU != 0 {
		t.Errorf("cpu %v after 10 idle seconds, want 0", s.CPU)
	}
}

func TestStatsCountInFlightRequests(t *testing.T) {
	h := start(t, Config{Latency: FixedLatency(time.Second)})
	go func() {
		if resp, err := h.client.Get(h.base + "/"); err == nil {
			resp.Body.Close()
		}
	}()
	h.waitTimers(1)
	if s := h.app.Stats(); s.InFlight != 1 {
		t.Errorf("in flight %d, want 1", s.InFlight)
	}
	h.clock.Advance(time.Second)
}

func TestRealModeBurnsCPUAndHoldsMemory(t *testing.T) {
	h := start(t, Config{CPUPerRequest: 20 * time.Millisecond, Memory: 4 << 20})
	began := time.Now()
	h.expect(http.MethodGet, "/", 200)
	if took := time.Since(began); took < 20*time.Millisecond {
		t.Errorf("a request took %v, want at least the 20ms of CPU it burns", took)
	}
	if s := h.app.Stats(); s.CPU == 0 {
		t.Error("burnt CPU is not in the model")
	}
}

func TestExtraListenServesTheSameApp(t *testing.T) {
	a, b := reservePort(t), reservePort(t)
	h := start(t, Config{Listen: a, ExtraListen: []string{b}})
	h.waitServing()
	if len(h.app.addrs) != 2 {
		t.Fatalf("listening on %v, want two addresses", h.app.addrs)
	}
	h.expect(http.MethodGet, "/", 200)
	h.base = "http://" + b
	h.expect(http.MethodGet, "/", 200)
}

func TestListenFailureIsACrash(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	a := New(Config{Listen: busy.Addr().String(), Clock: clock.NewFake(time.Unix(0, 0))}, nil)
	err = a.Run(context.Background(), nil)
	var exit *ExitError
	if !errors.As(err, &exit) || exit.Code != 1 || !strings.Contains(exit.Reason, "listen on") {
		t.Errorf("got %v, want exit code 1 saying listen failed", err)
	}
}

func TestRunTwiceIsRefused(t *testing.T) {
	h := start(t, Config{})
	if err := h.app.Run(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("second Run: %v", err)
	}
}

func TestExitErrorSaysCodeAndReason(t *testing.T) {
	err := &ExitError{Code: 1, Reason: "crash-after 1s"}
	if got := err.Error(); got != "workload exited with code 1: crash-after 1s" {
		t.Errorf("got %q", got)
	}
}
