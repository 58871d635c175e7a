package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"flotilla/internal/clock"
	"flotilla/internal/vnet"
)

// Defaults and limits.
const (
	DefaultTimeout          = 5 * time.Second
	DefaultProgressInterval = time.Second
	// MinDefaultConcurrency is the least the default concurrency cap is:
	// max(MinDefaultConcurrency, Rate), a second's worth of requests.
	MinDefaultConcurrency = 64
	// BodyLimit is how much of each body is kept to find a version in it;
	// the rest is read and discarded.
	BodyLimit = 64 << 10
	// RevisionHeader is what Flotilla's proxy sets on every answer: the
	// revision of the replica that served it.
	RevisionHeader = "X-Flotilla-Revision"
	// maxVersions bounds Summary.Versions: past it, new names are counted
	// under OtherVersions, so a target inventing names cannot grow memory.
	maxVersions = 64
	// OtherVersions is the key of versions past the first 64 seen.
	OtherVersions = "(other)"
)

// Kinds of errors, the keys of Summary.ErrorKinds.
const (
	ErrorStatus5xx  = "5xx"        // the target answered 500-599
	ErrorTimeout    = "timeout"    // no complete answer within Config.Timeout
	ErrorConnection = "connection" // refused, reset, closed before a complete answer
	ErrorDropped    = "dropped"    // due while Concurrency requests were in flight: not sent
)

// ErrDropped is the error of a request not sent because Concurrency
// requests were already in flight when it was due.
var ErrDropped = errors.New("dropped: concurrency limit")

// Config says what to load, how hard and for how long.
type Config struct {
	// URL is the target: http:// or https://, host and optional path.
	URL string
	// Method defaults to GET; requests have no body. With Users it is the
	// method of the browsing request of each visit.
	Method string
	// Headers are sent with every request; a "Host" entry sets the
	// request's Host.
	Headers http.Header
	// Rate is the requests per second to send, more than 0 (fractions
	// allowed); with a Profile, the peak rate. With Users, the visits per
	// second (a visit that checks out makes two requests).
	Rate float64
	// Profile ("", ProfileSine or ProfileSquare) moves the rate between
	// MinRate and Rate once every Period (profile.go).
	Profile string
	Period  time.Duration
	MinRate float64
	// Duration is how long to send for: requests are due at start + i/Rate
	// for every i/Rate < Duration. Requests still in flight at the end are
	// waited for (at most Timeout).
	Duration time.Duration
	// Concurrency caps the requests (with Users, the visits) in flight; a
	// request due at the cap is dropped (ErrDropped). 0 means max(64, Rate).
	Concurrency int
	// Timeout bounds each request, connection and body included; 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// Progress, when set, is called about every ProgressInterval (default
	// 1s) from one goroutine, never after Run returns.
	Progress         func(Snapshot)
	ProgressInterval time.Duration
	// Users, when more than 0, turns the requests into visits by that many
	// simulated visitors, each with its own cookie jar (visitors.go).
	Users int
	// UserHeader, when set, carries each visitor's id ("user-17") on every
	// request of its visits; only with Users.
	UserHeader string
	// CheckoutRatio is the share of visits that end in a checkout attempt
	// (POST CheckoutPath after the browsing request); only with Users, and
	// 0 means none.
	CheckoutRatio float64
	// CheckoutPath is where checkouts go, on the URL's host; "" means
	// DefaultCheckoutPath.
	CheckoutPath string
	// ConversionHeader marks an answer that converted; "" means
	// DefaultConversionHeader.
	ConversionHeader string
	// Rand picks each visit's visitor and whether it checks out; nil means
	// a randomly seeded source. Tests seed it.
	Rand rand.Source
	// Clock schedules requests and measures latency; nil is the wall clock.
	Clock clock.Clock
	// Net is what requests dial through: nil for the host's network, or a
	// simulated one (vnet.Memory). A dial is bounded by Timeout either way.
	Net vnet.Net
}

// Summary is the result of a run. Its JSON field names are a stable
// contract (`flotilla load -o json`).
type Summary struct {
	Target string `json:"target"`
	// Rate is the rate asked for; DurationS the seconds requests were sent
	// for (the configured duration, or less when the run was interrupted).
	Rate      float64 `json:"rate"`
	DurationS float64 `json:"durationS"`
	// Requests is every request that had an outcome: an answer, an error or
	// a drop. Requests cut short by the caller's context have none and are
	// not counted.
	Requests int64 `json:"requests"`
	// Errors are connection failures, timeouts, 5xx answers and drops.
	Errors int64 `json:"errors"`
	// RPS is the answers (any status) per second of DurationS.
	RPS float64 `json:"rps"`
	// Latency of the answered requests (any status), from the time each was
	// due to the end of its body, in milliseconds.
	P50Ms float64 `json:"p50Ms"`
	P90Ms float64 `json:"p90Ms"`
	P99Ms float64 `json:"p99Ms"`
	MaxMs float64 `json:"maxMs"`
	// Statuses counts answers by status code ("200": N).
	Statuses map[string]int64 `json:"statuses"`
	// Versions counts answers by who served them: the "version" field of a
	// JSON body (the demo workload's), else the X-Flotilla-Revision header
	// ("rev 3"); answers with neither are not counted here.
	Versions map[string]int64 `json:"versions"`
	// ErrorKinds splits Errors by kind (5xx, timeout, connection, dropped)
	// and ErrorSamples keeps the first error message of each kind.
	ErrorKinds   map[string]int64  `json:"errorKinds,omitempty"`
	ErrorSamples map[string]string `json:"errorSamples,omitempty"`
	// Interrupted is set when the caller's context ended the run early.
	Interrupted bool `json:"interrupted,omitempty"`
	// Users has the visitors' figures of a run with Config.Users.
	Users *UsersSummary `json:"users,omitempty"`
}

// Snapshot is the state of a run in progress, given to Config.Progress.
type Snapshot struct {
	Elapsed  time.Duration `json:"elapsed"`
	Requests int64         `json:"requests"`
	Errors   int64         `json:"errors"`
	InFlight int           `json:"inFlight"`
	// RPS is the answers per second since the previous snapshot.
	RPS float64 `json:"rps"`
	// P50Ms and P99Ms are over the whole run so far.
	P50Ms float64 `json:"p50Ms"`
	P99Ms float64 `json:"p99Ms"`
}

// Validate checks a Config without sending anything; errors name the field.
func (c Config) Validate() error {
	u, err := url.Parse(c.URL)
	switch {
	case err != nil:
		return fmt.Errorf("url %q: %w", c.URL, err)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return fmt.Errorf("url %q: want http://HOST[:PORT][/PATH] or https://...", c.URL)
	case !(c.Rate > 0) || math.IsInf(c.Rate, 0):
		return fmt.Errorf("rate %g: want requests per second, more than 0", c.Rate)
	case c.Duration <= 0:
		return fmt.Errorf("duration %s: want more than 0", c.Duration)
	case c.Concurrency < 0:
		return fmt.Errorf("concurrency %d: want 0 (the default) or more", c.Concurrency)
	case c.Timeout < 0:
		return fmt.Errorf("timeout %s: want 0 (the default) or more", c.Timeout)
	case c.ProgressInterval < 0:
		return fmt.Errorf("progress interval %s: want 0 (the default) or more", c.ProgressInterval)
	}
	if err := c.validateProfile(); err != nil {
		return err
	}
	if err := c.validateUsers(); err != nil {
		return err
	}
	if _, err := http.NewRequest(c.method(), c.URL, nil); err != nil {
		return fmt.Errorf("method %q: %w", c.Method, err)
	}
	return nil
}

func (c Config) method() string {
	if c.Method == "" {
		return http.MethodGet
	}
	return c.Method
}

// withDefaults fills in what was left 0.
func (c Config) withDefaults() Config {
	c.Method = c.method()
	if c.Concurrency == 0 {
		c.Concurrency = max(MinDefaultConcurrency, int(math.Ceil(c.Rate)))
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = DefaultProgressInterval
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.CheckoutPath == "" {
		c.CheckoutPath = DefaultCheckoutPath
	}
	if c.ConversionHeader == "" {
		c.ConversionHeader = DefaultConversionHeader
	}
	if c.Rand == nil {
		c.Rand = rand.NewPCG(rand.Uint64(), rand.Uint64())
	}
	return c
}

// Run sends requests to cfg.URL at cfg.Rate for cfg.Duration and returns
// what happened. Errors of the target are in the Summary; Run's error is
// only for a Config that cannot run. When ctx ends early, Run stops
// sending, abandons the requests in flight and returns the Summary so far
// with Interrupted set.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	if err := cfg.Validate(); err != nil {
		return Summary{}, fmt.Errorf("load %s: %w", cfg.URL, err)
	}
	g := newGenerator(cfg.withDefaults())
	defer g.transport.CloseIdleConnections()
	return g.run(ctx), nil
}

// dialer is how a run connects to its target: a net.Dialer, or the
// config's Net, within Timeout.
func dialer(cfg Config) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if vnet.IsHost(cfg.Net) {
		return (&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
		return cfg.Net.DialContext(ctx, network, addr)
	}
}

// generator is one run: its client, its in-flight slots and its tallies.
type generator struct {
	cfg       Config
	clk       clock.Clock
	transport *http.Transport
	client    *http.Client
	header    http.Header
	host      string
	slots     chan struct{} // one per request in flight
	bodies    sync.Pool     // *[]byte of BodyLimit
	// visitors is the run's crowd when Config.Users is set, else nil.
	visitors *crowd

	mu sync.Mutex
	t  tally
}

type tally struct {
	requests, errors, answered int64
	statuses                   map[int]int64
	versions                   map[string]int64
	errorKinds                 map[string]int64
	errorSamples               map[string]string
	latency                    Histogram
}

func newGenerator(cfg Config) *generator {
	transport := &http.Transport{
		Proxy:               nil, // never an environment proxy: requests go where the URL says
		DialContext:         dialer(cfg),
		MaxIdleConns:        cfg.Concurrency,
		MaxIdleConnsPerHost: cfg.Concurrency,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: cfg.Timeout,
		DisableCompression:  true,
	}
	g := &generator{
		cfg:       cfg,
		clk:       cfg.Clock,
		transport: transport,
		client: &http.Client{
			Transport: transport,
			// A redirect is an answer like any other: counted, not followed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		header: cfg.Headers.Clone(),
		slots:  make(chan struct{}, cfg.Concurrency),
		t: tally{
			statuses:     map[int]int64{},
			versions:     map[string]int64{},
			errorKinds:   map[string]int64{},
			errorSamples: map[string]string{},
		},
	}
	if host := g.header.Get("Host"); host != "" {
		g.host = host
		g.header.Del("Host")
	}
	if cfg.Users > 0 {
		g.visitors = newCrowd(cfg, g.client)
	}
	g.bodies.New = func() any {
		b := make([]byte, BodyLimit)
		return &b
	}
	return g
}

// total is the number of requests due in the run: every i with
// i/Rate < Duration (the epsilon keeps 0.29×100 from counting as 28.99…).
func (g *generator) total() int64 {
	return int64(math.Ceil(g.cfg.Rate*g.cfg.Duration.Seconds() - 1e-9))
}

func (g *generator) run(ctx context.Context) Summary {
	start := g.clk.Now()
	stopProgress := make(chan struct{})
	var progress sync.WaitGroup
	if g.cfg.Progress != nil {
		progress.Add(1)
		go func() {
			defer progress.Done()
			g.reportProgress(ctx, start, stopProgress)
		}()
	}

	var inFlight sync.WaitGroup
	window := g.cfg.Duration
	sched := &schedule{cfg: g.cfg}
	for {
		offset, ok := sched.next()
		if !ok {
			break
		}
		due := start.Add(offset)
		// A scheduler that fell behind sends what is due at once: the
		// latency of those requests still counts from their due time.
		if wait := due.Sub(g.clk.Now()); wait > 0 {
			select {
			case <-ctx.Done():
			case <-g.clk.After(wait):
			}
		}
		if ctx.Err() != nil {
			window = g.clk.Now().Sub(start)
			break
		}
		var v *visit
		if g.visitors != nil {
			v = g.visitors.next() // drawn even when dropped, so that a seed replays
		}
		select {
		case g.slots <- struct{}{}:
			inFlight.Add(1)
			go func() {
				defer inFlight.Done()
				if v != nil {
					g.visit(ctx, v, due)
					<-g.slots
					return
				}
				o := g.send(ctx, call{client: g.client, method: g.cfg.Method, url: g.cfg.URL}, due)
				<-g.slots
				g.record(ctx, o)
			}()
		default:
			g.record(ctx, outcome{kind: ErrorDropped, err: ErrDropped})
		}
	}
	inFlight.Wait()
	close(stopProgress)
	progress.Wait()
	return g.summary(window, ctx.Err() != nil)
}

// outcome is what became of one request.
type outcome struct {
	status    int // 0 without an answer
	version   string
	converted bool // the answer carries the conversion header
	latency   time.Duration
	kind      string // an error kind, "" for a success
	err       error
}

// call is one request to make: by whom (a client, with a visitor's cookie
// jar or none), how and where.
type call struct {
	client      *http.Client
	method, url string
	userID      string // sent in Config.UserHeader when both are set
}

// send makes one request due at due and reads its answer.
func (g *generator) send(ctx context.Context, c call, due time.Time) outcome {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, c.method, c.url, nil)
	if err != nil { // Validate made the same request: not expected
		return outcome{kind: ErrorConnection, err: err}
	}
	if len(g.header) > 0 {
		req.Header = g.header.Clone()
	}
	if c.userID != "" && g.cfg.UserHeader != "" {
		req.Header.Set(g.cfg.UserHeader, c.userID)
	}
	if g.host != "" {
		req.Host = g.host
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return failed(err)
	}
	version, err := g.readBody(resp)
	resp.Body.Close()
	if err != nil {
		return failed(fmt.Errorf("read body of %s: %w", c.url, err))
	}
	o := outcome{status: resp.StatusCode, version: version, latency: g.clk.Now().Sub(due),
		converted: converts(resp.Header.Get(g.cfg.ConversionHeader))}
	if resp.StatusCode >= 500 && resp.StatusCode <= 599 {
		o.kind, o.err = ErrorStatus5xx, fmt.Errorf("%s %s: %s", c.method, c.url, resp.Status)
	}
	return o
}

// failed classifies a request that got no complete answer.
func failed(err error) outcome {
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout() {
		return outcome{kind: ErrorTimeout, err: err}
	}
	return outcome{kind: ErrorConnection, err: err}
}

// readBody keeps the first BodyLimit bytes, discards the rest (so that the
// connection can be reused) and says which version answered.
func (g *generator) readBody(resp *http.Response) (string, error) {
	buf := g.bodies.Get().(*[]byte)
	defer g.bodies.Put(buf)
	n, err := readFull(resp.Body, *buf)
	if err != nil {
		return "", err
	}
	return versionOf((*buf)[:n], resp.Header), nil
}

// record adds an outcome to the tallies. A request that failed because the
// caller's context ended has no outcome of its own and is left out.
func (g *generator) record(ctx context.Context, o outcome) {
	if o.status == 0 && o.kind != ErrorDropped && ctx.Err() != nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tallyLocked(o)
}

// tallyLocked adds an outcome to the tallies, with g.mu held. It returns
// the version the answer is counted under ("" for none).
func (g *generator) tallyLocked(o outcome) string {
	t := &g.t
	t.requests++
	if o.status != 0 {
		t.answered++
		t.statuses[o.status]++
		t.latency.Record(o.latency)
		if o.version != "" {
			if _, seen := t.versions[o.version]; !seen && len(t.versions) >= maxVersions {
				o.version = OtherVersions
			}
			t.versions[o.version]++
		}
	}
	if o.kind != "" {
		t.errors++
		t.errorKinds[o.kind]++
		if _, ok := t.errorSamples[o.kind]; !ok && o.err != nil {
			t.errorSamples[o.kind] = o.err.Error()
		}
	}
	if o.status == 0 {
		return ""
	}
	return o.version
}

// reportProgress calls Config.Progress every ProgressInterval until stop.
func (g *generator) reportProgress(ctx context.Context, start time.Time, stop <-chan struct{}) {
	last, lastAnswered := start, int64(0)
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-g.clk.After(g.cfg.ProgressInterval):
		}
		now := g.clk.Now()
		g.mu.Lock()
		s := Snapshot{
			Elapsed:  now.Sub(start),
			Requests: g.t.requests,
			Errors:   g.t.errors,
			InFlight: len(g.slots),
			P50Ms:    millis(g.t.latency.Quantile(0.50)),
			P99Ms:    millis(g.t.latency.Quantile(0.99)),
		}
		answered := g.t.answered
		g.mu.Unlock()
		if d := now.Sub(last).Seconds(); d > 0 {
			s.RPS = round(float64(answered-lastAnswered)/d, 100)
		}
		last, lastAnswered = now, answered
		g.cfg.Progress(s)
	}
}

func (g *generator) summary(window time.Duration, interrupted bool) Summary {
	g.mu.Lock()
	defer g.mu.Unlock()
	t := &g.t
	s := Summary{
		Target:      g.cfg.URL,
		Rate:        g.cfg.Rate,
		DurationS:   round(window.Seconds(), 1000),
		Requests:    t.requests,
		Errors:      t.errors,
		P50Ms:       millis(t.latency.Quantile(0.50)),
		P90Ms:       millis(t.latency.Quantile(0.90)),
		P99Ms:       millis(t.latency.Quantile(0.99)),
		MaxMs:       millis(t.latency.Max()),
		Statuses:    make(map[string]int64, len(t.statuses)),
		Versions:    make(map[string]int64, len(t.versions)),
		Interrupted: interrupted,
	}
	if window > 0 {
		s.RPS = round(float64(t.answered)/window.Seconds(), 100)
	}
	for code, n := range t.statuses {
		s.Statuses[strconv.Itoa(code)] = n
	}
	for v, n := range t.versions {
		s.Versions[v] = n
	}
	if len(t.errorKinds) > 0 {
		s.ErrorKinds = make(map[string]int64, len(t.errorKinds))
		for k, n := range t.errorKinds {
			s.ErrorKinds[k] = n
		}
		s.ErrorSamples = make(map[string]string, len(t.errorSamples))
		for k, msg := range t.errorSamples {
			s.ErrorSamples[k] = msg
		}
	}
	if g.visitors != nil {
		s.Users = g.visitors.summaryLocked()
	}
	return s
}

// millis is d in milliseconds, to the microsecond.
func millis(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 1000) }

func round(x, unit float64) float64 { return math.Round(x*unit) / unit }
