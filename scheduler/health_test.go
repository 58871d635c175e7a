package scheduler

import (
	"testing"

	"flotilla/api"
)

// A crash loop whose replacements back off for minutes has, past
// CrashLoopWindow, too few recent failures to count: the service stays
// crash-looping while a replacement is held back (it read healthy with
// nothing running).
func TestAReplacementHeldBackByACrashLoopCounts(t *testing.T) {
	failed := func(id string, before int) *api.Allocation {
		a := alloc(id, "n1", 1, api.AllocFailed)
		a.DesiredStatus, a.DesiredReason, a.FailuresBefore = api.DesiredStop, failedReason+" on n1", before
		return a
	}
	all := func(int) bool { return true }
	waiting := failed("third", 2)
	if n := backingOff([]*api.Allocation{failed("first", 0), failed("second", 1), waiting}, all); n != 1 {
		t.Fatalf("a third failure in a row not replaced yet: %d held back, want 1", n)
	}
	next := alloc("fourth", "n2", 1, api.AllocStarting)
	next.PreviousAllocation = "third"
	if n := backingOff([]*api.Allocation{waiting, next}, all); n != 0 {
		t.Fatalf("once replaced: %d held back, want 0", n)
	}
	if n := backingOff([]*api.Allocation{failed("second", 1)}, all); n != 0 {
		t.Fatalf("a second failure (replaced at once): %d held back, want 0", n)
	}
	if n := backingOff([]*api.Allocation{waiting}, func(int) bool { return false }); n != 0 {
		t.Fatalf("of a revision that no longer serves: %d held back, want 0", n)
	}
}
