package lab

import (
	"fmt"
	"path/filepath"
	"time"

	"flotilla/internal/atomicfile"
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
	if err := atomicfile.Write(l.keyringFile(), data, 0o600); err != nil {
		return fmt.Errorf("lab keyring: %w", err)
	}
	return nil
}
