package workload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"flotilla/internal/clock"
	"flotilla/internal/vnet"
)

// Exit codes Run reports.
const (
	// ExitCrash: --crash-after, POST /admin/crash, or a listener failing.
	ExitCrash = 1
	// ExitKilled: Kill, as a process killed by SIGKILL (128 + 9).
	ExitKilled = 137
)

// Log messages a runtime's tests and users look for.
const (
	LogStarted  = "workload started"
	LogRequest  = "request"
	LogShutdown = "shutting down"
	LogStopped  = "stopped"
	LogCrash    = "crash"
)

// ExitError is how the app ended when it did not stop gracefully.
type ExitError struct {
	Code   int
	Reason string
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("workload exited with code %d: %s", e.Code, e.Reason)
}

// App is one instance of the demo app. Its methods are safe for concurrent
// use; Run may be called once.
type App struct {
	cfg     Config
	clock   clock.Clock
	log     *slog.Logger
	logs    io.Writer
	metrics *metrics
	usage   usageModel
	handler http.Handler

	mu               sync.Mutex // guards the fields below
	rng              *rand.Rand
	errorRate        float64
	latency          Latency
	readinessFailing bool
	livenessFailing  bool

	draining atomic.Bool
	running  atomic.Bool
	// abortCtx ends when the app crashes or is killed; its cause is the
	// *ExitError Run returns. Everything that waits also waits on it.
	abortCtx context.Context
	abort    context.CancelCauseFunc
	active   activity

	// serving is closed once the listeners accept connections, with addrs
	// set (Serving).
	serving chan struct{}
	addrs   []net.Addr
}

// New builds the app; logs receives its log lines (nil discards them).
func New(cfg Config, logs io.Writer) *App {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.NewPCG(rand.Uint64(), rand.Uint64())
	}
	if cfg.Version == "" {
		cfg.Version = DefaultVersion
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if logs == nil {
		logs = io.Discard
	}
	a := &App{
		cfg:       cfg,
		clock:     cfg.Clock,
		logs:      logs,
		metrics:   newMetrics(cfg),
		rng:       rand.New(cfg.Rand),
		errorRate: cfg.ErrorRate,
		latency:   cfg.Latency,
		serving:   make(chan struct{}),
	}
	a.usage.memory = cfg.Memory
	a.log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{
		// The app's clock stamps its lines, so that a virtual run's logs tell
		// virtual time.
		ReplaceAttr: func(groups []string, attr slog.Attr) slog.Attr {
			if len(groups) == 0 && attr.Key == slog.TimeKey {
				return slog.Time(slog.TimeKey, a.clock.Now())
			}
			return attr
		},
	}))
	a.abortCtx, a.abort = context.WithCancelCause(context.Background())
	a.handler = a.routes()
	return a
}

// Stats reports the app's counters and its usage model.
func (a *App) Stats() Stats { return a.usage.stats(a.clock.Now()) }

// Kill stops the app at once, as SIGKILL would: no shutdown delay, open
// connections cut. Run then returns an *ExitError with code 137.
func (a *App) Kill() {
	a.abortWith(&ExitError{Code: ExitKilled, Reason: "killed"})
}

// crash makes Run return an *ExitError with code 1.
func (a *App) crash(reason string) {
	a.abortWith(&ExitError{Code: ExitCrash, Reason: reason})
}

// abortWith records the first way the app ended; later ones change nothing.
func (a *App) abortWith(e *ExitError) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.abortCtx.Err() != nil {
		return
	}
	if e.Code == ExitCrash {
		a.log.Error(LogCrash, "reason", e.Reason)
	} else {
		a.log.Warn("killed")
	}
	a.abort(e)
}

func (a *App) abortErr() error {
	var e *ExitError
	if errors.As(context.Cause(a.abortCtx), &e) {
		return e
	}
	return &ExitError{Code: ExitCrash, Reason: "aborted"}
}

// Serving is closed once the app accepts connections (after its
// StartupDelay); it stays open if the app ends before it listens.
func (a *App) Serving() <-chan struct{} { return a.serving }

// Run listens on cfg.Listen and cfg.ExtraListen (or serves ln if non-nil)
// and serves until ctx ends or the app crashes or is killed. When ctx ends it
// stops gracefully: /ready turns 503, it keeps serving for ShutdownDelay,
// then lets the requests in flight finish. It returns nil after a graceful
// stop and an *ExitError otherwise. The fault timers count from the call.
func (a *App) Run(ctx context.Context, ln net.Listener) error {
	if !a.running.CompareAndSwap(false, true) {
		if ln != nil {
			ln.Close()
		}
		return errors.New("workload: Run called twice")
	}
	a.usage.cpu.reset(a.clock.Now())
	stopTimers := a.armFaultTimers()
	defer stopTimers()

	if d := a.cfg.StartupDelay; d > 0 {
		a.log.Info("waiting before listening", "startupDelay", d)
		select {
		case <-a.clock.After(d):
		case <-ctx.Done():
			if ln != nil {
				ln.Close()
			}
			a.log.Info(LogStopped, "before", "listening")
			return nil
		case <-a.abortCtx.Done():
			if ln != nil {
				ln.Close()
			}
			return a.abortErr()
		}
	}

	lns, err := a.listen(ln)
	if err != nil {
		a.crash(err.Error())
		return a.abortErr()
	}
	if !a.cfg.Simulated && a.cfg.Memory > 0 {
		ballast := hold(a.cfg.Memory)
		defer goruntime.KeepAlive(ballast) // resident until Run returns
	}

	srv := &http.Server{
		Handler:           a,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, len(lns))
	for _, l := range lns {
		go func() { served <- srv.Serve(l) }()
	}
	addrs := make([]string, len(lns))
	for i, l := range lns {
		addrs[i] = l.Addr().String()
		a.addrs = append(a.addrs, l.Addr())
	}
	a.log.Info(LogStarted, "version", a.cfg.Version, "listen", strings.Join(addrs, ","),
		"node", a.cfg.Node, "allocation", a.cfg.Allocation, "hostname", a.cfg.Hostname)
	close(a.serving)

	// finish closes what is left and waits for every goroutine the app
	// started, so that none outlives Run.
	finish := func(result error) error {
		srv.Close()
		for range lns {
			<-served
		}
		a.active.closeAndWait()
		return result
	}

	select {
	case <-ctx.Done():
	case <-a.abortCtx.Done():
		return finish(a.abortErr())
	case err := <-served:
		served <- err // finish counts it
		a.crash(fmt.Sprintf("serve: %v", err))
		return finish(a.abortErr())
	}

	a.draining.Store(true)
	a.log.Info(LogShutdown, "shutdownDelay", a.cfg.ShutdownDelay)
	if d := a.cfg.ShutdownDelay; d > 0 {
		select {
		case <-a.clock.After(d):
		case <-a.abortCtx.Done():
			return finish(a.abortErr())
		}
	}
	if err := srv.Shutdown(a.abortCtx); err != nil {
		return finish(a.abortErr())
	}
	a.log.Info(LogStopped)
	return finish(nil)
}

// listen opens the listeners, or adopts ln.
func (a *App) listen(ln net.Listener) ([]net.Listener, error) {
	if ln != nil {
		return []net.Listener{ln}, nil
	}
	var lns []net.Listener
	for _, addr := range append([]string{a.cfg.Listen}, a.cfg.ExtraListen...) {
		l, err := vnet.Or(a.cfg.Net).Listen("tcp", addr)
		if err != nil {
			for _, open := range lns {
				open.Close()
			}
			return nil, fmt.Errorf("listen on %s: %w", addr, err)
		}
		lns = append(lns, l)
	}
	return lns, nil
}

// armFaultTimers starts the --fail-*-after and --crash-after timers and
// returns what stops them.
func (a *App) armFaultTimers() (stop func()) {
	var timers []clock.Timer
	if d := a.cfg.FailReadinessAfter; d > 0 {
		timers = append(timers, a.clock.AfterFunc(d, func() {
			a.setReadinessFailing(true, "fail-readiness-after "+d.String())
		}))
	}
	if d := a.cfg.FailLivenessAfter; d > 0 {
		timers = append(timers, a.clock.AfterFunc(d, func() {
			a.setLivenessFailing(true, "fail-liveness-after "+d.String())
		}))
	}
	if d := a.cfg.CrashAfter; d > 0 {
		timers = append(timers, a.clock.AfterFunc(d, func() {
			a.crash("crash-after " + d.String())
		}))
	}
	return func() {
		for _, t := range timers {
			t.Stop()
		}
	}
}

// hold allocates n bytes and touches every page so that they are resident.
func hold(n int64) []byte {
	b := make([]byte, n)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	return b
}

// burn spends d of real CPU time, or stops early when the app is aborted.
func (a *App) burn(d time.Duration) {
	end := time.Now().Add(d)
	for i := 0; time.Now().Before(end); i++ {
		if i%1024 == 0 && a.abortCtx.Err() != nil {
			return
		}
	}
}

// activity counts the requests being handled so that Run can wait for them;
// once closed it admits no more.
type activity struct {
	mu     sync.Mutex
	n      int
	closed bool
	idle   chan struct{}
}

func (t *activity) enter() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.n++
	return true
}

func (t *activity) leave() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n--
	if t.n == 0 && t.idle != nil {
		close(t.idle)
		t.idle = nil
	}
}

func (t *activity) closeAndWait() {
	t.mu.Lock()
	t.closed = true
	if t.n == 0 {
		t.mu.Unlock()
		return
	}
	idle := make(chan struct{})
	t.idle = idle
	t.mu.Unlock()
	<-idle
}
