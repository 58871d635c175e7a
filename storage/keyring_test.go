package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var keyringNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newTestKeyring(t *testing.T) (*Keyring, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keyring.json")
	kr, err := LoadKeyring(path, true, keyringNow)
	if err != nil {
		t.Fatal(err)
	}
	return kr, path
}

func TestKeyringSealsAndOpensBoundToItsData(t *testing.T) {
	kr, path := newTestKeyring(t)
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("keyring file: %v, mode %v, want 0600", err, info.Mode())
	}
	id := kr.Active()
	sealed, err := kr.Seal(id, []byte("hunter2"), []byte("default/db"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("hunter2")) {
		t.Fatal("sealed value holds the plaintext")
	}
	again, _ := kr.Seal(id, []byte("hunter2"), []byte("default/db"))
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals of one value are equal: the nonce is not random")
	}
	plain, err := kr.Open(id, sealed, []byte("default/db"))
	if err != nil || string(plain) != "hunter2" {
		t.Fatalf("open: %q, %v", plain, err)
	}
	if _, err := kr.Open(id, sealed, []byte("default/other")); err == nil {
		t.Fatal("a sealed value opened for another secret")
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := kr.Open(id, sealed, []byte("default/db")); err == nil {
		t.Fatal("an altered value opened")
	}
	if _, err := kr.Open("k-nope", sealed, nil); !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), "k-nope") {
		t.Fatalf("open under an unknown key: %v", err)
	}
}

func TestKeyringRotationHandsTheNewKeyWrapped(t *testing.T) {
	leader, leaderPath := newTestKeyring(t)
	// A follower with a copy of the same file.
	followerPath := filepath.Join(t.TempDir(), "keyring.json")
	data, err := os.ReadFile(leaderPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(followerPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	follower, err := LoadKeyring(followerPath, false, keyringNow)
	if err != nil {
		t.Fatal(err)
	}
	old := leader.Active()
	sealedOld, _ := leader.Seal(old, []byte("v1"), []byte("a"))

	k, err := NewKey(keyringNow)
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := leader.Wrap(k, old)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(wrapped, k.Key) {
		t.Fatal("the wrapped key holds the key")
	}
	if err := leader.Add(k, true); err != nil {
		t.Fatal(err)
	}
	got, err := follower.Unwrap(k.ID, wrapped, old)
	if err != nil || !bytes.Equal(got.Key, k.Key) {
		t.Fatalf("unwrap: %v", err)
	}
	if _, err := follower.Unwrap("k-other", wrapped, old); err == nil {
		t.Fatal("a wrapped key unwrapped under another ID")
	}
	if err := follower.Add(got, true); err != nil {
		t.Fatal(err)
	}
	// A restart reads the new key and which is active, and the old one
	// still opens what it sealed.
	restarted, err := LoadKeyring(followerPath, false, keyringNow)
	if err != nil {
		t.Fatal(err)
	}
	if restarted.Active() != k.ID || !restarted.Has(old) {
		t.Fatalf("after restart: active %s, keys %v", restarted.Active(), restarted.IDs())
	}
	sealedNew, _ := leader.Seal(k.ID, []byte("v2"), []byte("a"))
	for _, c := range []struct {
		id     string
		sealed []byte
		want   string
	}{{old, sealedOld, "v1"}, {k.ID, sealedNew, "v2"}} {
		if p, err := restarted.Open(c.id, c.sealed, []byte("a")); err != nil || string(p) != c.want {
			t.Fatalf("open under %s after restart: %q %v", c.id, p, err)
		}
	}
	// A server without the wrapping key cannot take the new one.
	stranger, _ := newTestKeyring(t)
	if _, err := stranger.Unwrap(k.ID, wrapped, old); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unwrap without the wrapping key: %v", err)
	}
}

func TestKeyringFileIsCheckedAndSharedWritesMerge(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadKeyring(filepath.Join(dir, "missing.json"), false, keyringNow); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Fatalf("a missing file given by name: %v", err)
	}
	loose := filepath.Join(dir, "loose.json")
	data, _ := GenerateKeyring(keyringNow)
	os.WriteFile(loose, data, 0o644)
	if _, err := LoadKeyring(loose, false, keyringNow); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a file others can read: %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"active": "x", "keys": [{"id": "x", "key": "c2hvcnQ="}]}`), 0o600)
	if _, err := LoadKeyring(bad, false, keyringNow); err == nil || !strings.Contains(err.Error(), "want 32 bytes") {
		t.Fatalf("a short key: %v", err)
	}

	// Two servers sharing one file (a lab) each add a key: both stay.
	shared := filepath.Join(dir, "shared.json")
	os.WriteFile(shared, data, 0o600)
	a, _ := LoadKeyring(shared, false, keyringNow)
	b, _ := LoadKeyring(shared, false, keyringNow)
	ka, _ := NewKey(keyringNow)
	kb, _ := NewKey(keyringNow)
	if err := a.Add(ka, false); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(kb, false); err != nil {
		t.Fatal(err)
	}
	final, err := LoadKeyring(shared, false, keyringNow)
	if err != nil {
		t.Fatal(err)
	}
	if !final.Has(ka.ID) || !final.Has(kb.ID) {
		t.Fatalf("shared file keys %v, want both %s and %s", final.IDs(), ka.ID, kb.ID)
	}
}
