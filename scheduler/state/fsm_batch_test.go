package state

import (
	"bytes"
	"io"
	"reflect"
	"testing"
	"time"

	"flotilla/api"
)

func TestANodeStatusBatchMarksEachNodeAndEvaluatesAServiceOnce(t *testing.T) {
	h := newHarness(t)
	servicesOnTwoNodes(h)
	h.registerNode("n3", nil)
	h.place("web", "e-web-3", "web-3@n3")
	h.nodeStatus("n3", api.NodeDown) // already down: unchanged by the batch
	before := h.index
	h.evals = nil

	res := h.ok(CmdNodeStatusBatch, &NodeStatusBatch{Time: h.next(), Statuses: []NodeStatus{
		{Name: "n1", Status: api.NodeDown, Message: "no heartbeat for 10s"},
		{Name: "gone", Status: api.NodeDown, Message: "no heartbeat for 10s"},
		{Name: "n2", Status: api.NodeDown, Message: "no heartbeat for 10s"},
		{Name: "n3", Status: api.NodeDown, Message: "no heartbeat for 10s"},
	}})

	if got, want := res.([]string), []string{"n1", "n2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("changed %v, want %v (unknown and already-down nodes skipped)", got, want)
	}
	for _, name := range []string{"n1", "n2"} {
		n := h.node(name)
		if n.Status != api.NodeDown || n.StatusMessage != "no heartbeat for 10s" || n.ModifyIndex != h.index || !n.StatusTime.Equal(entryTime(h.index)) {
			t.Errorf("%s = %s %q at %d (%v), want down at %d with the entry's time", name, n.Status, n.StatusMessage, n.ModifyIndex, n.StatusTime, h.index)
		}
	}
	if n := h.node("n3"); n.ModifyIndex == h.index {
		t.Error("the batch rewrote n3, which was down already")
	}
	// web and api run on n1 and db on n2: one evaluation each, web's not
	// repeated for n3.
	want := []string{"node-update default/api", "node-update default/db", "node-update default/web", "node-update prod/api"}
	if got := evalTriggers(h.evalsCreatedAfter(before)); !reflect.DeepEqual(got, want) {
		t.Fatalf("evaluations = %v, want %v", got, want)
	}
	downs := 0
	for _, e := range h.eventsSince(0) {
		if e.Type == api.EventNodeStatus && e.Index == h.index {
			downs++
		}
	}
	if downs != 2 {
		t.Errorf("%d node status events in the batch, want 2", downs)
	}
}

func TestAnAllocStatusBatchAppliesEachReportAndRemembersEachRequestID(t *testing.T) {
	h := newHarness(t)
	h.upsert(decodeSpec(t, webYAML))
	h.registerNode("n1", nil)
	h.registerNode("n2", nil)
	h.place("web", "e1", "a1@n1", "a2@n2", "a3@n2")
	// n1's report was applied alone before (the agent's first try), and
	// comes again inside the batch (its retry): it is skipped there.
	h.ok(CmdAllocStatus, &AllocStatus{Node: "n1", Updates: []api.AllocStatusUpdate{running("a1")}, Time: h.next(), RequestID: "n1-r1"})
	n1Index := h.index

	h.ok(CmdAllocStatusBatch, &AllocStatusBatch{Time: h.next(), Batches: []AllocStatus{
		{Node: "n1", Updates: []api.AllocStatusUpdate{withStatus("a1", api.AllocFailed)}, RequestID: "n1-r1"},
		{Node: "n2", Updates: []api.AllocStatusUpdate{running("a2")}, RequestID: "n2-r1"},
		{Node: "n2", Updates: []api.AllocStatusUpdate{running("a3")}, RequestID: "n2-r2"},
		{Node: "n1", Updates: []api.AllocStatusUpdate{running("a3")}}, // not n1's: ignored as alone
	}})
	batchIndex := h.index

	if a := h.alloc("a1"); a.Status != api.AllocRunning || a.ModifyIndex != n1Index {
		t.Errorf("a1 = %s at %d: the replayed report inside the batch applied again", a.Status, a.ModifyIndex)
	}
	for _, id := range []string{"a2", "a3"} {
		if a := h.alloc(id); a.Status != api.AllocRunning || !a.Ready || a.ModifyIndex != batchIndex || !a.ModifyTime.Equal(entryTime(batchIndex)) {
			t.Errorf("%s = %s ready=%v at %d, want running and ready at %d with the entry's time", id, a.Status, a.Ready, a.ModifyIndex, batchIndex)
		}
	}
	for _, id := range []string{"n2-r1", "n2-r2"} {
		rec := h.snap().Request(id)
		if rec == nil || rec.Index != batchIndex || rec.Type != CmdAllocStatus {
			t.Fatalf("request %s remembered as %+v, want an alloc-status at %d", id, rec, batchIndex)
		}
	}
	// A retry of one report of the batch, sent alone, answers the batch.
	again := h.ok(CmdAllocStatus, &AllocStatus{Node: "n2", Updates: []api.AllocStatusUpdate{withStatus("a2", api.AllocFailed)}, Time: h.next(), RequestID: "n2-r1"})
	if rep, ok := again.(*Replayed); !ok || rep.Index != batchIndex {
		t.Fatalf("the retry answered %#v, want the batch's index %d replayed", again, batchIndex)
	}
	if a := h.alloc("a2"); a.Status != api.AllocRunning {
		t.Fatalf("the retry applied: a2 is %s", a.Status)
	}
	// Several IDs remembered at one index survive a snapshot and are
	// forgotten together later.
	restored := newHarness(t)
	if err := restored.fsm.Restore(nopCloser(h.writeSnapshot())); err != nil {
		t.Fatal(err)
	}
	if restored.snap().Request("n2-r1") == nil || restored.snap().Request("n2-r2") == nil {
		t.Fatal("request IDs of a batch lost in a snapshot")
	}
	h.index++
	h.fsm.ApplyCommand(h.index, CmdAllocStatus, mustEncode(t, &AllocStatus{Node: "n2", Time: entryTime(batchIndex).Add(RequestMemory + time.Minute), RequestID: "later"}))
	if h.snap().Request("n2-r1") != nil || h.snap().Request("n2-r2") != nil || h.snap().Request("later") == nil {
		t.Fatal("the IDs of a batch were not forgotten together once out of memory")
	}
}

func mustEncode(t *testing.T, cmd *AllocStatus) []byte {
	t.Helper()
	data, err := Encode(CmdAllocStatus, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return data[1:]
}

func nopCloser(data []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(data)) }
