package storage

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// RaftStores are a server's durable Raft stores.
type RaftStores struct {
	Log       raft.LogStore
	Stable    raft.StableStore
	Snapshots raft.SnapshotStore
	bolt      *raftboltdb.BoltStore
}

// snapshotsRetained is how many Raft snapshots stay on disk.
const snapshotsRetained = 2

// OpenRaftStores opens (or creates) DIR/raft/raft.db for the log and stable
// store, and DIR/raft/snapshots. fsync is on: an entry a client saw
// acknowledged is on disk.
func OpenRaftStores(dataDir string, logOutput io.Writer) (*RaftStores, error) {
	dir := filepath.Join(dataDir, "raft")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create raft dir: %w", err)
	}
	bolt, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
	if err != nil {
		return nil, fmt.Errorf("open raft log %s: %w", filepath.Join(dir, "raft.db"), err)
	}
	// A cache in front of the log spares bbolt reads while replicating.
	logStore, err := raft.NewLogCache(512, bolt)
	if err != nil {
		bolt.Close()
		return nil, fmt.Errorf("raft log cache: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStore(dir, snapshotsRetained, logOutput)
	if err != nil {
		bolt.Close()
		return nil, fmt.Errorf("open raft snapshots: %w", err)
	}
	return &RaftStores{Log: logStore, Stable: bolt, Snapshots: snaps, bolt: bolt}, nil
}

// Close releases the bbolt file.
func (r *RaftStores) Close() error { return r.bolt.Close() }
