package agent

import (
	"context"
	"sort"
	"sync"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
)

// statusReporter batches allocation reports: at most once an interval it
// sends every change made since the last send, in one request (one Raft
// write on the leader), never one write per event. With nothing to send it
// waits on no timer: ten thousand fake nodes polling twice a second cost a
// tenth of a core in timers alone.
type statusReporter struct {
	node     string
	send     func(ctx context.Context, batch api.AllocStatusBatch) error
	clock    clock.Clock
	interval time.Duration
	// dirty holds a token while something may be pending.
	dirty chan struct{}

	mu      sync.Mutex
	pending map[string]api.AllocStatusUpdate
	// inflight is the batch being sent: a status set again meanwhile,
	// as the agent does for its running replicas whenever it looks at
	// them, is not sent a second time (a third of the updates 10,000
	// fake nodes sent for 100,000 replicas were such repeats).
	inflight map[string]api.AllocStatusUpdate
	sent     map[string]api.AllocStatusUpdate
	events   []api.AllocEvent
}

// maxPendingEvents bounds the events kept while the servers do not answer.
const maxPendingEvents = 1000

// Event records something that happened to an allocation, sent with the
// next batch.
func (r *statusReporter) Event(e api.AllocEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) >= maxPendingEvents {
		r.events = r.events[1:]
	}
	r.events = append(r.events, e)
	r.mark()
}

// mark wakes Run: something is pending.
func (r *statusReporter) mark() {
	select {
	case r.dirty <- struct{}{}:
	default:
	}
}

func newStatusReporter(node string, c clock.Clock, interval time.Duration, send func(context.Context, api.AllocStatusBatch) error) *statusReporter {
	return &statusReporter{node: node, send: send, clock: c, interval: interval, dirty: make(chan struct{}, 1),
		pending: map[string]api.AllocStatusUpdate{}, sent: map[string]api.AllocStatusUpdate{}}
}

// Set records an allocation's newest status; it is sent at the next flush
// unless it equals what the servers already have or are being sent (a
// send that fails puts it back).
func (r *statusReporter) Set(u api.AllocStatusUpdate) {
	r.mu.Lock()
	defer r.mu.Unlock()
	last, ok := r.inflight[u.ID]
	if !ok {
		last, ok = r.sent[u.ID]
	}
	if ok && last == u {
		delete(r.pending, u.ID)
		return
	}
	r.pending[u.ID] = u
	r.mark()
}

// Last is the newest status recorded for an allocation.
func (r *statusReporter) Last(id string) (api.AllocStatusUpdate, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if u, ok := r.pending[id]; ok {
		return u, true
	}
	if u, ok := r.inflight[id]; ok {
		return u, true
	}
	u, ok := r.sent[id]
	return u, ok
}

// Forget drops an allocation that is gone.
func (r *statusReporter) Forget(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.pending, id)
	delete(r.inflight, id)
	delete(r.sent, id)
}

// reportTimeout bounds one report. The leader commits reports in order, a
// few thousand updates an entry: when ten thousand nodes report at once
// (a service of 100,000 replicas placed), a report waits its turn for
// seconds. One given up on after 2 s was dropped unwritten and sent
// again, so the leader did the work of most reports twice or more; after
// 10 s, a fifth of the reports of bench fake-nodes' apply still were
// (10,000 of 27,000, 31,000 updates sent twice). Given 30 s, none is.
const reportTimeout = 30 * time.Second

// flush sends the pending reports in one batch; failed ones stay pending.
func (r *statusReporter) flush(ctx context.Context) error {
	r.mu.Lock()
	select {
	case <-r.dirty: // this send takes everything marked so far (Set and Event mark under r.mu)
	default:
	}
	if len(r.pending) == 0 && len(r.events) == 0 {
		r.mu.Unlock()
		return nil
	}
	batch := api.AllocStatusBatch{Node: r.node, Events: r.events}
	for _, u := range r.pending {
		batch.Updates = append(batch.Updates, u)
	}
	r.inflight, r.pending = r.pending, map[string]api.AllocStatusUpdate{}
	r.events = nil
	r.mu.Unlock()
	sort.Slice(batch.Updates, func(i, j int) bool { return batch.Updates[i].ID < batch.Updates[j].ID })

	call, cancel := clock.WithTimeout(ctx, r.clock, reportTimeout)
	err := r.send(call, batch)
	cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		// Keep the events, oldest first, for the next try.
		r.events = append(batch.Events, r.events...)
		if over := len(r.events) - maxPendingEvents; over > 0 {
			r.events = r.events[over:]
		}
	}
	for _, u := range batch.Updates {
		if _, kept := r.inflight[u.ID]; !kept {
			continue // forgotten during the send
		}
		if err == nil {
			r.sent[u.ID] = u
		} else if _, newer := r.pending[u.ID]; !newer {
			r.pending[u.ID] = u
		}
	}
	r.inflight = nil
	return err
}

// Run sends what is pending as soon as it can, but at most once an
// interval: a change after a quiet interval goes at once, the changes that
// follow wait for the interval to end and go together. It stops when ctx
// ends, after a last send. While the servers do not take reports it waits
// longer each time, up to 5s.
func (r *statusReporter) Run(ctx context.Context, onError func(error)) {
	wait := r.interval
	var last time.Time // when the last send ended
	for {
		var due <-chan time.Time
		select {
		case <-ctx.Done():
		case <-r.dirty:
			if d := last.Add(wait).Sub(r.clock.Now()); d > 0 {
				due = r.clock.After(d)
			}
		}
		if due != nil {
			select {
			case <-ctx.Done():
			case <-due:
			}
		}
		if ctx.Err() != nil {
			final, cancel := clock.WithTimeout(context.WithoutCancel(ctx), r.clock, 2*time.Second)
			_ = r.flush(final) // best effort on the way out
			cancel()
			return
		}
		err := r.flush(ctx)
		last = r.clock.Now() // the next wait counts from the answer (a report may wait seconds for it)
		if err != nil && ctx.Err() == nil {
			onError(err)
			r.mark() // what failed is pending again
			wait = min(2*wait, max(5*time.Second, r.interval))
			continue
		}
		wait = r.interval
	}
}
