package state

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"flotilla/api"
)

func TestEventIDsAreConsecutiveFromOne(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)                                               // 1: registered
	h.upsert(decodeSpec(t, webYAML))                                        // 2: service registered
	h.place("web", "e1", "a1@n1", "a2@n1")                                  // 3: placed
	h.report("n1", withStatus("a1", "failed"))                              // 4: failed
	h.stop("web", Stop{ID: "a1", Reason: "x"}, Stop{ID: "a2", Reason: "x"}) // 5: stopped
	h.drain("n1", true)                                                     // 6, 7: draining, drained
	h.nodeStatus("n1", api.NodeDown)                                        // 8: down
	h.registerNode("n1", nil)                                               // 9: ready again
	// 10: scaled
	h.ok(CmdScaleService, &ScaleService{Namespace: "default", Name: "web", Replicas: 1, Time: h.next()})

	evs := h.events()
	if len(evs) != 10 {
		t.Fatalf("%d events, want 10: %v", len(evs), eventTypes(evs))
	}
	for i, e := range evs {
		if e.ID != uint64(i+1) {
			t.Errorf("event %d has ID %d, want %d", i, e.ID, i+1)
		}
		if !e.Time.Equal(entryTime(e.Index)) {
			t.Errorf("event %d (%s) at index %d has time %v, want the entry's %v", e.ID, e.Type, e.Index, e.Time, entryTime(e.Index))
		}
	}
	if evs[5].Index != evs[6].Index {
		t.Errorf("draining and drained events at indexes %d and %d, want the same entry", evs[5].Index, evs[6].Index)
	}
	if got := h.snap().EventsAfter(nil, 3, 2); len(got) != 2 || got[0].ID != 4 || got[1].ID != 5 {
		t.Errorf("EventsAfter(3, 2) = %v, want events 4 and 5", got)
	}
}

func TestEventsKeepOnlyTheNewestMaxEvents(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	const extra = 10
	for i := 1; i < MaxEvents+extra; i++ {
		h.ok(CmdNodeEligibility, &NodeEligibility{Name: "n1", Eligible: i%2 == 0, Time: h.next()})
	}
	total := uint64(MaxEvents + extra)

	evs := h.events()
	if len(evs) != MaxEvents {
		t.Fatalf("%d events kept, want %d", len(evs), MaxEvents)
	}
	if first, last := evs[0].ID, evs[len(evs)-1].ID; first != total-MaxEvents+1 || last != total {
		t.Errorf("events %d..%d kept, want %d..%d", first, last, total-MaxEvents+1, total)
	}
	if got := h.snap().EventsAfter(nil, 0, 1); len(got) != 1 || got[0].ID != extra+1 {
		t.Errorf("oldest event = %v, want ID %d", got, extra+1)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].ID != evs[i-1].ID+1 {
			t.Fatalf("gap between events %d and %d", evs[i-1].ID, evs[i].ID)
		}
	}
}

// The index table also holds the event counter ("events-id"); LatestIndex
// must report the newest Raft index, which the plan applier hands back to
// clients and workers compare with the capacity index. An entry that makes
// several events (a drain that finishes at once makes two) pushes the counter
// past the log index.
func TestLatestIndexIsTheNewestLogIndex(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil) // index 1: event 1
	h.drain("n1", true)       // index 2: events 2 and 3

	if got := h.snap().LatestIndex(); got != h.index {
		t.Errorf("LatestIndex = %d, want the newest log index %d", got, h.index)
	}

	// More plainly: a batch of plans with many events at one index.
	h2 := newHarness(t)
	h2.registerNode("n1", nil)
	var plans []*Plan
	for i := 0; i < 5; i++ {
		plans = append(plans, placePlan(fmt.Sprintf("svc%d", i), "e", fmt.Sprintf("a%d@n1", i)))
	}
	h2.plans(plans...)
	if got := h2.snap().LatestIndex(); got != h2.index {
		t.Errorf("after one entry of 5 plans: LatestIndex = %d, want %d", got, h2.index)
	}
}

func TestFailedCommandWritesNothingAndTellsNoHook(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	h.nodeStatus("n1", api.NodeDown)
	before := h.writeSnapshot()
	heard := len(h.evals)

	h.fails(CmdNodeDrain, &NodeDrain{Name: "n1", Enable: true, Time: h.next()})
	h.fails(CmdScaleService, &ScaleService{Namespace: "default", Name: "web", Replicas: 3, Time: h.next()})

	if after := h.writeSnapshot(); string(after) != string(before) {
		t.Errorf("failed commands changed the state:\nbefore %s\nafter  %s", before, after)
	}
	if len(h.evals) != heard {
		t.Errorf("eval hook heard %d more evaluations", len(h.evals)-heard)
	}
}

func TestApplyTakesRaftLogEntries(t *testing.T) {
	fsm := NewFSM(NewStore(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	data, err := Encode(CmdUpsertService, &UpsertService{Spec: decodeSpec(t, webYAML), Time: entryTime(7)})
	if err != nil {
		t.Fatal(err)
	}

	res, ok := fsm.Apply(&raft.Log{Index: 7, Type: raft.LogCommand, Data: data}).(*UpsertServiceResult)
	if !ok || !res.Created {
		t.Fatalf("Apply = %#v, want a created service", res)
	}
	if svc := fsm.Store().Snapshot().Service(nil, "default", "web"); svc == nil || svc.CreateIndex != 7 {
		t.Fatalf("service = %+v, want it created at index 7", svc)
	}
	for _, l := range []*raft.Log{
		{Index: 8, Type: raft.LogNoop},
		{Index: 9, Type: raft.LogConfiguration, Data: []byte{1, 2, 3}},
		{Index: 10, Type: raft.LogCommand},
	} {
		if got := fsm.Apply(l); got != nil {
			t.Errorf("Apply(%v entry) = %v, want nil", l.Type, got)
		}
	}
	if got := fsm.Store().Snapshot().LatestIndex(); got != 7 {
		t.Errorf("LatestIndex = %d after non-command entries, want 7", got)
	}
}

// A newer server's command that carries the ignorable flag is skipped by a
// server that does not know it: nothing changes, nothing panics, and the
// next known command applies as usual.
func TestUnknownIgnorableCommandIsSkipped(t *testing.T) {
	for _, ct := range []CommandType{IgnoreUnknownTypeFlag, IgnoreUnknownTypeFlag | 100, 255} {
		fsm := NewFSM(NewStore(), slog.New(slog.NewTextHandler(io.Discard, nil)))
		before := fsm.Store().Snapshot().LatestIndex()
		if got := fsm.ApplyCommand(1, ct, []byte(`{"anything": true}`)); got != nil {
			t.Errorf("%s: result %v, want nil", ct, got)
		}
		if after := fsm.Store().Snapshot().LatestIndex(); after != before {
			t.Errorf("%s: latest index moved from %d to %d", ct, before, after)
		}
		body, err := Encode(CmdRegisterNode, &RegisterNode{Name: "n1", Registration: api.NodeRegistration{Address: "127.0.0.1"}})
		if err != nil {
			t.Fatal(err)
		}
		if err, _ := fsm.ApplyCommand(2, CmdRegisterNode, body[1:]).(error); err != nil {
			t.Fatalf("register after a skipped command: %v", err)
		}
		if fsm.Store().Snapshot().Node(nil, "n1") == nil {
			t.Errorf("%s: the command after it was not applied", ct)
		}
	}
	// The commands added since carry the flag.
	for _, ct := range []CommandType{CmdRolloutAction, CmdEvaluate, CmdSetClusterID, CmdNodeReachability} {
		if ct&IgnoreUnknownTypeFlag == 0 {
			t.Errorf("%s lacks IgnoreUnknownTypeFlag", ct)
		}
	}
}

// The cluster's ID is set once: the first leader's stays, and it is not a
// Raft index (LatestIndex ignores it).
func TestClusterIDIsSetOnce(t *testing.T) {
	h := newHarness(t)
	h.ok(CmdSetClusterID, &SetClusterID{ID: 0xfeedbeefcafe})
	h.ok(CmdSetClusterID, &SetClusterID{ID: 42})
	snap := h.snap()
	if got := snap.ClusterID(); got != 0xfeedbeefcafe {
		t.Fatalf("ClusterID = %x, want the first one", got)
	}
	if got := snap.LatestIndex(); got > h.index {
		t.Fatalf("LatestIndex = %d, beyond the log (%d): the cluster ID counted as an index", got, h.index)
	}
}

func mustPanic(t *testing.T, what string, fn func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s did not panic", what)
		}
	}()
	fn()
}

func TestCorruptEntryPanics(t *testing.T) {
	for _, ct := range []CommandType{
		CmdUpsertService, CmdDeleteService, CmdScaleService, CmdRegisterNode, CmdNodeStatus,
		CmdNodeEligibility, CmdNodeDrain, CmdApplyPlans, CmdAllocStatus, CmdGC,
	} {
		for _, body := range []string{`{"Spec": `, `not json`, `[1, 2]`, `"a string"`, ``} {
			t.Run(ct.String()+" "+body, func(t *testing.T) {
				fsm := NewFSM(NewStore(), slog.New(slog.NewTextHandler(io.Discard, nil)))
				mustPanic(t, "applying "+body, func() { fsm.ApplyCommand(1, ct, []byte(body)) })
			})
		}
	}
}

func TestUnknownCommandTypePanics(t *testing.T) {
	for _, ct := range []CommandType{0, CmdGC + 1, IgnoreUnknownTypeFlag - 1} {
		fsm := NewFSM(NewStore(), slog.New(slog.NewTextHandler(io.Discard, nil)))
		mustPanic(t, "command "+ct.String(), func() { fsm.ApplyCommand(1, ct, []byte("{}")) })
		if !strings.HasPrefix(ct.String(), "command-") {
			t.Errorf("unknown type named %q", ct.String())
		}
	}
}
