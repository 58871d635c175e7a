package scheduler

import (
	"context"
	"sync"

	"flotilla/scheduler/state"
)

// Bounds of one coalesced entry of allocation reports.
const (
	maxReportsPerEntry = 1024
	maxUpdatesPerEntry = 50_000
)

// statusCoalescer commits the agents' allocation reports that arrive
// together as one Raft entry: each agent already sends one report per
// interval for its node, and with thousands of nodes the leader would
// otherwise write thousands of entries a second. While an entry is being
// committed the next reports wait and go together in the following one
// (group commit); a report that arrives alone goes alone, as the plain
// command older servers know.
type statusCoalescer struct {
	apply func(t state.CommandType, body any) (uint64, error)

	mu       sync.Mutex
	pending  []*statusRequest
	flushing bool
}

type statusRequest struct {
	ctx    context.Context
	report state.AllocStatus
	done   chan statusResult
}

type statusResult struct {
	index uint64
	err   error
}

func newStatusCoalescer(apply func(state.CommandType, any) (uint64, error)) *statusCoalescer {
	return &statusCoalescer{apply: apply}
}

// submit queues a report and waits until the entry that carries it is
// committed (or ctx ends: it may still be committed, and its request ID
// makes a retry safe).
func (c *statusCoalescer) submit(ctx context.Context, report state.AllocStatus) (uint64, error) {
	req := &statusRequest{ctx: ctx, report: report, done: make(chan statusResult, 1)}
	c.mu.Lock()
	c.pending = append(c.pending, req)
	start := !c.flushing
	c.flushing = true
	c.mu.Unlock()
	if start {
		// In a goroutine of its own, which ends once nothing waits: the
		// caller that started it must not wait for everyone else's.
		go c.flush()
	}
	select {
	case r := <-req.done:
		return r.index, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// flush commits the waiting reports, an entry at a time, until none wait.
func (c *statusCoalescer) flush() {
	for {
		c.mu.Lock()
		if len(c.pending) == 0 {
			c.flushing = false
			c.mu.Unlock()
			return
		}
		n, updates := 0, 0
		for n < len(c.pending) && n < maxReportsPerEntry && (n == 0 || updates+len(c.pending[n].report.Updates) <= maxUpdatesPerEntry) {
			updates += len(c.pending[n].report.Updates)
			n++
		}
		taken := c.pending[:n:n]
		c.pending = c.pending[n:]
		c.mu.Unlock()
		// A report whose sender gave up waiting is not written: the
		// agent sends it again, and an overloaded leader must not do
		// the same work twice.
		var batch []*statusRequest
		for _, r := range taken {
			if err := r.ctx.Err(); err != nil {
				r.done <- statusResult{err: err}
				continue
			}
			batch = append(batch, r)
		}
		if len(batch) > 0 {
			c.commit(batch)
		}
	}
}

func (c *statusCoalescer) commit(batch []*statusRequest) {
	var index uint64
	var err error
	if len(batch) == 1 {
		index, err = c.apply(state.CmdAllocStatus, &batch[0].report)
	} else {
		entry := &state.AllocStatusBatch{Time: batch[len(batch)-1].report.Time}
		for _, r := range batch {
			entry.Batches = append(entry.Batches, r.report)
		}
		index, err = c.apply(state.CmdAllocStatusBatch, entry)
	}
	for _, r := range batch {
		r.done <- statusResult{index: index, err: err}
	}
}
