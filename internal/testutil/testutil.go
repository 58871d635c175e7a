// Package testutil holds what tests of several packages share: the rule
// for tests that need root or a daemon (skip with a message outside CI,
// fail under CI=true), polling with a deadline, and random names. It is
// imported by tests only.
package testutil

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// SkipOrFail skips the test with the message, except under CI=true, where
// a test that did not run must fail: a skip there would hide it.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: not skipping)", msg)
	}
	t.Skip("skipping: " + msg)
}

// RequireRoot is SkipOrFail unless the test runs as root; why says what
// root is for.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "needs root for %s", why)
	}
}

// Eventually polls fn every 20ms until it returns nil, and fails the test
// with fn's last error once within has passed.
func Eventually(t testing.TB, within time.Duration, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, within, err)
		}
		<-tick.C
	}
}

// RandomHex is n random bytes in hex, for names no other test uses.
func RandomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// FilesHolding lists the regular files under dir whose bytes contain
// needle (a secret looked for where it must not be). A file that a
// running process removes meanwhile is passed over.
func FilesHolding(t testing.TB, dir, needle string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if bytes.Contains(data, []byte(needle)) {
			found = append(found, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// LetGossipProbesEnd, called first in a synctest bubble that runs gossip
// pools, lets a memberlist probe still in flight when its pool shut down
// end before the bubble does: memberlist's Shutdown does not wait for it,
// and a bubble whose main goroutine returned with it still waiting on its
// timeout panics (deadlock). The cleanup, registered first, runs last and
// sleeps 5 s of virtual time, longer than any probe's timeouts.
func LetGossipProbesEnd(t testing.TB) {
	t.Cleanup(func() { time.Sleep(5 * time.Second) })
}

// SyncBuffer is a bytes.Buffer that one goroutine may write while another
// reads it: a log sink a test watches.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
