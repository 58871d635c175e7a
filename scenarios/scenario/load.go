package scenario

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"flotilla/api"
	"flotilla/internal/seeded"
	"flotilla/internal/text"
	"flotilla/internal/vnet"
	"flotilla/network/loadgen"
)

// loadProgress is how often a running load's figures are refreshed.
const loadProgress = 500 * time.Millisecond

// backgroundLoad is one load a scenario started: loadgen.Run in a
// goroutine, as `flotilla load` runs it, against a service's VIP.
type backgroundLoad struct {
	name   string
	target string
	// runOut is set for a load with a duration: a stop waits for its end.
	runOut bool
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	last    loadgen.Snapshot
	summary *loadgen.Summary
	err     error
}

// loadFigures are a load's figures so far (Done: all of them).
type loadFigures struct {
	Name     string
	Done     bool
	Requests int64
	Errors   int64
	RPS      float64
	P50Ms    float64
	P99Ms    float64
	Versions map[string]int64
	Kinds    map[string]int64
	Samples  map[string]string
	// Users is what the simulated visitors did (a load with users, once
	// done).
	Users *loadgen.UsersSummary
}

func (l *backgroundLoad) figures() loadFigures {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.summary; s != nil {
		return loadFigures{Name: l.name, Done: true, Requests: s.Requests, Errors: s.Errors, RPS: s.RPS,
			P50Ms: s.P50Ms, P99Ms: s.P99Ms, Versions: s.Versions, Kinds: s.ErrorKinds, Samples: s.ErrorSamples, Users: s.Users}
	}
	s := l.last
	return loadFigures{Name: l.name, Requests: s.Requests, Errors: s.Errors, RPS: s.RPS, P50Ms: s.P50Ms, P99Ms: s.P99Ms}
}

// String says what the load did: "2000 requests, 0 errors, 100 rps, p99
// 3.1ms, versions v1: 1200, v2: 800".
func (f loadFigures) String() string {
	var b strings.Builder
	b.WriteString(text.Count(int(f.Requests), "request") + ", " + text.Count(int(f.Errors), "error"))
	if len(f.Kinds) > 0 {
		var kinds []string
		for _, k := range sortedKeys(f.Kinds) {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, f.Kinds[k]))
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(kinds, ", "))
	}
	for _, k := range sortedKeys(f.Samples) {
		fmt.Fprintf(&b, " [%s: %s]", k, f.Samples[k])
	}
	fmt.Fprintf(&b, ", %.0f rps, p50 %s, p99 %s", f.RPS, millis(f.P50Ms), millis(f.P99Ms))
	if f.Done {
		var versions []string
		for _, v := range sortedKeys(f.Versions) {
			versions = append(versions, fmt.Sprintf("%s %d", v, f.Versions[v]))
		}
		if len(versions) == 0 {
			versions = []string{"none"}
		}
		fmt.Fprintf(&b, ", answers by version: %s", strings.Join(versions, ", "))
	} else {
		b.WriteString(" so far")
	}
	return b.String()
}

func (f loadFigures) figures() map[string]any {
	m := map[string]any{"requests": f.Requests, "errors": f.Errors, "rps": f.RPS, "p50Ms": f.P50Ms, "p99Ms": f.P99Ms,
		"versions": f.Versions, "errorKinds": f.Kinds, "done": f.Done}
	if f.Users != nil {
		m["users"] = f.Users
	}
	return m
}

// visitorsTable is what a load's visitors did, a line for all of them
// and one per version that answered them:
//
//	visitors: 3987 of 4000 came; 7012 visits, 7012 checkouts, 1105 conversions; 0 answered by two versions
//	  v1: 1990 visitors, 3500 checkouts, 350 conversions (10.0%), 312 visitors converted (15.7%)
//
// and "" for a load without users.
func (f loadFigures) visitorsTable() string {
	u := f.Users
	if u == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "visitors: %d of %d came; %d visits, %d checkouts, %d conversions; %d answered by two versions",
		u.Visitors, u.Users, u.Visits, u.Checkouts, u.Conversions, u.SwitchedVisitors)
	for _, v := range sortedKeys(u.ByVersion) {
		n := u.ByVersion[v]
		fmt.Fprintf(&b, "\n  %s: %d visitors, %d checkouts, %d conversions (%s), %d visitors converted (%s)",
			v, n.Visitors, n.Checkouts, n.Conversions, share(n.Conversions, n.Checkouts), n.ConvertedVisitors, share(n.ConvertedVisitors, n.Visitors))
	}
	return b.String()
}

// share is part of whole in percent, "-" of nothing.
func share(part, whole int64) string {
	if whole == 0 {
		return "-"
	}
	return strconv.FormatFloat(100*float64(part)/float64(whole), 'f', 1, 64) + "%"
}

func millis(ms float64) string {
	if ms < 10 {
		return strconv.FormatFloat(ms, 'f', 1, 64) + "ms"
	}
	return strconv.FormatFloat(ms, 'f', 0, 64) + "ms"
}

// startLoad resolves the service's VIP and port and starts the load; it
// runs until its duration ends, a stop step, or the run ends (ctx). A
// run's seed stands in for a step's own.
func startLoad(ctx context.Context, r Reader, n vnet.Net, s *LoadStep, seed uint64) (*backgroundLoad, error) {
	ns := namespaceOr(s.Namespace)
	svc, _, err := r.Service(ctx, ns, s.Service, api.QueryOptions{})
	if err != nil {
		return nil, fmt.Errorf("load %s: read service %s: %w", s.Start, s.Service, err)
	}
	if svc.VIP == "" {
		return nil, fmt.Errorf("load %s: service %s is headless (no VIP)", s.Start, s.Service)
	}
	port, err := loadPort(svc.Spec.Ports, s.Port)
	if err != nil {
		return nil, fmt.Errorf("load %s: service %s: %w", s.Start, s.Service, err)
	}
	url := "http://" + net.JoinHostPort(svc.VIP, strconv.Itoa(port)) + "/"
	cfg := s.config(url)
	cfg.Net = n
	if cfg.Rand == nil {
		cfg.Rand = seeded.Source(seed, "load", s.Start)
	}
	l := &backgroundLoad{name: s.Start, target: cfg.URL, runOut: s.Duration > 0, done: make(chan struct{})}
	cfg.Progress = func(snap loadgen.Snapshot) {
		l.mu.Lock()
		l.last = snap
		l.mu.Unlock()
	}
	lctx, cancel := context.WithCancel(ctx)
	l.cancel = cancel
	go func() {
		defer close(l.done)
		sum, err := loadgen.Run(lctx, cfg)
		l.mu.Lock()
		l.summary, l.err = &sum, err
		l.mu.Unlock()
	}()
	return l, nil
}

// stop ends the load and waits for its summary: a load with a duration
// runs it out first, one without ends at once.
func (l *backgroundLoad) stop(ctx context.Context) (loadFigures, error) {
	if l.runOut {
		select {
		case <-l.done:
		case <-ctx.Done():
		}
	}
	l.cancel()
	<-l.done
	l.mu.Lock()
	err := l.err
	l.mu.Unlock()
	return l.figures(), err
}

// loadPort is the port named (by name or number), or the first http port.
func loadPort(ports []api.Port, want string) (int, error) {
	i := slices.IndexFunc(ports, func(p api.Port) bool {
		if want == "" {
			return p.Protocol == "" || p.Protocol == api.ProtocolHTTP
		}
		return p.Name == want || strconv.Itoa(p.Port) == want
	})
	switch {
	case i >= 0:
		return ports[i].Port, nil
	case want == "":
		return 0, errors.New("no http port")
	}
	return 0, fmt.Errorf("no port %q", want)
}
