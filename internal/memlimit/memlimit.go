// Package memlimit bounds how far past its live state a process with a
// raised GOGC lets its heap grow, with the runtime's soft memory limit set
// anew after every garbage collection: a fixed floor while the live state
// is small, and never tighter than Go's default GOGC of 100 would be.
package memlimit

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// Limit is the soft memory limit for a process whose live heap is live
// bytes and whose memory outside the heap's objects (stacks, the
// runtime's own) is other bytes: floor, or what GOGC=100 would let it
// reach, whichever is larger.
func Limit(floor, live, other uint64) uint64 {
	return max(floor, 2*live+other)
}

// Follow sets the soft memory limit to Limit now and after every garbage
// collection; once stop has returned, the limit is left as it is.
func Follow(floor uint64) (stop func()) {
	var mu sync.Mutex
	stopped := false
	set := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return false
		}
		live, other := read()
		debug.SetMemoryLimit(int64(min(Limit(floor, live, other), math.MaxInt64)))
		return true
	}
	set()
	afterNextGC(set)
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
	}
}

// sentinel is garbage made to learn when a collection has run: its
// finalizer runs after the collection that found it unreachable. It holds
// a pointer so that it is not one of the tiny allocations, whose
// finalizers may never run.
type sentinel struct{ _ *int }

// afterNextGC calls f after the next collection, and after each one
// after that while f returns true.
func afterNextGC(f func() bool) {
	runtime.SetFinalizer(&sentinel{}, func(*sentinel) {
		if f() {
			afterNextGC(f)
		}
	})
}

var samples = []metrics.Sample{
	{Name: "/gc/heap/live:bytes"},
	{Name: "/memory/classes/total:bytes"},
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/memory/classes/heap/unused:bytes"},
	{Name: "/memory/classes/heap/free:bytes"},
	{Name: "/memory/classes/heap/released:bytes"},
}

// read is the live heap at the last collection, and the memory the
// runtime holds outside the heap's objects and free pages.
func read() (live, other uint64) {
	s := make([]metrics.Sample, len(samples))
	copy(s, samples)
	metrics.Read(s)
	v := func(i int) uint64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return s[i].Value.Uint64()
	}
	live = v(0)
	heap := v(2) + v(3) + v(4) + v(5)
	if total := v(1); total > heap {
		other = total - heap
	}
	return live, other
}
