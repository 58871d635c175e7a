package state

import (
	"fmt"
	"maps"

	"github.com/hashicorp/go-memdb"

	"flotilla/api"
)

// tableServiceCounts holds each service's ServiceCounts. It is derived
// from the allocations (written with them, in the same transaction, so a
// snapshot's counts are its allocations'), not stored in Raft snapshots:
// a restore counts again.
const tableServiceCounts = "service_counts"

// derivedTables are the tables a snapshot leaves out and a restore
// rebuilds.
var derivedTables = []string{tableServiceCounts}

// ServiceCounts is what a service's allocations add up to, as Nomad's job
// summaries are: reading a service's replicas running and ready from it
// takes no walk over its allocations (100,000 of them took 61 ms per read,
// for every watcher of the service list woken by every report).
type ServiceCounts struct {
	Namespace, Service string
	// Revisions counts, per revision, the allocations meant to run
	// (DesiredStatus run) that are running, and those of them ready.
	Revisions map[int]RevisionCounts
	// Failed counts the allocations whose status is failed, whatever
	// their desired status: only when there are some do the crash loop
	// checks read the allocations themselves.
	Failed int
	// ModifyIndex is the Raft index of the entry that last wrote or
	// deleted one of the service's allocations (after a restore, the
	// newest entry that wrote any allocation).
	ModifyIndex uint64
}

// RevisionCounts are one revision's replicas meant to run that run, and
// those of them ready.
type RevisionCounts struct {
	Running, Ready int
}

// add counts a (once with sign 1, or takes it back with -1).
func (c *ServiceCounts) add(a *api.Allocation, sign int) {
	if a == nil {
		return
	}
	if a.Status == api.AllocFailed {
		c.Failed += sign
	}
	if a.DesiredStatus != api.DesiredRun || a.Status != api.AllocRunning {
		return
	}
	r := c.Revisions[a.Revision]
	r.Running += sign
	if a.Ready {
		r.Ready += sign
	}
	if r == (RevisionCounts{}) {
		delete(c.Revisions, a.Revision)
	} else {
		c.Revisions[a.Revision] = r
	}
}

func serviceCountsSchema() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableServiceCounts, Indexes: map[string]*memdb.IndexSchema{
		"id": {Name: "id", Unique: true, Indexer: keyIndex{func(o any) string {
			c := o.(*ServiceCounts)
			return serviceKey(c.Namespace, c.Service)
		}}},
	}}
}

// countAlloc records that the entry replaces old with updated (either
// may be nil) in its service's counts; the counts are written once, when
// the entry commits (writeCounts).
func (tx *applyTxn) countAlloc(old, updated *api.Allocation) {
	a := updated
	if a == nil {
		a = old
	}
	c := tx.lastCounts
	if c == nil || c.Namespace != a.Namespace || c.Service != a.Service {
		key := serviceKey(a.Namespace, a.Service)
		if c = tx.counts[key]; c == nil {
			c = &ServiceCounts{Namespace: a.Namespace, Service: a.Service, Revisions: map[int]RevisionCounts{}}
			if raw := tx.first(tableServiceCounts, a.Namespace, a.Service); raw != nil {
				prev := raw.(*ServiceCounts)
				c.Revisions, c.Failed = maps.Clone(prev.Revisions), prev.Failed
			}
			if tx.counts == nil {
				tx.counts = map[string]*ServiceCounts{}
			}
			tx.counts[key] = c
		}
		tx.lastCounts = c
	}
	c.add(old, -1)
	c.add(updated, 1)
	c.ModifyIndex = tx.index
}

// writeCounts stores the counts the entry changed.
func (tx *applyTxn) writeCounts() {
	for _, c := range tx.counts {
		if err := tx.txn.Insert(tableServiceCounts, c); err != nil {
			panic(fmt.Sprintf("raft entry %d: insert into %s: %v", tx.index, tableServiceCounts, err))
		}
	}
}

// rebuildServiceCounts counts every service's allocations again, into a
// restored state's transaction.
func rebuildServiceCounts(txn *memdb.Txn) error {
	var index uint64
	if raw, err := txn.First(tableIndex, "id", tableAllocs); err == nil && raw != nil {
		index = raw.(*IndexEntry).Value
	}
	counts := map[string]*ServiceCounts{}
	it, err := txn.Get(tableAllocs, "id")
	if err != nil {
		return err
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		a := raw.(*api.Allocation)
		key := serviceKey(a.Namespace, a.Service)
		c := counts[key]
		if c == nil {
			c = &ServiceCounts{Namespace: a.Namespace, Service: a.Service, Revisions: map[int]RevisionCounts{}, ModifyIndex: index}
			counts[key] = c
		}
		c.add(a, 1)
	}
	for _, c := range counts {
		if err := txn.Insert(tableServiceCounts, c); err != nil {
			return err
		}
	}
	return nil
}

// ServiceCounts returns what a service's allocations add up to, watching
// them; a service with none has zero counts.
func (s *Snapshot) ServiceCounts(ws memdb.WatchSet, namespace, name string) ServiceCounts {
	if c := first[ServiceCounts](s, ws, tableServiceCounts, namespace, name); c != nil {
		return *c
	}
	return ServiceCounts{Namespace: namespace, Service: name}
}
