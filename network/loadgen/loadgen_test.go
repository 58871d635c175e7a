package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"flotilla/internal/clock"
)

// demo answers as the demo workload does.
func demo(version string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"version":%q,"node":"n1","allocation":"a1","hostname":"h"}`, version)
	}
}

func run(t *testing.T, cfg Config) Summary {
	t.Helper()
	s, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLoadHonoursTheRateOpenLoop(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var arrivals []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		mu.Unlock()
		demo("v1")(w, r)
	}))
	defer srv.Close()

	began := time.Now()
	s := run(t, Config{URL: srv.URL, Rate: 100, Duration: time.Second})
	took := time.Since(began)

	if s.Requests < 80 || s.Requests > 120 {
		t.Fatalf("100 rps for 1s sent %d requests, want 80..120", s.Requests)
	}
	if s.Errors != 0 || s.Statuses["200"] != s.Requests || s.Versions["v1"] != s.Requests {
		t.Fatalf("summary %+v, want every request a 200 from v1", s)
	}
	mu.Lock()
	defer mu.Unlock()
	if int64(len(arrivals)) != s.Requests {
		t.Fatalf("server saw %d requests, summary says %d", len(arrivals), s.Requests)
	}
	// Spread over the second, not sent in a burst.
	if span := arrivals[len(arrivals)-1].Sub(arrivals[0]); span < 800*time.Millisecond || took < 900*time.Millisecond {
		t.Fatalf("requests spread over %s, run took %s: want about 1s", span, took)
	}
	if s.RPS < 80 || s.RPS > 120 || s.DurationS != 1 {
		t.Fatalf("rps %.1f over %.3fs, want about 100 over 1s", s.RPS, s.DurationS)
	}
	if s.P50Ms <= 0 || s.P50Ms > s.P90Ms || s.P90Ms > s.P99Ms || s.P99Ms > s.MaxMs {
		t.Fatalf("quantiles out of order: p50 %v p90 %v p99 %v max %v", s.P50Ms, s.P90Ms, s.P99Ms, s.MaxMs)
	}
}

func TestLoadCountsServerErrorsAsErrors(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 0 {
			http.Error(w, "boom", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		http.Error(w, "no", http.StatusNotFound)
	}))
	defer srv.Close()

	s := run(t, Config{URL: srv.URL + "/", Rate: 100, Duration: 200 * time.Millisecond})
	if s.Requests != 20 || s.Errors != 10 || s.Statuses["503"] != 10 || s.Statuses["404"] != 10 {
		t.Fatalf("summary %+v, want 20 requests: 10 errors (503), 10 404s (not errors)", s)
	}
	if s.ErrorKinds[ErrorStatus5xx] != 10 || !strings.Contains(s.ErrorSamples[ErrorStatus5xx], "503") {
		t.Fatalf("error kinds %v, samples %v", s.ErrorKinds, s.ErrorSamples)
	}
	if s.RPS < 90 || s.RPS > 110 {
		t.Fatalf("rps %.1f: every request was answered, want about 100", s.RPS)
	}

	// Redirects are answers, not followed.
	n.Store(0)
	s = run(t, Config{URL: srv.URL + "/redirect", Rate: 50, Duration: 100 * time.Millisecond})
	if s.Statuses["302"] != 3 || s.Statuses["503"] != 2 {
		t.Fatalf("statuses %v, want 3 302s and 2 503s", s.Statuses)
	}
}

func TestLoadCountsConnectionFailuresAsErrors(t *testing.T) {
	t.Parallel()
	// Nothing listens: refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String() + "/"
	l.Close()
	s := run(t, Config{URL: refused, Rate: 50, Duration: 200 * time.Millisecond})
	if s.Requests != 10 || s.Errors != 10 || s.ErrorKinds[ErrorConnection] != 10 || len(s.Statuses) != 0 {
		t.Fatalf("summary %+v, want 10 connection errors", s)
	}
	if !strings.Contains(s.ErrorSamples[ErrorConnection], "refused") {
		t.Fatalf("sample %q, want connection refused", s.ErrorSamples[ErrorConnection])
	}
	if s.RPS != 0 || s.P99Ms != 0 {
		t.Fatalf("rps %v p99 %v with no answer, want 0", s.RPS, s.P99Ms)
	}

	// Accepted, then closed before an answer.
	hangUp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hangUp.Close()
	go func() {
		for {
			c, err := hangUp.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	s = run(t, Config{URL: "http://" + hangUp.Addr().String() + "/", Rate: 50, Duration: 200 * time.Millisecond})
	if s.Requests != 10 || s.ErrorKinds[ErrorConnection] != 10 {
		t.Fatalf("summary %+v, want 10 connection errors", s)
	}
}

func TestLoadCountsTimeoutsAsErrors(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)

	s := run(t, Config{URL: srv.URL, Rate: 50, Duration: 200 * time.Millisecond, Timeout: 100 * time.Millisecond})
	if s.Requests != 10 || s.Errors != 10 || s.ErrorKinds[ErrorTimeout] != 10 || len(s.Statuses) != 0 {
		t.Fatalf("summary %+v, want 10 timeouts", s)
	}
}

func TestLoadDropsRequestsAtTheConcurrencyLimit(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)

	// Two requests hold both slots past the end of the run: the other 18
	// are dropped, and the two time out.
	s := run(t, Config{URL: srv.URL, Rate: 100, Duration: 200 * time.Millisecond, Concurrency: 2, Timeout: 400 * time.Millisecond})
	if s.Requests != 20 || s.Errors != 20 || s.ErrorKinds[ErrorDropped] != 18 || s.ErrorKinds[ErrorTimeout] != 2 {
		t.Fatalf("summary %+v, want 18 dropped and 2 timeouts", s)
	}
	if s.ErrorSamples[ErrorDropped] != ErrDropped.Error() {
		t.Fatalf("dropped sample %q", s.ErrorSamples[ErrorDropped])
	}
}

func TestLoadVersionsComeFromTheBodyElseTheRevisionHeader(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/json", demo("v2"))
	mux.HandleFunc("/both", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(RevisionHeader, "7")
		demo("v3")(w, r)
	})
	mux.HandleFunc("/header", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(RevisionHeader, "4")
		io.WriteString(w, "hello\n")
	})
	mux.HandleFunc("/named", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(RevisionHeader, "blue")
		io.WriteString(w, `{"other": 1}`)
	})
	mux.HandleFunc("/none", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "plain") })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		// Too big to parse: the header says it; the body is still read.
		w.Header().Set(RevisionHeader, "9")
		fmt.Fprintf(w, `{"version":"v9","pad":%q}`, strings.Repeat("x", 2*BodyLimit))
	})
	mux.HandleFunc("/failing", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"version":"v5","error":"injected error"}`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, tc := range []struct {
		path string
		want map[string]int64
	}{
		{"/json", map[string]int64{"v2": 5}},
		{"/both", map[string]int64{"v3": 5}},
		{"/header", map[string]int64{"rev 4": 5}},
		{"/named", map[string]int64{"blue": 5}},
		{"/none", map[string]int64{}},
		{"/big", map[string]int64{"rev 9": 5}},
		{"/failing", map[string]int64{"v5": 5}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			s := run(t, Config{URL: srv.URL + tc.path, Rate: 50, Duration: 100 * time.Millisecond})
			if fmt.Sprint(s.Versions) != fmt.Sprint(tc.want) {
				t.Fatalf("versions %v, want %v (summary %+v)", s.Versions, tc.want, s)
			}
		})
	}
}

func TestLoadSendsTheMethodAndHeaders(t *testing.T) {
	t.Parallel()
	type seen struct{ method, host, group string }
	got := make(chan seen, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Method, r.Host, r.Header.Get("X-Group")}
	}))
	defer srv.Close()
	h := http.Header{}
	h.Set("X-Group", "beta")
	h.Set("Host", "web.example")
	run(t, Config{URL: srv.URL, Method: http.MethodHead, Headers: h, Rate: 20, Duration: 100 * time.Millisecond})
	if s := <-got; s != (seen{http.MethodHead, "web.example", "beta"}) {
		t.Fatalf("server saw %+v", s)
	}
}

func TestLoadStopsEarlyWhenTheContextIsCancelled(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		demo("v1")(w, r)
	}))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	snapshots := make(chan Snapshot, 100)
	done := make(chan Summary, 1)
	go func() {
		s, err := Run(ctx, Config{URL: srv.URL, Rate: 50, Duration: time.Minute,
			ProgressInterval: 100 * time.Millisecond, Progress: func(s Snapshot) { snapshots <- s }})
		if err != nil {
			t.Error(err)
		}
		done <- s
	}()
	select {
	case <-snapshots:
	case <-time.After(10 * time.Second):
		t.Fatal("no progress within 10s")
	}
	cancel()
	var s Summary
	select {
	case s = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of the cancel")
	}
	if !s.Interrupted || s.Requests == 0 || s.Requests > 500 || s.DurationS >= 10 {
		t.Fatalf("summary %+v, want an interrupted run of a few requests", s)
	}
	// A request in flight at the cancel may have reached the server; it has
	// no outcome and is not counted.
	if n := served.Load(); s.Errors != 0 || s.Requests > n || s.Requests < n-5 {
		t.Fatalf("summary %+v, server served %d: want no error and every answered request counted", s, n)
	}
}

func TestLoadReportsProgressDuringTheRunOnly(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(demo("v1"))
	defer srv.Close()
	var returned atomic.Bool
	var mu sync.Mutex
	var snaps []Snapshot
	run(t, Config{URL: srv.URL, Rate: 50, Duration: 600 * time.Millisecond, ProgressInterval: 100 * time.Millisecond,
		Progress: func(s Snapshot) {
			if returned.Load() {
				t.Error("Progress called after Run returned")
			}
			mu.Lock()
			snaps = append(snaps, s)
			mu.Unlock()
		}})
	returned.Store(true)
	mu.Lock()
	defer mu.Unlock()
	if len(snaps) < 3 {
		t.Fatalf("%d snapshots over 600ms at 100ms, want at least 3", len(snaps))
	}
	last := snaps[len(snaps)-1]
	if last.Requests < 10 || last.Elapsed < 300*time.Millisecond || last.RPS <= 0 {
		t.Fatalf("last snapshot %+v", last)
	}
	for i := 1; i < len(snaps); i++ {
		if snaps[i].Requests < snaps[i-1].Requests {
			t.Fatalf("requests went backwards: %+v", snaps)
		}
	}
}

// lateClock wakes the scheduler 50ms late, as an overloaded machine would.
type lateClock struct{ clock.Real }

func (lateClock) After(d time.Duration) <-chan time.Time { return time.After(d + 50*time.Millisecond) }

// TestLoadLatencyCountsFromTheDueTime is the coordinated-omission check: a
// request sent late because the generator was late still counts the delay,
// even though the server answers at once.
func TestLoadLatencyCountsFromTheDueTime(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(demo("v1"))
	defer srv.Close()
	s := run(t, Config{URL: srv.URL, Rate: 10, Duration: 300 * time.Millisecond, Clock: lateClock{}})
	if s.Requests != 3 || s.MaxMs < 45 || s.P99Ms < 45 {
		t.Fatalf("summary %+v: want the 50ms the scheduler was late in the latency", s)
	}
}

func TestLoadSummaryJSONFieldNames(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(demo("v1"))
	defer srv.Close()
	b, err := json.Marshal(run(t, Config{URL: srv.URL, Rate: 20, Duration: 100 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"requests", "errors", "rps", "p50Ms", "p90Ms", "p99Ms", "statuses", "versions", "target", "durationS"} {
		if _, ok := fields[name]; !ok {
			t.Errorf("no %q in %s", name, b)
		}
	}
	var maps struct {
		Statuses map[string]int `json:"statuses"`
		Versions map[string]int `json:"versions"`
	}
	json.Unmarshal(b, &maps)
	if maps.Statuses["200"] != 2 || maps.Versions["v1"] != 2 {
		t.Fatalf("statuses and versions in %s", b)
	}
	if _, ok := fields["errorKinds"]; ok {
		t.Errorf("errorKinds present without errors: %s", b)
	}
}

func TestLoadConfigValidationNamesTheField(t *testing.T) {
	ok := Config{URL: "http://127.0.0.1:1/", Rate: 1, Duration: time.Second}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no scheme", func(c *Config) { c.URL = "127.0.0.1:8080" }, "url"},
		{"ftp", func(c *Config) { c.URL = "ftp://127.0.0.1/" }, "url"},
		{"no host", func(c *Config) { c.URL = "http:///x" }, "url"},
		{"zero rate", func(c *Config) { c.Rate = 0 }, "rate"},
		{"negative rate", func(c *Config) { c.Rate = -1 }, "rate"},
		{"zero duration", func(c *Config) { c.Duration = 0 }, "duration"},
		{"negative concurrency", func(c *Config) { c.Concurrency = -1 }, "concurrency"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "timeout"},
		{"bad method", func(c *Config) { c.Method = "GE T" }, "method"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.change(&c)
			_, err := Run(context.Background(), c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadTotalCountsEveryDueRequest(t *testing.T) {
	for _, tc := range []struct {
		rate     float64
		duration time.Duration
		want     int64
	}{
		{100, time.Second, 100},
		{0.29, 100 * time.Second, 29},
		{0.5, time.Second, 1}, // the first request is due at once
		{3, 500 * time.Millisecond, 2},
		{200, 30 * time.Second, 6000},
	} {
		g := generator{cfg: Config{Rate: tc.rate, Duration: tc.duration}}
		if got := g.total(); got != tc.want {
			t.Errorf("rate %g for %s: %d requests, want %d", tc.rate, tc.duration, got, tc.want)
		}
	}
}
