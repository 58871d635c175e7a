package workload

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"

	"flotilla/internal/vnet"
)

// TestRunListensOnTheConfiguredNet: with Config.Net set, Run's listeners
// (Listen and ExtraListen) are on that network, here a vnet.Memory inside
// a synctest bubble, where a socket of the host's would hang the test.
func TestRunListensOnTheConfiguredNet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := vnet.NewMemory()
		app := New(Config{Version: "v3", Listen: "127.1.0.1:8080", ExtraListen: []string{"127.1.0.1:9090"}, Net: n}, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- app.Run(ctx, nil) }()
		<-app.serving
		client := &http.Client{Transport: &http.Transport{DialContext: n.DialContext}}
		for _, addr := range []string{"127.1.0.1:8080", "127.1.0.1:9090"} {
			resp, err := client.Get("http://" + addr + "/")
			if err != nil {
				t.Fatalf("%s: %v", addr, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), `"version":"v3"`) {
				t.Errorf("%s answers %s", addr, body)
			}
		}
		client.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}
