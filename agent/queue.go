package agent

import (
	"context"
	"sync"
	"time"

	"flotilla/internal/clock"
)

// Queue is a de-duplicating work queue of keys (allocation IDs), as
// client-go's: a key queued many times is processed once; a key is never
// processed by two workers at once (added while in progress, it is
// processed again afterwards); failures back off per key on the injected
// clock.
type Queue struct {
	clock       clock.Clock
	baseBackoff time.Duration
	maxBackoff  time.Duration

	mu         sync.Mutex
	order      []string
	queued     map[string]bool
	processing map[string]bool
	// again marks keys added while being processed.
	again    map[string]bool
	failures map[string]int
	wake     chan struct{}
	closed   bool
}

// NewQueue makes a queue whose failing keys wait base, 2×base, ... up to max.
func NewQueue(c clock.Clock, base, max time.Duration) *Queue {
	return &Queue{clock: c, baseBackoff: base, maxBackoff: max,
		queued: map[string]bool{}, processing: map[string]bool{}, again: map[string]bool{},
		failures: map[string]int{}, wake: make(chan struct{})}
}

// Add queues key unless it is already waiting.
func (q *Queue) Add(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.queued[key] {
		return
	}
	if q.processing[key] {
		q.again[key] = true
		return
	}
	q.queued[key] = true
	q.order = append(q.order, key)
	close(q.wake)
	q.wake = make(chan struct{})
}

// AddAfter queues key once d has passed.
func (q *Queue) AddAfter(key string, d time.Duration) {
	if d <= 0 {
		q.Add(key)
		return
	}
	q.clock.AfterFunc(d, func() { q.Add(key) })
}

// Retry queues key after its backoff and lengthens the backoff.
func (q *Queue) Retry(key string) time.Duration {
	q.mu.Lock()
	n := q.failures[key]
	q.failures[key] = n + 1
	q.mu.Unlock()
	d := q.baseBackoff
	for i := 0; i < n && d < q.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, q.maxBackoff)
	q.AddAfter(key, d)
	return d
}

// Forget resets a key's backoff after it succeeded.
func (q *Queue) Forget(key string) {
	q.mu.Lock()
	delete(q.failures, key)
	q.mu.Unlock()
}

// Get waits for a key and marks it in progress; ok is false once the queue
// is closed or ctx ends.
func (q *Queue) Get(ctx context.Context) (key string, ok bool) {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return "", false
		}
		if len(q.order) > 0 {
			key = q.order[0]
			q.order = q.order[1:]
			delete(q.queued, key)
			q.processing[key] = true
			q.mu.Unlock()
			return key, true
		}
		wake := q.wake
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return "", false
		case <-wake:
		}
	}
}

// Done ends a key's processing; if it was added meanwhile it is queued again.
func (q *Queue) Done(key string) {
	q.mu.Lock()
	delete(q.processing, key)
	again := q.again[key]
	delete(q.again, key)
	q.mu.Unlock()
	if again {
		q.Add(key)
	}
}

// Len is the number of keys waiting.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.order)
}

// Close wakes every Get and refuses new keys.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.wake)
	}
}
