package storage

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// RaftStores are a server's durable Raft stores.
type RaftStores struct {
	Log       raft.LogStore
	Stable    raft.StableStore
	Snapshots raft.SnapshotStore
	bolt      *raftboltdb.BoltStore
	stable    *stableStore
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
	stable := &stableStore{bolt: bolt}
	return &RaftStores{Log: logStore, Stable: stable, Snapshots: snaps, bolt: bolt, stable: stable}, nil
}

// Close releases the bbolt file, once the stable store's calls in flight
// are done.
func (r *RaftStores) Close() error {
	r.stable.close()
	return r.bolt.Close()
}

// stableStore is the bbolt file as Raft's stable store, safe for the
// moment after Close. Raft's transport may still hand Raft a heartbeat it
// read before the shutdown, and Raft panics when it cannot save the term
// the heartbeat carries ("failed to save current term: database not
// open"; seen in CI when a test stopped a server). Close waits for the
// calls in flight; after it, writes are dropped (the server is stopping,
// and its next start opens the file again) and reads fail.
type stableStore struct {
	mu     sync.RWMutex
	closed bool
	bolt   *raftboltdb.BoltStore
}

var errStoresClosed = fmt.Errorf("raft stores closed")

func (s *stableStore) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

func (s *stableStore) Set(key, val []byte) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil
	}
	return s.bolt.Set(key, val)
}

func (s *stableStore) Get(key []byte) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, errStoresClosed
	}
	return s.bolt.Get(key)
}

func (s *stableStore) SetUint64(key []byte, val uint64) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil
	}
	return s.bolt.SetUint64(key, val)
}

func (s *stableStore) GetUint64(key []byte) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, errStoresClosed
	}
	return s.bolt.GetUint64(key)
}
