package gossip

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/memberlist"

	"flotilla/internal/atomicfile"
)

// KeyringFileName is the file in a member's data directory that keeps its
// gossip keyring across restarts: a JSON array of base64 keys, the
// primary (the one that encrypts) first, as Serf and Nomad keep theirs.
const KeyringFileName = "gossip-keyring.json"

// Errors of keyring operations.
var (
	// ErrNotEncrypted: this member gossips in the clear, so it has no
	// keyring to change.
	ErrNotEncrypted = errors.New("gossip encryption is off on this member (start it with --gossip-key-file)")
	// ErrKeyNotInstalled: use of a key the keyring does not hold.
	ErrKeyNotInstalled = errors.New("the key is not installed: install it first")
	// ErrPrimaryKey: removal of the key that encrypts.
	ErrPrimaryKey = errors.New("the key is the primary key, which encrypts: use another key first")
	// ErrMembersNotReady: a use or removal refused, before anything
	// changed, because it would cut a member off the pool.
	ErrMembersNotReady = errors.New("refused, nothing changed")
)

// ParseKey decodes a base64 gossip key of 16, 24 or 32 bytes (AES-128,
// -192 or -256).
func ParseKey(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, errors.New("empty key: want the base64 of 32 random bytes (flotilla operator gossip keyring generate)")
	}
	key, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return nil, errors.New("not base64: want the base64 of 32 random bytes (flotilla operator gossip keyring generate)")
	}
	if err := memberlist.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("%d bytes once decoded: want 16, 24 or 32 (32 is AES-256)", len(key))
	}
	return key, nil
}

// EncodeKey is a key as users read and type it.
func EncodeKey(key []byte) string { return base64.StdEncoding.EncodeToString(key) }

// GenerateKey is a new random 32-byte key, base64.
func GenerateKey() (string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("generate a gossip key: %w", err)
	}
	return EncodeKey(key), nil
}

// ReadKeyFile reads a file that holds one base64 key. The file must be
// readable by its owner alone, as the servers' keyring and the bootstrap
// token file must be: a key others can read is a key leaked. Errors
// opening or reading the file are the os package's (they name the file);
// the others do not name it.
func ReadKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Private(info, path); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	return ParseKey(string(data))
}

// LoadKeyring reads a keyring file (KeyringFileName); an error satisfying
// errors.Is(err, fs.ErrNotExist) when there is none.
func LoadKeyring(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var texts []string
	if err := json.Unmarshal(data, &texts); err != nil {
		return nil, fmt.Errorf("gossip keyring %s: want a JSON array of base64 keys: %w", path, err)
	}
	if len(texts) == 0 {
		return nil, fmt.Errorf("gossip keyring %s holds no key", path)
	}
	keys := make([][]byte, 0, len(texts))
	for i, text := range texts {
		key, err := ParseKey(text)
		if err != nil {
			return nil, fmt.Errorf("gossip keyring %s: key %d: %w", path, i, err)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// SaveKeyring writes a keyring file, primary key first, readable by its
// owner only; the file is replaced whole, never half-written.
func SaveKeyring(path string, keys [][]byte) error {
	texts := make([]string, 0, len(keys))
	for _, k := range keys {
		texts = append(texts, EncodeKey(k))
	}
	data, err := json.MarshalIndent(texts, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("save gossip keyring: %w", err)
	}
	return nil
}

// startingKeys are the keys a member starts with: its keyring file's when
// there is one (it holds what rotations left, which the key it was given
// at first may no longer be), else the key it was given, which is then
// written to a new keyring file. warning is set when the given key is
// ignored.
func startingKeys(cfg Config) (keys [][]byte, warning string, err error) {
	if cfg.KeyringFile != "" {
		keys, err = LoadKeyring(cfg.KeyringFile)
		switch {
		case err == nil:
			if cfg.Key != nil && !containsKey(keys, cfg.Key) {
				warning = fmt.Sprintf("the key given by flag is not in the gossip keyring %s: the keyring is used (delete it to start from the flag's key)", cfg.KeyringFile)
			}
			return keys, warning, nil
		case !errors.Is(err, os.ErrNotExist):
			return nil, "", err
		}
	}
	if cfg.Key == nil {
		return nil, "", nil
	}
	if err := memberlist.ValidateKey(cfg.Key); err != nil {
		return nil, "", fmt.Errorf("gossip key: %w", err)
	}
	keys = [][]byte{cfg.Key}
	if cfg.KeyringFile != "" {
		if err := SaveKeyring(cfg.KeyringFile, keys); err != nil {
			return nil, "", err
		}
	}
	return keys, "", nil
}

func containsKey(keys [][]byte, key []byte) bool {
	for _, k := range keys {
		if bytes.Equal(k, key) {
			return true
		}
	}
	return false
}
