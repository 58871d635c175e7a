package state

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/hashicorp/go-memdb"

	"flotilla/api"
	"flotilla/internal/text"
)

// Tables of configs, secrets and the keyring's wrapped keys.
const (
	tableConfigs = "configs"
	tableSecrets = "secrets"
	tableKeyring = "keyring"
)

// StoredSecret is a secret as Raft and the state keep it: its values
// sealed (storage.Keyring) under key KeyID.
type StoredSecret struct {
	Namespace, Name string
	Keys            []api.SecretKey
	Hash            string
	KeyID           string
	Sealed          []byte
	CreateTime      time.Time
	ModifyTime      time.Time
	CreateIndex     uint64
	ModifyIndex     uint64
}

// Info is the secret as lists show it: no values.
func (s *StoredSecret) Info() *api.Secret {
	return &api.Secret{Name: s.Name, Namespace: s.Namespace, Keys: slices.Clone(s.Keys), Hash: s.Hash, KeyID: s.KeyID,
		CreateTime: s.CreateTime, ModifyTime: s.ModifyTime, CreateIndex: s.CreateIndex, ModifyIndex: s.ModifyIndex}
}

// KeyringEntry is a keyring key as Raft carries it: wrapped under key
// WrappedBy. Active marks the key new secrets are sealed under.
type KeyringEntry struct {
	ID          string
	Wrapped     []byte
	WrappedBy   string
	Active      bool
	CreateTime  time.Time
	CreateIndex uint64
}

func objectKey(ns, name string) string { return ns + "\x00" + name }

func configsTableSchema() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableConfigs, Indexes: map[string]*memdb.IndexSchema{
		"id": {Name: "id", Unique: true, Indexer: keyIndex{func(o any) string { c := o.(*api.Config); return objectKey(c.Namespace, c.Name) }}},
	}}
}

func secretsTableSchema() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableSecrets, Indexes: map[string]*memdb.IndexSchema{
		"id": {Name: "id", Unique: true, Indexer: keyIndex{func(o any) string { s := o.(*StoredSecret); return objectKey(s.Namespace, s.Name) }}},
	}}
}

func keyringTableSchema() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableKeyring, Indexes: map[string]*memdb.IndexSchema{
		"id":     {Name: "id", Unique: true, Indexer: keyIndex{func(o any) string { return o.(*KeyringEntry).ID }}},
		"create": {Name: "create", Indexer: uintIndex{func(o any) uint64 { return o.(*KeyringEntry).CreateIndex }}},
	}}
}

// SetKeyringHook sets the function told about keyring keys an entry (or a
// restored snapshot) brought, oldest first: each server unwraps them into
// its own keyring file.
func (f *FSM) SetKeyringHook(fn func([]*KeyringEntry)) {
	f.mu.Lock()
	f.onKeys = fn
	f.mu.Unlock()
}

func (f *FSM) notifyKeys(keys []*KeyringEntry) {
	if len(keys) == 0 {
		return
	}
	f.mu.Lock()
	hook := f.onKeys
	f.mu.Unlock()
	if hook != nil {
		hook(keys)
	}
}

// notifyRestoredKeys tells the hook every key a restored state holds.
func (f *FSM) notifyRestoredKeys() {
	f.notifyKeys(f.store.Snapshot().KeyringEntries())
}

// applyFiles applies the commands of configs, secrets and the keyring.
// A replayed request answers what the first one did (tx.replay).
func (tx *applyTxn) applyFiles(t CommandType, body []byte) (result any, err error) {
	switch t {
	case CmdUpsertConfig:
		var c UpsertConfig
		decode(t, body, &c)
		tx.now = c.Time
		if r, ok := tx.replay(t, c.RequestID); ok {
			return r, nil
		}
		return tx.upsertConfig(&c), nil
	case CmdDeleteConfig, CmdDeleteSecret:
		var c DeleteFileObject
		decode(t, body, &c)
		tx.now = c.Time
		if r, ok := tx.replay(t, c.RequestID); ok {
			return r, nil
		}
		return nil, tx.deleteFileObject(t, &c)
	case CmdUpsertSecret:
		var c UpsertSecret
		decode(t, body, &c)
		tx.now = c.Time
		if r, ok := tx.replay(t, c.RequestID); ok {
			return r, nil
		}
		return tx.upsertSecret(&c), nil
	case CmdKeyringAdd:
		var c KeyringAdd
		decode(t, body, &c)
		tx.now = c.Time
		tx.keyringAdd(&c)
	case CmdReencryptSecrets:
		var c ReencryptSecrets
		decode(t, body, &c)
		tx.now = c.Time
		result = tx.reencrypt(&c)
	}
	return result, nil
}

func (tx *applyTxn) config(ns, name string) *api.Config {
	if raw := tx.first(tableConfigs, objectKey(ns, name)); raw != nil {
		return raw.(*api.Config)
	}
	return nil
}

func (tx *applyTxn) secret(ns, name string) *StoredSecret {
	if raw := tx.first(tableSecrets, objectKey(ns, name)); raw != nil {
		return raw.(*StoredSecret)
	}
	return nil
}

func (tx *applyTxn) upsertConfig(c *UpsertConfig) *FileUpsertResult {
	hash := api.ContentHash(c.Data)
	old := tx.config(c.Namespace, c.Name)
	if old != nil && old.Hash == hash {
		return &FileUpsertResult{Version: old.ModifyIndex, Hash: hash}
	}
	cfg := &api.Config{Name: c.Name, Namespace: c.Namespace, Data: maps.Clone(c.Data), Hash: hash,
		CreateTime: tx.now, ModifyTime: tx.now, CreateIndex: tx.index, ModifyIndex: tx.index}
	if old != nil {
		cfg.CreateTime, cfg.CreateIndex = old.CreateTime, old.CreateIndex
	}
	tx.insert(tableConfigs, cfg)
	return tx.fileWritten(api.KindConfig, c.Namespace, c.Name, hash, old == nil, len(c.Data), c.VIPPool)
}

func (tx *applyTxn) upsertSecret(c *UpsertSecret) *FileUpsertResult {
	old := tx.secret(c.Namespace, c.Name)
	if old != nil && old.Hash == c.Hash {
		return &FileUpsertResult{Version: old.ModifyIndex, Hash: old.Hash}
	}
	s := &StoredSecret{Namespace: c.Namespace, Name: c.Name, Keys: slices.Clone(c.Keys), Hash: c.Hash, KeyID: c.KeyID,
		Sealed: slices.Clone(c.Sealed), CreateTime: tx.now, ModifyTime: tx.now, CreateIndex: tx.index, ModifyIndex: tx.index}
	if old != nil {
		s.CreateTime, s.CreateIndex = old.CreateTime, old.CreateIndex
	}
	tx.insert(tableSecrets, s)
	return tx.fileWritten(api.KindSecret, c.Namespace, c.Name, c.Hash, old == nil, len(c.Keys), c.VIPPool)
}

// fileWritten follows the write of a config or secret whose content
// changed: its event, which names keys and the version, never a value,
// and a new revision of every service that uses it.
func (tx *applyTxn) fileWritten(kind, namespace, name, hash string, created bool, keys int, vipPool string) *FileUpsertResult {
	verb := "updated"
	if created {
		verb = "created"
	}
	tx.event(api.Event{Type: fileEventType(kind), Namespace: namespace,
		Message: fmt.Sprintf("%s %s (version %d, %s)", api.FileObjectName(kind, namespace, name), verb, tx.index, text.Count(keys, "key"))})
	revs := tx.filesChanged(kind, namespace, name, vipPool)
	return &FileUpsertResult{Created: created, Changed: true, Version: tx.index, Hash: hash, Revisions: revs}
}

// fileEventType is the type of a config's or a secret's events.
func fileEventType(kind string) string {
	if kind == api.KindSecret {
		return api.EventSecretChanged
	}
	return api.EventConfigChanged
}

func (tx *applyTxn) deleteFileObject(t CommandType, c *DeleteFileObject) error {
	kind, table := api.KindConfig, tableConfigs
	var obj any
	if t == CmdDeleteSecret {
		kind, table = api.KindSecret, tableSecrets
		if s := tx.secret(c.Namespace, c.Name); s != nil {
			obj = s
		}
	} else if cfg := tx.config(c.Namespace, c.Name); cfg != nil {
		obj = cfg
	}
	name := api.FileObjectName(kind, c.Namespace, c.Name)
	if obj == nil {
		return fmt.Errorf("%s: %w", name, api.ErrNotFound)
	}
	tx.delete(table, obj)
	users := tx.servicesUsing(kind, c.Namespace, c.Name)
	msg := name + " deleted"
	if len(users) > 0 {
		msg += fmt.Sprintf("; %s that use%s it keep%s running, new replicas wait for it", text.Count(len(users), "service"), plural1(len(users)), plural1(len(users)))
	}
	tx.event(api.Event{Type: fileEventType(kind), Namespace: c.Namespace, Message: msg})
	return nil
}

// plural1 is the verb's "s" of one subject: "1 service that uses it".
func plural1(n int) string {
	if n == 1 {
		return "s"
	}
	return ""
}

// uses reports how a spec uses a config or secret: at all, and whether a
// change of it rolls the service (a config reloaded by signal does not).
func uses(spec *api.ServiceSpec, kind, name string) (used, rolls bool) {
	if kind == api.KindSecret {
		for _, s := range spec.Secrets {
			if s.Name == name {
				return true, true
			}
		}
		return false, false
	}
	for _, c := range spec.Configs {
		if c.Name == name {
			return true, c.Reload != api.ReloadSignal
		}
	}
	return false, false
}

// servicesUsing lists the services of a namespace that use an object.
func (tx *applyTxn) servicesUsing(kind, ns, name string) []*api.Service {
	it, err := tx.txn.Get(tableServices, "id_prefix", ns)
	if err != nil {
		panic(fmt.Sprintf("raft entry %d: list services: %v", tx.index, err))
	}
	var out []*api.Service
	for raw := it.Next(); raw != nil; raw = it.Next() {
		svc := raw.(*api.Service)
		if svc.Namespace != ns {
			continue
		}
		if used, _ := uses(&svc.Spec, kind, name); used {
			out = append(out, svc)
		}
	}
	return out
}

// fileVersions are the versions of the configs and secrets a spec's
// replicas read, as its new revision records them: configs (but those
// reloaded by signal), then secrets, in the spec's order.
func (tx *applyTxn) fileVersions(spec *api.ServiceSpec) []api.FileVersion {
	var out []api.FileVersion
	for _, c := range spec.Configs {
		if c.Reload == api.ReloadSignal {
			continue
		}
		v := api.FileVersion{Kind: api.KindConfig, Name: c.Name}
		if cfg := tx.config(spec.Namespace, c.Name); cfg != nil {
			v.Version, v.Hash = cfg.ModifyIndex, cfg.Hash
		}
		out = append(out, v)
	}
	for _, s := range spec.Secrets {
		v := api.FileVersion{Kind: api.KindSecret, Name: s.Name}
		if sec := tx.secret(spec.Namespace, s.Name); sec != nil {
			v.Version, v.Hash = sec.ModifyIndex, sec.Hash
		}
		out = append(out, v)
	}
	return out
}

// sameFiles reports whether two revisions' files have the same content
// (versions aside: content sealed again under a new key is the same).
func sameFiles(a, b []api.FileVersion) bool {
	return slices.EqualFunc(a, b, func(x, y api.FileVersion) bool {
		return x.Kind == y.Kind && x.Name == y.Name && x.Hash == y.Hash
	})
}

// filesChangedSince reports whether the configs and secrets a spec reads
// differ from those its service's current revision was made with: an
// apply of the same spec then still makes a new revision.
func (tx *applyTxn) filesChangedSince(old *api.Service, spec *api.ServiceSpec) bool {
	rev, _ := tx.first(tableRevisions, old.Namespace, old.Name, old.Revision).(*api.Revision)
	if rev == nil {
		return false
	}
	return !sameFiles(rev.Files, tx.fileVersions(spec))
}

// filesChanged follows a config's or secret's change to the services
// that use it: each whose current revision read other content gets a new
// revision, rolled out by its strategy (one that waited for the object,
// which did not exist, records it in place: its replicas were waiting
// for it, not running another content); the allocations of those that
// reload a config by signal get their FilesIndex moved, which their
// agents follow.
func (tx *applyTxn) filesChanged(kind, ns, name, vipPool string) []string {
	var revs []string
	for _, svc := range tx.servicesUsing(kind, ns, name) {
		_, rolls := uses(&svc.Spec, kind, name)
		if !rolls {
			tx.signalReload(svc)
			continue
		}
		rev, _ := tx.first(tableRevisions, svc.Namespace, svc.Name, svc.Revision).(*api.Revision)
		if rev == nil {
			continue
		}
		files := tx.fileVersions(&svc.Spec)
		if sameFiles(rev.Files, files) {
			continue
		}
		if waitedFor(rev.Files, files, kind, name) {
			r := *rev
			r.Files = files
			tx.insert(tableRevisions, &r)
			continue
		}
		s := *svc
		s.Revision++
		s.ModifyTime, s.ModifyIndex = tx.now, tx.index
		tx.insert(tableRevisions, &api.Revision{Namespace: s.Namespace, Name: s.Name, Revision: s.Revision, Spec: template(s.Spec),
			Files: files, CreateTime: tx.now, CreateIndex: tx.index})
		tx.pruneRevisions(&s)
		tx.insert(tableServices, &s)
		tx.newEval(s.Namespace, s.Name, api.TriggerServiceUpdate, "")
		tx.event(api.Event{Type: api.EventServiceUpdated, Namespace: s.Namespace, Service: s.Name,
			Message: fmt.Sprintf("service %s/%s updated to revision %d: %s changed", s.Namespace, s.Name, s.Revision, api.FileObjectName(kind, ns, name))})
		tx.startRollout(&s, vipPool)
		revs = append(revs, fmt.Sprintf("%s/%s@%d", s.Namespace, s.Name, s.Revision))
	}
	return revs
}

// waitedFor reports whether the only difference between a revision's
// files and now is the one object, missing when the revision was made.
func waitedFor(was, now []api.FileVersion, kind, name string) bool {
	if len(was) != len(now) {
		return false
	}
	for i := range was {
		x, y := was[i], now[i]
		if x.Kind != y.Kind || x.Name != y.Name {
			return false
		}
		if x.Hash == y.Hash {
			continue
		}
		if x.Kind != kind || x.Name != name || x.Hash != "" {
			return false
		}
	}
	return true
}

// signalReload moves the FilesIndex of a service's allocations meant to
// run: their agents rewrite the files and signal the containers.
func (tx *applyTxn) signalReload(svc *api.Service) {
	for _, a := range tx.allocsOf("service", svc.Namespace, svc.Name) {
		if a.Terminal() {
			continue
		}
		c := *a
		c.FilesIndex = tx.index
		tx.putAlloc(a, &c)
	}
}

func (tx *applyTxn) keyringAdd(c *KeyringAdd) {
	e := &KeyringEntry{ID: c.ID, Wrapped: slices.Clone(c.Wrapped), WrappedBy: c.WrappedBy, Active: c.Activate,
		CreateTime: tx.now, CreateIndex: tx.index}
	if old, _ := tx.first(tableKeyring, c.ID).(*KeyringEntry); old != nil {
		e.CreateTime, e.CreateIndex = old.CreateTime, old.CreateIndex
		e.Active = e.Active || old.Active
	}
	if c.Activate {
		it, err := tx.txn.Get(tableKeyring, "id")
		if err != nil {
			panic(fmt.Sprintf("raft entry %d: list keyring: %v", tx.index, err))
		}
		var was []*KeyringEntry
		for raw := it.Next(); raw != nil; raw = it.Next() {
			if k := raw.(*KeyringEntry); k.Active && k.ID != c.ID {
				was = append(was, k)
			}
		}
		for _, k := range was {
			cp := *k
			cp.Active = false
			tx.insert(tableKeyring, &cp)
		}
	}
	tx.insert(tableKeyring, e)
	tx.keys = append(tx.keys, e)
}

// reencrypt stores secrets sealed again; it returns how many it stored.
func (tx *applyTxn) reencrypt(c *ReencryptSecrets) int {
	n := 0
	for _, r := range c.Secrets {
		old := tx.secret(r.Namespace, r.Name)
		if old == nil || old.ModifyIndex != r.ModifyIndex {
			continue // deleted or written meanwhile
		}
		s := *old
		s.KeyID, s.Sealed = r.KeyID, slices.Clone(r.Sealed)
		tx.insert(tableSecrets, &s)
		n++
	}
	return n
}

// Config returns a config, or nil.
func (s *Snapshot) Config(ws memdb.WatchSet, namespace, name string) *api.Config {
	return first[api.Config](s, ws, tableConfigs, objectKey(namespace, name))
}

// Configs returns every config, by namespace and name.
func (s *Snapshot) Configs(ws memdb.WatchSet) []*api.Config {
	return list[api.Config](s, ws, tableConfigs, "id")
}

// Secret returns a secret as stored (sealed), or nil.
func (s *Snapshot) Secret(ws memdb.WatchSet, namespace, name string) *StoredSecret {
	return first[StoredSecret](s, ws, tableSecrets, objectKey(namespace, name))
}

// Secrets returns every secret as stored, by namespace and name.
func (s *Snapshot) Secrets(ws memdb.WatchSet) []*StoredSecret {
	return list[StoredSecret](s, ws, tableSecrets, "id")
}

// KeyringEntries returns the keyring keys Raft carried, oldest first.
func (s *Snapshot) KeyringEntries() []*KeyringEntry {
	return list[KeyringEntry](s, nil, tableKeyring, "create")
}

// ActiveKey is the ID of the active keyring key Raft knows, "" before the
// first rotation (each server's keyring file then says).
func (s *Snapshot) ActiveKey() string {
	for _, k := range s.KeyringEntries() {
		if k.Active {
			return k.ID
		}
	}
	return ""
}
