package clock

import (
	"sort"
	"sync"
	"time"
)

// Fake is a clock that moves only when Advance is called. Timers due at or
// before the new time fire in order of their deadlines.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*fakeTimer
	seq     int
}

// NewFake starts a fake clock at start.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

type fakeTimer struct {
	clock *Fake
	at    time.Time
	seq   int
	fn    func()
	ch    chan time.Time
	live  bool
}

func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *Fake) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	f.add(d, nil, ch)
	return ch
}

func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer { return f.add(d, fn, nil) }

func (f *Fake) add(d time.Duration, fn func(), ch chan time.Time) *fakeTimer {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	t := &fakeTimer{clock: f, at: f.now.Add(d), seq: f.seq, fn: fn, ch: ch, live: true}
	f.waiters = append(f.waiters, t)
	return t
}

// Waiters is the number of pending timers: tests wait for a goroutine to
// arm its timer before advancing.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, t := range f.waiters {
		if t.live {
			n++
		}
	}
	return n
}

// Advance moves the clock by d and fires every timer that is due. AfterFunc
// callbacks run synchronously, in deadline order, so that a test sees their
// effects when Advance returns.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	target := f.now.Add(d)
	f.mu.Unlock()
	for {
		f.mu.Lock()
		sort.SliceStable(f.waiters, func(i, j int) bool {
			a, b := f.waiters[i], f.waiters[j]
			if !a.at.Equal(b.at) {
				return a.at.Before(b.at)
			}
			return a.seq < b.seq
		})
		var due *fakeTimer
		kept := f.waiters[:0]
		for _, t := range f.waiters {
			if !t.live {
				continue
			}
			if due == nil && !t.at.After(target) {
				due = t
				continue
			}
			kept = append(kept, t)
		}
		f.waiters = kept
		if due == nil {
			f.now = target
			f.mu.Unlock()
			return
		}
		due.live = false
		if due.at.After(f.now) {
			f.now = due.at
		}
		now := f.now
		f.mu.Unlock()
		if due.fn != nil {
			due.fn()
		} else {
			due.ch <- now
		}
	}
}

func (t *fakeTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	was := t.live
	t.live = false
	return was
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	was := t.live
	t.at = t.clock.now.Add(d)
	t.clock.seq++
	t.seq = t.clock.seq
	if !t.live {
		t.live = true
		t.clock.waiters = append(t.clock.waiters, t)
	}
	return was
}
