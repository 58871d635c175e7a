// Package netbench measures the data plane side by side with the tools
// people compare it with: the service proxy against a direct connection and
// nginx (Debian's package) as a reverse proxy to the same upstream, under
// wrk; the DNS server under dnsperf. Everything runs on loopback, and the
// figures are reported, never asserted.
package netbench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"flotilla/api"
	"flotilla/internal/sysinfo"
	"flotilla/network/dns"
	"flotilla/network/proxy"
)

// WrkResult is one wrk run.
type WrkResult struct {
	Target       string  `json:"target"`
	URL          string  `json:"url"`
	RequestsPerS float64 `json:"requestsPerSecond"`
	P50Ms        float64 `json:"p50Ms"`
	P99Ms        float64 `json:"p99Ms"`
	Errors       int     `json:"errors"`
}

// ProxyResult compares the three paths.
type ProxyResult struct {
	Date    string      `json:"date"`
	Machine string      `json:"machine"`
	Wrk     string      `json:"wrk"`
	Runs    []WrkResult `json:"runs"`
	// VsNginx is the proxy's throughput as a share of nginx's.
	VsNginx float64 `json:"vsNginx"`
}

// ProxyConfig says how hard to push.
type ProxyConfig struct {
	Binary      string // the flotilla binary, to run the upstream workload
	Duration    time.Duration
	Connections int
	Threads     int
	Progress    io.Writer
}

func need(tool, pkg string) (string, error) {
	path, err := exec.LookPath(tool)
	if err != nil {
		return "", fmt.Errorf("%s not found: install Debian's %s package (apt-get install %s)", tool, pkg, pkg)
	}
	return path, nil
}

// loopbackIP picks a random address in 127.200.0.0/16 for this run.
func loopbackIP() string {
	return fmt.Sprintf("127.200.%d.%d", rand.IntN(250)+1, rand.IntN(250)+1)
}

func freePort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitListening waits until something accepts connections at addr.
func waitListening(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens at %s after %s", addr, within)
		}
		time.Sleep(20 * time.Millisecond) // polling a process we started
	}
}

// RunProxy starts an upstream (the demo workload, as its own process), the
// Flotilla proxy (in this process) and nginx (its own process) in front of
// it, and runs wrk against each in turn.
func RunProxy(ctx context.Context, cfg ProxyConfig) (*ProxyResult, error) {
	wrk, err := need("wrk", "wrk")
	if err != nil {
		return nil, err
	}
	nginx, err := need("nginx", "nginx-light")
	if err != nil {
		if nginx, err = exec.LookPath("/usr/sbin/nginx"); err != nil {
			return nil, fmt.Errorf("nginx not found: install Debian's nginx-light package")
		}
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.Connections <= 0 {
		cfg.Connections = 64
	}
	if cfg.Threads <= 0 {
		cfg.Threads = 2
	}
	progress := cfg.Progress
	if progress == nil {
		progress = io.Discard
	}
	dir, err := os.MkdirTemp("", "flotilla-netbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	// The upstream: the demo workload, quiet.
	upIP := loopbackIP()
	upPort, err := freePort(upIP)
	if err != nil {
		return nil, err
	}
	upstream := net.JoinHostPort(upIP, strconv.Itoa(upPort))
	up := exec.CommandContext(ctx, cfg.Binary, "workload", "--listen", upstream, "--version", "bench")
	if err := up.Start(); err != nil {
		return nil, fmt.Errorf("start the upstream: %w", err)
	}
	defer func() { up.Process.Kill(); up.Wait() }()
	if err := waitListening(upstream, 10*time.Second); err != nil {
		return nil, err
	}

	// The Flotilla proxy, owning a VIP for the upstream.
	vip := loopbackIP()
	p := proxy.New(proxy.Config{Node: "bench"})
	defer p.Close()
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
	conf := filepath.Join(dir, "nginx.conf")
	workers := runtime.NumCPU()
	err = os.WriteFile(conf, []byte(fmt.Sprintf(`worker_processes %d;
daemon off;
pid %s/nginx.pid;
error_log %s/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %s;
  proxy_temp_path %s;
  upstream app { server %s; keepalive 64; }
  server {
    listen %s;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`, workers, dir, dir, dir, dir, upstream, viaNginx)), 0o644)
	if err != nil {
		return nil, err
	}
	ng := exec.CommandContext(ctx, nginx, "-c", conf, "-p", dir)
	ng.Stderr = progress
	if err := ng.Start(); err != nil {
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	defer func() { ng.Process.Kill(); ng.Wait() }()
	if err := waitListening(viaNginx, 10*time.Second); err != nil {
		return nil, err
	}

	res := &ProxyResult{Date: time.Now().UTC().Format(time.RFC3339), Machine: sysinfo.Machine()}
	if out, err := exec.Command(wrk, "--version").CombinedOutput(); err == nil || len(out) > 0 {
		res.Wrk = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	for _, target := range []struct{ name, addr string }{
		{"direct", upstream}, {"flotilla proxy", proxied}, {"nginx", viaNginx},
	} {
		url := "http://" + target.addr + "/"
		fmt.Fprintf(progress, "wrk %s (%s) for %s\n", target.name, url, cfg.Duration)
		r, err := runWrk(ctx, wrk, url, cfg)
		if err != nil {
			return nil, fmt.Errorf("wrk against %s: %w", target.name, err)
		}
		r.Target = target.name
		res.Runs = append(res.Runs, r)
	}
	if res.Runs[2].RequestsPerS > 0 {
		res.VsNginx = res.Runs[1].RequestsPerS / res.Runs[2].RequestsPerS
	}
	return res, nil
}

var (
	wrkRate    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkLatency = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkErrors  = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
)

func runWrk(ctx context.Context, wrk, url string, cfg ProxyConfig) (WrkResult, error) {
	out, err := exec.CommandContext(ctx, wrk, "--latency", "-t", strconv.Itoa(cfg.Threads), "-c", strconv.Itoa(cfg.Connections),
		"-d", fmt.Sprintf("%ds", int(cfg.Duration.Seconds())), url).CombinedOutput()
	if err != nil {
		return WrkResult{}, fmt.Errorf("%v: %s", err, out)
	}
	return parseWrk(url, string(out))
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
	return r, nil
}

// DNSResult is one dnsperf run.
type DNSResult struct {
	Date        string  `json:"date"`
	Machine     string  `json:"machine"`
	Dnsperf     string  `json:"dnsperf"`
	Command     string  `json:"command"`
	Services    int     `json:"services"`
	QueriesPerS float64 `json:"queriesPerSecond"`
	Lost        int     `json:"lost"`
	AvgLatency  string  `json:"averageLatency"`
}

var (
	perfQPS  = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)
	perfLost = regexp.MustCompile(`Queries lost:\s+(\d+)`)
	perfAvg  = regexp.MustCompile(`Average Latency \(s\):\s+([0-9.]+)`)
)

// RunDNS serves services×(A, SRV) names from an in-process DNS server and
// runs dnsperf against it.
func RunDNS(ctx context.Context, services int, duration time.Duration, progress io.Writer) (*DNSResult, error) {
	dnsperf, err := need("dnsperf", "dnsperf")
	if err != nil {
		return nil, err
	}
	if progress == nil {
		progress = io.Discard
	}
	srv, err := dns.New(dns.Config{Listen: net.JoinHostPort(loopbackIP(), "0"), Upstreams: []string{}})
	if err != nil {
		return nil, err
	}
	var list []api.ServiceEndpoints
	var queries strings.Builder
	for i := 0; i < services; i++ {
		name := fmt.Sprintf("svc-%04d", i)
		se := api.ServiceEndpoints{Namespace: "default", Name: name, VIP: fmt.Sprintf("127.64.%d.%d", i/250, i%250+1),
			Ports: []api.Port{{Name: "http", Port: 8080, Protocol: api.ProtocolHTTP}}}
		for j := 0; j < 3; j++ {
			se.Endpoints = append(se.Endpoints, api.Endpoint{ID: fmt.Sprintf("%s-%d", name, j), Node: "n1", Revision: 1,
				IP: fmt.Sprintf("127.128.%d.%d", j, i%250+2), Ready: true})
		}
		list = append(list, se)
		fmt.Fprintf(&queries, "%s.default.svc.flotilla A\n_http._tcp.%s.default.svc.flotilla SRV\n", name, name)
	}
	srv.Update(list)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx) }()
	defer func() { cancel(); <-done }()
	file, err := os.CreateTemp("", "flotilla-dnsperf-*.txt")
	if err != nil {
		return nil, err
	}
	defer os.Remove(file.Name())
	if _, err := file.WriteString(queries.String()); err != nil {
		return nil, err
	}
	file.Close()
	host, port, _ := net.SplitHostPort(srv.Addr())
	args := []string{"-s", host, "-p", port, "-d", file.Name(), "-l", strconv.Itoa(int(duration.Seconds())), "-c", "4", "-T", "2", "-q", "200"}
	fmt.Fprintf(progress, "dnsperf %s\n", strings.Join(args, " "))
	out, err := exec.CommandContext(ctx, dnsperf, args...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("dnsperf: %v: %s", err, out)
	}
	res := &DNSResult{Date: time.Now().UTC().Format(time.RFC3339), Machine: sysinfo.Machine(), Services: services,
		Command: "dnsperf " + strings.Join(args, " ")}
	m := perfQPS.FindStringSubmatch(string(out))
	if m == nil {
		return nil, errors.New("no queries per second in dnsperf's output:\n" + string(out))
	}
	res.QueriesPerS, _ = strconv.ParseFloat(m[1], 64)
	if l := perfLost.FindStringSubmatch(string(out)); l != nil {
		res.Lost, _ = strconv.Atoi(l[1])
	}
	if a := perfAvg.FindStringSubmatch(string(out)); a != nil {
		res.AvgLatency = a[1] + "s"
	}
	if v, err := exec.Command(dnsperf, "-h").CombinedOutput(); err == nil || len(v) > 0 {
		sc := bufio.NewScanner(strings.NewReader(string(v)))
		for sc.Scan() {
			if strings.Contains(sc.Text(), "DNS Performance Testing Tool") || strings.HasPrefix(sc.Text(), "Version") {
				res.Dnsperf = strings.TrimSpace(sc.Text())
				break
			}
		}
	}
	return res, nil
}
