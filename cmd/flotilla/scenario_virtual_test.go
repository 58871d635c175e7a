package main

import (
	"errors"
	"io/fs"
	"os"
	"testing"
)

// TestAVirtualRunThatPanicsRemovesItsDirectory: removeOnPanic, deferred
// as runVirtual defers it in the bubble, removes the run's directory and
// lets the panic go on.
func TestAVirtualRunThatPanicsRemovesItsDirectory(t *testing.T) {
	dir, err := os.MkdirTemp(t.TempDir(), "flotilla-virtual-")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(dir+"/raft.db", []byte("x"), 0o644)
	p := func() (p any) {
		defer func() { p = recover() }()
		func() {
			defer removeOnPanic(dir)
			panic("a step crashed")
		}()
		return nil
	}()
	if p != "a step crashed" {
		t.Fatalf("recovered %v, want the step's panic", p)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the directory is still there: %v", err)
	}
}
