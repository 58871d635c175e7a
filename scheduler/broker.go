package scheduler

import (
	"context"
	"sync"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
)

// Broker hands pending evaluations to workers, on the leader only. At most
// one evaluation per service is in flight; evaluations that arrive for a
// service meanwhile collapse into the newest, because scheduling is
// level-triggered: one run sees everything that changed.
type Broker struct {
	mu       sync.Mutex
	enabled  bool
	ready    []string                   // service keys, FIFO
	waiting  map[string]*api.Evaluation // newest pending eval per service
	inflight map[string]string          // service key -> eval ID
	dropped  map[string][]string        // superseded eval IDs per service
	blocked  map[string]*api.Evaluation // waiting for capacity, per service
	// capacityIndex is the newest index at which capacity may have appeared.
	capacityIndex uint64
	wake          chan struct{}
	// delayed holds evaluations that wait until their WaitUntil.
	clock   clock.Clock
	delayed map[string]clock.Timer // by evaluation ID
}

// NewBroker returns a disabled broker.
func NewBroker() *Broker {
	b := &Broker{wake: make(chan struct{})}
	b.reset()
	return b
}

func (b *Broker) reset() {
	for _, t := range b.delayed {
		t.Stop()
	}
	b.delayed = map[string]clock.Timer{}
	b.ready = nil
	b.waiting = map[string]*api.Evaluation{}
	b.inflight = map[string]string{}
	b.dropped = map[string][]string{}
	b.blocked = map[string]*api.Evaluation{}
	b.capacityIndex = 0
}

// SetClock sets the clock that times delayed evaluations (the real one
// until set).
func (b *Broker) SetClock(c clock.Clock) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.clock = c
}

// SetEnabled turns the broker on when this server leads and off (dropping
// everything; the next leader reloads from state) when it stops leading.
func (b *Broker) SetEnabled(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.enabled = on
	b.reset()
	b.signal()
}

func (b *Broker) signal() {
	close(b.wake)
	b.wake = make(chan struct{})
}

// Enqueue adds pending evaluations (ignored while disabled).
func (b *Broker) Enqueue(evals ...*api.Evaluation) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.enabled {
		return
	}
	for _, e := range evals {
		b.enqueueLocked(e, false)
	}
	b.signal()
}

// enqueueLocked queues e. again is set when e must run once more although
// it is in flight (it was blocked); otherwise an evaluation already in
// flight is not queued twice (leadership reloads pending evaluations).
func (b *Broker) enqueueLocked(e *api.Evaluation, again bool) {
	if !e.WaitUntil.IsZero() {
		if b.clock == nil {
			b.clock = clock.Real{}
		}
		if wait := e.WaitUntil.Sub(b.clock.Now()); wait > 0 {
			if _, ok := b.delayed[e.ID]; !ok {
				due := *e
				due.WaitUntil = time.Time{}
				b.delayed[e.ID] = b.clock.AfterFunc(wait, func() { b.due(&due) })
			}
			return
		}
	}
	key := e.ServiceKey()
	if prev, ok := b.waiting[key]; ok {
		if prev.ID == e.ID {
			return
		}
		b.dropped[key] = append(b.dropped[key], prev.ID)
		b.waiting[key] = e
		return
	}
	if b.inflight[key] == e.ID && !again {
		return
	}
	b.waiting[key] = e
	if _, busy := b.inflight[key]; !busy {
		b.ready = append(b.ready, key)
	}
}

// due queues a delayed evaluation whose time came.
func (b *Broker) due(e *api.Evaluation) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.delayed[e.ID]; !ok || !b.enabled {
		return // stepped down meanwhile: the next leader reloads it
	}
	delete(b.delayed, e.ID)
	b.enqueueLocked(e, false)
	b.signal()
}

// Block parks an evaluation that could not place everything until capacity
// appears. snapshotIndex is the state it was computed from: if capacity
// appeared since, it runs again at once rather than wait for the next change.
// A newer blocked evaluation of the same service replaces an older one.
func (b *Broker) Block(e *api.Evaluation, snapshotIndex uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.enabled {
		return
	}
	b.blocked[e.ServiceKey()] = e
	if b.capacityIndex > snapshotIndex {
		b.unblockLocked()
	}
}

// CapacityChanged records the capacity index; when it moved, every blocked
// evaluation goes back in the queue.
func (b *Broker) CapacityChanged(index uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if index <= b.capacityIndex {
		return
	}
	b.capacityIndex = index
	if b.enabled {
		b.unblockLocked()
	}
}

func (b *Broker) unblockLocked() {
	if len(b.blocked) == 0 {
		return
	}
	for key, e := range b.blocked {
		delete(b.blocked, key)
		c := *e
		c.Status = api.EvalPending
		b.enqueueLocked(&c, true)
	}
	b.signal()
}

// Dequeue waits for an evaluation. It also returns the IDs of evaluations it
// superseded, for the worker to mark canceled.
func (b *Broker) Dequeue(ctx context.Context) (*api.Evaluation, []string, error) {
	for {
		b.mu.Lock()
		if b.enabled && len(b.ready) > 0 {
			key := b.ready[0]
			b.ready = b.ready[1:]
			e := b.waiting[key]
			delete(b.waiting, key)
			dropped := b.dropped[key]
			delete(b.dropped, key)
			if old, ok := b.blocked[key]; ok {
				// This run sees at least the capacity the blocked one waited for.
				delete(b.blocked, key)
				if old.ID != e.ID {
					dropped = append(dropped, old.ID)
				}
			}
			b.inflight[key] = e.ID
			b.mu.Unlock()
			return e, dropped, nil
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-wake:
		}
	}
}

// Done ends an evaluation's turn; a newer one for the service may run.
func (b *Broker) Done(e *api.Evaluation) {
	b.mu.Lock()
	defer b.mu.Unlock()
	key := e.ServiceKey()
	if b.inflight[key] != e.ID {
		return
	}
	delete(b.inflight, key)
	if _, ok := b.waiting[key]; ok {
		b.ready = append(b.ready, key)
		b.signal()
	}
}

// BrokerStats are the queue depths for metrics.
type BrokerStats struct {
	Ready, Inflight, Blocked, Delayed int
}

// Stats reports the queue depths.
func (b *Broker) Stats() BrokerStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return BrokerStats{Ready: len(b.waiting), Inflight: len(b.inflight), Blocked: len(b.blocked), Delayed: len(b.delayed)}
}
