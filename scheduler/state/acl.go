package state

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/hashicorp/go-memdb"

	"flotilla/api"
)

// ACL policies and tokens. A token's secret never enters the Raft log: the
// leader makes it, the commands carry its SHA-256 (HashSecret), and a
// request's token is found by the hash of what it sent.

const (
	tableACLPolicies = "acl_policies"
	tableACLTokens   = "acl_tokens"
	// aclBootstrapKey, in the index table, is the Raft index of the
	// bootstrap: there is only one.
	aclBootstrapKey = "acl-bootstrap"
)

// ACL commands.
const (
	CmdACLUpsertPolicy CommandType = IgnoreUnknownTypeFlag | 40
	CmdACLDeletePolicy CommandType = IgnoreUnknownTypeFlag | 41
	CmdACLCreateToken  CommandType = IgnoreUnknownTypeFlag | 42
	CmdACLDeleteToken  CommandType = IgnoreUnknownTypeFlag | 43
	CmdACLBootstrap    CommandType = IgnoreUnknownTypeFlag | 44
)

// ACLTokenEntry is a token as the state keeps it: without its secret
// (Token.SecretID is always empty), with the secret's hash.
type ACLTokenEntry struct {
	Token      api.ACLToken `json:"token"`
	SecretHash string       `json:"secretHash"`
}

// HashSecret is what the state keeps of a token's secret.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// ACLUpsertPolicy creates or replaces a policy (its rules checked by the
// leader).
type ACLUpsertPolicy struct {
	Policy    api.ACLPolicy
	Time      time.Time
	RequestID string `json:",omitempty"`
}

// ACLDeletePolicy deletes a policy; tokens that name it lose what it gave.
type ACLDeletePolicy struct {
	Name      string
	Time      time.Time
	RequestID string `json:",omitempty"`
}

// ACLCreateToken stores a new token. Every policy it names must exist.
type ACLCreateToken struct {
	Token ACLTokenEntry
	Time  time.Time
}

// ACLDeleteToken deletes a token by accessor ID.
type ACLDeleteToken struct {
	AccessorID string
	Time       time.Time
	RequestID  string `json:",omitempty"`
}

// ACLBootstrap stores the first management token; refused once done.
type ACLBootstrap struct {
	Token ACLTokenEntry
	Time  time.Time
}

func aclTableSchemas() map[string]*memdb.TableSchema {
	return map[string]*memdb.TableSchema{
		tableACLPolicies: {Name: tableACLPolicies, Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: keyIndex{func(o any) string { return o.(*api.ACLPolicy).Name }}},
		}},
		tableACLTokens: {Name: tableACLTokens, Indexes: map[string]*memdb.IndexSchema{
			"id":     {Name: "id", Unique: true, Indexer: keyIndex{func(o any) string { return o.(*ACLTokenEntry).Token.AccessorID }}},
			"secret": {Name: "secret", Unique: true, Indexer: keyIndex{func(o any) string { return o.(*ACLTokenEntry).SecretHash }}},
		}},
	}
}

// applyACL applies the ACL commands. A replayed request answers what
// the first one did (tx.replay).
func (tx *applyTxn) applyACL(t CommandType, body []byte) (any, error) {
	switch t {
	case CmdACLUpsertPolicy:
		var c ACLUpsertPolicy
		decode(t, body, &c)
		tx.now = c.Time
		if r, ok := tx.replay(t, c.RequestID); ok {
			return r, nil
		}
		return nil, tx.aclUpsertPolicy(&c)
	case CmdACLDeletePolicy:
		var c ACLDeletePolicy
		decode(t, body, &c)
		tx.now = c.Time
		if r, ok := tx.replay(t, c.RequestID); ok {
			return r, nil
		}
		return nil, tx.aclDeletePolicy(&c)
	case CmdACLCreateToken:
		var c ACLCreateToken
		decode(t, body, &c)
		tx.now = c.Time
		return nil, tx.aclCreateToken(&c.Token, false)
	case CmdACLDeleteToken:
		var c ACLDeleteToken
		decode(t, body, &c)
		tx.now = c.Time
		if r, ok := tx.replay(t, c.RequestID); ok {
			return r, nil
		}
		return nil, tx.aclDeleteToken(&c)
	case CmdACLBootstrap:
		var c ACLBootstrap
		decode(t, body, &c)
		tx.now = c.Time
		return nil, tx.aclCreateToken(&c.Token, true)
	}
	panic(fmt.Sprintf("raft entry %d: %s is not an ACL command", tx.index, t))
}

func (tx *applyTxn) aclUpsertPolicy(c *ACLUpsertPolicy) error {
	p := c.Policy
	if p.Name == "" {
		return &api.FieldError{Field: "name", Message: "required"}
	}
	p.CreateIndex, p.ModifyIndex = tx.index, tx.index
	if raw := tx.first(tableACLPolicies, p.Name); raw != nil {
		p.CreateIndex = raw.(*api.ACLPolicy).CreateIndex
	}
	tx.insert(tableACLPolicies, &p)
	return nil
}

func (tx *applyTxn) aclDeletePolicy(c *ACLDeletePolicy) error {
	raw := tx.first(tableACLPolicies, c.Name)
	if raw == nil {
		return fmt.Errorf("ACL policy %q: %w", c.Name, api.ErrNotFound)
	}
	tx.delete(tableACLPolicies, raw)
	return nil
}

func (tx *applyTxn) aclCreateToken(entry *ACLTokenEntry, bootstrap bool) error {
	if bootstrap {
		if at := tx.getIndex(aclBootstrapKey); at != 0 {
			return &api.FieldError{Message: fmt.Sprintf("ACL bootstrap already done (at index %d): the cluster has its first management token; create more with flotilla acl token create --type management", at)}
		}
	}
	e := *entry
	e.Token.SecretID = "" // never stored
	if e.Token.AccessorID == "" || e.SecretHash == "" {
		return &api.FieldError{Field: "accessorID", Message: "a token needs an accessor ID and a secret"}
	}
	if tx.first(tableACLTokens, e.Token.AccessorID) != nil {
		return fmt.Errorf("ACL token accessor %s exists: %w", e.Token.AccessorID, api.ErrConflict)
	}
	if raw, err := tx.txn.First(tableACLTokens, "secret", e.SecretHash); err != nil || raw != nil {
		return fmt.Errorf("a token with this secret exists: %w", api.ErrConflict)
	}
	for i, name := range e.Token.Policies {
		if tx.first(tableACLPolicies, name) == nil {
			return &api.FieldError{Field: fmt.Sprintf("policies[%d]", i), Message: fmt.Sprintf("no policy named %q (create it first: flotilla acl policy create %s -f RULES)", name, name)}
		}
	}
	e.Token.Policies = append([]string{}, e.Token.Policies...)
	e.Token.CreateTime = tx.now
	e.Token.CreateIndex, e.Token.ModifyIndex = tx.index, tx.index
	tx.insert(tableACLTokens, &e)
	if bootstrap {
		tx.insert(tableIndex, &IndexEntry{Key: aclBootstrapKey, Value: tx.index})
	}
	return nil
}

func (tx *applyTxn) aclDeleteToken(c *ACLDeleteToken) error {
	raw := tx.first(tableACLTokens, c.AccessorID)
	if raw == nil {
		return fmt.Errorf("ACL token %s: %w", c.AccessorID, api.ErrNotFound)
	}
	if t := raw.(*ACLTokenEntry).Token; t.Type == api.TokenManagement && !t.Expired(c.Time) && !tx.anotherManagementToken(t.AccessorID, c.Time) {
		// Bootstrap is done once: nobody could manage ACLs again.
		return &api.FieldError{Field: "accessorID", Message: fmt.Sprintf("token %s is the cluster's last management token: deleting it would lock everyone out of ACLs (create another management token first)", t.AccessorID)}
	}
	tx.delete(tableACLTokens, raw)
	return nil
}

// anotherManagementToken reports whether a management token other than
// accessor is valid at now.
func (tx *applyTxn) anotherManagementToken(accessor string, now time.Time) bool {
	return managementTokenBesides(tx.txn, accessor, now)
}

// HasManagementToken reports whether the state holds a management token
// valid at now (a restore checks the state it would bring).
func (s *Snapshot) HasManagementToken(now time.Time) bool {
	return managementTokenBesides(s.txn, "", now)
}

// managementTokenBesides reports whether a management token other than
// accessor is valid at now.
func managementTokenBesides(txn *memdb.Txn, accessor string, now time.Time) bool {
	it, err := txn.Get(tableACLTokens, "id")
	if err != nil {
		panic(err) // the index exists
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		t := raw.(*ACLTokenEntry).Token
		if t.AccessorID != accessor && t.Type == api.TokenManagement && !t.Expired(now) {
			return true
		}
	}
	return false
}

// ACLPolicies is every policy, by name.
func (s *Snapshot) ACLPolicies(ws memdb.WatchSet) []*api.ACLPolicy {
	return list[api.ACLPolicy](s, ws, tableACLPolicies, "id")
}

// ACLPolicy is one policy, or nil.
func (s *Snapshot) ACLPolicy(ws memdb.WatchSet, name string) *api.ACLPolicy {
	return first[api.ACLPolicy](s, ws, tableACLPolicies, name)
}

// ACLTokens is every token (without secrets), by accessor ID.
func (s *Snapshot) ACLTokens(ws memdb.WatchSet) []*ACLTokenEntry {
	return list[ACLTokenEntry](s, ws, tableACLTokens, "id")
}

// ACLToken is one token by accessor ID, or nil.
func (s *Snapshot) ACLToken(ws memdb.WatchSet, accessor string) *ACLTokenEntry {
	return first[ACLTokenEntry](s, ws, tableACLTokens, accessor)
}

// ACLTokenBySecret is the token whose secret is given, or nil.
func (s *Snapshot) ACLTokenBySecret(secret string) *ACLTokenEntry {
	raw, err := s.txn.First(tableACLTokens, "secret", HashSecret(secret))
	if err != nil || raw == nil {
		return nil
	}
	return raw.(*ACLTokenEntry)
}

// ACLBootstrapIndex is the Raft index of the ACL bootstrap, 0 before it.
func (s *Snapshot) ACLBootstrapIndex() uint64 { return s.Index(aclBootstrapKey) }

// ACLIndex is the newest Raft index that changed a policy or a token.
func (s *Snapshot) ACLIndex(ws memdb.WatchSet) uint64 {
	return max(s.WatchIndex(ws, tableACLPolicies), s.WatchIndex(ws, tableACLTokens))
}
