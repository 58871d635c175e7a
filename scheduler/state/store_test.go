package state

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-memdb"

	"flotilla/api"
)

// waitLimit bounds every wait that should end quickly; reaching it is a
// failure, not a timing assumption.
const waitLimit = 10 * time.Second

// firstRun wraps a query so that started is closed once it has run once,
// that is once Blocking has read the state it is about to watch.
func firstRun(query Query) (Query, <-chan struct{}, *atomic.Int32) {
	started := make(chan struct{})
	var once sync.Once
	var calls atomic.Int32
	return func(ws memdb.WatchSet, snap *Snapshot) (uint64, error) {
		index, err := query(ws, snap)
		calls.Add(1)
		once.Do(func() { close(started) })
		return index, err
	}, started, &calls
}

// applyAfter applies commands, at the harness's next indexes, from another
// goroutine once start is closed; the returned channel closes when they are
// applied. Commands are encoded here so that the goroutine needs no *testing.T.
func (h *harness) applyAfter(start <-chan struct{}, cmds ...func(next time.Time) (CommandType, any)) <-chan error {
	h.t.Helper()
	h.fsm.SetEvalHook(nil) // the hook's slice is not for other goroutines
	type entry struct {
		index uint64
		t     CommandType
		body  []byte
	}
	var entries []entry
	for _, cmd := range cmds {
		h.index++
		t, c := cmd(entryTime(h.index))
		data, err := Encode(t, c)
		if err != nil {
			h.t.Fatalf("encode: %v", err)
		}
		entries = append(entries, entry{h.index, t, data[1:]})
	}
	done := make(chan error, 1)
	go func() {
		<-start
		for _, e := range entries {
			if res, isErr := h.fsm.ApplyCommand(e.index, e.t, e.body).(error); isErr {
				done <- res
				return
			}
		}
		close(done)
	}()
	return done
}

func waitDone(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("background apply: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("background apply did not finish")
	}
}

func nodeQuery(name string) Query {
	return func(ws memdb.WatchSet, snap *Snapshot) (uint64, error) {
		n := snap.Node(ws, name)
		if n == nil {
			return snap.WatchIndex(ws, tableNodes), nil
		}
		return n.ModifyIndex, nil
	}
}

func nodeAllocsQuery(name string) Query {
	return func(ws memdb.WatchSet, snap *Snapshot) (uint64, error) {
		return MaxModifyIndex(snap.AllocationsByNode(ws, name)), nil
	}
}

func TestBlockingReturnsAtOnceWhenIndexIsPastMinIndex(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	h.registerNode("n2", nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()

	query, _, calls := firstRun(func(ws memdb.WatchSet, snap *Snapshot) (uint64, error) {
		snap.Nodes(ws)
		return snap.WatchIndex(ws, tableNodes), nil
	})
	index, err := h.fsm.Store().Blocking(ctx, 1, query)

	if err != nil || index != 2 {
		t.Fatalf("Blocking = %d, %v; want 2", index, err)
	}
	if ctx.Err() != nil || calls.Load() != 1 {
		t.Errorf("ran the query %d times (ctx %v), want once, at once", calls.Load(), ctx.Err())
	}
}

func TestBlockingWithMinIndexZeroRunsOnce(t *testing.T) {
	store := NewStore()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	query, _, calls := firstRun(nodeQuery("n1"))

	index, err := store.Blocking(ctx, 0, query)

	// The index is at least 1, so that a watcher passing it back blocks.
	if err != nil || index != 1 || calls.Load() != 1 || ctx.Err() != nil {
		t.Fatalf("Blocking on an empty store = %d, %v after %d runs; want 1 after one run", index, err, calls.Load())
	}
}

func TestBlockingReturnsQueryErrorAtOnce(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	boom := errors.New("boom")

	_, err := h.fsm.Store().Blocking(ctx, 1, func(memdb.WatchSet, *Snapshot) (uint64, error) { return 1, boom })

	if !errors.Is(err, boom) || ctx.Err() != nil {
		t.Fatalf("Blocking = %v (ctx %v), want the query's error at once", err, ctx.Err())
	}
}

func TestBlockingWaitsForWriteToWatchedData(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", map[string]string{"zone": "a"})
	minIndex := h.index
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	query, started, _ := firstRun(nodeQuery("n1"))

	done := h.applyAfter(started, func(now time.Time) (CommandType, any) {
		return CmdRegisterNode, &RegisterNode{Name: "n1", Time: now, Registration: api.NodeRegistration{Capacity: nodeCapacity, Labels: map[string]string{"zone": "b"}}}
	})
	index, err := h.fsm.Store().Blocking(ctx, minIndex, query)
	waitDone(t, done)

	if err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatalf("Blocking ran until its deadline (%v) instead of waking on the write", ctx.Err())
	}
	if index != h.index || index <= minIndex {
		t.Errorf("Blocking returned index %d, want the write's %d", index, h.index)
	}
}

func TestBlockingIgnoresWritesToOtherNodesAllocations(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	h.registerNode("n2", nil)
	h.place("web", "e1", "a1@n1")
	minIndex := MaxModifyIndex(h.snap().AllocationsByNode(nil, "n1"))
	if minIndex != h.index {
		t.Fatalf("setup: MaxModifyIndex = %d, want %d", minIndex, h.index)
	}

	// A bound, not a sleep: the query must still be waiting when it ends.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	query, started, _ := firstRun(nodeAllocsQuery("n1"))
	done := h.applyAfter(started,
		func(now time.Time) (CommandType, any) {
			p := placePlan("web", "e2", "b1@n2", "b2@n2", "b3@n2")
			return CmdApplyPlans, &ApplyPlans{Plans: []*Plan{p}, Time: now}
		},
		func(now time.Time) (CommandType, any) {
			return CmdAllocStatus, &AllocStatus{Node: "n2", Time: now, Updates: []api.AllocStatusUpdate{running("b1"), withStatus("b2", api.AllocFailed)}}
		},
		func(now time.Time) (CommandType, any) {
			return CmdGC, &GC{Allocations: []string{"b2"}}
		},
	)

	index, err := h.fsm.Store().Blocking(ctx, minIndex, query)
	waitDone(t, done)

	if err != nil {
		t.Fatal(err)
	}
	if index != minIndex {
		t.Errorf("Blocking returned %d, want %d: writes to n2 woke a query over n1", index, minIndex)
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("Blocking returned before its deadline (ctx %v)", ctx.Err())
	}
	if got := len(h.snap().AllocationsByNode(nil, "n2")); got != 2 {
		t.Fatalf("the writes to n2 did not happen (%d allocations there)", got)
	}

	// A write to n1 wakes the same query.
	ctx2, cancel2 := context.WithTimeout(context.Background(), waitLimit)
	defer cancel2()
	query, started, _ = firstRun(nodeAllocsQuery("n1"))
	done = h.applyAfter(started, func(now time.Time) (CommandType, any) {
		return CmdAllocStatus, &AllocStatus{Node: "n1", Time: now, Updates: []api.AllocStatusUpdate{running("a1")}}
	})
	index, err = h.fsm.Store().Blocking(ctx2, minIndex, query)
	waitDone(t, done)
	if err != nil || index != h.index || ctx2.Err() != nil {
		t.Errorf("after a write to n1: Blocking = %d, %v (ctx %v); want %d at once", index, err, ctx2.Err(), h.index)
	}
}

func TestBlockingReturnsWhenContextEnds(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	minIndex := h.index
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	query, started, _ := firstRun(nodeQuery("n1"))
	go func() {
		<-started
		cancel()
	}()

	result := make(chan uint64, 1)
	go func() {
		index, err := h.fsm.Store().Blocking(ctx, minIndex, query)
		if err != nil {
			index = 0
		}
		result <- index
	}()
	select {
	case index := <-result:
		if index != minIndex {
			t.Errorf("Blocking = %d, want the unchanged index %d and no error", index, minIndex)
		}
	case <-time.After(waitLimit):
		t.Fatal("Blocking did not return when its context was canceled")
	}
}

// blockingAcrossRestore runs node n1's blocking query at index on h's
// store and, once it waits, restores snapshot into that store; the test
// fails if the restore does.
func blockingAcrossRestore(ctx context.Context, h *harness, index uint64, snapshot []byte) (uint64, error) {
	h.t.Helper()
	query, started, _ := firstRun(nodeQuery("n1"))
	restored := make(chan error, 1)
	go func() {
		<-started
		restored <- h.fsm.Restore(io.NopCloser(bytes.NewReader(snapshot)))
	}()
	got, err := h.fsm.Store().Blocking(ctx, index, query)
	if rerr := <-restored; rerr != nil {
		h.t.Fatalf("restore: %v", rerr)
	}
	return got, err
}

func TestBlockingWakesWhenStoreIsRestored(t *testing.T) {
	source := newHarness(t)
	for _, n := range []string{"a", "b", "c", "n1"} {
		source.registerNode(n, nil)
	}
	snapshot := source.writeSnapshot()

	h := newHarness(t)
	h.registerNode("n1", nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	index, err := blockingAcrossRestore(ctx, h, 1, snapshot)
	if err == nil && index != 4 && index > 1 {
		// The query may have read the state just before the swap and
		// the floor the restore set just after (a race run did): its
		// answer is above what the client saw, so the client's next
		// poll, at that index, gets the restored state at once.
		index, err = h.fsm.Store().Blocking(ctx, index, nodeQuery("n1"))
	}
	if err != nil || index != 4 || ctx.Err() != nil {
		t.Errorf("Blocking = %d, %v (ctx %v); want n1's index 4 from the restored store, at once", index, err, ctx.Err())
	}
}

// A restore of a state older than what a client saw: its long poll, at
// an index above every index of the restored state, returns at once
// (with an index above what it saw), and so does one sent after the
// restore with that index; the next one, at the answer's index, waits.
func TestBlockingQueriesFromBeforeARestoreOfAnOlderStateReturn(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil) // index 1
	older := h.writeSnapshot()
	for _, n := range []string{"a", "b", "c"} {
		h.registerNode(n, nil)
	}
	h.nodeStatus("n1", api.NodeDown)
	seen := h.snap().Node(nil, "n1").ModifyIndex
	if seen <= 1 {
		t.Fatalf("n1 at index %d, want it moved past the snapshot's 1", seen)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	index, err := blockingAcrossRestore(ctx, h, seen, older)
	if err != nil || index <= seen || ctx.Err() != nil {
		t.Fatalf("Blocking at %d across the restore = %d, %v (ctx %v); want an index above %d, at once", seen, index, err, ctx.Err(), seen)
	}
	if after, err := h.fsm.Store().Blocking(ctx, seen, nodeQuery("n1")); err != nil || after != index || ctx.Err() != nil {
		t.Fatalf("Blocking at %d after the restore = %d, %v; want %d at once", seen, after, err, index)
	}
	short, stop := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer stop()
	if _, err := h.fsm.Store().Blocking(short, index, nodeQuery("n1")); err != nil || short.Err() == nil {
		t.Fatalf("Blocking at the answer's index %d returned before anything changed (%v)", index, err)
	}
}

func TestIndexOfUnknownKeyIsZero(t *testing.T) {
	snap := NewStore().Snapshot()
	if snap.Index("nothing") != 0 || snap.WatchIndex(memdb.NewWatchSet(), "nothing") != 0 || snap.LatestIndex() != 0 {
		t.Error("an empty store reports a non-zero index")
	}
	if MaxModifyIndex(nil) != 1 {
		t.Errorf("MaxModifyIndex(nil) = %d, want 1", MaxModifyIndex(nil))
	}
}
