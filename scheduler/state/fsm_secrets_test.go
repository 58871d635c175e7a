package state

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"flotilla/api"
)

// usersYAML is a service that reads a config (rolled on change), a config
// reloaded by signal and a secret.
const usersYAML = `kind: Service
name: web
image: demo
replicas: 2
resources: {cpu: 250m, memory: 64Mi}
rollout: {revisionHistory: 5}
configs: [{name: app, path: /etc/app}, {name: tuning, path: /etc/tuning, reload: signal}]
secrets: [{name: db, path: /run/secrets/db, env: {DB_PASSWORD: password}}]
`

func (h *harness) config(name string, data map[string]string) *FileUpsertResult {
	h.t.Helper()
	return h.ok(CmdUpsertConfig, &UpsertConfig{Namespace: api.DefaultNamespace, Name: name, Data: data, Time: h.next()}).(*FileUpsertResult)
}

// secret stores a "sealed" value: the FSM never sees plaintext, so the
// tests hand it opaque bytes and a hash as the leader would.
func (h *harness) secret(name, hash, keyID string, sealed []byte) *FileUpsertResult {
	h.t.Helper()
	return h.ok(CmdUpsertSecret, &UpsertSecret{Namespace: api.DefaultNamespace, Name: name, Keys: []api.SecretKey{{Name: "password", Size: 6}},
		Hash: hash, KeyID: keyID, Sealed: sealed, Time: h.next()}).(*FileUpsertResult)
}

func (h *harness) revision(n int) *api.Revision {
	h.t.Helper()
	r := h.snap().Revision(api.DefaultNamespace, "web", n)
	if r == nil {
		h.t.Fatalf("revision %d not found", n)
	}
	return r
}

func TestConfigAndSecretAreStoredWithVersionsAndEvents(t *testing.T) {
	h := newHarness(t)
	r := h.config("app", map[string]string{"app.yaml": "color: blue\n"})
	if !r.Created || !r.Changed || r.Version != h.index || r.Hash != api.ContentHash(map[string]string{"app.yaml": "color: blue\n"}) {
		t.Fatalf("create config: %+v", r)
	}
	if again := h.config("app", map[string]string{"app.yaml": "color: blue\n"}); again.Changed || again.Version != r.Version {
		t.Fatalf("the same data again: %+v, want unchanged at version %d", again, r.Version)
	}
	s := h.secret("db", "h1", "k-1", []byte("SEALED-1"))
	if !s.Created || s.Version != h.index {
		t.Fatalf("create secret: %+v", s)
	}
	stored := h.snap().Secret(nil, api.DefaultNamespace, "db")
	if stored == nil || string(stored.Sealed) != "SEALED-1" || stored.KeyID != "k-1" || stored.Info().Keys[0].Name != "password" {
		t.Fatalf("stored secret: %+v", stored)
	}
	var types []string
	for _, e := range h.events() {
		types = append(types, e.Type+": "+e.Message)
	}
	joined := strings.Join(types, "\n")
	if !strings.Contains(joined, "ConfigChanged: config default/app created") || !strings.Contains(joined, "SecretChanged: secret default/db created") {
		t.Fatalf("events:\n%s", joined)
	}
	if err := h.fails(CmdDeleteConfig, &DeleteFileObject{Namespace: "default", Name: "nope", Time: h.next()}); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("delete a missing config: %v", err)
	}
	h.ok(CmdDeleteSecret, &DeleteFileObject{Namespace: "default", Name: "db", Time: h.next()})
	if h.snap().Secret(nil, "default", "db") != nil {
		t.Fatal("secret still there after delete")
	}
}

func TestRevisionRecordsFilesAndAChangeRollsTheService(t *testing.T) {
	h := newHarness(t)
	h.config("app", map[string]string{"a": "1"})
	h.config("tuning", map[string]string{"level": "1"})
	h.upsert(decodeSpec(t, usersYAML))
	// The secret is missing: the revision records it so (its replicas
	// wait), and the signal-reloaded config not at all.
	rev := h.revision(1)
	if len(rev.Files) != 2 || rev.Files[0].Name != "app" || rev.Files[0].Hash == "" || rev.Files[1].Name != "db" || rev.Files[1].Hash != "" {
		t.Fatalf("revision 1 files: %+v", rev.Files)
	}

	// The missing secret appears: recorded in place, no new revision.
	h.secret("db", "h1", "k-1", []byte("x"))
	if svc := h.snap().Service(nil, "default", "web"); svc.Revision != 1 {
		t.Fatalf("creating a missing secret made revision %d", svc.Revision)
	}
	if f := h.revision(1).Files[1]; f.Hash != "h1" || f.Version != h.index {
		t.Fatalf("revision 1's secret after it appeared: %+v", f)
	}

	// The secret changes: revision 2, with a rollout, by the same spec.
	res := h.secret("db", "h2", "k-1", []byte("y"))
	svc := h.snap().Service(nil, "default", "web")
	if svc.Revision != 2 || len(res.Revisions) != 1 || res.Revisions[0] != "default/web@2" {
		t.Fatalf("after the secret changed: revision %d, result %+v", svc.Revision, res)
	}
	if ro := h.snap().Rollout(nil, "default", "web"); ro == nil || ro.Revision != 2 {
		t.Fatalf("rollout after the secret changed: %+v", ro)
	}
	if h.revision(2).Spec.Image != h.revision(1).Spec.Image || h.revision(2).Files[1].Hash != "h2" {
		t.Fatalf("revision 2: %+v", h.revision(2))
	}

	// The config changes: revision 3. Applying the same spec again after
	// that changes nothing.
	h.config("app", map[string]string{"a": "2"})
	if svc := h.snap().Service(nil, "default", "web"); svc.Revision != 3 {
		t.Fatalf("after the config changed: revision %d", svc.Revision)
	}
	if r := h.upsert(decodeSpec(t, usersYAML)); r.Changed || r.Revision != 3 {
		t.Fatalf("the same spec again: %+v", r)
	}
	// A config reloaded by signal makes no revision.
	h.config("tuning", map[string]string{"level": "2"})
	if svc := h.snap().Service(nil, "default", "web"); svc.Revision != 3 {
		t.Fatalf("a signal-reloaded config changed the revision to %d", svc.Revision)
	}
}

func TestSignalReloadMovesTheAllocationsFilesIndex(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	h.config("tuning", map[string]string{"level": "1"})
	h.upsert(decodeSpec(t, "kind: Service\nname: web\nimage: demo\nreplicas: 1\nconfigs: [{name: tuning, path: /etc/t, reload: signal}]\n"))
	h.place("web", "e1", "a1@n1")
	if a := h.alloc("a1"); a.FilesIndex != 0 {
		t.Fatalf("a new allocation's FilesIndex: %d", a.FilesIndex)
	}
	h.config("tuning", map[string]string{"level": "2"})
	if a := h.alloc("a1"); a.FilesIndex != h.index {
		t.Fatalf("FilesIndex after the change: %d, want %d", a.FilesIndex, h.index)
	}
	if svc := h.snap().Service(nil, "default", "web"); svc.Revision != 1 {
		t.Fatalf("revision %d, want 1", svc.Revision)
	}
}

func TestKeyringKeysReachTheHookAndOneIsActive(t *testing.T) {
	h := newHarness(t)
	var heard []string
	h.fsm.SetKeyringHook(func(keys []*KeyringEntry) {
		for _, k := range keys {
			heard = append(heard, k.ID)
		}
	})
	h.ok(CmdKeyringAdd, &KeyringAdd{ID: "k-2", Wrapped: []byte("w2"), WrappedBy: "k-1", Activate: true, Time: h.next()})
	h.ok(CmdKeyringAdd, &KeyringAdd{ID: "k-3", Wrapped: []byte("w3"), WrappedBy: "k-2", Activate: true, Time: h.next()})
	if got := h.snap().ActiveKey(); got != "k-3" {
		t.Fatalf("active key %q, want k-3", got)
	}
	if strings.Join(heard, ",") != "k-2,k-3" {
		t.Fatalf("hook heard %v", heard)
	}
	// A restored snapshot tells the hook every key, oldest first.
	data := h.writeSnapshot()
	other := NewFSM(NewStore(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	var restored []string
	other.SetKeyringHook(func(keys []*KeyringEntry) {
		for _, k := range keys {
			restored = append(restored, k.ID)
		}
	})
	if err := other.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if strings.Join(restored, ",") != "k-2,k-3" || other.Store().Snapshot().ActiveKey() != "k-3" {
		t.Fatalf("after restore: hook heard %v, active %q", restored, other.Store().Snapshot().ActiveKey())
	}
}

func TestReencryptKeepsVersionsAndSkipsSecretsWrittenMeanwhile(t *testing.T) {
	h := newHarness(t)
	h.secret("a", "ha", "k-1", []byte("a1"))
	a := h.snap().Secret(nil, "default", "a")
	h.secret("b", "hb", "k-1", []byte("b1"))
	b := h.snap().Secret(nil, "default", "b")
	h.secret("b", "hb2", "k-1", []byte("b2")) // written after the leader read it
	n := h.ok(CmdReencryptSecrets, &ReencryptSecrets{Time: h.next(), Secrets: []ReencryptedSecret{
		{Namespace: "default", Name: "a", ModifyIndex: a.ModifyIndex, KeyID: "k-2", Sealed: []byte("a2")},
		{Namespace: "default", Name: "b", ModifyIndex: b.ModifyIndex, KeyID: "k-2", Sealed: []byte("stale")},
	}}).(int)
	if n != 1 {
		t.Fatalf("reencrypted %d, want 1", n)
	}
	got := h.snap().Secret(nil, "default", "a")
	if got.KeyID != "k-2" || string(got.Sealed) != "a2" || got.ModifyIndex != a.ModifyIndex || got.Hash != "ha" {
		t.Fatalf("a after reencrypt: %+v", got)
	}
	if b := h.snap().Secret(nil, "default", "b"); string(b.Sealed) != "b2" || b.KeyID != "k-1" {
		t.Fatalf("b was written meanwhile and must stay: %+v", b)
	}
}

func TestSnapshotKeepsConfigsSecretsAndKeysSealed(t *testing.T) {
	h := newHarness(t)
	h.config("app", map[string]string{"a": "1"})
	h.secret("db", "h1", "k-1", []byte("CIPHERTEXT"))
	h.ok(CmdKeyringAdd, &KeyringAdd{ID: "k-2", Wrapped: []byte("WRAPPED"), WrappedBy: "k-1", Activate: true, Time: h.next()})
	data := h.writeSnapshot()
	other := NewFSM(NewStore(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := other.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	snap := other.Store().Snapshot()
	if c := snap.Config(nil, "default", "app"); c == nil || c.Data["a"] != "1" {
		t.Fatalf("restored config: %+v", c)
	}
	if s := snap.Secret(nil, "default", "db"); s == nil || string(s.Sealed) != "CIPHERTEXT" || s.Hash != "h1" {
		t.Fatalf("restored secret: %+v", s)
	}
	if snap.ActiveKey() != "k-2" {
		t.Fatalf("restored active key %q", snap.ActiveKey())
	}
}
