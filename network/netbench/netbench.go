// Package netbench measures the data plane side by side with the tools
// people compare it with: the service proxy against a direct connection and
// nginx (Debian's package) as a reverse proxy to the same upstream, under
// wrk; the DNS server under dnsperf. Everything runs on loopback, and the
// figures are reported, never asserted. The proxy comparison is meant to be
// fair to nginx (keep-alive pools as large as the load, the paths taking
// turns over rounds) and clean: every process it starts runs in a process
// group of its own, is stopped and waited for, and the benchmark fails if
// any of those groups still has a process at the end (procs.go).
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
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"flotilla/api"
	"flotilla/internal/sysinfo"
	"flotilla/network/dns"
)

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
	Procs       int     `json:"procs"` // GOMAXPROCS of this process, and so of the DNS server, while it ran
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
		Command: "dnsperf " + strings.Join(args, " "), Procs: runtime.GOMAXPROCS(0)}
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
