package state

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hashicorp/go-memdb"

	"flotilla/api"
)

// tableRequests remembers the request IDs of applied client writes.
const tableRequests = "requests"

// How long and how many applied request IDs are remembered: a client
// retries within seconds, so ten minutes is plenty; the window in log
// entries bounds the table when writes come fast.
const (
	RequestMemory = 10 * time.Minute
	RequestWindow = 16384
)

// RequestRecord is one applied client write: its ID, its command type, the
// log index that applied it and what it answered.
type RequestRecord struct {
	ID     string
	Type   CommandType
	Index  uint64
	Time   time.Time
	Result json.RawMessage `json:",omitempty"`
}

func requestsTableSchema() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableRequests, Indexes: map[string]*memdb.IndexSchema{
		"id": {Name: "id", Unique: true, Indexer: keyIndex{func(o any) string { return o.(*RequestRecord).ID }}},
		// Not unique: one entry of coalesced agent reports remembers
		// several request IDs at its index.
		"index": {Name: "index", Indexer: uintIndex{func(o any) uint64 { return o.(*RequestRecord).Index }}},
	}}
}

// replay looks a command's request ID up. When it was applied before, the
// transaction is dropped and the first answer returned; otherwise the ID is
// kept to be remembered once the command applies.
func (tx *applyTxn) replay(t CommandType, id string) (any, bool) {
	if id == "" {
		return nil, false
	}
	tx.request, tx.requestType = id, t
	raw := tx.first(tableRequests, id)
	if raw == nil {
		return nil, false
	}
	tx.txn.Abort()
	tx.replayed = true
	rec := raw.(*RequestRecord)
	if rec.Type != t {
		return fmt.Errorf("request ID %s was used for a %s write, not a %s: %w", id, rec.Type, t, api.ErrConflict), true
	}
	var result any
	if len(rec.Result) > 0 {
		r := new(UpsertServiceResult) // the one result type writes answer
		decode(t, rec.Result, r)
		result = r
	}
	return &Replayed{Index: rec.Index, Result: result}, true
}

// remember records the applied request with its result and forgets the
// requests that fell out of memory.
func (tx *applyTxn) remember(result any) {
	if tx.request == "" {
		return
	}
	rec := &RequestRecord{ID: tx.request, Type: tx.requestType, Index: tx.index, Time: tx.now}
	if r, ok := result.(*UpsertServiceResult); ok && r != nil {
		b, err := json.Marshal(r)
		if err != nil {
			panic(fmt.Sprintf("raft entry %d: encode result: %v", tx.index, err))
		}
		rec.Result = b
	}
	it, err := tx.txn.Get(tableRequests, "index")
	if err != nil {
		panic(fmt.Sprintf("raft entry %d: read %s: %v", tx.index, tableRequests, err))
	}
	var old []any
	for raw := it.Next(); raw != nil; raw = it.Next() {
		r := raw.(*RequestRecord)
		if r.Index+RequestWindow > tx.index && r.Time.Add(RequestMemory).After(tx.now) {
			break // oldest first: the rest are newer
		}
		old = append(old, raw)
	}
	for _, raw := range old {
		tx.delete(tableRequests, raw)
	}
	tx.insert(tableRequests, rec)
}

// Request is the record of an applied request ID, or nil.
func (s *Snapshot) Request(id string) *RequestRecord {
	return first[RequestRecord](s, nil, tableRequests, id)
}
