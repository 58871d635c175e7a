package workload

import (
	"sync"
	"sync/atomic"
	"time"

	"flotilla/api"
)

// BaseMemory is what the app is taken to hold before --memory: about what a
// small Go HTTP server has resident.
const BaseMemory = 8 << 20

// cpuWindow is how far back Stats looks to turn CPU time into millicores:
// short enough to follow a load change, long enough not to jump with every
// request.
const cpuWindow = 5 * time.Second

// Stats are the app's figures: counters, and the model of its resource use
// that runtimes report as the container's usage.
type Stats struct {
	// Requests is how many requests the app served, and InFlight how many it
	// is serving; neither counts /healthz, /ready and /metrics, so that the
	// orchestrator's probes and scrapes do not look like load.
	Requests uint64
	InFlight int64
	// CPU is CPUPerRequest × the request rate over the last few seconds.
	CPU api.CPU
	// Memory is BaseMemory + --memory.
	Memory api.Memory
}

// usageModel accounts for the app's load.
type usageModel struct {
	requests atomic.Uint64
	inFlight atomic.Int64
	cpu      cpuMeter
	memory   int64
}

func (m *usageModel) stats(now time.Time) Stats {
	return Stats{
		Requests: m.requests.Load(),
		InFlight: m.inFlight.Load(),
		CPU:      m.cpu.millicores(now),
		Memory:   api.Memory(BaseMemory + m.memory),
	}
}

// cpuMeter sums CPU time into one-second buckets so that the rate over the
// last cpuWindow costs nothing to keep.
type cpuMeter struct {
	mu      sync.Mutex
	start   time.Time
	buckets [int(cpuWindow / time.Second)]struct {
		second int64
		cpu    time.Duration
	}
}

func (c *cpuMeter) reset(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.start = now
	for i := range c.buckets {
		c.buckets[i].second, c.buckets[i].cpu = 0, 0
	}
}

func (c *cpuMeter) add(now time.Time, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sec := now.Unix()
	b := &c.buckets[bucketIndex(sec, len(c.buckets))]
	if b.second != sec {
		b.second, b.cpu = sec, 0
	}
	b.cpu += d
}

// millicores is the CPU time of the buckets in the window divided by the
// window, or by the time since start while the app is younger than that.
func (c *cpuMeter) millicores(now time.Time) api.CPU {
	c.mu.Lock()
	defer c.mu.Unlock()
	sec := now.Unix()
	var sum time.Duration
	for _, b := range c.buckets {
		if b.second > sec-int64(len(c.buckets)) && b.second <= sec {
			sum += b.cpu
		}
	}
	span := cpuWindow
	if !c.start.IsZero() {
		span = min(span, max(now.Sub(c.start), time.Second))
	}
	return api.CPU(sum * 1000 / span)
}

func bucketIndex(sec int64, n int) int {
	i := sec % int64(n)
	if i < 0 {
		i += int64(n)
	}
	return int(i)
}
