package state

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"testing"

	"flotilla/api"
)

// buildRichState applies a script that leaves every kind of object in
// several states: services with several revisions, nodes ready, down,
// draining, drained and ineligible, allocations pending, starting, running,
// complete, failed, lost and told to stop, evaluations pending, complete,
// blocked, failed and canceled, and a stream of events.
func buildRichState(h *harness) {
	h.t.Helper()
	t := h.t
	for _, n := range []string{"n1", "n2", "n3", "n4", "n5"} {
		h.registerNode(n, map[string]string{"zone": "z-" + n})
	}
	web := h.upsert(decodeSpec(t, webYAML))
	h.upsert(decodeSpec(t, strings.Replace(webYAML, `"v1"`, `"v2"`, 1)))
	v3 := h.upsert(decodeSpec(t, strings.Replace(webYAML, `"v1"`, `"v3"`, 1)))
	api1 := h.upsert(decodeSpec(t, serviceYAML("api")))
	prod := decodeSpec(t, serviceYAML("api"))
	prod.Namespace = "prod"
	h.upsert(prod)

	place := placePlan("web", v3.EvalID, "w-pending@n1", "w-starting@n1", "w-running@n1", "w-done@n1", "w-failed@n1", "w-lost@n2", "w-stop@n1", "w-drain@n3")
	place.Revision = 3
	place.Eval = &EvalOutcome{Status: api.EvalComplete, Placed: 8}
	place.Canceled = []string{web.EvalID}
	apiPlan := placePlan("api", api1.EvalID, "api-1@n5")
	apiPlan.Eval = &EvalOutcome{Status: api.EvalBlocked, Placed: 1, Unplaced: 1, PlacementFailure: "insufficient cpu on 4 nodes"}
	h.plans(place, apiPlan)

	h.report("n1",
		api.AllocStatusUpdate{ID: "w-starting", Status: api.AllocStarting, Message: "pulling"},
		api.AllocStatusUpdate{ID: "w-running", Status: api.AllocRunning, Ready: true, Address: "10.1.0.2", Restarts: 1},
		withStatus("w-done", api.AllocRunning), running("w-stop"))
	h.report("n3", running("w-drain"))
	h.report("n1", withStatus("w-done", api.AllocComplete), api.AllocStatusUpdate{ID: "w-failed", Status: api.AllocFailed, Message: "exit 1"})
	h.stop("web", Stop{ID: "w-stop", Reason: "scaled down"})

	h.nodeStatus("n2", api.NodeDown)
	h.stop("web", Stop{ID: "w-lost", Reason: "node n2 down", Lost: true})
	h.drain("n3", true)
	h.drain("n4", true)
	h.ok(CmdNodeEligibility, &NodeEligibility{Name: "n5", Eligible: false, Time: h.next()})

	failing := h.upsert(decodeSpec(t, strings.Replace(serviceYAML("api"), "replicas: 2", "replicas: 3", 1)))
	h.plans(&Plan{EvalID: failing.EvalID, Namespace: "default", Service: "api", Revision: 1, Eval: &EvalOutcome{Status: api.EvalFailed, Description: "too many attempts"}})
	h.upsert(decodeSpec(t, strings.Replace(serviceYAML("api"), "replicas: 2", "replicas: 4", 1))) // stays pending
}

// tables reads every table of the schema, in index order.
func tables(t *testing.T, snap *Snapshot) map[string][]any {
	t.Helper()
	out := map[string][]any{}
	for name := range schema().Tables {
		it, err := snap.txn.Get(name, "id")
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			out[name] = append(out[name], raw)
		}
	}
	return out
}

func checkTablesEqual(t *testing.T, got, want map[string][]any) {
	t.Helper()
	for name := range schema().Tables {
		g, w := got[name], want[name]
		if len(g) != len(w) {
			t.Errorf("table %s: %d objects, want %d", name, len(g), len(w))
			continue
		}
		for i := range w {
			if gc, ok := g[i].(*ServiceCounts); ok {
				// Counted again on restore, they cannot know which entry
				// deleted an allocation last: their index is the newest
				// allocation write's, never older than before.
				wc := *w[i].(*ServiceCounts)
				if gc.ModifyIndex < wc.ModifyIndex {
					t.Errorf("service counts of %s/%s at index %d, older than %d", gc.Namespace, gc.Service, gc.ModifyIndex, wc.ModifyIndex)
				}
				wc.ModifyIndex = gc.ModifyIndex
				w[i] = &wc
			}
			if !reflect.DeepEqual(g[i], w[i]) {
				gj, _ := json.Marshal(g[i])
				wj, _ := json.Marshal(w[i])
				t.Errorf("table %s object %d differs:\n got %s\nwant %s", name, i, gj, wj)
			}
		}
	}
}

func TestSnapshotScriptReachesEveryState(t *testing.T) {
	h := newHarness(t)
	buildRichState(h)
	snap := h.snap()

	seen := map[string]bool{}
	for _, n := range snap.Nodes(nil) {
		seen["node "+n.Status] = true
		if !n.Eligible {
			seen["node ineligible"] = true
		}
	}
	for _, a := range snap.Allocations(nil) {
		seen["alloc "+a.Status] = true
		seen["alloc desired "+a.DesiredStatus] = true
	}
	for _, e := range snap.Evaluations(nil) {
		seen["eval "+e.Status] = true
	}
	for _, want := range []string{
		"node ready", "node down", "node draining", "node ineligible",
		"alloc pending", "alloc starting", "alloc running", "alloc complete", "alloc failed", "alloc lost",
		"alloc desired run", "alloc desired stop",
		"eval pending", "eval complete", "eval blocked", "eval failed", "eval canceled",
	} {
		if !seen[want] {
			t.Errorf("the rich state has no %s", want)
		}
	}
	if revs := snap.Revisions(nil, "default", "web"); len(revs) != 3 {
		t.Errorf("web has %d revisions, want 3", len(revs))
	}
	if n := snap.Node(nil, "n4"); n.Status != api.NodeReady || n.Eligible || n.StatusMessage != "drained" {
		t.Errorf("n4 = %+v, want drained", n)
	}
}

func TestSnapshotRestoreRoundTripsEveryTable(t *testing.T) {
	h := newHarness(t)
	buildRichState(h)
	want := tables(t, h.snap())
	data := h.writeSnapshot()

	restored := newHarness(t)
	if err := restored.fsm.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatalf("restore: %v", err)
	}

	checkTablesEqual(t, tables(t, restored.snap()), want)
	for _, key := range []string{IndexCapacity, tableNodes, tableAllocs, tableEvals, tableEvents, tableServices, tableRevisions} {
		if got, w := restored.snap().Index(key), h.snap().Index(key); got != w || w == 0 {
			t.Errorf("index %s = %d after restore, want %d (non-zero)", key, got, w)
		}
	}
	if again := restored.writeSnapshot(); !bytes.Equal(again, data) {
		t.Errorf("a restored store writes a different snapshot")
	}

	// Both go on identically: the event counter, usage and IDs survived.
	restored.index = h.index
	for _, x := range []*harness{h, restored} {
		x.place("web", "e-after", "after-1@n1")
		x.report("n1", withStatus("w-running", api.AllocFailed))
		x.registerNode("n6", nil)
	}
	if a, b := h.writeSnapshot(), restored.writeSnapshot(); !bytes.Equal(a, b) {
		t.Errorf("the restored FSM diverged from the original after the same entries")
	}
}

func TestRestoreReplacesExistingState(t *testing.T) {
	source := newHarness(t)
	source.registerNode("n1", nil)
	data := source.writeSnapshot()

	h := newHarness(t)
	buildRichState(h)
	if err := h.fsm.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatalf("restore: %v", err)
	}

	checkTablesEqual(t, tables(t, h.snap()), tables(t, source.snap()))
}

func TestRestoreClosesOldSnapshotsAbandonedChannel(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	old := h.snap()
	select {
	case <-old.Abandoned:
		t.Fatal("Abandoned closed before any restore")
	default:
	}

	if err := h.fsm.Restore(io.NopCloser(bytes.NewReader(h.writeSnapshot()))); err != nil {
		t.Fatalf("restore: %v", err)
	}

	select {
	case <-old.Abandoned:
	default:
		t.Fatal("Abandoned of a snapshot of the replaced store is still open")
	}
	select {
	case <-h.snap().Abandoned:
		t.Fatal("a snapshot of the restored store is already abandoned")
	default:
	}
	// The old view still reads the old data.
	if old.Node(nil, "n1") == nil {
		t.Error("the old snapshot lost its data")
	}
}

func TestRestoreRejectsBadSnapshots(t *testing.T) {
	good := newHarness(t)
	good.registerNode("n1", nil)
	data := string(good.writeSnapshot())
	header, _, _ := strings.Cut(data, "\n")

	for _, tc := range []struct{ name, data string }{
		{"empty", ""},
		{"not json", "hello\n"},
		{"future format", `{"format":2,"flotilla":"state"}` + "\n"},
		{"empty record", header + "\n" + `{"t":"nodes"}` + "\n"},
		{"unknown table", header + "\n" + `{"t":"ships","node":{"name":"x"}}` + "\n"},
		{"truncated", data[:len(data)-10]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.registerNode("keep", nil)
			before := h.writeSnapshot()
			old := h.snap()
			if err := h.fsm.Restore(io.NopCloser(strings.NewReader(tc.data))); err == nil {
				t.Fatal("restore succeeded")
			}
			if after := h.writeSnapshot(); !bytes.Equal(after, before) {
				t.Error("a failed restore changed the state")
			}
			select {
			case <-old.Abandoned:
				t.Error("a failed restore abandoned the store")
			default:
			}
		})
	}
}

func TestSnapshotTablesListEveryTableOnce(t *testing.T) {
	var want []string
	for name := range schema().Tables {
		want = append(want, name)
	}
	got := append(append([]string(nil), snapshotTables...), derivedTables...)
	sort.Strings(want)
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("snapshotTables = %v, schema has %v", got, want)
	}
}

func TestFSMSnapshotPersists(t *testing.T) {
	h := newHarness(t)
	buildRichState(h)
	fs, err := h.fsm.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Release()
	// Entries applied after the snapshot was taken are not in it.
	want := h.writeSnapshot()
	h.registerNode("late", nil)

	sink := &memorySink{}
	if err := fs.Persist(sink); err != nil {
		t.Fatalf("persist: %v", err)
	}
	if !sink.closed || sink.canceled {
		t.Errorf("sink closed=%v canceled=%v, want closed", sink.closed, sink.canceled)
	}
	if !bytes.Equal(sink.Bytes(), want) {
		t.Error("persisted snapshot differs from the state when it was taken")
	}
}

// memorySink is a raft.SnapshotSink in memory.
type memorySink struct {
	bytes.Buffer
	closed, canceled bool
}

func (s *memorySink) ID() string    { return "mem" }
func (s *memorySink) Close() error  { s.closed = true; return nil }
func (s *memorySink) Cancel() error { s.canceled = true; return nil }

func TestApplyingTheSameLogGivesTheSameState(t *testing.T) {
	a, b := newHarness(t), newHarness(t)
	buildRichState(a)
	buildRichState(b)

	if sa, sb := a.writeSnapshot(), b.writeSnapshot(); !bytes.Equal(sa, sb) {
		t.Fatalf("two FSMs given the same log differ:\n%s\n----\n%s", sa, sb)
	}
	if ta, tb := evalTriggers(a.evals), evalTriggers(b.evals); !reflect.DeepEqual(ta, tb) {
		t.Errorf("eval hooks heard %v and %v", ta, tb)
	}
	for i := range a.evals {
		if a.evals[i].ID != b.evals[i].ID {
			t.Errorf("evaluation %d has IDs %s and %s", i, a.evals[i].ID, b.evals[i].ID)
		}
	}
}

func TestApplyingTheSameEntryTwiceOnOtherServersGivesTheSameIDs(t *testing.T) {
	// Evaluation IDs derive from the log index and their order in the entry.
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	body, err := Encode(CmdUpsertService, &UpsertService{Spec: decodeSpec(t, webYAML), Time: entryTime(42)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 2 {
		res := NewFSM(NewStore(), logger).ApplyCommand(42, CmdUpsertService, body[1:]).(*UpsertServiceResult)
		ids = append(ids, res.EvalID)
	}
	if ids[0] != ids[1] || ids[0] != DeriveID("eval", 42, 1) {
		t.Errorf("eval IDs %v, want both %s", ids, DeriveID("eval", 42, 1))
	}
}

// The node list takes usage from the FSM's usage index, not from a walk
// of every allocation: both must agree, with allocations placed, running,
// stopped, failed and lost, on nodes ready, down and draining.
func TestNodesListUsageIsTheirAllocations(t *testing.T) {
	h := newHarness(t)
	buildRichState(h)
	snap := h.snap()
	nodes := snap.Nodes(nil)
	used := 0
	for _, n := range nodes {
		walked := snap.NodeUsage(n.Name, nil)
		if n.Allocated != walked.Resources || n.Allocations != walked.Count {
			t.Errorf("node %s: listed with %v in %d allocations, its allocations hold %v in %d", n.Name, n.Allocated, n.Allocations, walked.Resources, walked.Count)
		}
		used += n.Allocations
	}
	if len(nodes) < 2 || used == 0 {
		t.Fatalf("the rich state lists %d nodes holding %d allocations; the check needs some", len(nodes), used)
	}
}

// walkCounts counts a service's allocations as ServiceCounts should.
func walkCounts(snap *Snapshot, ns, name string) (ServiceCounts, uint64) {
	c := ServiceCounts{Namespace: ns, Service: name, Revisions: map[int]RevisionCounts{}}
	var newest uint64
	for _, a := range snap.AllocationsByService(nil, ns, name) {
		c.add(a, 1)
		newest = max(newest, a.ModifyIndex)
	}
	return c, newest
}

func checkCounts(t *testing.T, snap *Snapshot, what string) {
	t.Helper()
	running := 0
	for _, svc := range snap.Services(nil) {
		want, newest := walkCounts(snap, svc.Namespace, svc.Name)
		got := snap.ServiceCounts(nil, svc.Namespace, svc.Name)
		if got.ModifyIndex < newest {
			t.Errorf("%s: %s/%s counted at index %d, its newest allocation is at %d", what, svc.Namespace, svc.Name, got.ModifyIndex, newest)
		}
		if got.Revisions == nil {
			got.Revisions = map[int]RevisionCounts{}
		}
		got.ModifyIndex = 0
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %s/%s counts %+v, its allocations add up to %+v", what, svc.Namespace, svc.Name, got, want)
		}
		for _, r := range want.Revisions {
			running += r.Running
		}
	}
	if running == 0 {
		t.Fatalf("%s: no replica running; the check needs some", what)
	}
}

func TestServiceCountsAreTheirAllocations(t *testing.T) {
	h := newHarness(t)
	buildRichState(h)
	snap := h.snap()
	checkCounts(t, snap, "the rich state")
	if c := snap.ServiceCounts(nil, "default", "web"); c.Failed != 1 || c.Revisions[3] != (RevisionCounts{Running: 2, Ready: 2}) {
		t.Errorf("web counts %+v, want 1 failed and revision 3 with 2 running and ready (w-running, w-drain; w-stop is stopped)", c)
	}
	before := snap.ServiceCounts(nil, "default", "web").ModifyIndex

	// Collecting the failed allocation takes it out of the counts and
	// moves their index, though no allocation left changed.
	h.ok(CmdGC, &GC{Allocations: []string{"w-failed"}})
	snap = h.snap()
	checkCounts(t, snap, "after the collection")
	if c := snap.ServiceCounts(nil, "default", "web"); c.Failed != 0 || c.ModifyIndex <= before {
		t.Errorf("after collecting w-failed: %+v, want 0 failed and an index past %d", c, before)
	}

	// A restored state counts them again.
	var buf bytes.Buffer
	if err := snap.Write(&buf); err != nil {
		t.Fatal(err)
	}
	restored := newHarness(t)
	if err := restored.fsm.Restore(io.NopCloser(&buf)); err != nil {
		t.Fatal(err)
	}
	checkCounts(t, restored.snap(), "restored")
}
