package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"sync"

	"github.com/hashicorp/raft"

	"flotilla/api"
	"flotilla/internal/clock"
	"flotilla/scheduler/state"
	"flotilla/storage"
)

// The server is the API's store of configs and secrets, and keeps the
// keyring that encrypts secrets at rest.
var (
	_ api.FileStore = (*Server)(nil)
	_ api.Keyrings  = (*Server)(nil)
)

// secretKeeper is a server's keyring and what follows it: keys Raft hands
// out (wrapped) are unwrapped into the keyring file as the FSM applies
// them, on every server.
type secretKeeper struct {
	name    string
	keyring *storage.Keyring
	logger  *slog.Logger
	// rotate serialises rotations on the leader, and keeps secret writes
	// (which read) out of one: a secret sealed under the old key while a
	// rotation lists them would stay under it.
	rotate sync.RWMutex
}

// DefaultKeyringFile is the keyring's file in a data dir when no
// --keyring-file is given.
const DefaultKeyringFile = "keyring.json"

// newSecretKeeper opens the keyring and listens to the FSM for keys. A
// keyring at the default place is made when missing (a one-server
// cluster needs nothing more); a --keyring-file given must exist, since
// the servers of a cluster share it.
func newSecretKeeper(cfg Config, fsm *state.FSM) (*secretKeeper, error) {
	path, create := cfg.KeyringFile, false
	if path == "" {
		path, create = filepath.Join(cfg.DataDir, DefaultKeyringFile), true
	}
	kr, err := storage.LoadKeyring(path, create, cfg.Clock.Now())
	if err != nil {
		return nil, fmt.Errorf("--keyring-file: %w (make one with: flotilla operator keyring generate > FILE; chmod 600 FILE)", err)
	}
	if create && cfg.BootstrapExpect > 1 {
		cfg.Logger.Warn("no --keyring-file: this server encrypts secrets with keys of its own, which the other servers cannot read; give every server the same keyring file", "path", path)
	}
	k := &secretKeeper{name: cfg.Name, keyring: kr, logger: cfg.Logger}
	fsm.SetKeyringHook(k.learnKeys)
	return k, nil
}

// learnKeys unwraps the keys Raft carried into this server's keyring.
// It runs in the FSM's apply (and on restore): keys arrive in log order,
// each wrapped under one that came before it or was in the file.
func (k *secretKeeper) learnKeys(keys []*state.KeyringEntry) {
	for _, e := range keys {
		if k.keyring.Has(e.ID) {
			if e.Active && k.keyring.Active() != e.ID {
				if err := k.keyring.Activate(e.ID); err != nil {
					k.logger.Error("keyring: activate key", "key", e.ID, "err", err)
				}
			}
			continue
		}
		key, err := k.keyring.Unwrap(e.ID, e.Wrapped, e.WrappedBy)
		if err != nil {
			k.logger.Error(fmt.Sprintf("keyring: cannot take key %s, wrapped under key %s: %v; this server cannot read secrets under it: give it the cluster's keyring file (flotilla operator keyring list shows which server lacks which key)", e.ID, e.WrappedBy, err))
			continue
		}
		key.Created = e.CreateTime
		if err := k.keyring.Add(key, e.Active); err != nil {
			k.logger.Error("keyring: add key", "key", e.ID, "err", err)
			continue
		}
		k.logger.Info("keyring: added key", "key", e.ID, "active", e.Active)
	}
}

// missingKeys lists the keys a state's secrets are sealed under that this
// keyring neither holds nor could unwrap from the keys the state carries
// (each wrapped under one held, or one unwrapped before it).
func (k *secretKeeper) missingKeys(snap *state.Snapshot) []string {
	known := map[string]bool{}
	for _, id := range k.keyring.IDs() {
		known[id] = true
	}
	for _, e := range snap.KeyringEntries() {
		if known[e.WrappedBy] {
			known[e.ID] = true
		}
	}
	var missing []string
	for _, sec := range snap.Secrets(nil) {
		if !known[sec.KeyID] {
			missing = append(missing, sec.KeyID)
			known[sec.KeyID] = true // named once
		}
	}
	return missing
}

// activeKey is the key new secrets are sealed under: the one Raft made
// active, or before any rotation the keyring file's.
func (k *secretKeeper) activeKey(snap *state.Snapshot) string {
	if id := snap.ActiveKey(); id != "" {
		return id
	}
	return k.keyring.Active()
}

// secretAAD binds a sealed value to its secret.
func secretAAD(namespace, name string) []byte {
	return []byte("flotilla secret\x00" + namespace + "/" + name)
}

// open decrypts a stored secret with this server's keyring.
func (k *secretKeeper) open(s *state.StoredSecret) (map[string]string, error) {
	what := api.FileObjectName(api.KindSecret, s.Namespace, s.Name)
	plain, err := k.keyring.Open(s.KeyID, s.Sealed, secretAAD(s.Namespace, s.Name))
	if errors.Is(err, storage.ErrUnknownKey) {
		return nil, fmt.Errorf("%s is encrypted under key %s, which server %s's keyring (%s) does not hold: give every server the cluster's keyring file (flotilla operator keyring list)",
			what, s.KeyID, k.name, k.keyring.Path())
	}
	if err != nil {
		return nil, fmt.Errorf("decrypt %s on server %s: %w", what, k.name, err)
	}
	var data map[string]string
	if err := json.Unmarshal(plain, &data); err != nil {
		return nil, fmt.Errorf("decrypt %s: %w", what, err)
	}
	return data, nil
}

func fileResponse(resp any, index uint64) api.FileWriteResponse {
	r, _ := resp.(*state.FileUpsertResult)
	if r == nil {
		// A write sent again, applied before: it was a change.
		return api.FileWriteResponse{Index: index, Version: index, Changed: true}
	}
	return api.FileWriteResponse{Index: index, Version: r.Version, Hash: r.Hash, Created: r.Created, Changed: r.Changed, Revisions: r.Revisions}
}

func (s *Server) ApplyConfig(ctx context.Context, spec api.FileObjectSpec) (api.FileWriteResponse, error) {
	ns, name := spec.Metadata.Namespace, spec.Metadata.Name
	resp, index, err := s.apply(state.CmdUpsertConfig, &state.UpsertConfig{Namespace: ns, Name: name, Data: spec.Data,
		VIPPool: s.cfg.VIPCIDR, Time: s.now(), RequestID: api.RequestIDFrom(ctx)})
	if err != nil {
		return api.FileWriteResponse{}, fmt.Errorf("apply config %s/%s: %w", ns, name, err)
	}
	return fileResponse(resp, index), nil
}

func (s *Server) ApplySecret(ctx context.Context, spec api.FileObjectSpec) (api.FileWriteResponse, error) {
	ns, name := spec.Metadata.Namespace, spec.Metadata.Name
	k := s.secrets
	k.rotate.RLock()
	defer k.rotate.RUnlock()
	snap := s.store.Snapshot()
	if old := snap.Secret(nil, ns, name); old != nil {
		// The same content again writes nothing (its hash, keyed by the
		// key it was written under, cannot be recomputed to compare).
		if data, err := k.open(old); err == nil && maps.Equal(data, spec.Data) {
			return api.FileWriteResponse{Version: old.ModifyIndex, Hash: old.Hash}, nil
		}
	}
	keyID := k.activeKey(snap)
	plain, err := json.Marshal(spec.Data)
	if err != nil {
		return api.FileWriteResponse{}, err
	}
	sealed, err := k.keyring.Seal(keyID, plain, secretAAD(ns, name))
	if err != nil {
		return api.FileWriteResponse{}, fmt.Errorf("encrypt secret %s/%s on server %s: %w", ns, name, s.cfg.Name, err)
	}
	hash, err := k.keyring.MAC(keyID, plain)
	if err != nil {
		return api.FileWriteResponse{}, err
	}
	resp, index, err := s.apply(state.CmdUpsertSecret, &state.UpsertSecret{Namespace: ns, Name: name, Keys: api.SecretKeysOf(spec.Data),
		Hash: hash, KeyID: keyID, Sealed: sealed, VIPPool: s.cfg.VIPCIDR, Time: s.now(), RequestID: api.RequestIDFrom(ctx)})
	if err != nil {
		return api.FileWriteResponse{}, fmt.Errorf("apply secret %s/%s: %w", ns, name, err)
	}
	return fileResponse(resp, index), nil
}

func (s *Server) DeleteConfig(ctx context.Context, namespace, name string) (api.WriteResponse, error) {
	_, index, err := s.apply(state.CmdDeleteConfig, &state.DeleteFileObject{Namespace: namespace, Name: name, Time: s.now(), RequestID: api.RequestIDFrom(ctx)})
	return api.WriteResponse{Index: index}, err
}

func (s *Server) DeleteSecret(ctx context.Context, namespace, name string) (api.WriteResponse, error) {
	_, index, err := s.apply(state.CmdDeleteSecret, &state.DeleteFileObject{Namespace: namespace, Name: name, Time: s.now(), RequestID: api.RequestIDFrom(ctx)})
	return api.WriteResponse{Index: index}, err
}

func (s *Server) Configs(ctx context.Context, namespace string, q api.QueryOptions) ([]*api.Config, uint64, error) {
	var out []*api.Config
	index, err := s.blocking(ctx, q, func(ws state.WatchSet, snap *state.Snapshot) (uint64, error) {
		out = out[:0]
		for _, c := range snap.Configs(ws) {
			if namespace == "" || c.Namespace == namespace {
				out = append(out, c)
			}
		}
		return snap.Index("configs"), nil
	})
	return out, index, err
}

func (s *Server) Config(ctx context.Context, namespace, name string, q api.QueryOptions) (*api.Config, uint64, error) {
	var out *api.Config
	index, err := s.blocking(ctx, q, func(ws state.WatchSet, snap *state.Snapshot) (uint64, error) {
		out = snap.Config(ws, namespace, name)
		return snap.Index("configs"), nil
	})
	if err == nil && out == nil {
		err = fmt.Errorf("config %s/%s: %w", namespace, name, api.ErrNotFound)
	}
	return out, index, err
}

func (s *Server) Secrets(ctx context.Context, namespace string, q api.QueryOptions) ([]*api.Secret, uint64, error) {
	var out []*api.Secret
	index, err := s.blocking(ctx, q, func(ws state.WatchSet, snap *state.Snapshot) (uint64, error) {
		out = out[:0]
		for _, sec := range snap.Secrets(ws) {
			if namespace == "" || sec.Namespace == namespace {
				out = append(out, sec.Info())
			}
		}
		return snap.Index("secrets"), nil
	})
	return out, index, err
}

func (s *Server) Secret(ctx context.Context, namespace, name string, q api.QueryOptions) (*api.Secret, uint64, error) {
	var out *api.Secret
	index, err := s.blocking(ctx, q, func(ws state.WatchSet, snap *state.Snapshot) (uint64, error) {
		out = nil
		if sec := snap.Secret(ws, namespace, name); sec != nil {
			out = sec.Info()
		}
		return snap.Index("secrets"), nil
	})
	if err == nil && out == nil {
		err = fmt.Errorf("secret %s/%s: %w", namespace, name, api.ErrNotFound)
	}
	return out, index, err
}

func (s *Server) SecretValues(ctx context.Context, namespace, name string) (*api.SecretValues, error) {
	sec := s.store.Snapshot().Secret(nil, namespace, name)
	if sec == nil {
		return nil, fmt.Errorf("secret %s/%s: %w", namespace, name, api.ErrNotFound)
	}
	data, err := s.secrets.open(sec)
	if err != nil {
		return nil, err
	}
	return &api.SecretValues{Name: name, Namespace: namespace, Data: data, Hash: sec.Hash, ModifyIndex: sec.ModifyIndex}, nil
}

// placedRevision is an allocation that runs on node and the revision it
// was made from, for what only that node's agent may ask of it (its
// files, its certificates): a permission error unless ctx carries the
// node's secret, api.ErrNotFound when it is not placed there (or no
// longer runs), or when its revision is gone.
func placedRevision(ctx context.Context, snap *state.Snapshot, node, id string) (*api.Allocation, *api.Revision, error) {
	if err := nodeSecretError(ctx, snap.NodeWithoutUsage(node)); err != nil {
		return nil, nil, err
	}
	a := snap.Allocation(nil, id)
	if a == nil || a.Node != node || a.Terminal() {
		return nil, nil, fmt.Errorf("allocation %s is not placed on node %s (or no longer runs): %w", id, node, api.ErrNotFound)
	}
	rev := snap.Revision(a.Namespace, a.Service, a.Revision)
	if rev == nil || (a.RevisionIndex != 0 && rev.CreateIndex != a.RevisionIndex) {
		return nil, nil, fmt.Errorf("revision %d of %s is gone: %w", a.Revision, a.ServiceKey(), api.ErrNotFound)
	}
	return a, rev, nil
}

// AllocationFiles answers the agent of the node an allocation is placed
// on, and nobody else, with the configs and secrets its revision reads,
// secrets decrypted here.
func (s *Server) AllocationFiles(ctx context.Context, node, id string) (*api.AllocationFiles, error) {
	snap := s.store.Snapshot()
	a, rev, err := placedRevision(ctx, snap, node, id)
	if err != nil {
		return nil, err
	}
	out := &api.AllocationFiles{Allocation: a.ID, Objects: []api.FileObject{}}
	for _, c := range rev.Spec.Configs {
		cfg := snap.Config(nil, a.Namespace, c.Name)
		if cfg == nil {
			out.Missing = append(out.Missing, api.FileObjectName(api.KindConfig, a.Namespace, c.Name))
			continue
		}
		out.Objects = append(out.Objects, api.FileObject{Kind: api.KindConfig, Name: c.Name, Namespace: a.Namespace,
			ModifyIndex: cfg.ModifyIndex, Hash: cfg.Hash, Data: cfg.Data})
	}
	for _, ref := range rev.Spec.Secrets {
		sec := snap.Secret(nil, a.Namespace, ref.Name)
		if sec == nil {
			out.Missing = append(out.Missing, api.FileObjectName(api.KindSecret, a.Namespace, ref.Name))
			continue
		}
		data, err := s.secrets.open(sec)
		if err != nil {
			return nil, err
		}
		out.Objects = append(out.Objects, api.FileObject{Kind: api.KindSecret, Name: ref.Name, Namespace: a.Namespace,
			ModifyIndex: sec.ModifyIndex, Hash: sec.Hash, Data: data})
	}
	return out, nil
}

// maxReencryptBytes bounds one Raft entry of secrets sealed again.
const maxReencryptBytes = 512 << 10

// KeyringRotate makes a new key, hands it to every server through Raft
// wrapped under the active key, makes it active and seals every secret
// again under it.
func (s *Server) KeyringRotate(ctx context.Context) (api.KeyringRotateResponse, error) {
	k := s.secrets
	k.rotate.Lock()
	defer k.rotate.Unlock()
	prev := k.activeKey(s.store.Snapshot())
	if !k.keyring.Has(prev) {
		return api.KeyringRotateResponse{}, fmt.Errorf("rotate: the active key %s is not in server %s's keyring (%s): give it the cluster's keyring file", prev, s.cfg.Name, k.keyring.Path())
	}
	key, err := storage.NewKey(s.now())
	if err != nil {
		return api.KeyringRotateResponse{}, err
	}
	wrapped, err := k.keyring.Wrap(key, prev)
	if err != nil {
		return api.KeyringRotateResponse{}, fmt.Errorf("rotate: wrap the new key: %w", err)
	}
	// In this server's file first: once Raft makes it active, this server
	// seals under it.
	if err := k.keyring.Add(key, false); err != nil {
		return api.KeyringRotateResponse{}, fmt.Errorf("rotate: %w", err)
	}
	_, index, err := s.apply(state.CmdKeyringAdd, &state.KeyringAdd{ID: key.ID, Wrapped: wrapped, WrappedBy: prev, Activate: true, Time: s.now()})
	if err != nil {
		return api.KeyringRotateResponse{}, fmt.Errorf("rotate: hand out the new key: %w", err)
	}
	resp := api.KeyringRotateResponse{Index: index, KeyID: key.ID, Previous: prev}
	var batch []state.ReencryptedSecret
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		n, i, err := s.apply(state.CmdReencryptSecrets, &state.ReencryptSecrets{Secrets: batch, Time: s.now()})
		if err != nil {
			return fmt.Errorf("rotate: seal secrets again under %s: %w", key.ID, err)
		}
		resp.Reencrypted += n.(int)
		resp.Index = i
		batch, size = nil, 0
		return nil
	}
	var failed []string
	for _, sec := range s.store.Snapshot().Secrets(nil) {
		if sec.KeyID == key.ID {
			continue
		}
		data, err := k.open(sec)
		if err != nil {
			failed = append(failed, err.Error())
			continue
		}
		plain, _ := json.Marshal(data) // a map of strings always encodes
		sealed, err := k.keyring.Seal(key.ID, plain, secretAAD(sec.Namespace, sec.Name))
		if err != nil {
			return resp, err
		}
		batch = append(batch, state.ReencryptedSecret{Namespace: sec.Namespace, Name: sec.Name, ModifyIndex: sec.ModifyIndex, KeyID: key.ID, Sealed: sealed})
		if size += len(sealed); size >= maxReencryptBytes {
			if err := flush(); err != nil {
				return resp, err
			}
		}
	}
	if err := flush(); err != nil {
		return resp, err
	}
	caErr := s.resealWorkloadCA(key.ID) // certs.go
	s.cfg.Logger.Info("keyring rotated", "key", key.ID, "previous", prev, "reencrypted", resp.Reencrypted)
	if len(failed) > 0 {
		return resp, fmt.Errorf("rotated to key %s, but %d secret(s) could not be sealed again: %s", key.ID, len(failed), failed[0])
	}
	if caErr != nil {
		return resp, fmt.Errorf("rotated to key %s, but %w", key.ID, caErr)
	}
	return resp, nil
}

func (s *Server) KeyringLocal(ctx context.Context) (*api.KeyringLocal, error) {
	kr := s.secrets.keyring
	return &api.KeyringLocal{Server: s.cfg.Name, Active: kr.Active(), Keys: kr.IDs()}, nil
}

// KeyringStatus asks every voter which keys its keyring holds.
func (s *Server) KeyringStatus(ctx context.Context) (*api.KeyringStatus, error) {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("raft configuration: %w", err)
	}
	snap := s.store.Snapshot()
	st := &api.KeyringStatus{Active: s.secrets.activeKey(snap), Keys: []api.KeyringKey{}}
	held := map[string][]string{} // server -> key IDs
	var servers []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	ctx, cancel := clock.WithTimeout(ctx, s.cfg.Clock, api.PeerProbeTimeout)
	defer cancel()
	for _, srv := range f.Configuration().Servers {
		if srv.Suffrage != raft.Voter {
			continue
		}
		name := string(srv.ID)
		servers = append(servers, name)
		if name == s.cfg.Name {
			ids := s.secrets.keyring.IDs()
			mu.Lock() // the peers asked before this one may be answering
			held[name] = ids
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids, err := s.peerKeys(ctx, name)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				st.Unreachable = append(st.Unreachable, fmt.Sprintf("%s (%v)", name, err))
				return
			}
			held[name] = ids
		}()
	}
	wg.Wait()
	sort.Strings(st.Unreachable)
	sort.Strings(servers)
	ids := map[string]bool{}
	var order []string
	add := func(id string) {
		if id != "" && !ids[id] {
			ids[id] = true
			order = append(order, id)
		}
	}
	add(st.Active)
	for _, e := range snap.KeyringEntries() {
		add(e.ID)
	}
	secretsUnder := map[string]int{}
	for _, sec := range snap.Secrets(nil) {
		add(sec.KeyID)
		secretsUnder[sec.KeyID]++
	}
	for _, name := range servers {
		for _, id := range held[name] {
			add(id)
		}
	}
	for _, id := range order {
		kk := api.KeyringKey{ID: id, Active: id == st.Active, Secrets: secretsUnder[id], Servers: []string{}}
		for _, name := range servers {
			has, answered := held[name]
			switch {
			case !answered:
			case slices.Contains(has, id):
				kk.Servers = append(kk.Servers, name)
			default:
				kk.Missing = append(kk.Missing, name)
			}
		}
		st.Keys = append(st.Keys, kk)
	}
	return st, nil
}

// peerKeys asks another server which keys its keyring holds.
func (s *Server) peerKeys(ctx context.Context, name string) ([]string, error) {
	addr := s.serverHTTP(name)
	if addr == "" {
		return nil, errors.New("no API address known for it")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.scheme()+"://"+addr+"/v1/operator/keyring/local", nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.peerHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("answered %s", resp.Status)
	}
	var local api.KeyringLocal
	if err := json.Unmarshal(body, &local); err != nil {
		return nil, err
	}
	return local.Keys, nil
}
