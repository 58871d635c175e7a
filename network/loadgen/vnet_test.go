package loadgen

import (
	"context"
	"io"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"flotilla/internal/vnet"
)

// TestRunDialsThroughTheConfiguredNet loads a target that exists only on a
// vnet.Memory, inside a synctest bubble where the run's second passes in
// virtual time: every request reaches it.
func TestRunDialsThroughTheConfiguredNet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := vnet.NewMemory()
		ln, err := n.Listen("tcp", "127.1.0.1:80")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"version":"v1"}`)
		})}
		go srv.Serve(ln)
		defer srv.Close()

		sum, err := Run(context.Background(), Config{URL: "http://127.1.0.1/", Rate: 20, Duration: time.Second, Net: n})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Requests != 20 || sum.Errors != 0 || sum.Statuses["200"] != 20 || sum.Versions["v1"] != 20 {
			t.Errorf("summary %+v, want 20 answers from v1 and no error", sum)
		}
	})
}
