package state

import "sync"

// nodeAllocWatch is the per-node allocation index behind blocking queries
// on one node's allocations (every agent holds one). memdb's own watch of
// a node's entries in the allocation index is fine-grained only while the
// node has allocations: for a node with none it is the channel of the
// nearest radix ancestor, which closes when any of thousands of other
// nodes' allocations change. Here each node has its own channel, closed
// only by a write to that node's allocations.
//
// It is derived from the log (the FSM notifies it after each commit) and
// lives in memory only: nothing of it is stored or snapshotted.
type nodeAllocWatch struct {
	mu sync.Mutex
	// changed is the Raft index of the last write to each node's
	// allocations.
	changed map[string]uint64
	waiting map[string]chan struct{}
}

func newNodeAllocWatch() *nodeAllocWatch {
	return &nodeAllocWatch{changed: map[string]uint64{}, waiting: map[string]chan struct{}{}}
}

// closedChan is returned to a watcher whose snapshot already missed a
// change: it wakes at once and reads again.
var closedChan = func() chan struct{} { ch := make(chan struct{}); close(ch); return ch }()

// watch returns a channel closed by the next write to node's allocations.
// seen is the allocation index of the snapshot the watcher read: a write
// after it that was already notified returns a closed channel, so no write
// between reading and watching is missed.
func (w *nodeAllocWatch) watch(node string, seen uint64) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.changed[node] > seen {
		return closedChan
	}
	ch := w.waiting[node]
	if ch == nil {
		ch = make(chan struct{})
		w.waiting[node] = ch
	}
	return ch
}

// notify records that the entry at index wrote these nodes' allocations
// and wakes their watchers. The FSM calls it after the commit.
func (w *nodeAllocWatch) notify(index uint64, nodes map[string]bool) {
	if len(nodes) == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for node := range nodes {
		w.changed[node] = index
		if ch := w.waiting[node]; ch != nil {
			close(ch)
			delete(w.waiting, node)
		}
	}
}

// reset forgets everything when a snapshot replaced the state (whose
// indexes may be lower than those seen), waking every watcher.
func (w *nodeAllocWatch) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range w.waiting {
		close(ch)
	}
	w.changed, w.waiting = map[string]uint64{}, map[string]chan struct{}{}
}
