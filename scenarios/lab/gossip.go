package lab

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
)

// GossipKeyFile is where a lab keeps the key its gossip pool is encrypted
// with (unless Config.PlaintextGossip): a new one for every lab up, given
// to every server and agent by --gossip-key-file. A member's keyring,
// rotated or not, is in its data dir (gossip-keyring.json).
func GossipKeyFile(labDir string) string { return filepath.Join(labDir, "gossip.key") }

// writeGossipKey writes a new random 32-byte key, readable by its owner
// only.
func writeGossipKey(labDir string) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("generate the lab's gossip key: %w", err)
	}
	path := GossipKeyFile(labDir)
	os.Remove(path) // an earlier lab's, perhaps of another mode
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		return fmt.Errorf("write the lab's gossip key: %w", err)
	}
	return nil
}
