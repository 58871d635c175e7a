package state

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/hashicorp/go-memdb"
)

// woken reports whether any channel of a watch set is closed.
func woken(ws memdb.WatchSet) bool {
	for ch := range ws {
		select {
		case <-ch:
			return true
		default:
		}
	}
	return false
}

// With thousands of nodes, most of them idle, memdb's own watch of an empty
// node's allocations is a radix ancestor shared with thousands of other
// nodes: every allocation write anywhere woke them all.
func TestAWatchOnANodesAllocationsWakesForThatNodeAlone(t *testing.T) {
	h := newHarness(t)
	h.upsert(decodeSpec(t, webYAML))
	const nodes = 2000
	name := func(i int) string { return fmt.Sprintf("fake-%05d", i) }
	for i := 1; i <= nodes; i++ {
		h.registerNode(name(i), nil)
	}
	var busy []string // allocations on the first half; the rest stay empty
	for i := 1; i <= nodes/2; i++ {
		busy = append(busy, fmt.Sprintf("a%d@%s", i, name(i)))
	}
	h.place("web", "e1", busy...)

	watches := make([]memdb.WatchSet, nodes+1)
	arm := func() {
		snap := h.snap()
		for i := 1; i <= nodes; i++ {
			watches[i] = memdb.NewWatchSet()
			snap.AllocationsByNode(watches[i], name(i))
		}
	}
	wokenNodes := func() []int {
		var out []int
		for i := 1; i <= nodes; i++ {
			if woken(watches[i]) {
				out = append(out, i)
			}
		}
		return out
	}

	arm()
	h.report(name(1), running("a1"))
	if got := wokenNodes(); len(got) != 1 || got[0] != 1 {
		t.Fatalf("a status of %s woke the watches of nodes %v, want only it", name(1), got)
	}

	arm()
	var placed []string
	want := map[int]bool{}
	for i := nodes/2 + 10; i <= nodes; i += 100 {
		placed = append(placed, fmt.Sprintf("b%d@%s", i, name(i)))
		want[i] = true
	}
	h.place("web", "e2", placed...)
	got := wokenNodes()
	if len(got) != len(want) {
		t.Fatalf("%d placements on empty nodes woke %d watches, want %d", len(want), len(got), len(want))
	}
	for _, i := range got {
		if !want[i] {
			t.Fatalf("placements elsewhere woke %s", name(i))
		}
	}

	arm()
	h.ok(CmdGC, &GC{Allocations: []string{"a2"}}) // not terminal: nothing happens
	if got := wokenNodes(); len(got) != 0 {
		t.Fatalf("a GC that removed nothing woke %v", got)
	}
}

// A watcher that read a snapshot from before a write, and asks for its
// channel only after the write was notified, must not wait for the next
// one.
func TestAWatchTakenAfterAWriteItsSnapshotMissedFiresAtOnce(t *testing.T) {
	h := newHarness(t)
	h.upsert(decodeSpec(t, webYAML))
	h.registerNode("n1", nil)
	h.place("web", "e1", "a1@n1")
	before := h.snap()
	h.report("n1", running("a1"))
	ws := memdb.NewWatchSet()
	before.AllocationsByNode(ws, "n1")
	if !woken(ws) {
		t.Fatal("the watch of a stale snapshot waits for a write that already happened")
	}
	ws = memdb.NewWatchSet()
	h.snap().AllocationsByNode(ws, "n1")
	if woken(ws) {
		t.Fatal("the watch of the newest snapshot fired with no write")
	}
}

func TestRestoringASnapshotWakesEveryNodeWatch(t *testing.T) {
	h := newHarness(t)
	h.upsert(decodeSpec(t, webYAML))
	h.registerNode("n1", nil)
	h.place("web", "e1", "a1@n1")
	data := h.writeSnapshot()
	ws := memdb.NewWatchSet()
	h.snap().AllocationsByNode(ws, "n1")
	if err := h.fsm.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if !woken(ws) {
		t.Fatal("a restore did not wake the node's watch")
	}
	// The restored state's indexes start afresh: a new watch waits.
	ws = memdb.NewWatchSet()
	h.snap().AllocationsByNode(ws, "n1")
	if woken(ws) {
		t.Fatal("a watch after the restore fired with no write")
	}
}

// An agent watches its node's allocations for what to run: its own status
// reports must not send it back for its whole list, while anything the
// servers change (a placement, a stop) must; other readers of the node's
// allocations still wake for both.
func TestAnAgentsWatchWakesForTheServersChangesNotItsOwnReports(t *testing.T) {
	h := newHarness(t)
	h.upsert(decodeSpec(t, webYAML))
	h.registerNode("n1", nil)
	h.place("web", "e1", "a1@n1")
	placed := h.alloc("a1").AllocModifyIndex
	if placed == 0 || placed != h.alloc("a1").ModifyIndex {
		t.Fatalf("a placed allocation has AllocModifyIndex %d, ModifyIndex %d: want both the placement's index", placed, h.alloc("a1").ModifyIndex)
	}
	arm := func() (toRun, all memdb.WatchSet) {
		toRun, all = memdb.NewWatchSet(), memdb.NewWatchSet()
		snap := h.snap()
		snap.AllocationsToRun(toRun, "n1")
		snap.AllocationsByNode(all, "n1")
		return toRun, all
	}

	toRun, all := arm()
	h.report("n1", running("a1"))
	if woken(toRun) {
		t.Fatal("the agent's own status report woke its watch of what to run")
	}
	if !woken(all) {
		t.Fatal("a status report did not wake a watch of the node's allocations")
	}
	if a := h.alloc("a1"); a.AllocModifyIndex != placed || a.ModifyIndex <= placed {
		t.Fatalf("after a report: AllocModifyIndex %d (want %d), ModifyIndex %d (want more)", a.AllocModifyIndex, placed, a.ModifyIndex)
	}

	toRun, all = arm()
	h.stop("web", Stop{ID: "a1", Reason: "scaled down"})
	if !woken(toRun) || !woken(all) {
		t.Fatalf("a stop woke the agent's watch: %v, the node's: %v; want both", woken(toRun), woken(all))
	}
	if a := h.alloc("a1"); a.AllocModifyIndex != a.ModifyIndex || a.AllocModifyIndex <= placed {
		t.Fatalf("after a stop: AllocModifyIndex %d, ModifyIndex %d: want both the stop's index", a.AllocModifyIndex, a.ModifyIndex)
	}
}
