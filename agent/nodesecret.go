package agent

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"flotilla/internal/atomicfile"
)

// NodeSecretFile is where an agent keeps its node secret in its data
// directory: made at the first start, sent with every request to the
// servers (api.NodeSecretHeader). The servers keep its hash from the
// node's first registration and refuse the node's own requests (its
// heartbeats, statuses, configs and secrets, certificates) without it.
const NodeSecretFile = "node-secret"

// NodeSecretIn reads the node secret kept in dir, making one (32 random
// bytes, in hex) the first time.
func NodeSecretIn(dir string) (string, error) {
	path := filepath.Join(dir, NodeSecretFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		secret := hex.EncodeToString(b[:])
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", fmt.Errorf("node secret: %w", err)
		}
		if err := atomicfile.Write(path, []byte(secret+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("node secret: %w", err)
		}
		return secret, nil
	}
	if err != nil {
		return "", fmt.Errorf("node secret: %w", err)
	}
	if info, err := os.Stat(path); err == nil {
		// A secret others can read is a secret leaked.
		if err := atomicfile.Private(info, path); err != nil {
			return "", fmt.Errorf("node secret %s: %w", path, err)
		}
	}
	secret := strings.TrimSpace(string(data))
	if len(secret) < 32 || len(secret) > 256 {
		return "", fmt.Errorf("node secret %s: want 32 to 256 characters, the file holds %d", path, len(secret))
	}
	return secret, nil
}
