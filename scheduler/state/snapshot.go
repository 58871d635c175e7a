package state

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	"github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"

	"flotilla/api"
)

// snapshotHeader starts every snapshot so that a future format can be told
// apart.
type snapshotHeader struct {
	Format   int    `json:"format"`
	Flotilla string `json:"flotilla"`
}

// snapshotRecord is one object of one table, one JSON line each.
type snapshotRecord struct {
	Table    string        `json:"t"`
	Service  *api.Service  `json:"service,omitempty"`
	Revision *api.Revision `json:"revision,omitempty"`
	Node     *api.Node     `json:"node,omitempty"`
	// NodeSecretHash is Node's SecretHash, which the node's JSON leaves
	// out (it is never in an answer).
	NodeSecretHash string          `json:"nodeSecretHash,omitempty"`
	Allocation     *api.Allocation `json:"alloc,omitempty"`
	Evaluation     *api.Evaluation `json:"eval,omitempty"`
	Event          *api.Event      `json:"event,omitempty"`
	Rollout        *api.Rollout    `json:"rollout,omitempty"`
	Index          *IndexEntry     `json:"index,omitempty"`
	Request        *RequestRecord  `json:"request,omitempty"`
	// Configs, secrets (sealed) and keyring keys (wrapped).
	Config     *api.Config    `json:"config,omitempty"`
	Secret     *StoredSecret  `json:"secret,omitempty"`
	KeyringKey *KeyringEntry  `json:"keyringKey,omitempty"`
	ACLPolicy  *api.ACLPolicy `json:"aclPolicy,omitempty"`
	ACLToken   *ACLTokenEntry `json:"aclToken,omitempty"`
	// The workload CA (its key sealed).
	WorkloadCA *StoredCA `json:"workloadCA,omitempty"`
}

// snapshotTables lists every table but the derived ones in the order they
// are written and restored; a test checks that none is missing.
var snapshotTables = []string{tableIndex, tableNodes, tableServices, tableRevisions, tableAllocs, tableEvals, tableEvents, tableRollouts, tableRequests,
	tableConfigs, tableSecrets, tableKeyring, tableACLPolicies, tableACLTokens, tableWorkloadCA}

// fsmSnapshot is a point-in-time view to persist; taking it is cheap
// because memdb transactions are immutable.
type fsmSnapshot struct{ snap *Snapshot }

// Snapshot captures the state for Raft.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{snap: f.store.Snapshot()}, nil
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.snap.Write(sink); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}

// Write serialises every table as JSON lines.
func (s *Snapshot) Write(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(snapshotHeader{Format: 1, Flotilla: "state"}); err != nil {
		return fmt.Errorf("write snapshot header: %w", err)
	}
	for _, table := range snapshotTables {
		it, err := s.txn.Get(table, "id")
		if err != nil {
			return fmt.Errorf("snapshot %s: %w", table, err)
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			rec := snapshotRecord{Table: table}
			switch o := raw.(type) {
			case *api.Service:
				rec.Service = o
			case *api.Revision:
				rec.Revision = o
			case *api.Node:
				rec.Node, rec.NodeSecretHash = o, o.SecretHash
			case *api.Allocation:
				rec.Allocation = o
			case *api.Evaluation:
				rec.Evaluation = o
			case *api.Event:
				rec.Event = o
			case *api.Rollout:
				rec.Rollout = o
			case *IndexEntry:
				rec.Index = o
			case *RequestRecord:
				rec.Request = o
			case *api.Config:
				rec.Config = o
			case *StoredSecret:
				rec.Secret = o
			case *KeyringEntry:
				rec.KeyringKey = o
			case *api.ACLPolicy:
				rec.ACLPolicy = o
			case *ACLTokenEntry:
				rec.ACLToken = o
			case *StoredCA:
				rec.WorkloadCA = o
			default:
				return fmt.Errorf("snapshot %s: unexpected %T", table, raw)
			}
			if err := enc.Encode(&rec); err != nil {
				return fmt.Errorf("snapshot %s: %w", table, err)
			}
		}
	}
	return bw.Flush()
}

// Restore replaces the whole state with a snapshot's.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		return err
	}
	txn := db.Txn(true)
	dec := json.NewDecoder(bufio.NewReaderSize(rc, 1<<16))
	var header snapshotHeader
	if err := dec.Decode(&header); err != nil || header.Format != 1 {
		txn.Abort()
		return fmt.Errorf("restore snapshot: bad header (format %d): %v", header.Format, err)
	}
	for {
		var rec snapshotRecord
		if err := dec.Decode(&rec); err == io.EOF {
			break
		} else if err != nil {
			txn.Abort()
			return fmt.Errorf("restore snapshot: %w", err)
		}
		var obj any
		switch {
		case rec.Service != nil:
			obj = rec.Service
		case rec.Revision != nil:
			obj = rec.Revision
		case rec.Node != nil:
			rec.Node.SecretHash = rec.NodeSecretHash
			obj = rec.Node
		case rec.Allocation != nil:
			obj = rec.Allocation
		case rec.Evaluation != nil:
			obj = rec.Evaluation
		case rec.Event != nil:
			obj = rec.Event
		case rec.Rollout != nil:
			obj = rec.Rollout
		case rec.Index != nil:
			obj = rec.Index
		case rec.Request != nil:
			obj = rec.Request
		case rec.Config != nil:
			obj = rec.Config
		case rec.Secret != nil:
			obj = rec.Secret
		case rec.KeyringKey != nil:
			obj = rec.KeyringKey
		case rec.ACLPolicy != nil:
			obj = rec.ACLPolicy
		case rec.ACLToken != nil:
			obj = rec.ACLToken
		case rec.WorkloadCA != nil:
			obj = rec.WorkloadCA
		default:
			txn.Abort()
			return fmt.Errorf("restore snapshot: empty record of table %q", rec.Table)
		}
		if err := txn.Insert(rec.Table, obj); err != nil {
			txn.Abort()
			return fmt.Errorf("restore snapshot: %s: %w", rec.Table, err)
		}
	}
	if err := rebuildServiceCounts(txn); err != nil {
		txn.Abort()
		return fmt.Errorf("restore snapshot: count services: %w", err)
	}
	txn.Commit()
	f.store.replace(db)
	f.notifyRestoredKeys()
	return nil
}
