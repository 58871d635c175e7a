package memlimit

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestLimitIsTheFloorUntilGOGC100WouldPassIt(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct{ floor, live, other, want uint64 }{
		{1024 * mib, 100 * mib, 50 * mib, 1024 * mib},
		{1024 * mib, 480 * mib, 60 * mib, 1024 * mib},
		{1024 * mib, 600 * mib, 50 * mib, 1250 * mib},
		{0, 0, 0, 0},
	} {
		if got := Limit(c.floor, c.live, c.other); got != c.want {
			t.Errorf("Limit(%d, %d, %d MiB) = %d MiB, want %d MiB", c.floor/mib, c.live/mib, c.other/mib, got/mib, c.want/mib)
		}
	}
}

// currentLimit reads the soft memory limit without changing it.
func currentLimit() int64 { return debug.SetMemoryLimit(-1) }

// collectUntil runs collections until cond holds, for at most 10 s.
func collectUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 10 s of collections (limit %d MiB)", what, currentLimit()>>20)
		}
		runtime.GC()
		runtime.Gosched()
	}
}

func TestFollowSetsTheLimitAfterEachCollection(t *testing.T) {
	before := currentLimit()
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	const live = 64 << 20
	keep := make([]byte, live)
	for i := range keep {
		keep[i] = byte(i)
	}
	stop := Follow(1 << 20)
	t.Cleanup(stop)

	collectUntil(t, "the limit follows 64 MiB live up to twice it", func() bool { return currentLimit() >= 2*live })
	runtime.KeepAlive(keep) // and no longer
	collectUntil(t, "the limit follows the heap back down", func() bool { return currentLimit() < 2*live })

	stop()
	const mine = 3 << 30
	debug.SetMemoryLimit(mine)
	for range 3 {
		runtime.GC()
	}
	if got := currentLimit(); got != mine {
		t.Fatalf("after stop the limit was changed to %d MiB", got>>20)
	}
}

func TestFollowKeepsTheFloorForASmallHeap(t *testing.T) {
	before := currentLimit()
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	const floor = 4 << 30
	stop := Follow(floor)
	t.Cleanup(stop)
	collectUntil(t, "the limit is the floor", func() bool { return currentLimit() == floor })
}
