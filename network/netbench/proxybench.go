package netbench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"flotilla/api"
	"flotilla/internal/sysinfo"
	"flotilla/network/proxy"
)

// The three paths wrk is run against.
const (
	PathDirect = "direct"
	PathProxy  = "flotilla proxy"
	PathNginx  = "nginx"
)

// WrkResult is one wrk run.
type WrkResult struct {
	Target       string  `json:"target"`
	Round        int     `json:"round"` // from 1
	URL          string  `json:"url"`
	RequestsPerS float64 `json:"requestsPerSecond"`
	P50Ms        float64 `json:"p50Ms"`
	P99Ms        float64 `json:"p99Ms"`
	Errors       int     `json:"errors"`
	Requests     int64   `json:"requests"`
	// ProxyCPUUs is the CPU time the proxy on this path (the Flotilla
	// proxy: this process; nginx: its master and workers) spent per
	// request during the run, UpstreamCPUUs the upstream's; in µs.
	ProxyCPUUs    float64 `json:"proxyCpuUs,omitempty"`
	UpstreamCPUUs float64 `json:"upstreamCpuUs"`
}

// PathSummary is one path over the rounds of a sweep: the median of each
// figure, and every non-2xx answer.
type PathSummary struct {
	Target        string  `json:"target"`
	RequestsPerS  float64 `json:"requestsPerSecond"`
	P50Ms         float64 `json:"p50Ms"`
	P99Ms         float64 `json:"p99Ms"`
	Errors        int     `json:"errors"`
	ProxyCPUUs    float64 `json:"proxyCpuUs,omitempty"`
	UpstreamCPUUs float64 `json:"upstreamCpuUs"`
}

// ProxySweep is every round at one number of connections.
type ProxySweep struct {
	Connections int           `json:"connections"`
	Runs        []WrkResult   `json:"runs"`  // in the order they ran
	Paths       []PathSummary `json:"paths"` // direct, proxy, nginx
	// RoundRatios is the proxy's throughput as a share of nginx's in
	// each round, VsNginx their median; P99Ratios and P99VsNginx the
	// same for the p99 latency, CPURatios and CPUVsNginx for the CPU
	// each spent per request (below 1: the Flotilla proxy spent less).
	RoundRatios []float64 `json:"roundRatios"`
	VsNginx     float64   `json:"vsNginx"`
	P99Ratios   []float64 `json:"p99Ratios"`
	P99VsNginx  float64   `json:"p99VsNginx"`
	CPURatios   []float64 `json:"cpuRatios"`
	CPUVsNginx  float64   `json:"cpuVsNginx"`
}

// ProxyResult compares the three paths at each number of connections.
type ProxyResult struct {
	Date           string       `json:"date"`
	Machine        string       `json:"machine"`
	Wrk            string       `json:"wrk"`
	Nginx          string       `json:"nginx"`
	LoadBefore     string       `json:"loadBefore"` // /proc/loadavg's 1, 5 and 15 minute figures
	LoadAfter      string       `json:"loadAfter"`
	Threads        int          `json:"threads"`
	Rounds         int          `json:"rounds"`
	Duration       string       `json:"duration"` // of one wrk run
	NginxWorkers   int          `json:"nginxWorkers"`
	NginxKeepalive int          `json:"nginxKeepalive"`
	ProxyProcs     int          `json:"proxyProcs"` // GOMAXPROCS of this process, and so of the proxy, while it ran
	Sweeps         []ProxySweep `json:"sweeps"`
}

// ProxyConfig says how hard to push.
type ProxyConfig struct {
	Binary      string // the flotilla binary, to run the upstream workload
	Duration    time.Duration
	Connections []int // a sweep; default 16, 64, 256
	Threads     int
	Rounds      int // each path once per round, in turns; default DefaultRounds
	// ProxyProcs, when above 0, is the GOMAXPROCS this process (which
	// runs the Flotilla proxy, and nothing else while wrk runs) has
	// during the benchmark, as `flotilla agent --procs` sets an agent's;
	// the upstream and nginx are not affected.
	ProxyProcs int
	Progress   io.Writer
}

// DefaultConnections is the sweep `bench proxy` runs by default.
var DefaultConnections = []int{16, 64, 256}

// The rounds and the length of one wrk run `bench proxy` makes by default:
// many short rounds rather than a few long ones, for the same time per
// path. On a machine whose speed drifts (a shared or virtual one), the
// proxy's and nginx's runs of one round then see nearly the same machine,
// and the median is taken over more of them.
const (
	DefaultRounds      = 10
	DefaultRunDuration = 3 * time.Second
)

func (cfg ProxyConfig) withDefaults() ProxyConfig {
	if cfg.Duration <= 0 {
		cfg.Duration = DefaultRunDuration
	}
	if len(cfg.Connections) == 0 {
		cfg.Connections = DefaultConnections
	}
	if cfg.Threads <= 0 {
		cfg.Threads = 2
	}
	if cfg.Rounds <= 0 {
		cfg.Rounds = DefaultRounds
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	return cfg
}

// warmup is the unrecorded wrk run against each path before a sweep's
// rounds, so that both proxies have their upstream connections open.
const warmup = time.Second

// RunProxy starts an upstream (the demo workload, as its own process), the
// Flotilla proxy (in this process) and nginx (its own process) in front of
// it, and runs wrk against the three paths in turns over several rounds at
// each number of connections. Every process it started is stopped and
// waited for, nginx gracefully; it fails if any is still running at the
// end, after killing it.
func RunProxy(ctx context.Context, cfg ProxyConfig) (*ProxyResult, error) {
	cfg = cfg.withDefaults()
	for _, c := range cfg.Connections {
		if c < cfg.Threads {
			return nil, fmt.Errorf("%d connections: wrk needs at least one per thread (%d threads)", c, cfg.Threads)
		}
	}
	if cfg.ProxyProcs < 0 {
		return nil, fmt.Errorf("ProxyProcs: %d: must be 0 (as the process is) or more", cfg.ProxyProcs)
	}
	wrk, nginx, err := ProxyTools()
	if err != nil {
		return nil, err
	}
	if cfg.ProxyProcs > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(cfg.ProxyProcs))
	}
	pg := newProcessGroups()
	res, err := runProxy(ctx, cfg, pg, wrk, nginx)
	if leftErr := pg.check(); leftErr != nil {
		return nil, errors.Join(err, leftErr)
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// ProxyTools finds what RunProxy runs, wrk and nginx (also in /usr/sbin,
// which a user's PATH may lack), or says which Debian package is missing.
func ProxyTools() (wrk, nginx string, err error) {
	if wrk, err = need("wrk", "wrk"); err != nil {
		return "", "", err
	}
	nginx, err = need("nginx", "nginx-light")
	if err != nil {
		if nginx, err = exec.LookPath("/usr/sbin/nginx"); err != nil {
			return "", "", fmt.Errorf("nginx not found: install Debian's nginx-light package")
		}
	}
	return wrk, nginx, nil
}

func runProxy(ctx context.Context, cfg ProxyConfig, pg *processGroups, wrk, nginx string) (res *ProxyResult, err error) {
	// Whatever fails, everything started is stopped before returning.
	var stops []func() error
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			if serr := stops[i](); serr != nil {
				err = errors.Join(err, serr)
			}
		}
	}()
	dir, err := os.MkdirTemp("", "flotilla-netbench-")
	if err != nil {
		return nil, err
	}
	stops = append(stops, func() error { return os.RemoveAll(dir) })

	// The upstream: the demo workload, quiet.
	upIP := loopbackIP()
	upPort, err := freePort(upIP)
	if err != nil {
		return nil, err
	}
	upstream := net.JoinHostPort(upIP, strconv.Itoa(upPort))
	up := pg.command(ctx, syscall.SIGTERM, cfg.Binary, "workload", "--listen", upstream, "--version", "bench")
	if err := pg.start(up); err != nil {
		return nil, fmt.Errorf("start the upstream: %w", err)
	}
	stops = append(stops, func() error {
		if err := pg.stop(up, syscall.SIGTERM); err != nil && !exitedBySignal(err, syscall.SIGTERM) {
			return fmt.Errorf("stop the upstream: %w", err)
		}
		return nil
	})
	if err := waitListening(upstream, 10*time.Second); err != nil {
		return nil, err
	}

	// The Flotilla proxy, owning a VIP for the upstream.
	vip := loopbackIP()
	p := proxy.New(proxy.Config{Node: "bench"})
	stops = append(stops, p.Close)
	err = p.Update([]api.ServiceEndpoints{{
		Namespace: "default", Name: "bench", VIP: vip, LoadBalancing: api.BalanceRoundRobin,
		Ports:     []api.Port{{Name: "http", Port: upPort, Protocol: api.ProtocolHTTP}},
		Endpoints: []api.Endpoint{{ID: "upstream", Node: "bench", Revision: 1, IP: upIP, Ready: true}},
		Routes:    api.RouteTable{Split: []api.WeightedBackend{{Backend: 1, Weight: 100}}},
	}})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	proxied := net.JoinHostPort(vip, strconv.Itoa(upPort))

	// nginx as a reverse proxy with keep-alive to the same upstream.
	ngIP := loopbackIP()
	ngPort, err := freePort(ngIP)
	if err != nil {
		return nil, err
	}
	viaNginx := net.JoinHostPort(ngIP, strconv.Itoa(ngPort))
	ngCfg := nginxConfig{Workers: runtime.NumCPU(), Dir: dir, Upstream: upstream, Listen: viaNginx,
		Keepalive: nginxKeepalive(cfg.Connections)}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(ngCfg.render()), 0o644); err != nil {
		return nil, err
	}
	ng := pg.command(ctx, syscall.SIGQUIT, nginx, "-c", conf, "-p", dir)
	ng.Stderr = cfg.Progress
	if err := pg.start(ng); err != nil {
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	stops = append(stops, func() error {
		// SIGQUIT: a graceful stop; the master waits for its workers.
		if err := pg.stop(ng, syscall.SIGQUIT); err != nil {
			return fmt.Errorf("stop nginx: %w", err)
		}
		return nil
	})
	if err := waitListening(viaNginx, 10*time.Second); err != nil {
		return nil, err
	}

	res = &ProxyResult{Date: time.Now().UTC().Format(time.RFC3339), Machine: sysinfo.Machine(),
		LoadBefore: sysinfo.LoadAverage(), Threads: cfg.Threads, Rounds: cfg.Rounds, Duration: cfg.Duration.String(),
		NginxWorkers: ngCfg.Workers, NginxKeepalive: ngCfg.Keepalive, ProxyProcs: runtime.GOMAXPROCS(0)}
	res.Wrk = firstLine(pg, wrk, "--version")
	res.Nginx = firstLine(pg, nginx, "-v")
	cpu := cpuMeter{upstream: up.Process.Pid, nginx: ng.Process.Pid}
	paths := []struct{ name, addr string }{{PathDirect, upstream}, {PathProxy, proxied}, {PathNginx, viaNginx}}
	for _, conns := range cfg.Connections {
		sweep := ProxySweep{Connections: conns}
		for _, path := range paths {
			fmt.Fprintf(cfg.Progress, "warm-up: wrk %s, %d connections, %s\n", path.name, conns, warmup)
			if _, err := runWrk(ctx, pg, wrk, "http://"+path.addr+"/", conns, cfg.Threads, warmup); err != nil {
				return nil, fmt.Errorf("wrk against %s: %w", path.name, err)
			}
		}
		for round := range cfg.Rounds {
			for _, path := range roundOrder(paths, round) {
				url := "http://" + path.addr + "/"
				fmt.Fprintf(cfg.Progress, "round %d/%d: wrk %s (%s), %d connections, %s\n", round+1, cfg.Rounds, path.name, url, conns, cfg.Duration)
				before := cpu.read()
				r, err := runWrk(ctx, pg, wrk, url, conns, cfg.Threads, cfg.Duration)
				if err != nil {
					return nil, fmt.Errorf("wrk against %s: %w", path.name, err)
				}
				used := cpu.read().since(before)
				r.Target, r.Round = path.name, round+1
				if r.Requests > 0 {
					perRequest := func(seconds float64) float64 { return seconds / float64(r.Requests) * 1e6 }
					r.UpstreamCPUUs = perRequest(used.upstream)
					switch path.name {
					case PathProxy:
						r.ProxyCPUUs = perRequest(used.self)
					case PathNginx:
						r.ProxyCPUUs = perRequest(used.nginx)
					}
				}
				sweep.Runs = append(sweep.Runs, r)
			}
		}
		sweep.summarize(cfg.Rounds)
		res.Sweeps = append(res.Sweeps, sweep)
	}
	res.LoadAfter = sysinfo.LoadAverage()
	return res, nil
}

// nginxKeepalive is the idle upstream connections nginx keeps per worker:
// at least every connection count of the sweep.
func nginxKeepalive(conns []int) int { return max(64, slices.Max(conns)) }

// summarize fills in the medians, and the proxy/nginx ratios of every
// round (throughput, p99, CPU per request) with their medians.
func (s *ProxySweep) summarize(rounds int) {
	s.Paths = nil
	for _, name := range []string{PathDirect, PathProxy, PathNginx} {
		var rps, p50, p99, cpu, upCPU []float64
		sum := PathSummary{Target: name}
		for _, r := range s.Runs {
			if r.Target == name {
				rps, p50, p99 = append(rps, r.RequestsPerS), append(p50, r.P50Ms), append(p99, r.P99Ms)
				cpu, upCPU = append(cpu, r.ProxyCPUUs), append(upCPU, r.UpstreamCPUUs)
				sum.Errors += r.Errors
			}
		}
		sum.RequestsPerS, sum.P50Ms, sum.P99Ms = median(rps), median(p50), median(p99)
		sum.ProxyCPUUs, sum.UpstreamCPUUs = median(cpu), median(upCPU)
		s.Paths = append(s.Paths, sum)
	}
	s.RoundRatios, s.VsNginx = s.ratios(rounds, func(r WrkResult) float64 { return r.RequestsPerS })
	s.P99Ratios, s.P99VsNginx = s.ratios(rounds, func(r WrkResult) float64 { return r.P99Ms })
	s.CPURatios, s.CPUVsNginx = s.ratios(rounds, func(r WrkResult) float64 { return r.ProxyCPUUs })
}

// ratios is figure(proxy's run) / figure(nginx's run) in each round where
// nginx's is above zero, and their median.
func (s *ProxySweep) ratios(rounds int, figure func(WrkResult) float64) ([]float64, float64) {
	var out []float64
	for round := 1; round <= rounds; round++ {
		var proxied, nginx float64
		for _, r := range s.Runs {
			if r.Round != round {
				continue
			}
			switch r.Target {
			case PathProxy:
				proxied = figure(r)
			case PathNginx:
				nginx = figure(r)
			}
		}
		if nginx > 0 {
			out = append(out, proxied/nginx)
		}
	}
	return out, median(out)
}

// exitedBySignal reports whether err is a process's exit by sig, which is
// how a Go program told to stop may end.
func exitedBySignal(err error, sig syscall.Signal) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}

// firstLine runs a tool for its version and returns its first line.
func firstLine(pg *processGroups, tool string, args ...string) string {
	cmd := pg.command(context.Background(), syscall.SIGKILL, tool, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := pg.start(cmd); err != nil {
		return ""
	}
	cmd.Wait()
	pg.done(cmd)
	return strings.TrimSpace(strings.SplitN(out.String(), "\n", 2)[0])
}

var (
	wrkRate    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkLatency = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkErrors  = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	wrkCount   = regexp.MustCompile(`(?m)^\s+(\d+) requests in `)
)

func runWrk(ctx context.Context, pg *processGroups, wrk, url string, conns, threads int, d time.Duration) (WrkResult, error) {
	secs := max(1, int(d.Round(time.Second).Seconds()))
	cmd := pg.command(ctx, syscall.SIGINT, wrk, "--latency", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", fmt.Sprintf("%ds", secs), url)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := pg.start(cmd); err != nil {
		return WrkResult{}, err
	}
	err := cmd.Wait()
	pg.done(cmd)
	if ctx.Err() != nil {
		return WrkResult{}, ctx.Err()
	}
	if err != nil {
		return WrkResult{}, fmt.Errorf("%v: %s", err, out.String())
	}
	return parseWrk(url, out.String())
}

func parseWrk(url, out string) (WrkResult, error) {
	r := WrkResult{URL: url}
	m := wrkRate.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk's output:\n%s", out)
	}
	r.RequestsPerS, _ = strconv.ParseFloat(m[1], 64)
	for _, l := range wrkLatency.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(l[2], 64)
		switch l[3] {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		if l[1] == "50" {
			r.P50Ms = v
		} else {
			r.P99Ms = v
		}
	}
	if e := wrkErrors.FindStringSubmatch(out); e != nil {
		r.Errors, _ = strconv.Atoi(e[1])
	}
	if c := wrkCount.FindStringSubmatch(out); c != nil {
		r.Requests, _ = strconv.ParseInt(c[1], 10, 64)
	}
	return r, nil
}
