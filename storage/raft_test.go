package storage

import (
	"io"
	"testing"

	"github.com/hashicorp/raft"
)

func TestRaftStoresKeepTheLogAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenRaftStores(dir, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Log.StoreLogs([]*raft.Log{{Index: 1, Term: 1, Data: []byte("one")}, {Index: 2, Term: 1, Data: []byte("two")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Stable.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = OpenRaftStores(dir, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	last, err := s.Log.LastIndex()
	if err != nil || last != 2 {
		t.Fatalf("last index = %d, %v; want 2", last, err)
	}
	var l raft.Log
	if err := s.Log.GetLog(2, &l); err != nil || string(l.Data) != "two" {
		t.Fatalf("log 2 = %q, %v", l.Data, err)
	}
	if term, err := s.Stable.GetUint64([]byte("CurrentTerm")); err != nil || term != 7 {
		t.Fatalf("term = %d, %v; want 7", term, err)
	}
	has, err := raft.HasExistingState(s.Log, s.Stable, s.Snapshots)
	if err != nil || !has {
		t.Fatalf("HasExistingState = %v, %v", has, err)
	}
}

func TestOpenRaftStoresFailsOnAnUnusableDir(t *testing.T) {
	if _, err := OpenRaftStores("/proc/flotilla-cannot-create", io.Discard); err == nil {
		t.Fatal("opened stores under /proc")
	}
}

// After Close, a term Raft saves (a heartbeat its transport read before
// the shutdown) is dropped rather than failed, which Raft would panic on;
// reads fail; the file keeps what was saved before.
func TestTheStableStoreAfterCloseDropsWrites(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenRaftStores(dir, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Stable.SetUint64([]byte("CurrentTerm"), 3); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stable.SetUint64([]byte("CurrentTerm"), 4); err != nil {
		t.Fatalf("SetUint64 after Close: %v, want it dropped", err)
	}
	if err := s.Stable.Set([]byte("LastVoteCand"), []byte("s2")); err != nil {
		t.Fatalf("Set after Close: %v, want it dropped", err)
	}
	if _, err := s.Stable.GetUint64([]byte("CurrentTerm")); err == nil {
		t.Fatal("GetUint64 after Close succeeded, want an error")
	}
	if _, err := s.Stable.Get([]byte("LastVoteCand")); err == nil {
		t.Fatal("Get after Close succeeded, want an error")
	}
	s, err = OpenRaftStores(dir, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if term, err := s.Stable.GetUint64([]byte("CurrentTerm")); err != nil || term != 3 {
		t.Fatalf("term after reopening = %d, %v; want 3, saved before Close", term, err)
	}
}
