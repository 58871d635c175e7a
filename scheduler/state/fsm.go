package state

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"

	"flotilla/api"
	"flotilla/internal/text"
)

// MaxEvents is how many events the store keeps; older ones are dropped.
const MaxEvents = 5000

// FSM applies Raft entries to the Store. Applying is deterministic: the same
// log gives the same state on every server (IDs derive from the log index,
// times come from the entry).
type FSM struct {
	store  *Store
	logger *slog.Logger

	mu sync.Mutex
	// onEvals hears about evaluations an entry made ready to run; the
	// leader's broker listens here.
	onEvals func([]*api.Evaluation)
	// onKeys hears about keyring keys (fsm_secrets.go).
	onKeys func([]*KeyringEntry)

	// applied is closed (and cleared) when the next entry commits; it is
	// made only while someone waits in WaitForIndex.
	appliedMu sync.Mutex
	applied   chan struct{}
}

// NewFSM returns an FSM that writes to store.
func NewFSM(store *Store, logger *slog.Logger) *FSM {
	return &FSM{store: store, logger: logger}
}

// Store is the state the FSM writes.
func (f *FSM) Store() *Store { return f.store }

// SetEvalHook sets the function told about new pending evaluations.
func (f *FSM) SetEvalHook(fn func([]*api.Evaluation)) {
	f.mu.Lock()
	f.onEvals = fn
	f.mu.Unlock()
}

// Apply applies one Raft entry. It returns the command's result or an error
// value (never panics on bad input from a client: only a corrupt entry
// panics, because state would otherwise diverge between servers).
func (f *FSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand || len(l.Data) == 0 {
		return nil
	}
	return f.ApplyCommand(l.Index, CommandType(l.Data[0]), l.Data[1:])
}

// ApplyCommand applies an encoded command body at a log index; tests call
// it directly, without Raft.
func (f *FSM) ApplyCommand(index uint64, t CommandType, body []byte) any {
	tx := &applyTxn{txn: f.store.write(), index: index, touched: map[string]bool{}}
	var result any
	var err error
	switch t {
	case CmdUpsertService:
		var c UpsertService
		decode(t, body, &c)
		tx.now = c.Time
		if r, ok := tx.replay(t, c.RequestID); ok {
			return r
		}
		result, err = tx.upsertService(&c)
	case CmdDeleteService:
		var c DeleteService
		decode(t, body, &c)
		tx.now = c.Time
		if r, ok := tx.replay(t, c.RequestID); ok {
			return r
		}
		result, err = tx.deleteService(&c)
	case CmdScaleService:
		var c ScaleService
		decode(t, body, &c)
		tx.now = c.Time
		if r, ok := tx.replay(t, c.RequestID); ok {
			return r
		}
		result, err = tx.scaleService(&c)
	case CmdRegisterNode:
		var c RegisterNode
		decode(t, body, &c)
		tx.now = c.Time
		if r, ok := tx.replay(t, c.RequestID); ok {
			return r
		}
		err = tx.registerNode(&c)
	case CmdNodeStatus:
		var c NodeStatus
		decode(t, body, &c)
		tx.now = c.Time
		if r, ok := tx.replay(t, c.RequestID); ok {
			return r
		}
		err = tx.nodeStatus(&c)
	case CmdNodeEligibility:
		var c NodeEligibility
		decode(t, body, &c)
		tx.now = c.Time
		if r, ok := tx.replay(t, c.RequestID); ok {
			return r
		}
		err = tx.nodeEligibility(&c)
	case CmdNodeDrain:
		var c NodeDrain
		decode(t, body, &c)
		tx.now = c.Time
		if r, ok := tx.replay(t, c.RequestID); ok {
			return r
		}
		err = tx.nodeDrain(&c)
	case CmdApplyPlans:
		var c ApplyPlans
		decode(t, body, &c)
		tx.now = c.Time
		tx.applyPlans(&c)
	case CmdAllocStatus:
		var c AllocStatus
		decode(t, body, &c)
		tx.now = c.Time
		if r, ok := tx.replay(t, c.RequestID); ok {
			return r
		}
		tx.allocStatus(&c)
	case CmdGC:
		var c GC
		decode(t, body, &c)
		tx.gc(&c)
	case CmdRolloutAction:
		var c RolloutAction
		decode(t, body, &c)
		tx.now = c.Time
		if r, ok := tx.replay(t, c.RequestID); ok {
			return r
		}
		result, err = tx.rolloutAction(&c)
	case CmdEvaluate:
		var c Evaluate
		decode(t, body, &c)
		tx.now = c.Time
		err = tx.evaluate(&c)
	case CmdNodeReachability:
		var c NodeReachability
		decode(t, body, &c)
		tx.now = c.Time
		err = tx.nodeReachability(&c)
	case CmdNodeStatusBatch:
		var c NodeStatusBatch
		decode(t, body, &c)
		tx.now = c.Time
		result = tx.nodeStatusBatch(&c)
	case CmdAllocStatusBatch:
		var c AllocStatusBatch
		decode(t, body, &c)
		tx.now = c.Time
		tx.allocStatusBatch(&c)
	case CmdUpsertConfig, CmdDeleteConfig, CmdUpsertSecret, CmdDeleteSecret, CmdKeyringAdd, CmdReencryptSecrets:
		result, err = tx.applyFiles(t, body)
	case CmdSetWorkloadCA, CmdResealWorkloadCA:
		result = tx.applyCerts(t, body)
	case CmdSetClusterID:
		var c SetClusterID
		decode(t, body, &c)
		if tx.getIndex(clusterIDKey) == 0 && c.ID != 0 {
			tx.insert(tableIndex, &IndexEntry{Key: clusterIDKey, Value: c.ID})
		}
	case CmdACLUpsertPolicy, CmdACLDeletePolicy, CmdACLCreateToken, CmdACLDeleteToken, CmdACLBootstrap:
		result, err = tx.applyACL(t, body)
	default:
		tx.txn.Abort()
		if t&IgnoreUnknownTypeFlag != 0 {
			// A newer server wrote it; this one goes on without it.
			f.logger.Warn("skipping unknown command type (written by a newer server?)", "index", index, "type", byte(t))
			return nil
		}
		panic(fmt.Sprintf("raft entry %d: unknown command type %d", index, t))
	}
	if tx.replayed {
		return result // the answer of the first time; the transaction is dropped
	}
	if err != nil {
		tx.txn.Abort()
		return err
	}
	tx.remember(result)
	tx.commit()
	f.store.nodeAllocs.notify(index, tx.allocNodes)
	f.store.nodeRuns.notify(index, tx.runNodes)
	f.notifyApplied()
	f.store.usage.apply(tx.usage)
	f.notifyKeys(tx.keys)
	if len(tx.evals) > 0 {
		f.mu.Lock()
		hook := f.onEvals
		f.mu.Unlock()
		if hook != nil {
			hook(tx.evals)
		}
	}
	return result
}

// notifyApplied wakes whoever waits for the state to move.
func (f *FSM) notifyApplied() {
	f.appliedMu.Lock()
	if f.applied != nil {
		close(f.applied)
		f.applied = nil
	}
	f.appliedMu.Unlock()
}

// WaitForIndex returns once the state reflects every write up to index
// (its LatestIndex reached it), or when ctx ends. A server waits here to
// answer a consistent read with what the leader had applied.
func (f *FSM) WaitForIndex(ctx context.Context, index uint64) error {
	for {
		f.appliedMu.Lock()
		if f.applied == nil {
			f.applied = make(chan struct{})
		}
		moved := f.applied
		f.appliedMu.Unlock()
		snap := f.store.Snapshot()
		if snap.LatestIndex() >= index {
			return nil
		}
		select {
		case <-moved:
		case <-snap.Abandoned: // a Raft snapshot replaced the state
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func decode(t CommandType, body []byte, v any) {
	if err := json.Unmarshal(body, v); err != nil {
		panic(fmt.Sprintf("corrupt %s entry: %v", t, err))
	}
}

// applyTxn is one entry being applied.
type applyTxn struct {
	txn     *memdb.Txn
	index   uint64
	now     time.Time
	seq     uint64
	touched map[string]bool
	// request is the client's request ID of the command, remembered once
	// it applies (see Requests).
	request     string
	requestType CommandType
	// replayed is set when the request ID was applied before (replay):
	// the command's result is then the first answer, returned as it is.
	replayed bool
	evals    []*api.Evaluation
	usage    []usageDelta
	// allocNodes are the nodes whose allocations the entry wrote, and
	// runNodes those of them whose allocations it changed other than by
	// their agents' status reports: their watchers wake once it commits.
	allocNodes, runNodes map[string]bool
	// counts are the services' counts the entry changed (servicecounts.go).
	counts map[string]*ServiceCounts
	// lastCounts is the one of them written last (an entry's allocations
	// are mostly one service's).
	lastCounts *ServiceCounts
	// keys are the keyring keys the entry brought (fsm_secrets.go).
	keys []*KeyringEntry
}

func (tx *applyTxn) touch(tables ...string) {
	for _, t := range tables {
		tx.touched[t] = true
	}
}

// id derives a unique, reproducible ID from the log index.
func (tx *applyTxn) id() string {
	tx.seq++
	return DeriveID("eval", tx.index, tx.seq)
}

func (tx *applyTxn) insert(table string, obj any) {
	if err := tx.txn.Insert(table, obj); err != nil {
		panic(fmt.Sprintf("raft entry %d: insert into %s: %v", tx.index, table, err))
	}
	tx.touch(table)
}

func (tx *applyTxn) delete(table string, obj any) {
	if err := tx.txn.Delete(table, obj); err != nil {
		panic(fmt.Sprintf("raft entry %d: delete from %s: %v", tx.index, table, err))
	}
	tx.touch(table)
}

func (tx *applyTxn) first(table string, args ...any) any {
	raw, err := tx.txn.First(table, "id", args...)
	if err != nil {
		panic(fmt.Sprintf("raft entry %d: read %s: %v", tx.index, table, err))
	}
	return raw
}

func (tx *applyTxn) service(ns, name string) *api.Service {
	if raw := tx.first(tableServices, ns, name); raw != nil {
		return raw.(*api.Service)
	}
	return nil
}

func (tx *applyTxn) node(name string) *api.Node {
	if raw := tx.first(tableNodes, name); raw != nil {
		return raw.(*api.Node)
	}
	return nil
}

func (tx *applyTxn) alloc(id string) *api.Allocation {
	if raw := tx.first(tableAllocs, id); raw != nil {
		return raw.(*api.Allocation)
	}
	return nil
}

func (tx *applyTxn) eval(id string) *api.Evaluation {
	if raw := tx.first(tableEvals, id); raw != nil {
		return raw.(*api.Evaluation)
	}
	return nil
}

func (tx *applyTxn) allocsOf(index string, args ...any) []*api.Allocation {
	it, err := tx.txn.Get(tableAllocs, index, args...)
	if err != nil {
		panic(fmt.Sprintf("raft entry %d: list allocations: %v", tx.index, err))
	}
	var out []*api.Allocation
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*api.Allocation))
	}
	return out
}

func (tx *applyTxn) getIndex(key string) uint64 {
	if raw := tx.first(tableIndex, key); raw != nil {
		return raw.(*IndexEntry).Value
	}
	return 0
}

// event records something that happened; the oldest events fall off.
func (tx *applyTxn) event(e api.Event) {
	id := tx.getIndex(eventCounter) + 1
	e.ID, e.Index, e.Time = id, tx.index, tx.now
	tx.insert(tableEvents, &e)
	tx.insert(tableIndex, &IndexEntry{Key: eventCounter, Value: id})
	if id > MaxEvents {
		if old := tx.first(tableEvents, id-MaxEvents); old != nil {
			tx.delete(tableEvents, old)
		}
	}
}

// newEval creates a pending evaluation for a service.
func (tx *applyTxn) newEval(ns, service, trigger, node string) *api.Evaluation {
	return tx.insertEval(&api.Evaluation{Namespace: ns, Service: service, TriggeredBy: trigger, Node: node})
}

// newDelayedEval creates a pending evaluation that waits until at.
func (tx *applyTxn) newDelayedEval(ns, service, trigger string, at time.Time) *api.Evaluation {
	return tx.insertEval(&api.Evaluation{Namespace: ns, Service: service, TriggeredBy: trigger, WaitUntil: at})
}

func (tx *applyTxn) insertEval(e *api.Evaluation) *api.Evaluation {
	e.ID, e.Status = tx.id(), api.EvalPending
	e.CreateTime, e.ModifyTime, e.CreateIndex, e.ModifyIndex = tx.now, tx.now, tx.index, tx.index
	tx.insert(tableEvals, e)
	tx.evals = append(tx.evals, e)
	return e
}

// putAlloc stores an allocation and records how node usage changes (the
// usage index is updated once the transaction commits). An allocation that
// lets go of its resources moves the capacity index.
func (tx *applyTxn) putAlloc(old, updated *api.Allocation) {
	updated.AllocModifyIndex = tx.index
	tx.runNodes = setAdd(tx.runNodes, updated.Node)
	tx.putAllocStatus(old, updated)
}

// putAllocStatus writes an allocation changed by its agent's status
// report alone: the agent's watch on what to run does not wake for it.
func (tx *applyTxn) putAllocStatus(old, updated *api.Allocation) {
	updated.ModifyIndex, updated.ModifyTime = tx.index, tx.now
	tx.insert(tableAllocs, updated)
	tx.countAlloc(old, updated)
	tx.allocNodes = setAdd(tx.allocNodes, updated.Node)
	held := func(a *api.Allocation) bool { return a != nil && !a.Terminal() }
	switch {
	case !held(old) && held(updated):
		tx.usage = append(tx.usage, usageDelta{alloc: updated, sign: 1})
	case held(old) && !held(updated):
		tx.usage = append(tx.usage, usageDelta{alloc: old, sign: -1})
		tx.touch(IndexCapacity)
	}
}

// setAdd adds key to set, making it if nil.
func setAdd(set map[string]bool, key string) map[string]bool {
	if set == nil {
		set = map[string]bool{}
	}
	set[key] = true
	return set
}

// commit writes the table indexes, then commits.
func (tx *applyTxn) commit() {
	tx.writeCounts()
	for table := range tx.touched {
		if table == tableIndex {
			continue
		}
		if err := tx.txn.Insert(tableIndex, &IndexEntry{Key: table, Value: tx.index}); err != nil {
			panic(fmt.Sprintf("raft entry %d: index %s: %v", tx.index, table, err))
		}
	}
	tx.txn.Commit()
}

// template is the part of a spec whose change makes a new revision:
// everything but the replica count, which scaling changes in place, and
// the autoscale block, whose limits change in place too (as editing a
// Kubernetes HPA leaves the pods alone).
func template(s api.ServiceSpec) api.ServiceSpec {
	s.Replicas = nil
	s.Autoscale = nil // the autoscaler's limits change no replica
	return s
}

// sameReplicas reports whether two specs run the same replicas: they
// differ at most in what the leader reads to place and roll them out
// (replicas, autoscale, rollout), not in what runs. As for a Kubernetes
// Deployment's strategy, changing how revisions roll out makes no
// revision to roll out.
func sameReplicas(a, b api.ServiceSpec) bool {
	a, b = template(a), template(b)
	a.Rollout, b.Rollout = api.RolloutSpec{}, api.RolloutSpec{}
	return reflect.DeepEqual(a, b)
}

func (tx *applyTxn) upsertService(c *UpsertService) (*UpsertServiceResult, error) {
	spec := c.Spec
	replicas := spec.ReplicaCount()
	old := tx.service(spec.Namespace, spec.Name)
	if old == nil {
		svc := &api.Service{
			Name: spec.Name, Namespace: spec.Namespace, Revision: 1, Replicas: replicas,
			Strategy: spec.Rollout.Strategy, Spec: spec,
			CreateTime: tx.now, ModifyTime: tx.now, CreateIndex: tx.index, ModifyIndex: tx.index,
		}
		svc.VIP = tx.allocateVIP(c.VIPPool, spec, "")
		tx.insert(tableServices, svc)
		tx.insert(tableRevisions, &api.Revision{Namespace: spec.Namespace, Name: spec.Name, Revision: 1, Spec: template(spec), Files: tx.fileVersions(&spec), CreateTime: tx.now, CreateIndex: tx.index})
		eval := tx.newEval(spec.Namespace, spec.Name, api.TriggerServiceRegister, "")
		tx.event(api.Event{Type: api.EventServiceRegistered, Namespace: spec.Namespace, Service: spec.Name,
			Message: fmt.Sprintf("service %s/%s registered at revision 1 with %s", spec.Namespace, spec.Name, text.Count(replicas, "replica"))})
		tx.startRollout(svc, c.VIPPool)
		return &UpsertServiceResult{Revision: 1, Created: true, Changed: true, EvalID: eval.ID}, nil
	}
	if a := spec.Autoscale; a != nil && old.Spec.Autoscale != nil {
		// The autoscaler owns the count: a re-apply keeps it (within the
		// new limits).
		replicas = min(max(old.Replicas, a.Min), a.Max)
		spec.Replicas = &replicas
	}
	templateChanged := !sameReplicas(old.Spec, spec) || tx.filesChangedSince(old, &spec)
	autoscaleChanged := !reflect.DeepEqual(old.Spec.Autoscale, spec.Autoscale)
	rolloutChanged := !reflect.DeepEqual(old.Spec.Rollout, spec.Rollout)
	if !templateChanged && !autoscaleChanged && !rolloutChanged && old.Replicas == replicas {
		return &UpsertServiceResult{Revision: old.Revision}, nil
	}
	if rolloutChanged && !templateChanged {
		// The controller reads the service's rollout settings at each
		// step: a rollout under way keeps the ones it started with, and
		// so does one that failed or was aborted while its replicas
		// still run (a ramped rollout left where it stopped, or going
		// back in waves).
		if r := tx.rollout(spec.Namespace, spec.Name); r != nil && r.CreateIndex >= old.CreateIndex && r.Phase != api.PhaseCompleted {
			running := r.Revision != r.StableRevision && tx.runsRevision(spec.Namespace, spec.Name, r.Revision)
			if r.Active() || running {
				state := r.Phase
				if !r.Active() {
					state += " with its replicas still running"
				}
				return nil, &api.FieldError{Field: "spec.rollout", Message: fmt.Sprintf(
					"changed while the rollout of revision %d is %s: new rollout settings apply to the next rollout; let this one end (or abort it) first, or change what runs too",
					r.Revision, state)}
			}
		}
	}
	svc := *old
	svc.Spec, svc.Replicas, svc.Strategy = spec, replicas, spec.Rollout.Strategy
	svc.ModifyTime, svc.ModifyIndex = tx.now, tx.index
	svc.VIP = tx.allocateVIP(c.VIPPool, spec, old.VIP)
	trigger := api.TriggerScale
	message := fmt.Sprintf("service %s/%s scaled from %d to %s", spec.Namespace, spec.Name, old.Replicas, text.Count(replicas, "replica"))
	eventType := api.EventServiceScaled
	if (autoscaleChanged || rolloutChanged) && !templateChanged {
		var what []string
		if autoscaleChanged {
			what = append(what, "autoscale")
		}
		if rolloutChanged {
			what = append(what, "rollout")
		}
		trigger, eventType = api.TriggerServiceUpdate, api.EventServiceUpdated
		message = fmt.Sprintf("service %s/%s: %s settings changed (no new revision; %s)", spec.Namespace, spec.Name, strings.Join(what, " and "), text.Count(replicas, "replica"))
	}
	if rolloutChanged && !templateChanged {
		// The current revision's spec says how it rolls out now (what
		// rollout history compares), and a smaller revisionHistory
		// applies at once.
		if rev, _ := tx.first(tableRevisions, spec.Namespace, spec.Name, svc.Revision).(*api.Revision); rev != nil {
			r := *rev
			r.Spec.Rollout = spec.Rollout
			tx.insert(tableRevisions, &r)
		}
		tx.pruneRevisions(&svc)
	}
	if templateChanged {
		svc.Revision++
		trigger, eventType = api.TriggerServiceUpdate, api.EventServiceUpdated
		message = fmt.Sprintf("service %s/%s updated to revision %d", spec.Namespace, spec.Name, svc.Revision)
		tx.insert(tableRevisions, &api.Revision{Namespace: spec.Namespace, Name: spec.Name, Revision: svc.Revision, Spec: template(spec), Files: tx.fileVersions(&spec), CreateTime: tx.now, CreateIndex: tx.index})
		tx.pruneRevisions(&svc)
	}
	tx.insert(tableServices, &svc)
	eval := tx.newEval(spec.Namespace, spec.Name, trigger, "")
	tx.event(api.Event{Type: eventType, Namespace: spec.Namespace, Service: spec.Name, Message: message})
	if templateChanged {
		tx.startRollout(&svc, c.VIPPool)
	}
	return &UpsertServiceResult{Revision: svc.Revision, Changed: true, EvalID: eval.ID}, nil
}

// pruneRevisions keeps the newest revisionHistory revisions, and any older
// one that allocations still run (agents fetch the spec they run).
func (tx *applyTxn) pruneRevisions(svc *api.Service) {
	keep := max(svc.Spec.Rollout.RevisionHistoryOrDefault(), 1) // the current revision, whatever the spec says
	inUse := map[int]bool{}
	for _, a := range tx.allocsOf("service", svc.Namespace, svc.Name) {
		if !a.Terminal() {
			inUse[a.Revision] = true
		}
	}
	it, err := tx.txn.Get(tableRevisions, "id_prefix", svc.Namespace, svc.Name)
	if err != nil {
		panic(fmt.Sprintf("raft entry %d: list revisions: %v", tx.index, err))
	}
	var revs []*api.Revision
	for raw := it.Next(); raw != nil; raw = it.Next() {
		revs = append(revs, raw.(*api.Revision))
	}
	for excess := len(revs) - keep; excess > 0; excess-- {
		if !inUse[revs[0].Revision] {
			tx.delete(tableRevisions, revs[0])
		}
		revs = revs[1:]
	}
}

func (tx *applyTxn) deleteService(c *DeleteService) (*UpsertServiceResult, error) {
	old := tx.service(c.Namespace, c.Name)
	if old == nil {
		return nil, fmt.Errorf("service %s/%s: %w", c.Namespace, c.Name, api.ErrNotFound)
	}
	tx.delete(tableServices, old)
	if r := tx.rollout(c.Namespace, c.Name); r != nil {
		tx.delete(tableRollouts, r)
	}
	if _, err := tx.txn.DeleteAll(tableRevisions, "id_prefix", c.Namespace, c.Name); err != nil {
		panic(fmt.Sprintf("raft entry %d: delete revisions: %v", tx.index, err))
	}
	tx.touch(tableRevisions)
	eval := tx.newEval(c.Namespace, c.Name, api.TriggerServiceDelete, "")
	tx.event(api.Event{Type: api.EventServiceDeleted, Namespace: c.Namespace, Service: c.Name,
		Message: fmt.Sprintf("service %s/%s deleted; its allocations stop", c.Namespace, c.Name)})
	return &UpsertServiceResult{Revision: old.Revision, Changed: true, EvalID: eval.ID}, nil
}

func (tx *applyTxn) scaleService(c *ScaleService) (*UpsertServiceResult, error) {
	old := tx.service(c.Namespace, c.Name)
	if old == nil {
		return nil, fmt.Errorf("service %s/%s: %w", c.Namespace, c.Name, api.ErrNotFound)
	}
	if old.Replicas == c.Replicas || (c.From != nil && old.Replicas != *c.From) {
		return &UpsertServiceResult{Revision: old.Revision}, nil
	}
	svc := *old
	replicas := c.Replicas
	svc.Replicas, svc.Spec.Replicas = replicas, &replicas
	svc.ModifyTime, svc.ModifyIndex = tx.now, tx.index
	message := fmt.Sprintf("service %s/%s scaled from %d to %s", c.Namespace, c.Name, old.Replicas, text.Count(c.Replicas, "replica"))
	if c.Reason != "" {
		svc.Autoscaled = &api.AutoscaleChange{Time: tx.now, From: old.Replicas, To: c.Replicas, Reason: c.Reason}
		message = fmt.Sprintf("autoscaled %s/%s %d → %d: %s", c.Namespace, c.Name, old.Replicas, c.Replicas, c.Reason)
	}
	tx.insert(tableServices, &svc)
	eval := tx.newEval(c.Namespace, c.Name, api.TriggerScale, "")
	tx.event(api.Event{Type: api.EventServiceScaled, Namespace: c.Namespace, Service: c.Name, Message: message})
	return &UpsertServiceResult{Revision: svc.Revision, Changed: true, EvalID: eval.ID}, nil
}

func (tx *applyTxn) registerNode(c *RegisterNode) error {
	r := c.Registration
	old := tx.node(c.Name)
	if old == nil {
		n := &api.Node{
			Name: c.Name, Status: api.NodeReady, Eligible: true, Address: r.Address, HTTPAddress: r.HTTPAddress,
			Capacity: r.Capacity, Labels: r.Labels, Heartbeat: r.Heartbeat, Runtime: r.Runtime,
			SecretHash: c.SecretHash, StatusTime: tx.now, CreateIndex: tx.index, ModifyIndex: tx.index,
		}
		n.Subnet = tx.allocateSubnet(c.SubnetPool, "")
		tx.insert(tableNodes, n)
		tx.touch(IndexCapacity)
		tx.event(api.Event{Type: api.EventNodeRegistered, Node: c.Name,
			Message: fmt.Sprintf("node %s registered with %s cpu and %s memory", c.Name, r.Capacity.CPU, r.Capacity.Memory)})
		return nil
	}
	if err := NodeSecretRefusal(old, c.SecretHash, liveAllocations(tx.txn, c.Name)); err != nil {
		return err
	}
	n := *old
	n.Address, n.HTTPAddress, n.Capacity, n.Labels, n.Heartbeat, n.Runtime = r.Address, r.HTTPAddress, r.Capacity, r.Labels, r.Heartbeat, r.Runtime
	if old.SecretHash != "" && c.SecretHash != old.SecretHash {
		tx.event(api.Event{Type: api.EventNodeRegistered, Node: c.Name,
			Message: fmt.Sprintf("node %s registered again under a new node secret (it was down and ran nothing)", c.Name)})
	}
	n.SecretHash = c.SecretHash
	n.Subnet = tx.allocateSubnet(c.SubnetPool, old.Subnet)
	n.Unreachable = false // it registered: its agent is there
	if n.Status == api.NodeDown && !n.OperatorDown {
		n.Status, n.StatusMessage, n.StatusTime = api.NodeReady, "registered again", tx.now
		tx.event(api.Event{Type: api.EventNodeStatus, Node: c.Name, Message: fmt.Sprintf("node %s is ready again (registered)", c.Name)})
	}
	if reflect.DeepEqual(&n, old) {
		return nil
	}
	n.ModifyIndex = tx.index
	tx.insert(tableNodes, &n)
	tx.touch(IndexCapacity)
	return nil
}

// NodeSecretRefusal is why node n may not be registered again under the
// node secret whose hash is hash, or nil. A node registered without a
// secret takes the first one it is registered with; after that, none is
// refused always, and another secret while the node is up or still has
// live allocations (live): an agent that lost its data directory, and
// with it the secret, registers again once its heartbeats stopped long
// enough for the node to be marked down and its allocations replaced.
// Anyone holding the agents' token could register a new node; none can
// take over one that runs something.
func NodeSecretRefusal(n *api.Node, hash string, live int) error {
	if n == nil || n.SecretHash == "" || n.SecretHash == hash {
		return nil
	}
	if hash == "" {
		return &api.PermissionError{Reason: fmt.Sprintf("node %s is registered under a node secret and this registration carries none (%s): is its agent older than the servers?", n.Name, api.NodeSecretHeader)}
	}
	if n.Status == api.NodeDown && live == 0 {
		return nil
	}
	why := "it is up"
	if n.Status == api.NodeDown {
		why = "it still has " + text.Count(live, "live allocation")
	}
	return &api.PermissionError{Reason: fmt.Sprintf("node %s is registered under another node secret and %s: an agent that lost its data directory registers again once the node is down and runs nothing (its heartbeat TTL)", n.Name, why)}
}

// runsRevision reports whether a replica of a service's revision is not
// terminal.
func (tx *applyTxn) runsRevision(namespace, name string, revision int) bool {
	for _, a := range tx.allocsOf("service", namespace, name) {
		if a.Revision == revision && !a.Terminal() {
			return true
		}
	}
	return false
}

// liveAllocations counts the allocations on node that are not terminal.
func liveAllocations(txn *memdb.Txn, node string) int {
	it, err := txn.Get(tableAllocs, "node", node)
	if err != nil {
		return 0
	}
	live := 0
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if !raw.(*api.Allocation).Terminal() {
			live++
		}
	}
	return live
}

// allocateSubnet keeps a node's subnet when it lies in the pool, else
// hands out the pool's first /24 no other node holds ("" without a pool).
func (tx *applyTxn) allocateSubnet(pool, current string) string {
	prefix, err := netip.ParsePrefix(pool)
	if err != nil || !prefix.Addr().Is4() || prefix.Bits() > 24 || prefix.Bits() < 8 {
		return current
	}
	prefix = prefix.Masked()
	if cur, err := netip.ParsePrefix(current); err == nil && prefix.Contains(cur.Addr()) {
		return current
	}
	taken := map[string]bool{}
	it, err := tx.txn.Get(tableNodes, "id")
	if err != nil {
		panic(fmt.Sprintf("raft entry %d: list nodes: %v", tx.index, err))
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		taken[raw.(*api.Node).Subnet] = true
	}
	base4 := prefix.Addr().As4()
	base := binary.BigEndian.Uint32(base4[:])
	count := uint32(1) << (24 - prefix.Bits())
	for i := uint32(0); i < count; i++ {
		var ip [4]byte
		binary.BigEndian.PutUint32(ip[:], base+i<<8)
		candidate := netip.PrefixFrom(netip.AddrFrom4(ip), 24).String()
		if !taken[candidate] {
			return candidate
		}
	}
	return current // the pool is exhausted: the node runs without a subnet
}

// allocateVIP keeps a service's virtual IP, or hands out the pool's first
// address no other service holds (skipping .0 and .255, which people read
// as network and broadcast addresses). A headless service has none; a
// deleted service's address is free again.
func (tx *applyTxn) allocateVIP(pool string, spec api.ServiceSpec, current string) string {
	if spec.ClusterIP == "none" {
		return ""
	}
	if current != "" {
		return current
	}
	prefix, err := netip.ParsePrefix(pool)
	if err != nil || !prefix.Addr().Is4() || prefix.Bits() < 8 {
		return ""
	}
	prefix = prefix.Masked()
	taken := map[string]bool{}
	it, err := tx.txn.Get(tableServices, "id")
	if err != nil {
		panic(fmt.Sprintf("raft entry %d: list services: %v", tx.index, err))
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		taken[raw.(*api.Service).VIP] = true
	}
	rit, err := tx.txn.Get(tableRollouts, "id")
	if err != nil {
		panic(fmt.Sprintf("raft entry %d: list rollouts: %v", tx.index, err))
	}
	for raw := rit.Next(); raw != nil; raw = rit.Next() {
		taken[raw.(*api.Rollout).PreviewVIP] = true
	}
	// From the address after the last one given out, round the pool.
	start := prefix.Addr()
	if c := tx.getIndex(vipCursorKey); c != 0 && c <= math.MaxUint32 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(c))
		if last := netip.AddrFrom4(b); prefix.Contains(last) {
			start = last
		}
	}
	addr := start
	for {
		if addr = addr.Next(); !prefix.Contains(addr) {
			addr = prefix.Addr()
		}
		if b := addr.As4(); b[3] != 0 && b[3] != 255 && !taken[addr.String()] {
			tx.insert(tableIndex, &IndexEntry{Key: vipCursorKey, Value: uint64(binary.BigEndian.Uint32(b[:]))})
			return addr.String()
		}
		if addr == start {
			return "" // the pool is exhausted: the service is reachable by endpoint names only
		}
	}
}

// servicesOnNode lists, in order, the services with allocations on a node
// that are still meant to run.
func (tx *applyTxn) servicesOnNode(node string) [][2]string {
	seen := map[string]bool{}
	var out [][2]string
	for _, a := range tx.allocsOf("node", node) {
		if a.DesiredStatus != api.DesiredRun || seen[a.ServiceKey()] {
			continue
		}
		seen[a.ServiceKey()] = true
		out = append(out, [2]string{a.Namespace, a.Service})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0]+"/"+out[i][1] < out[j][0]+"/"+out[j][1] })
	return out
}

func (tx *applyTxn) nodeStatus(c *NodeStatus) error {
	_, err := tx.setNodeStatus(c, nil)
	return err
}

// nodeStatusBatch applies each status in turn; a service on several of the
// nodes gets one evaluation (the broker would coalesce the others anyway).
func (tx *applyTxn) nodeStatusBatch(c *NodeStatusBatch) []string {
	evaluated := map[[2]string]bool{}
	var changed []string
	for i := range c.Statuses {
		s := c.Statuses[i]
		s.Time = c.Time
		if ok, err := tx.setNodeStatus(&s, evaluated); err == nil && ok {
			changed = append(changed, s.Name)
		}
	}
	return changed
}

// setNodeStatus applies one status and reports whether it changed the
// node's status. Services in evaluated (when not nil) are not evaluated
// again, and those it evaluates are added.
func (tx *applyTxn) setNodeStatus(c *NodeStatus, evaluated map[[2]string]bool) (bool, error) {
	old := tx.node(c.Name)
	if old == nil {
		return false, fmt.Errorf("node %s: %w", c.Name, api.ErrNotFound)
	}
	if c.Status != api.NodeReady && c.Status != api.NodeDown {
		return false, &api.FieldError{Field: "status", Message: fmt.Sprintf("must be %s or %s", api.NodeReady, api.NodeDown)}
	}
	if old.OperatorDown && !c.Operator && c.Status == api.NodeReady {
		return false, nil // an operator's down holds until an operator says ready
	}
	operatorDown := old.OperatorDown
	if c.Operator {
		operatorDown = c.Status == api.NodeDown
	}
	if old.Status == c.Status {
		if operatorDown != old.OperatorDown {
			n := *old
			n.OperatorDown, n.StatusMessage, n.ModifyIndex = operatorDown, c.Message, tx.index
			tx.insert(tableNodes, &n)
		}
		return false, nil
	}
	n := *old
	n.Status, n.StatusMessage, n.StatusTime, n.ModifyIndex = c.Status, c.Message, tx.now, tx.index
	n.OperatorDown = operatorDown
	tx.insert(tableNodes, &n)
	message := fmt.Sprintf("node %s is %s", c.Name, c.Status)
	if c.Message != "" {
		message += ": " + c.Message
	}
	tx.event(api.Event{Type: api.EventNodeStatus, Node: c.Name, Message: message})
	if c.Status == api.NodeDown {
		for _, s := range tx.servicesOnNode(c.Name) {
			if evaluated != nil {
				if evaluated[s] {
					continue
				}
				evaluated[s] = true
			}
			tx.newEval(s[0], s[1], api.TriggerNodeUpdate, c.Name)
		}
		return true, nil
	}
	tx.touch(IndexCapacity)
	return true, nil
}

// nodeReachability records gossip's verdict: an unreachable node's
// endpoints leave rotation, its allocations stay (its TTL decides those).
func (tx *applyTxn) nodeReachability(c *NodeReachability) error {
	old := tx.node(c.Name)
	if old == nil {
		return fmt.Errorf("node %s: %w", c.Name, api.ErrNotFound)
	}
	if old.Unreachable == !c.Reachable {
		return nil
	}
	n := *old
	n.Unreachable, n.ModifyIndex = !c.Reachable, tx.index
	tx.insert(tableNodes, &n)
	msg := fmt.Sprintf("node %s is unreachable (%s): its endpoints leave rotation; its allocations stay until its heartbeat TTL decides", c.Name, c.Message)
	if c.Reachable {
		msg = fmt.Sprintf("node %s is reachable again (%s): its endpoints are back in rotation", c.Name, c.Message)
	}
	tx.event(api.Event{Type: api.EventNodeStatus, Node: c.Name, Message: msg})
	return nil
}

func (tx *applyTxn) nodeEligibility(c *NodeEligibility) error {
	old := tx.node(c.Name)
	if old == nil {
		return fmt.Errorf("node %s: %w", c.Name, api.ErrNotFound)
	}
	if old.Eligible == c.Eligible && (!c.Eligible || old.Status != api.NodeDraining) {
		return nil
	}
	n := *old
	n.Eligible, n.ModifyIndex = c.Eligible, tx.index
	switch {
	case c.Eligible && n.Status == api.NodeDraining:
		// Making a draining node eligible ends the drain.
		n.Status, n.StatusMessage, n.StatusTime = api.NodeReady, "drain canceled", tx.now
	case c.Eligible && n.StatusMessage == "drained":
		// A drained node made eligible is drained no more.
		n.StatusMessage = ""
	}
	tx.insert(tableNodes, &n)
	word := "ineligible"
	if c.Eligible {
		word = "eligible"
		tx.touch(IndexCapacity)
	}
	tx.event(api.Event{Type: api.EventNodeEligibility, Node: c.Name, Message: fmt.Sprintf("node %s is %s for new allocations", c.Name, word)})
	return nil
}

func (tx *applyTxn) nodeDrain(c *NodeDrain) error {
	old := tx.node(c.Name)
	if old == nil {
		return fmt.Errorf("node %s: %w", c.Name, api.ErrNotFound)
	}
	if !c.Enable {
		return tx.nodeEligibility(&NodeEligibility{Name: c.Name, Eligible: true, Time: c.Time})
	}
	if old.Status == api.NodeDraining {
		return nil
	}
	if old.Status == api.NodeDown {
		return fmt.Errorf("node %s is down; its allocations are already being replaced: %w", c.Name, api.ErrConflict)
	}
	n := *old
	n.Status, n.Eligible, n.StatusMessage, n.StatusTime, n.ModifyIndex = api.NodeDraining, false, "draining", tx.now, tx.index
	tx.insert(tableNodes, &n)
	tx.event(api.Event{Type: api.EventNodeStatus, Node: c.Name, Message: fmt.Sprintf("node %s is draining: its allocations move to other nodes", c.Name)})
	for _, s := range tx.servicesOnNode(c.Name) {
		tx.newEval(s[0], s[1], api.TriggerNodeDrain, c.Name)
	}
	tx.finishDrain(c.Name)
	return nil
}

// finishDrain marks a draining node drained once nothing on it is meant to
// run or still running; it stays ineligible until an operator says otherwise.
func (tx *applyTxn) finishDrain(name string) {
	n := tx.node(name)
	if n == nil || n.Status != api.NodeDraining {
		return
	}
	for _, a := range tx.allocsOf("node", name) {
		if a.DesiredStatus == api.DesiredRun || a.Status == api.AllocRunning || a.Status == api.AllocStarting {
			return
		}
	}
	c := *n
	c.Status, c.StatusMessage, c.StatusTime, c.ModifyIndex = api.NodeReady, "drained", tx.now, tx.index
	tx.insert(tableNodes, &c)
	tx.event(api.Event{Type: api.EventNodeDrained, Node: name, Message: fmt.Sprintf("node %s drained; it stays ineligible until `flotilla node eligible %s`", name, name)})
}

func (tx *applyTxn) applyPlans(c *ApplyPlans) {
	drained := map[string]bool{}
	for _, p := range c.Plans {
		if !tx.planRolloutCurrent(p) {
			// Computed from a rollout state a person changed since:
			// drop it and look at the service again.
			if p.Eval != nil {
				p.Eval = &EvalOutcome{Status: api.EvalComplete, Description: "plan dropped: the rollout changed meanwhile"}
				tx.finishEval(p)
			}
			tx.cancelEvals(p)
			tx.newEval(p.Namespace, p.Service, api.TriggerRollout, "")
			continue
		}
		// A rollout completing here, or the last replicas of an older
		// revision stopping (a blue-green's after its scale-down delay),
		// leave old revisions unused once the plan's stops are in:
		// revisionHistory applies to them then (pruneRevisions keeps what
		// still runs).
		prune := p.Rollout != nil && p.Rollout.Phase == api.PhaseCompleted
		if cur := tx.rollout(p.Namespace, p.Service); cur != nil && cur.Phase == api.PhaseCompleted {
			prune = false
		}
		tx.applyPlanRollout(p)
		var lost, stopped int
		lostNodes := map[string]bool{}
		for _, s := range p.Stop {
			old := tx.alloc(s.ID)
			if old == nil {
				continue
			}
			a := *old
			changed := false
			if a.DesiredStatus != api.DesiredStop {
				a.DesiredStatus, a.DesiredReason = api.DesiredStop, s.Reason
				changed = true
			}
			if s.Lost && !a.TerminalStatus() {
				a.Status, a.Ready, a.StatusMessage, a.FinishTime = api.AllocLost, false, s.Reason, tx.now
				changed = true
			}
			if !changed {
				continue
			}
			if s.Lost {
				lost++
				lostNodes[a.Node] = true
			} else {
				stopped++
			}
			tx.putAlloc(old, &a)
			prune = prune || a.Revision != p.Revision
			if n := tx.node(a.Node); n != nil && n.Status == api.NodeDraining {
				drained[a.Node] = true
			}
		}
		if prune {
			if svc := tx.service(p.Namespace, p.Service); svc != nil {
				tx.pruneRevisions(svc)
			}
		}
		revIndexes := map[int]uint64{}
		placedBy := map[int]int{}
		for _, pl := range p.Place {
			rev, resources, hostPorts := p.PlacementRevision(pl)
			revIndex, ok := revIndexes[rev]
			if !ok {
				if r, _ := tx.first(tableRevisions, p.Namespace, p.Service, rev).(*api.Revision); r != nil {
					revIndex = r.CreateIndex
				}
				revIndexes[rev] = revIndex
			}
			placedBy[rev]++
			failuresBefore := 0
			if prev := tx.alloc(pl.Previous); prev != nil && prev.Status == api.AllocFailed {
				failuresBefore = prev.FailuresBefore + 1
			}
			tx.putAlloc(nil, &api.Allocation{
				ID: pl.ID, Service: p.Service, Namespace: p.Namespace, Revision: rev, RevisionIndex: revIndex, Node: pl.Node,
				DesiredStatus: api.DesiredRun, Status: api.AllocPending, Resources: resources, HostPorts: hostPorts,
				EvalID: p.EvalID, PreviousAllocation: pl.Previous, FailuresBefore: failuresBefore,
				CreateTime: tx.now, CreateIndex: tx.index,
			})
		}
		for _, rev := range sortedKeys(placedBy) {
			n := placedBy[rev]
			tx.event(api.Event{Type: api.EventAllocationsPlaced, Namespace: p.Namespace, Service: p.Service,
				Message: fmt.Sprintf("placed %d allocation%s of %s/%s revision %d", n, text.Plural(n), p.Namespace, p.Service, rev)})
		}
		if lost > 0 {
			tx.event(api.Event{Type: api.EventAllocationsLost, Namespace: p.Namespace, Service: p.Service,
				Message: fmt.Sprintf("%d allocation%s of %s/%s lost on %s; replacing", lost, text.Plural(lost), p.Namespace, p.Service, joinKeys(lostNodes))})
		}
		if stopped > 0 {
			tx.event(api.Event{Type: api.EventAllocationStopped, Namespace: p.Namespace, Service: p.Service,
				Message: fmt.Sprintf("stopping %d allocation%s of %s/%s", stopped, text.Plural(stopped), p.Namespace, p.Service)})
		}
		tx.cancelEvals(p)
		if p.Eval != nil {
			tx.finishEval(p)
		}
	}
	names := make([]string, 0, len(drained))
	for n := range drained {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		tx.finishDrain(n)
	}
}

// cancelEvals marks the evaluations a plan's superseded as canceled.
func (tx *applyTxn) cancelEvals(p *Plan) {
	for _, id := range p.Canceled {
		if old := tx.eval(id); old != nil && !old.Terminal() {
			e := *old
			e.Status, e.StatusDescription, e.ModifyTime, e.ModifyIndex = api.EvalCanceled, "superseded by "+p.EvalID, tx.now, tx.index
			tx.insert(tableEvals, &e)
		}
	}
}

// finishEval records an evaluation's outcome, and on the service what could
// not be placed.
func (tx *applyTxn) finishEval(p *Plan) {
	o := p.Eval
	if !o.FollowUpAt.IsZero() {
		tx.followUp(p.Namespace, p.Service, o.FollowUpAt)
	}
	if old := tx.eval(p.EvalID); old != nil {
		e := *old
		e.Status, e.StatusDescription = o.Status, o.Description
		e.Placed, e.Stopped, e.Unplaced, e.PlacementFailure = o.Placed, o.Stopped, o.Unplaced, o.PlacementFailure
		e.ModifyTime, e.ModifyIndex = tx.now, tx.index
		tx.insert(tableEvals, &e)
	}
	old := tx.service(p.Namespace, p.Service)
	if old == nil || (old.Unplaced == o.Unplaced && old.PlacementFailure == o.PlacementFailure) {
		return
	}
	svc := *old
	svc.Unplaced, svc.PlacementFailure, svc.ModifyIndex = o.Unplaced, o.PlacementFailure, tx.index
	tx.insert(tableServices, &svc)
	if o.Unplaced > 0 {
		tx.event(api.Event{Type: api.EventPlacementFailed, Namespace: p.Namespace, Service: p.Service,
			Message: fmt.Sprintf("%d replica%s of %s/%s not placed: %s", o.Unplaced, text.Plural(o.Unplaced), p.Namespace, p.Service, o.PlacementFailure)})
	}
}

// followUp makes an evaluation that waits until at, unless one for the
// same time is pending already.
func (tx *applyTxn) followUp(ns, service string, at time.Time) {
	it, err := tx.txn.Get(tableEvals, "service", ns, service)
	if err != nil {
		panic(fmt.Sprintf("raft entry %d: list evaluations: %v", tx.index, err))
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if e := raw.(*api.Evaluation); e.Status == api.EvalPending && e.WaitUntil.Equal(at) {
			return
		}
	}
	tx.newDelayedEval(ns, service, api.TriggerRescheduleDelay, at)
}

// allowedTransition keeps observed states moving forward: a terminal state
// is final, and a restart may take a running allocation back to starting.
func allowedTransition(from, to string) bool {
	switch from {
	case api.AllocFailed, api.AllocLost, api.AllocComplete:
		return false
	}
	switch to {
	case api.AllocPending:
		return from == api.AllocPending
	case api.AllocStarting, api.AllocRunning, api.AllocFailed, api.AllocComplete:
		return true
	}
	return false
}

// replacesDraining reports whether a replaces an allocation still meant
// to run on a draining node (a drain's migration, scheduler/migrate.go).
func (tx *applyTxn) replacesDraining(a *api.Allocation) bool {
	if a.PreviousAllocation == "" {
		return false
	}
	prev := tx.alloc(a.PreviousAllocation)
	if prev == nil || prev.DesiredStatus != api.DesiredRun {
		return false
	}
	n := tx.node(prev.Node)
	return n != nil && n.Status == api.NodeDraining
}

func (tx *applyTxn) allocStatus(c *AllocStatus) {
	failed := map[string]bool{}
	var failedOrder [][2]string
	health := map[string]bool{}
	var healthOrder [][2]string
	for _, u := range c.Updates {
		old := tx.alloc(u.ID)
		if old == nil || old.Node != c.Node || !allowedTransition(old.Status, u.Status) {
			continue
		}
		a := *old
		a.Status, a.StatusMessage, a.Address, a.Restarts = u.Status, u.Message, u.Address, u.Restarts
		a.Ready = u.Ready && u.Status == api.AllocRunning
		if a.Status == old.Status && a.StatusMessage == old.StatusMessage && a.Address == old.Address &&
			a.Restarts == old.Restarts && a.Ready == old.Ready {
			continue
		}
		switch {
		case a.Ready && !old.Ready:
			a.ReadyTime = tx.now
		case !a.Ready:
			a.ReadyTime = time.Time{}
		}
		if a.TerminalStatus() && !old.TerminalStatus() {
			a.FinishTime = tx.now
		}
		tx.putAllocStatus(old, &a)
		if (a.Ready != old.Ready || a.Status != old.Status) && a.DesiredStatus == api.DesiredRun && !health[a.ServiceKey()] {
			// A running rollout decides on replicas' health, and so does
			// one ramping back after an abort or a rollback.
			// So does a drain moving a replica: it stops once this one,
			// its replacement, is ready.
			if r := tx.rollout(a.Namespace, a.Service); r != nil && (r.Active() || r.Ramping()) || tx.replacesDraining(&a) {
				health[a.ServiceKey()] = true
				healthOrder = append(healthOrder, [2]string{a.Namespace, a.Service})
			}
		}
		if a.Status == api.AllocFailed && old.Status != api.AllocFailed {
			tx.event(api.Event{Type: api.EventAllocationFailed, Namespace: a.Namespace, Service: a.Service, Node: a.Node, Allocation: a.ID,
				Message: fmt.Sprintf("allocation %s of %s/%s failed on %s: %s", a.ID, a.Namespace, a.Service, a.Node, u.Message)})
			if a.DesiredStatus == api.DesiredRun && !failed[a.ServiceKey()] {
				failed[a.ServiceKey()] = true
				failedOrder = append(failedOrder, [2]string{a.Namespace, a.Service})
			}
			tx.noticeCrashLoop(&a)
		}
	}
	for _, s := range failedOrder {
		tx.newEval(s[0], s[1], api.TriggerAllocFailure, c.Node)
	}
	for _, s := range healthOrder {
		if !failed[s[0]+"/"+s[1]] {
			tx.newEval(s[0], s[1], api.TriggerAllocHealth, c.Node)
		}
	}
	for _, e := range c.Events {
		a := tx.alloc(e.Allocation)
		if a == nil || a.Node != c.Node || !api.AgentEventTypes[e.Type] {
			continue
		}
		tx.event(api.Event{Type: e.Type, Namespace: a.Namespace, Service: a.Service, Node: a.Node, Allocation: a.ID,
			Message: fmt.Sprintf("%s/%s %s on %s: %s", a.Namespace, a.Service, a.ID, a.Node, e.Message)})
		if e.Type == api.EventLivenessKilled {
			tx.noticeUnhealthy(a)
		}
	}
	tx.finishDrain(c.Node)
}

// allocStatusBatch applies each agent's report as CmdAllocStatus would,
// remembering each one's request ID; a report whose ID was applied before
// (a client's retry that reached the leader twice) is skipped.
func (tx *applyTxn) allocStatusBatch(c *AllocStatusBatch) {
	for i := range c.Batches {
		b := c.Batches[i]
		if b.RequestID != "" && tx.first(tableRequests, b.RequestID) != nil {
			continue
		}
		b.Time = c.Time
		tx.allocStatus(&b)
		if b.RequestID != "" {
			// Remembered as the single write it was sent as.
			tx.request, tx.requestType = b.RequestID, CmdAllocStatus
			tx.remember(nil)
			tx.request = ""
		}
	}
}

// Repeated liveness failures of one service within unhealthyWindow make a
// ServiceUnhealthy event when they reach unhealthyCount allocations.
const (
	unhealthyWindow = time.Minute
	unhealthyCount  = 3
)

// noticeUnhealthy counts the service's allocations that failed liveness in
// the last minute (the event just recorded included) and says so once
// they reach the threshold.
func (tx *applyTxn) noticeUnhealthy(a *api.Allocation) {
	it, err := tx.txn.GetReverse(tableEvents, "id")
	if err != nil {
		panic(fmt.Sprintf("raft entry %d: list events: %v", tx.index, err))
	}
	allocs := map[string]bool{}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		e := raw.(*api.Event)
		if tx.now.Sub(e.Time) > unhealthyWindow {
			break
		}
		if e.Type == api.EventLivenessKilled && e.Namespace == a.Namespace && e.Service == a.Service {
			allocs[e.Allocation] = true
		}
	}
	if len(allocs) == unhealthyCount {
		tx.event(api.Event{Type: api.EventServiceUnhealthy, Namespace: a.Namespace, Service: a.Service,
			Message: fmt.Sprintf("%s: %d allocations failed liveness in %s", a.Service, unhealthyCount, api.Duration(unhealthyWindow))})
	}
}

// CrashLoopWindow and CrashLoopCount: a service with this many failed
// allocations within the window is crash-looping.
const (
	CrashLoopWindow = 5 * time.Minute
	CrashLoopCount  = 3
)

// CrashLoop counts a service's allocations that failed within
// CrashLoopWindow before now.
func CrashLoop(allocs []*api.Allocation, now time.Time) int {
	n := 0
	for _, a := range allocs {
		if a.Status == api.AllocFailed && now.Sub(a.ModifyTime) < CrashLoopWindow {
			n++
		}
	}
	return n
}

// noticeCrashLoop says once, when a service's failed allocations within
// the window reach CrashLoopCount, that it is unhealthy.
func (tx *applyTxn) noticeCrashLoop(a *api.Allocation) {
	if CrashLoop(tx.allocsOf("service", a.Namespace, a.Service), tx.now) == CrashLoopCount {
		tx.event(api.Event{Type: api.EventServiceUnhealthy, Namespace: a.Namespace, Service: a.Service,
			Message: fmt.Sprintf("%s: crash loop: %d allocations failed within %s (the last: %s); replacements now back off",
				a.Service, CrashLoopCount, api.Duration(CrashLoopWindow), a.StatusMessage)})
	}
}

func (tx *applyTxn) gc(c *GC) {
	for _, id := range c.Allocations {
		if a := tx.alloc(id); a != nil && a.Terminal() {
			tx.delete(tableAllocs, a)
			tx.countAlloc(a, nil)
			tx.allocNodes = setAdd(tx.allocNodes, a.Node)
			tx.runNodes = setAdd(tx.runNodes, a.Node)
		}
	}
	for _, id := range c.Evaluations {
		if e := tx.eval(id); e != nil && e.Terminal() {
			tx.delete(tableEvals, e)
		}
	}
}

func sortedKeys(m map[int]int) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

func joinKeys(m map[string]bool) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := ""
	for i, k := range keys {
		if i > 0 {
			out += ", "
		}
		out += k
	}
	return out
}
