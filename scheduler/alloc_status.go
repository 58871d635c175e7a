package scheduler

import (
	"context"
	"sync"

	"flotilla/scheduler/state"
)

// Bounds of one coalesced entry of allocation reports: 1,000 updates
// apply in about 30 ms on each server (50,000 took seconds, and Raft's
// heartbeats waited behind them; see state.MaxWritesPerEntry).
const (
	maxReportsPerEntry = 1024
	maxUpdatesPerEntry = state.MaxWritesPerEntry
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
	// applyAsync, when set, appends an entry and returns what waits for
	// it: up to cap(inflight) entries are then in flight at once.
	applyAsync func(t state.CommandType, body any) func() (uint64, error)
	inflight   chan struct{}

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

// maxReportEntriesInFlight is how many entries of reports the leader's
// coalescer appends before the first of them commits: one at a time, each
// waiting for its Raft round trip, 100,000 reports of a big apply queued
// past the agents' deadline.
const maxReportEntriesInFlight = 4

// pipeline lets up to depth entries be in flight at once; applyAsync's
// entries commit in the order they were appended (a Raft log's).
func (c *statusCoalescer) pipeline(applyAsync func(state.CommandType, any) func() (uint64, error), depth int) {
	c.applyAsync, c.inflight = applyAsync, make(chan struct{}, depth)
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
		if c.inflight != nil {
			// A slot first: reports go on gathering meanwhile.
			c.inflight <- struct{}{}
		}
		c.mu.Lock()
		if len(c.pending) == 0 {
			c.flushing = false
			c.mu.Unlock()
			if c.inflight != nil {
				<-c.inflight
			}
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
		switch {
		case len(batch) == 0:
			if c.inflight != nil {
				<-c.inflight
			}
		case c.applyAsync != nil:
			wait := c.applyAsync(entryOf(batch))
			go func() {
				index, err := wait()
				<-c.inflight
				deliver(batch, index, err)
			}()
		default:
			index, err := c.apply(entryOf(batch))
			deliver(batch, index, err)
		}
	}
}

// entryOf is the command carrying a batch of reports: a report alone
// goes as the plain command older servers know.
func entryOf(batch []*statusRequest) (state.CommandType, any) {
	if len(batch) == 1 {
		return state.CmdAllocStatus, &batch[0].report
	}
	entry := &state.AllocStatusBatch{Time: batch[len(batch)-1].report.Time}
	for _, r := range batch {
		entry.Batches = append(entry.Batches, r.report)
	}
	return state.CmdAllocStatusBatch, entry
}

func deliver(batch []*statusRequest, index uint64, err error) {
	for _, r := range batch {
		r.done <- statusResult{index: index, err: err}
	}
}
