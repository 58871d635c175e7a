package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"flotilla/network/gossip"
)

// TestGossipNoteSaysWhatIsKnown: a keyring saved from another key than the
// flag's (a rotation, or a key file changed after the first start: the
// note cannot tell which) is named, with what wins and both fixes; it
// does not claim a rotation happened.
func TestGossipNoteSaysWhatIsKnown(t *testing.T) {
	dir := t.TempDir()
	saved, given := make([]byte, 32), make([]byte, 32)
	given[0] = 1
	path := filepath.Join(dir, gossip.KeyringFileName)
	if err := gossip.SaveKeyring(path, [][]byte{saved}); err != nil {
		t.Fatal(err)
	}
	var g gossipKeyFlags
	g.flags(pflag.NewFlagSet("t", pflag.ContinueOnError))
	var out bytes.Buffer
	g.note(&out, dir, given)
	note := out.String()
	for _, want := range []string{"is not in the keyring " + path, "the key file and the saved keyring differ, and the keyring wins",
		"to use the key: delete that file", "to keep the keyring: put its primary key"} {
		if !strings.Contains(note, want) {
			t.Errorf("note %q lacks %q", note, want)
		}
	}
	if strings.Contains(note, "rotation") || strings.Count(note, "\n") != 1 {
		t.Errorf("note %q: want one line that claims no rotation", note)
	}
	out.Reset()
	g.note(&out, dir, saved)
	if out.Len() != 0 {
		t.Errorf("the keyring holds the flag's key, yet: %q", out.String())
	}
}
