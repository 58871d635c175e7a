package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"flotilla/storage"
)

// The servers of a lab share one keyring file (the keys that encrypt
// secrets at rest), which the lab makes in its directory, as a
// provisioner would copy one to every server of a real cluster.

// keyringFile is the lab's shared keyring.
func (l *Lab) keyringFile() string { return filepath.Join(l.Dir, "keyring.json") }

// writeKeyring makes a new keyring for the lab's servers, replacing an
// earlier lab's.
func (l *Lab) writeKeyring() error {
	data, err := storage.GenerateKeyring(time.Now())
	if err != nil {
		return err
	}
	path := l.keyringFile()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("lab keyring: %w", err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil { // an earlier file's mode stays otherwise
		return fmt.Errorf("lab keyring: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("lab keyring: %w", err)
	}
	return nil
}
