package virtual

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"flotilla/api"
)

// TestEveryServerOfAVirtualLabReadsItsSecrets: the servers share one
// keyring, as a lab's do, so a secret written through the leader is read
// back through each of them.
func TestEveryServerOfAVirtualLabReadsItsSecrets(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a virtual lab")
	}
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		c, err := Start(ctx, Spec{Servers: 3, Agents: 1, Seed: 1}, t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Client().ApplyFileObject(ctx, api.FileObjectSpec{Kind: api.KindSecret,
			Metadata: api.ObjectMeta{Name: "db"}, Data: map[string]string{"password": "hunter2"}}); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 3; i++ {
			one, err := api.NewClient(fmt.Sprintf("http://%s:%d", serverIP(i), serverPort))
			if err != nil {
				t.Fatal(err)
			}
			one.UseNet(c.Net)
			v, err := one.SecretValues(ctx, "default", "db")
			if err != nil || v.Data["password"] != "hunter2" {
				t.Errorf("s%d: %+v, %v; want the password", i, v, err)
			}
		}
	})
}
