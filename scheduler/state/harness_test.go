package state

import (
	"bytes"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"flotilla/api"
)

// baseTime is the leader's clock at log index 0; entry i carries
// baseTime + i seconds, so every time in the state says which entry wrote it.
var baseTime = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// entryTime is the time the harness puts into the entry at index.
func entryTime(index uint64) time.Time { return baseTime.Add(time.Duration(index) * time.Second) }

// webYAML is a valid service: three replicas, a template with args, and a
// short revision history so that pruning is cheap to reach.
const webYAML = `kind: Service
name: web
image: demo
replicas: 3
args: ["--version", "v1"]
resources: {cpu: 250m, memory: 64Mi}
rollout: {revisionHistory: 3}
`

// webResources is what one replica of webYAML reserves.
var webResources = api.Resources{CPU: 250, Memory: 64 << 20}

// nodeCapacity is what every test node offers.
var nodeCapacity = api.Resources{CPU: 4000, Memory: 8 << 30}

// harness applies commands to a fresh FSM at consecutive log indexes, the way
// Raft would, without Raft: each command is encoded with Encode and its body
// (everything after the type byte) handed to ApplyCommand.
type harness struct {
	t     *testing.T
	fsm   *FSM
	index uint64 // index of the last applied entry
	evals []*api.Evaluation
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, fsm: NewFSM(NewStore(), slog.New(slog.NewTextHandler(io.Discard, nil)))}
	h.fsm.SetEvalHook(func(evals []*api.Evaluation) { h.evals = append(h.evals, evals...) })
	return h
}

// next is the time the next entry carries.
func (h *harness) next() time.Time { return entryTime(h.index + 1) }

// apply applies one command at the next index and returns its result.
func (h *harness) apply(t CommandType, cmd any) any {
	h.t.Helper()
	data, err := Encode(t, cmd)
	if err != nil {
		h.t.Fatalf("encode %s: %v", t, err)
	}
	if CommandType(data[0]) != t {
		h.t.Fatalf("encode %s: type byte %d", t, data[0])
	}
	h.index++
	return h.fsm.ApplyCommand(h.index, t, data[1:])
}

// ok applies a command that must succeed.
func (h *harness) ok(t CommandType, cmd any) any {
	h.t.Helper()
	res := h.apply(t, cmd)
	if err, isErr := res.(error); isErr {
		h.t.Fatalf("apply %s at %d: %v", t, h.index, err)
	}
	return res
}

// fails applies a command that must fail, and returns the error.
func (h *harness) fails(t CommandType, cmd any) error {
	h.t.Helper()
	res := h.apply(t, cmd)
	err, isErr := res.(error)
	if !isErr {
		h.t.Fatalf("apply %s at %d: got %#v, want an error", t, h.index, res)
	}
	return err
}

func (h *harness) snap() *Snapshot { return h.fsm.Store().Snapshot() }

func (h *harness) upsert(spec api.ServiceSpec) *UpsertServiceResult {
	h.t.Helper()
	return h.ok(CmdUpsertService, &UpsertService{Spec: spec, Time: h.next()}).(*UpsertServiceResult)
}

func (h *harness) registerNode(name string, labels map[string]string) {
	h.t.Helper()
	h.ok(CmdRegisterNode, &RegisterNode{Name: name, Time: h.next(), Registration: api.NodeRegistration{
		Address: "10.0.0.1", Capacity: nodeCapacity, Labels: labels,
	}})
}

func (h *harness) nodeStatus(name, status string) {
	h.t.Helper()
	h.ok(CmdNodeStatus, &NodeStatus{Name: name, Status: status, Time: h.next()})
}

func (h *harness) drain(name string, enable bool) {
	h.t.Helper()
	h.ok(CmdNodeDrain, &NodeDrain{Name: name, Enable: enable, Time: h.next()})
}

func (h *harness) plans(plans ...*Plan) {
	h.t.Helper()
	h.ok(CmdApplyPlans, &ApplyPlans{Plans: plans, Time: h.next()})
}

// place puts allocations of default/service (webResources each) on nodes:
// placements are "id@node".
func (h *harness) place(service, evalID string, placements ...string) {
	h.t.Helper()
	h.plans(placePlan(service, evalID, placements...))
}

func placePlan(service, evalID string, placements ...string) *Plan {
	p := &Plan{EvalID: evalID, Namespace: api.DefaultNamespace, Service: service, Revision: 1, Resources: webResources}
	for _, s := range placements {
		id, node, _ := strings.Cut(s, "@")
		p.Place = append(p.Place, Placement{ID: id, Node: node})
	}
	return p
}

func (h *harness) stop(service string, stops ...Stop) {
	h.t.Helper()
	h.plans(&Plan{EvalID: "stop-eval", Namespace: api.DefaultNamespace, Service: service, Revision: 1, Stop: stops})
}

func (h *harness) report(node string, updates ...api.AllocStatusUpdate) {
	h.t.Helper()
	h.ok(CmdAllocStatus, &AllocStatus{Node: node, Updates: updates, Time: h.next()})
}

func (h *harness) alloc(id string) *api.Allocation {
	h.t.Helper()
	a := h.snap().Allocation(nil, id)
	if a == nil {
		h.t.Fatalf("allocation %s not found", id)
	}
	return a
}

func (h *harness) node(name string) *api.Node {
	h.t.Helper()
	n := h.snap().Node(nil, name)
	if n == nil {
		h.t.Fatalf("node %s not found", name)
	}
	return n
}

func (h *harness) eval(id string) *api.Evaluation {
	h.t.Helper()
	e := h.snap().Evaluation(nil, id)
	if e == nil {
		h.t.Fatalf("evaluation %s not found", id)
	}
	return e
}

func (h *harness) events() []*api.Event { return h.snap().EventsAfter(nil, 0, 0) }

// eventsSince returns the events with an ID above after.
func (h *harness) eventsSince(after uint64) []*api.Event { return h.snap().EventsAfter(nil, after, 0) }

// lastEventID is the ID of the newest event, 0 when there is none.
func (h *harness) lastEventID() uint64 {
	evs := h.events()
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].ID
}

func (h *harness) writeSnapshot() []byte {
	h.t.Helper()
	var buf bytes.Buffer
	if err := h.snap().Write(&buf); err != nil {
		h.t.Fatalf("write snapshot: %v", err)
	}
	return buf.Bytes()
}

// decodeSpec builds a valid spec from YAML, defaulted and validated.
func decodeSpec(t *testing.T, yaml string) api.ServiceSpec {
	t.Helper()
	specs, err := api.DecodeServices("test", []byte(yaml))
	if err != nil {
		t.Fatalf("decode spec: %v", err)
	}
	if len(specs) != 1 {
		t.Fatalf("decode spec: %d documents, want 1", len(specs))
	}
	return specs[0]
}

// serviceYAML is webYAML renamed.
func serviceYAML(name string) string {
	return "kind: Service\nname: " + name + "\nimage: demo\nreplicas: 2\nresources: {cpu: 250m, memory: 64Mi}\n"
}

func running(id string) api.AllocStatusUpdate {
	return api.AllocStatusUpdate{ID: id, Status: api.AllocRunning, Ready: true, Address: "10.1.0.1"}
}

func withStatus(id, status string) api.AllocStatusUpdate {
	return api.AllocStatusUpdate{ID: id, Status: status}
}

func eventTypes(events []*api.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Type
	}
	return out
}

func hasEvent(events []*api.Event, typ string) bool {
	for _, e := range events {
		if e.Type == typ {
			return true
		}
	}
	return false
}

func evalTriggers(evals []*api.Evaluation) []string {
	out := make([]string, len(evals))
	for i, e := range evals {
		out[i] = e.TriggeredBy + " " + e.ServiceKey()
	}
	return out
}

// evalsCreatedAfter returns the evaluations created after index, by
// namespace and service (the store orders those of one entry by ID).
func (h *harness) evalsCreatedAfter(index uint64) []*api.Evaluation {
	var out []*api.Evaluation
	for _, e := range h.snap().Evaluations(nil) {
		if e.CreateIndex > index {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].CreateIndex != out[j].CreateIndex {
			return out[i].CreateIndex < out[j].CreateIndex
		}
		return out[i].ServiceKey() < out[j].ServiceKey()
	})
	return out
}
