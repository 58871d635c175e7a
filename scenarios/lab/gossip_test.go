package lab

import (
	"encoding/base64"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestEveryLabMemberGetsTheLabsGossipKeyUnlessPlaintext(t *testing.T) {
	for _, runtime := range []string{"sim", "containerd"} {
		for _, plaintext := range []bool{false, true} {
			l := &Lab{Name: "g", Dir: "/labs/g"}
			l.plan(Config{Name: "g", Servers: 3, Agents: 2, Runtime: runtime, BasePort: DefaultBasePort, PlaintextGossip: plaintext})
			if len(l.Processes) != 5 {
				t.Fatalf("%s: %d processes", runtime, len(l.Processes))
			}
			for _, p := range l.Processes {
				i := slices.Index(p.Args, "--gossip-key-file")
				switch {
				case plaintext && i >= 0:
					t.Errorf("%s, plaintext: %s has --gossip-key-file: %v", runtime, p.Name, p.Args)
				case !plaintext && (i < 0 || i+1 >= len(p.Args) || p.Args[i+1] != "/labs/g/gossip.key"):
					t.Errorf("%s: %s has no --gossip-key-file /labs/g/gossip.key: %v", runtime, p.Name, p.Args)
				}
			}
		}
	}
}

func TestTheLabsGossipKeyIsNewAndPrivate(t *testing.T) {
	dir := t.TempDir()
	var keys []string
	for range 2 {
		if err := writeGossipKey(dir); err != nil {
			t.Fatal(err)
		}
		info, err := os.Stat(GossipKeyFile(dir))
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Fatalf("key file: %v %v, want mode 0600", info, err)
		}
		data, err := os.ReadFile(GossipKeyFile(dir))
		if err != nil {
			t.Fatal(err)
		}
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
		if err != nil || len(key) != 32 {
			t.Fatalf("key file holds %q: %d bytes, %v", data, len(key), err)
		}
		keys = append(keys, string(data))
	}
	if keys[0] == keys[1] {
		t.Fatal("two lab ups wrote the same key")
	}
}
