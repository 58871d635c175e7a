package clock

import (
	"testing"
	"time"
)

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestFakeFiresTimersInDeadlineOrderWhenAdvanced(t *testing.T) {
	f := NewFake(start)
	var fired []string
	f.AfterFunc(3*time.Second, func() { fired = append(fired, "3s") })
	f.AfterFunc(time.Second, func() { fired = append(fired, "1s") })
	ch := f.After(2 * time.Second)
	f.Advance(1500 * time.Millisecond)
	if len(fired) != 1 || fired[0] != "1s" {
		t.Fatalf("after 1.5s fired %v, want [1s]", fired)
	}
	select {
	case <-ch:
		t.Fatal("2s channel fired at 1.5s")
	default:
	}
	f.Advance(2 * time.Second)
	if len(fired) != 2 || fired[1] != "3s" {
		t.Fatalf("after 3.5s fired %v", fired)
	}
	select {
	case at := <-ch:
		if !at.Equal(start.Add(2 * time.Second)) {
			t.Fatalf("After sent %v, want the deadline", at)
		}
	default:
		t.Fatal("2s channel did not fire by 3.5s")
	}
	if got := f.Now(); !got.Equal(start.Add(3500 * time.Millisecond)) {
		t.Fatalf("Now = %v", got)
	}
}

func TestFakeTimerStopAndReset(t *testing.T) {
	f := NewFake(start)
	n := 0
	timer := f.AfterFunc(time.Second, func() { n++ })
	if !timer.Stop() {
		t.Fatal("Stop of a pending timer reported false")
	}
	f.Advance(2 * time.Second)
	if n != 0 {
		t.Fatal("a stopped timer fired")
	}
	if timer.Reset(time.Second) {
		t.Fatal("Reset of a stopped timer reported it pending")
	}
	if f.Waiters() != 1 {
		t.Fatalf("waiters = %d, want 1", f.Waiters())
	}
	f.Advance(999 * time.Millisecond)
	if n != 0 {
		t.Fatal("reset timer fired early")
	}
	timer.Reset(time.Second) // pushes the deadline out again
	f.Advance(999 * time.Millisecond)
	if n != 0 {
		t.Fatal("timer fired before its new deadline")
	}
	f.Advance(time.Millisecond)
	if n != 1 {
		t.Fatalf("fired %d times, want once", n)
	}
	if f.Waiters() != 0 {
		t.Fatalf("waiters = %d after firing", f.Waiters())
	}
}

func TestFakeTimerArmedByACallbackFiresInTheSameAdvance(t *testing.T) {
	f := NewFake(start)
	var at []time.Time
	f.AfterFunc(time.Second, func() {
		at = append(at, f.Now())
		f.AfterFunc(time.Second, func() { at = append(at, f.Now()) })
	})
	f.Advance(5 * time.Second)
	if len(at) != 2 || !at[0].Equal(start.Add(time.Second)) || !at[1].Equal(start.Add(2*time.Second)) {
		t.Fatalf("fired at %v", at)
	}
}
