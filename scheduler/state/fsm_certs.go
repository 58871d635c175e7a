package state

import (
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/go-memdb"

	"flotilla/api"
)

// tableWorkloadCA holds one row: the workload CA.
const tableWorkloadCA = "workloadca"

// workloadCAKey is the one row's key.
const workloadCAKey = "ca"

// StoredCA is the workload CA as Raft and the state keep it: its
// certificate in the clear, its key sealed (storage.Keyring) under key
// KeyID.
type StoredCA struct {
	CertPEM     string
	Fingerprint string
	Subject     string
	NotAfter    time.Time
	KeyID       string
	SealedKey   []byte
	Source      string
	CreateTime  time.Time
	ModifyTime  time.Time
	CreateIndex uint64
	ModifyIndex uint64
}

func workloadCATableSchema() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableWorkloadCA, Indexes: map[string]*memdb.IndexSchema{
		"id": {Name: "id", Unique: true, Indexer: keyIndex{func(o any) string { return workloadCAKey }}},
	}}
}

// SetWorkloadCAResult says whether a SetWorkloadCA stored its CA.
type SetWorkloadCAResult struct {
	Stored bool
	// Previous is the fingerprint of the CA it replaced ("" for none).
	Previous string
}

// applyCerts applies the commands of the workload CA. A replayed request
// answers what the first one did (tx.replay).
func (tx *applyTxn) applyCerts(t CommandType, body []byte) any {
	switch t {
	case CmdSetWorkloadCA:
		var c SetWorkloadCA
		decode(t, body, &c)
		tx.now = c.Time
		if r, ok := tx.replay(t, c.RequestID); ok {
			return r
		}
		return tx.setWorkloadCA(&c)
	case CmdResealWorkloadCA:
		var c ResealWorkloadCA
		decode(t, body, &c)
		tx.now = c.Time
		return tx.resealWorkloadCA(&c)
	}
	return nil
}

func (tx *applyTxn) workloadCA() *StoredCA {
	if raw := tx.first(tableWorkloadCA, workloadCAKey); raw != nil {
		return raw.(*StoredCA)
	}
	return nil
}

func (tx *applyTxn) setWorkloadCA(c *SetWorkloadCA) *SetWorkloadCAResult {
	old := tx.workloadCA()
	if old != nil && c.IfMissing {
		return &SetWorkloadCAResult{}
	}
	ca := &StoredCA{CertPEM: c.CertPEM, Fingerprint: c.Fingerprint, Subject: c.Subject, NotAfter: c.NotAfter,
		KeyID: c.KeyID, SealedKey: slices.Clone(c.SealedKey), Source: c.Source,
		CreateTime: tx.now, ModifyTime: tx.now, CreateIndex: tx.index, ModifyIndex: tx.index}
	res := &SetWorkloadCAResult{Stored: true}
	msg := fmt.Sprintf("workload CA %q generated (SHA-256 %s)", c.Subject, short(c.Fingerprint))
	if old != nil {
		ca.CreateTime, ca.CreateIndex = old.CreateTime, old.CreateIndex
		res.Previous = old.Fingerprint
		msg = fmt.Sprintf("workload CA replaced by %q (%s, SHA-256 %s; was %s): replicas get certificates of it as they renew", c.Subject, c.Source, short(c.Fingerprint), short(old.Fingerprint))
	} else if c.Source == api.CASourceSupplied {
		msg = fmt.Sprintf("workload CA %q supplied by an operator (SHA-256 %s)", c.Subject, short(c.Fingerprint))
	}
	tx.insert(tableWorkloadCA, ca)
	tx.event(api.Event{Type: api.EventWorkloadCAChanged, Message: msg})
	return res
}

func short(fingerprint string) string {
	if len(fingerprint) > 16 {
		return fingerprint[:16]
	}
	return fingerprint
}

// resealWorkloadCA reports whether it stored the key sealed again.
func (tx *applyTxn) resealWorkloadCA(c *ResealWorkloadCA) bool {
	old := tx.workloadCA()
	if old == nil || old.ModifyIndex != c.ModifyIndex {
		return false
	}
	ca := *old
	ca.KeyID, ca.SealedKey = c.KeyID, slices.Clone(c.SealedKey)
	tx.insert(tableWorkloadCA, &ca)
	return true
}

// WorkloadCA returns the workload CA as stored (its key sealed), or nil.
func (s *Snapshot) WorkloadCA(ws memdb.WatchSet) *StoredCA {
	return first[StoredCA](s, ws, tableWorkloadCA, workloadCAKey)
}
