// Package testutil holds what tests of several packages share: the rule
// for tests that need root or a daemon (skip with a message outside CI,
// fail under CI=true), polling with a deadline, and random names. It is
// imported by tests only.
package testutil

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
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
