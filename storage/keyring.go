package storage

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"flotilla/internal/atomicfile"
)

// Encryption at rest of secrets. A keyring is a small JSON file on every
// server (mode 0600) holding AES-256 keys, each with an ID, one of them
// active:
//
//	{"active": "k-5f3a9c1e", "keys": [{"id": "k-5f3a9c1e", "key": "BASE64 of 32 bytes", "created": "..."}]}
//
// Secret values are sealed with AES-256-GCM under the active key before
// they enter the Raft log, with the secret's namespace/name as additional
// data (a sealed value copied onto another secret does not open). Keys
// never enter Raft in the clear: a new key is handed to the other servers
// wrapped (sealed) under the key that was active (Wrap, Unwrap).

// KeySize is the size of a keyring key: AES-256.
const KeySize = 32

// ErrUnknownKey: the keyring holds no key of that ID.
var ErrUnknownKey = errors.New("key not in this keyring")

// Key is one keyring key.
type Key struct {
	ID      string    `json:"id"`
	Key     []byte    `json:"key"` // 32 bytes, base64 in the file
	Created time.Time `json:"created,omitzero"`
}

// keyringFile is the file's layout.
type keyringFile struct {
	Active string `json:"active"`
	Keys   []Key  `json:"keys"`
}

// Keyring is the keys of one server, kept in a file. It is safe for
// concurrent use.
type Keyring struct {
	path string

	mu     sync.RWMutex
	active string
	keys   []Key
}

// NewKey makes a random key; its ID is derived from the key (a hash: the
// ID tells nothing of the key but lets two keyrings be compared).
func NewKey(now time.Time) (Key, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return Key{}, fmt.Errorf("generate a key: %w", err)
	}
	sum := sha256.Sum256(append([]byte("flotilla keyring key id\x00"), k...))
	return Key{ID: "k-" + hex.EncodeToString(sum[:4]), Key: k, Created: now.UTC()}, nil
}

// GenerateKeyring is the text of a new keyring file with one active key,
// as `flotilla operator keyring generate` prints it.
func GenerateKeyring(now time.Time) ([]byte, error) {
	k, err := NewKey(now)
	if err != nil {
		return nil, err
	}
	return encodeKeyring(keyringFile{Active: k.ID, Keys: []Key{k}})
}

func encodeKeyring(f keyringFile) ([]byte, error) {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// LoadKeyring reads the keyring file at path. A missing file is created
// with one new key when create is set (a one-server cluster, a dev
// server); otherwise it is an error, since servers of one cluster must
// share their keys.
func LoadKeyring(path string, create bool, now time.Time) (*Keyring, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		if data, err = GenerateKeyring(now); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("keyring %s: %w", path, err)
		}
		if err := atomicfile.Write(path, data, 0o600); err != nil {
			return nil, fmt.Errorf("keyring %s: %w", path, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("keyring %s: %w", path, err)
	}
	kr := &Keyring{path: path}
	if err := kr.parse(data); err != nil {
		return nil, fmt.Errorf("keyring %s: %w", path, err)
	}
	if info, err := os.Stat(path); err == nil {
		// Keys readable by others are keys leaked.
		if err := atomicfile.Private(info, path); err != nil {
			return nil, fmt.Errorf("keyring %s: %w", path, err)
		}
	}
	return kr, nil
}

func (kr *Keyring) parse(data []byte) error {
	var f keyringFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("not a keyring file: %w", err)
	}
	if len(f.Keys) == 0 {
		return errors.New("no keys")
	}
	seen := map[string]bool{}
	for i, k := range f.Keys {
		if k.ID == "" {
			return fmt.Errorf("keys[%d].id: required", i)
		}
		if len(k.Key) != KeySize {
			return fmt.Errorf("keys[%d].key: want %d bytes (base64), got %d", i, KeySize, len(k.Key))
		}
		if seen[k.ID] {
			return fmt.Errorf("keys[%d].id: duplicate %q", i, k.ID)
		}
		seen[k.ID] = true
	}
	if !seen[f.Active] {
		return fmt.Errorf("active: %q names no key of the file", f.Active)
	}
	kr.active, kr.keys = f.Active, f.Keys
	return nil
}

// Path is the keyring's file.
func (kr *Keyring) Path() string { return kr.path }

// Active is the ID of the key new values are sealed under.
func (kr *Keyring) Active() string {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	return kr.active
}

// IDs lists the keys' IDs in the order they were added.
func (kr *Keyring) IDs() []string {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	ids := make([]string, len(kr.keys))
	for i, k := range kr.keys {
		ids[i] = k.ID
	}
	return ids
}

// Has reports whether the keyring holds a key.
func (kr *Keyring) Has(id string) bool {
	_, err := kr.key(id)
	return err == nil
}

func (kr *Keyring) key(id string) ([]byte, error) {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	for _, k := range kr.keys {
		if k.ID == id {
			return k.Key, nil
		}
	}
	return nil, fmt.Errorf("key %s: %w (%s)", id, ErrUnknownKey, kr.path)
}

// Add puts a key into the keyring, making it active when asked, and
// writes the file. Adding a key it holds only changes which is active.
// Servers sharing one file (a lab) may add the same key at once: each
// merges with what the file holds now and replaces it whole, so both
// writes hold the key.
func (kr *Keyring) Add(k Key, activate bool) error {
	if len(k.Key) != KeySize || k.ID == "" {
		return fmt.Errorf("add key %q: want an ID and %d bytes", k.ID, KeySize)
	}
	kr.mu.Lock()
	defer kr.mu.Unlock()
	// Keys another process added to a shared file stay.
	if data, err := os.ReadFile(kr.path); err == nil {
		var other Keyring
		if other.parse(data) == nil {
			for _, ok := range other.keys {
				if !slices.ContainsFunc(kr.keys, func(x Key) bool { return x.ID == ok.ID }) {
					kr.keys = append(kr.keys, ok)
				}
			}
		}
	}
	if !slices.ContainsFunc(kr.keys, func(x Key) bool { return x.ID == k.ID }) {
		kr.keys = append(kr.keys, k)
	}
	if activate {
		kr.active = k.ID
	}
	data, err := encodeKeyring(keyringFile{Active: kr.active, Keys: kr.keys})
	if err != nil {
		return err
	}
	if err := atomicfile.Write(kr.path, data, 0o600); err != nil {
		return fmt.Errorf("write keyring %s: %w", kr.path, err)
	}
	return nil
}

// Activate makes a key the keyring holds the active one and writes the
// file.
func (kr *Keyring) Activate(id string) error {
	k, err := kr.key(id)
	if err != nil {
		return err
	}
	return kr.Add(Key{ID: id, Key: k}, true)
}

// Seal encrypts plaintext under key id with AES-256-GCM, binding it to
// aad; the result is the nonce followed by the ciphertext.
func (kr *Keyring) Seal(id string, plaintext, aad []byte) ([]byte, error) {
	k, err := kr.key(id)
	if err != nil {
		return nil, err
	}
	return seal(k, plaintext, aad)
}

// Open decrypts what Seal made under key id with the same aad.
func (kr *Keyring) Open(id string, sealed, aad []byte) ([]byte, error) {
	k, err := kr.key(id)
	if err != nil {
		return nil, err
	}
	return open(k, sealed, aad)
}

// Wrap seals key k under key by, for handing it to other servers.
func (kr *Keyring) Wrap(k Key, by string) ([]byte, error) {
	return kr.Seal(by, k.Key, wrapAAD(k.ID))
}

// Unwrap opens a key that Wrap sealed under key by.
func (kr *Keyring) Unwrap(id string, wrapped []byte, by string) (Key, error) {
	material, err := kr.Open(by, wrapped, wrapAAD(id))
	if err != nil {
		return Key{}, err
	}
	if len(material) != KeySize {
		return Key{}, fmt.Errorf("unwrap key %s: %d bytes, want %d", id, len(material), KeySize)
	}
	return Key{ID: id, Key: material}, nil
}

func wrapAAD(id string) []byte { return []byte("flotilla keyring wrap\x00" + id) }

// MAC is a keyed hash of data under key id (HMAC-SHA256 with a key
// derived from it): the version of a secret's content that can be shown
// and compared without telling anything of it.
func (kr *Keyring) MAC(id string, data []byte) (string, error) {
	k, err := kr.key(id)
	if err != nil {
		return "", err
	}
	derive := hmac.New(sha256.New, k)
	derive.Write([]byte("flotilla secret content hash"))
	mac := hmac.New(sha256.New, derive.Sum(nil))
	mac.Write(data)
	return hex.EncodeToString(mac.Sum(nil)[:8]), nil
}

func seal(key, plaintext, aad []byte) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return gcm.Seal(nonce, nonce, plaintext, aad), nil
}

func open(key, sealed, aad []byte) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < gcm.NonceSize() {
		return nil, errors.New("sealed value too short")
	}
	out, err := gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], aad)
	if err != nil {
		return nil, errors.New("sealed value does not open (wrong key, or altered)")
	}
	return out, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
