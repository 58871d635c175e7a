package gossip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"flotilla/internal/vnet"
)

func testKey(t *testing.T) []byte {
	t.Helper()
	text, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err := ParseKey(text)
	if err != nil || len(key) != 32 {
		t.Fatalf("generated key %q: %d bytes, %v", text, len(key), err)
	}
	return key
}

// startKeyed starts a member on loopback with a key and a keyring file
// (either may be empty), shut down when the test ends.
func startKeyed(t *testing.T, name string, key []byte, file string) *Pool {
	t.Helper()
	p, err := Start(Config{Name: name, Bind: "127.0.0.1:0", Fast: true, Key: key, KeyringFile: file, Meta: Meta{Role: RoleAgent}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Shutdown() })
	return p
}

// refusedToJoin checks that p cannot join the pool at addr and that the
// pool's member at addr never lists it.
func refusedToJoin(t *testing.T, p *Pool, member *Pool) {
	t.Helper()
	if n, err := p.Join([]string{member.Addr()}); err == nil || n != 0 {
		t.Fatalf("join of %s: %d contacted, err %v; want it refused", p.ml.LocalNode().Name, n, err)
	}
	for _, m := range member.Members() {
		if m.Name == p.ml.LocalNode().Name {
			t.Fatalf("%s lists %+v, which it must not have let in", member.ml.LocalNode().Name, m)
		}
	}
}

func TestAMemberWithTheWrongKeyOrNoKeyDoesNotJoinAnEncryptedPool(t *testing.T) {
	key := testKey(t)
	a := startKeyed(t, "a", key, "")
	b := startKeyed(t, "b", key, "")
	if n, err := b.Join([]string{a.Addr()}); err != nil || n != 1 {
		t.Fatalf("b with the pool's key: join %d, %v", n, err)
	}
	waitMember(t, a, "b", StatusAlive, 5*time.Second)

	refusedToJoin(t, startKeyed(t, "wrong", testKey(t), ""), a)
	refusedToJoin(t, startKeyed(t, "plain", nil, ""), a)
	// Nor does an encrypted member join a pool in the clear.
	plainPool := startKeyed(t, "plainpool", nil, "")
	refusedToJoin(t, startKeyed(t, "keyed", key, ""), plainPool)
	if !a.Encrypted() || plainPool.Encrypted() {
		t.Fatalf("Encrypted: a %v, plain pool %v", a.Encrypted(), plainPool.Encrypted())
	}
}

func TestRotationKeepsThePoolWholeAndShutsOutTheOldKey(t *testing.T) {
	dir := t.TempDir()
	oldKey, newKey := testKey(t), testKey(t)
	names := []string{"a", "b", "c"}
	pools := map[string]*Pool{}
	for _, name := range names {
		pools[name] = startKeyed(t, name, oldKey, filepath.Join(dir, name+".json"))
	}
	for _, name := range names[1:] {
		if _, err := pools[name].Join([]string{pools["a"].Addr()}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range pools {
		waitAlive(t, p, 10*time.Second, names...)
	}
	ctx := context.Background()
	step := func(op KeyOp, key []byte, wantKeys int) {
		t.Helper()
		res, err := pools["b"].Keyring(ctx, op, key)
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		if res.Members != 3 || res.Succeeded() != 3 || len(res.Failed) != 0 {
			t.Fatalf("%s: %d of %d members, failed %v", op, res.Succeeded(), res.Members, res.Failed)
		}
		if len(res.Keys) != wantKeys {
			t.Fatalf("%s: keys %v, want %d keys", op, res.Keys, wantKeys)
		}
		for k, n := range res.Keys {
			if n != 3 {
				t.Fatalf("%s: key %s held by %d members, want 3", op, k, n)
			}
		}
		for _, p := range pools {
			waitAlive(t, p, 10*time.Second, names...)
		}
	}
	step(KeyInstall, newKey, 2)
	step(KeyUse, newKey, 2)
	step(KeyRemove, oldKey, 1)
	res, err := pools["c"].Keyring(ctx, KeyList, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Primary[EncodeKey(newKey)] != 3 || res.Keys[EncodeKey(newKey)] != 3 || len(res.Keys) != 1 {
		t.Fatalf("list after the rotation: keys %v, primary %v; want the new key only, on all 3", res.Keys, res.Primary)
	}
	// Every member saved the new keyring.
	for _, name := range names {
		keys, err := LoadKeyring(filepath.Join(dir, name+".json"))
		if err != nil || len(keys) != 1 || EncodeKey(keys[0]) != EncodeKey(newKey) {
			t.Fatalf("%s's keyring file: %d keys, %v; want the new key only", name, len(keys), err)
		}
	}
	// The pool kept talking: a member that fails is still seen to.
	refusedToJoin(t, startKeyed(t, "old", oldKey, ""), pools["a"])
	late := startKeyed(t, "late", newKey, "")
	if n, err := late.Join([]string{pools["a"].Addr()}); err != nil || n != 1 {
		t.Fatalf("a member with the new key: join %d, %v", n, err)
	}
	waitAlive(t, pools["c"], 10*time.Second, "a", "b", "c", "late")
}

func TestTheKeyringFileSurvivesARestartAndWinsOverTheKey(t *testing.T) {
	dir := t.TempDir()
	oldKey, newKey := testKey(t), testKey(t)
	a := startKeyed(t, "a", oldKey, filepath.Join(dir, "a.json"))
	bFile := filepath.Join(dir, "b.json")
	b, err := Start(Config{Name: "b", Bind: "127.0.0.1:0", Fast: true, Key: oldKey, KeyringFile: bFile})
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(bFile); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("b's keyring file at start: %v, %v; want it written, mode 0600", info, err)
	}
	if _, err := b.Join([]string{a.Addr()}); err != nil {
		t.Fatal(err)
	}
	waitAlive(t, a, 10*time.Second, "a", "b")
	ctx := context.Background()
	for _, op := range []KeyOp{KeyInstall, KeyUse} {
		if res, err := a.Keyring(ctx, op, newKey); err != nil || res.Succeeded() != 2 {
			t.Fatalf("%s: %+v %v", op, res, err)
		}
	}
	if res, err := a.Keyring(ctx, KeyRemove, oldKey); err != nil || res.Succeeded() != 2 {
		t.Fatalf("remove: %+v %v", res, err)
	}
	b.Shutdown()
	waitMember(t, a, "b", StatusDead, 10*time.Second)

	// b comes back with the key it was first given (its command line did
	// not change): its keyring file wins, so it is in the pool again.
	b, err = Start(Config{Name: "b", Bind: "127.0.0.1:0", Fast: true, Key: oldKey, KeyringFile: bFile})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown()
	if keys := b.Keys(); len(keys) != 1 || EncodeKey(keys[0]) != EncodeKey(newKey) {
		t.Fatalf("b restarted with %d keys, want the rotated key only", len(keys))
	}
	if n, err := b.Join([]string{a.Addr()}); err != nil || n != 1 {
		t.Fatalf("restarted b: join %d, %v", n, err)
	}
	waitMember(t, a, "b", StatusAlive, 10*time.Second)
	if info, err := os.Stat(bFile); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("b's keyring file after the rotation: %v, %v; want mode 0600", info, err)
	}
}

func TestKeyringRefusalsChangeNothing(t *testing.T) {
	key := testKey(t)
	file := filepath.Join(t.TempDir(), "a.json")
	a := startKeyed(t, "a", key, file)
	ctx := context.Background()
	other := testKey(t)
	for _, tc := range []struct {
		name string
		op   KeyOp
		key  []byte
		want string
		is   error
	}{
		{"a key of 10 bytes", KeyInstall, key[:10], "key size must be 16, 24 or 32 bytes", nil},
		{"no key", KeyInstall, nil, "key size", nil},
		{"use of a key not installed", KeyUse, other, "", ErrKeyNotInstalled},
		{"removal of the primary key", KeyRemove, key, "", ErrPrimaryKey},
		{"an unknown operation", KeyOp("rotate"), other, `unknown keyring operation "rotate"`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.Keyring(ctx, tc.op, tc.key)
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %v / %q", err, tc.is, tc.want)
			}
			if keys := a.Keys(); len(keys) != 1 || EncodeKey(keys[0]) != EncodeKey(key) {
				t.Fatalf("keys after a refusal: %d", len(keys))
			}
			if keys, err := LoadKeyring(file); err != nil || len(keys) != 1 {
				t.Fatalf("keyring file after a refusal: %d keys, %v", len(keys), err)
			}
		})
	}
	plain := startKeyed(t, "plain", nil, filepath.Join(t.TempDir(), "plain.json"))
	if _, err := plain.Keyring(ctx, KeyList, nil); !errors.Is(err, ErrNotEncrypted) {
		t.Fatalf("keyring of a pool in the clear: %v, want ErrNotEncrypted", err)
	}
	// A member that was never given a key writes no keyring file.
	if _, err := os.Stat(filepath.Join(filepath.Dir(file), "plain.json")); err == nil {
		t.Fatal("a member in the clear wrote a keyring file")
	}
}

func TestAMemberThatDoesNotAnswerIsCountedAsFailed(t *testing.T) {
	key := testKey(t)
	a := startKeyed(t, "a", key, "")
	b := startKeyed(t, "b", key, "")
	if _, err := b.Join([]string{a.Addr()}); err != nil {
		t.Fatal(err)
	}
	waitAlive(t, a, 10*time.Second, "a", "b")
	// b cannot read what a sends once a encrypts with a key b lacks: the
	// request of a "list" under it goes unanswered.
	newKey := testKey(t)
	if _, err := a.applyKeyOp(KeyInstall, newKey, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.applyKeyOp(KeyUse, newKey, "test"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	res, err := a.Keyring(ctx, KeyList, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Members != 2 || res.Succeeded() != 1 || res.Failed["b"] == "" || res.Keys[EncodeKey(newKey)] != 1 {
		t.Fatalf("list with b unable to read it: %+v", res)
	}
}

func TestParseKeyAndKeyringFileRefusals(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"", "empty key"},
		{"not base64!", "not base64"},
		{"AAAA", "3 bytes once decoded: want 16, 24 or 32"},
	} {
		if _, err := ParseKey(tc.text); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseKey(%q): %v, want %q", tc.text, err, tc.want)
		}
	}
	for _, n := range []int{16, 24, 32} {
		if _, err := ParseKey(EncodeKey(make([]byte, n)) + "\n"); err != nil {
			t.Errorf("a %d-byte key: %v", n, err)
		}
	}
	dir := t.TempDir()
	for _, tc := range []struct{ text, want string }{
		{`{"key": 1}`, "want a JSON array of base64 keys"},
		{`[]`, "holds no key"},
		{`["AAAA"]`, "key 0: 3 bytes"},
	} {
		path := filepath.Join(dir, "keyring.json")
		if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Start(Config{Name: "a", Bind: "127.0.0.1:0", KeyringFile: path, Key: testKey(t)})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("start with keyring %s: %v, want %q naming the file", tc.text, err, tc.want)
		}
	}
}

// Encryption is memberlist's, at the message layer: it works over the
// in-memory network too, in virtual time, and shuts out a wrong key there.
func TestEncryptedPoolsOverAMemoryNetworkInVirtualTime(t *testing.T) {
	key, wrong := testKey(t), testKey(t)
	synctest.Test(t, func(t *testing.T) {
		n := vnet.NewMemory()
		start := func(name, bind string, key []byte) *Pool {
			p, err := Start(Config{Name: name, Bind: bind, Fast: true, Net: n, Key: key})
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		a, b, c := start("a", "10.0.0.1:7946", key), start("b", "10.0.0.2:7946", key), start("c", "10.0.0.3:7946", wrong)
		defer func() {
			c.Shutdown()
			b.Shutdown()
			a.Shutdown()
			time.Sleep(time.Minute) // as in TestPoolsGossipInVirtualTime
		}()
		if _, err := b.Join([]string{a.Addr()}); err != nil {
			t.Fatal(err)
		}
		waitAlive(t, a, time.Minute, "a", "b")
		if n, err := c.Join([]string{a.Addr()}); err == nil || n != 0 {
			t.Fatalf("c with a wrong key joined: %d, %v", n, err)
		}
		res, err := a.Keyring(context.Background(), KeyList, nil)
		if err != nil || res.Succeeded() != 2 || res.Keys[EncodeKey(key)] != 2 {
			t.Fatalf("list over the memory network: %+v %v", res, err)
		}
	})
}

// A use that would leave a member unable to read the others, and a
// removal that would leave a member's messages unread, are refused before
// anything changes, naming the member.
func TestUseAndRemoveThatWouldCutAMemberOffAreRefused(t *testing.T) {
	oldKey, newKey := testKey(t), testKey(t)
	a, b, c := startKeyed(t, "a", oldKey, ""), startKeyed(t, "b", oldKey, ""), startKeyed(t, "c", oldKey, "")
	for _, p := range []*Pool{b, c} {
		if _, err := p.Join([]string{a.Addr()}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []*Pool{a, b, c} {
		waitAlive(t, p, 10*time.Second, "a", "b", "c")
	}
	ctx := context.Background()
	// c missed the install.
	for _, p := range []*Pool{a, b} {
		if _, err := p.applyKeyOp(KeyInstall, newKey, "test"); err != nil {
			t.Fatal(err)
		}
	}
	_, err := a.Keyring(ctx, KeyUse, newKey)
	if !errors.Is(err, ErrMembersNotReady) || !strings.Contains(err.Error(), "use refused, nothing changed: c does not hold the key: install it on every member first") {
		t.Fatalf("use while c lacks the key: %v", err)
	}
	for name, p := range map[string]*Pool{"a": a, "b": b, "c": c} {
		if keys := p.Keys(); EncodeKey(keys[0]) != EncodeKey(oldKey) {
			t.Fatalf("%s encrypts with another key after a refused use", name)
		}
	}
	// The install again reaches c; then c misses the use.
	if res, err := a.Keyring(ctx, KeyInstall, newKey); err != nil || res.Succeeded() != 3 {
		t.Fatalf("install again: %+v %v", res, err)
	}
	for _, p := range []*Pool{a, b} {
		if _, err := p.applyKeyOp(KeyUse, newKey, "test"); err != nil {
			t.Fatal(err)
		}
	}
	_, err = a.Keyring(ctx, KeyRemove, oldKey)
	if !errors.Is(err, ErrMembersNotReady) || !strings.Contains(err.Error(), "c still encrypts with the key") {
		t.Fatalf("remove while c encrypts with it: %v", err)
	}
	if res, err := b.Keyring(ctx, KeyList, nil); err != nil || res.Keys[EncodeKey(oldKey)] != 3 {
		t.Fatalf("the old key after a refused remove: %+v %v", res, err)
	}
	// The use again reaches c, and the removal goes through.
	if res, err := a.Keyring(ctx, KeyUse, newKey); err != nil || res.Succeeded() != 3 {
		t.Fatalf("use again: %+v %v", res, err)
	}
	if res, err := a.Keyring(ctx, KeyRemove, oldKey); err != nil || res.Succeeded() != 3 || len(res.Keys) != 1 {
		t.Fatalf("remove: %+v %v", res, err)
	}
	waitAlive(t, c, 10*time.Second, "a", "b", "c")
}

// TestReadKeyFileRefusesAFileOthersMayRead: as the servers' keyring and
// the bootstrap token file, a key file others may read is refused, naming
// its mode and the fix; the same file mode 0600 is read.
func TestReadKeyFileRefusesAFileOthersMayRead(t *testing.T) {
	key := testKey(t)
	path := filepath.Join(t.TempDir(), "gossip.key")
	if err := os.WriteFile(path, []byte(EncodeKey(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("mode %04o lets other users read it: chmod 600 %s", mode, path)
		if _, err := ReadKeyFile(path); err == nil || err.Error() != want {
			t.Errorf("mode %04o: %v, want %q", mode, err, want)
		}
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadKeyFile(path)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("mode 0600: %v, %v; want the key", got, err)
	}
}

// TestStartingKeysWarningClaimsNoRotation: a keyring file without the
// flag's key may come from a rotation or from a key file changed after
// the first start; the warning says what is known, not which.
func TestStartingKeysWarningClaimsNoRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), KeyringFileName)
	if err := SaveKeyring(path, [][]byte{testKey(t)}); err != nil {
		t.Fatal(err)
	}
	_, warning, err := startingKeys(Config{KeyringFile: path, Key: testKey(t)})
	want := "the key given by flag is not in the gossip keyring " + path + ": the keyring is used (delete it to start from the flag's key)"
	if err != nil || warning != want {
		t.Fatalf("%q, %v; want %q", warning, err, want)
	}
}
