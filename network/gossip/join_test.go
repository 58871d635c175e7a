package gossip

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"flotilla/internal/clock"
	"flotilla/internal/testutil"
)

// A member whose key the pool does not have cannot join: it says so
// (once it has failed for joinQuietFor, on its clock), rather than
// waiting outside the pool in silence; with the right key it says it
// joined.
func TestJoinUntilAnsweredSaysWhyItCannotJoin(t *testing.T) {
	good, other := make([]byte, 32), make([]byte, 32)
	other[0] = 1
	seed, err := Start(Config{Name: "seed", Bind: "127.0.0.1:0", Fast: true, Key: good, KeyringFile: t.TempDir() + "/keyring.json", Meta: Meta{Role: RoleServer}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seed.Shutdown() })
	for _, tc := range []struct {
		key  []byte
		want string
	}{{other, "cannot join the gossip pool yet"}, {good, "joined gossip pool"}} {
		fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		p, err := Start(Config{Name: "late", Bind: "127.0.0.1:0", Fast: true, Key: tc.key, KeyringFile: t.TempDir() + "/keyring.json", Clock: fake, Meta: Meta{Role: RoleAgent}})
		if err != nil {
			t.Fatal(err)
		}
		var logs testutil.SyncBuffer
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			p.JoinUntilAnswered(ctx, []string{seed.Addr()}, slog.New(slog.NewTextHandler(&logs, nil)))
		}()
		testutil.Eventually(t, 20*time.Second, tc.want, func() error {
			fake.Advance(time.Second)
			if !strings.Contains(logs.String(), tc.want) {
				return fmt.Errorf("log so far: %s", logs.String())
			}
			return nil
		})
		cancel()
		<-done
		p.Shutdown()
	}
}
