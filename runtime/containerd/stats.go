package containerd

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"

	"flotilla/api"
	"flotilla/runtime"
)

// cpuSample is a container's cumulative CPU time when it was read.
type cpuSample struct {
	usage time.Duration
	at    time.Time
	cpu   api.CPU // the rate computed then
}

// minSampleInterval: two readings closer than this give the previous rate
// again rather than a noisy one.
const minSampleInterval = 200 * time.Millisecond

// Stats reads the task's cgroup (v1 or v2): memory is the working set
// (usage less inactive page cache, as the kubelet counts it); CPU is the
// rate between this reading and this Runtime's previous one of the same
// container (the agent asks periodically), or the average since the start
// when there is no previous reading. Requests come from the demo
// workload's /metrics (GET / and the other load, not probes or scrapes);
// 0 for other images or when it does not answer.
func (r *Runtime) Stats(ctx context.Context, id string) (runtime.Stats, error) {
	c, err := r.load(ctx, id)
	if err != nil {
		return runtime.Stats{}, fmt.Errorf("stats: %w", err)
	}
	info, err := c.Info(ctx, client.WithoutRefreshedMetadata)
	if err != nil {
		return runtime.Stats{}, fmt.Errorf("stats of container %s: %w", id, err)
	}
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return runtime.Stats{}, fmt.Errorf("stats of container %s: %w", id, runtime.ErrNotRunning)
	}
	if err != nil {
		return runtime.Stats{}, fmt.Errorf("stats of container %s: load task: %w", id, err)
	}
	if st, err := task.Status(ctx); err != nil || (st.Status != client.Running && st.Status != client.Paused) {
		return runtime.Stats{}, fmt.Errorf("stats of container %s: %w", id, runtime.ErrNotRunning)
	}
	m, err := task.Metrics(ctx)
	if errdefs.IsNotFound(err) || errdefs.IsFailedPrecondition(err) {
		return runtime.Stats{}, fmt.Errorf("stats of container %s: %w", id, runtime.ErrNotRunning)
	}
	if err != nil {
		return runtime.Stats{}, fmt.Errorf("stats of container %s: metrics: %w", id, err)
	}
	data, err := typeurl.UnmarshalAny(m.Data)
	if err != nil {
		return runtime.Stats{}, fmt.Errorf("stats of container %s: decode metrics: %w", id, err)
	}
	usage, memory, err := cgroupUsage(data)
	if err != nil {
		return runtime.Stats{}, fmt.Errorf("stats of container %s: %w", id, err)
	}
	startedAt, _ := time.Parse(time.RFC3339Nano, info.Labels[labelStartedAt])
	stats := runtime.Stats{
		CPU:    r.cpuRate(id, usage, time.Now(), startedAt),
		Memory: memory,
	}
	if info.Labels[labelDemo] == "true" {
		stats.Requests = workloadRequests(ctx, info.Labels[labelIP], info.Labels[labelPort])
	}
	return stats, nil
}

// cgroupUsage is the cumulative CPU time and the working set from the
// shim's metrics, cgroup v1 or v2.
func cgroupUsage(data any) (cpu time.Duration, memory api.Memory, err error) {
	workingSet := func(usage, inactive uint64) api.Memory {
		if inactive > usage {
			return 0
		}
		return api.Memory(usage - inactive)
	}
	switch m := data.(type) {
	case *v1.Metrics:
		if m.CPU != nil && m.CPU.Usage != nil {
			cpu = time.Duration(m.CPU.Usage.Total)
		}
		if m.Memory != nil && m.Memory.Usage != nil {
			memory = workingSet(m.Memory.Usage.Usage, m.Memory.TotalInactiveFile)
		}
	case *v2.Metrics:
		if m.CPU != nil {
			cpu = time.Duration(m.CPU.UsageUsec) * time.Microsecond
		}
		if m.Memory != nil {
			memory = workingSet(m.Memory.Usage, m.Memory.InactiveFile)
		}
	default:
		return 0, 0, fmt.Errorf("metrics of an unknown type %T", data)
	}
	return cpu, memory, nil
}

// cpuRate turns cumulative CPU time into millicores (see Stats).
func (r *Runtime) cpuRate(id string, usage time.Duration, now, startedAt time.Time) api.CPU {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev, ok := r.samples[id]
	var cpu api.CPU
	switch {
	case ok && now.Sub(prev.at) < minSampleInterval:
		return prev.cpu
	case ok && usage >= prev.usage:
		cpu = millicores(usage-prev.usage, now.Sub(prev.at))
	case !startedAt.IsZero() && now.After(startedAt):
		cpu = millicores(usage, now.Sub(startedAt))
	}
	r.samples[id] = cpuSample{usage: usage, at: now, cpu: cpu}
	return cpu
}

func millicores(used, over time.Duration) api.CPU {
	if over <= 0 {
		return 0
	}
	return api.CPU(float64(used) / float64(over) * 1000)
}

// forgetSample drops a container's CPU reading (a new task starts from 0).
func (r *Runtime) forgetSample(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.samples, id)
}

// metricsClient asks the demo workload for its counters.
var metricsClient = &http.Client{
	Timeout:   time.Second,
	Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
}

// workloadRequests is the demo workload's request count (0 when it does
// not answer).
func workloadRequests(ctx context.Context, ip, port string) uint64 {
	if ip == "" || port == "" {
		return 0
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(ip, port)+"/metrics", nil)
	if err != nil {
		return 0
	}
	resp, err := metricsClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0
	}
	return countRequests(resp.Body)
}

// requestsMetric is the workload's counter, by path and code.
const requestsMetric = "flotilla_workload_requests_total"

// countRequests sums the workload's request counter in the Prometheus
// text format, leaving out probes and scrapes (as the workload's own
// Requests figure does).
func countRequests(body io.Reader) uint64 {
	var total float64
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, requestsMetric+"{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		if strings.Contains(labels, `path="/healthz"`) || strings.Contains(labels, `path="/ready"`) || strings.Contains(labels, `path="/metrics"`) {
			continue
		}
		value, _, _ = strings.Cut(strings.TrimSpace(value), " ") // a timestamp may follow
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			total += v
		}
	}
	return uint64(total)
}
