package proxy

import (
	"context"
	"io"
	"net/http"
	"testing"
	"testing/synctest"

	"flotilla/api"
	"flotilla/internal/vnet"
)

// TestProxyOnASimulatedNetwork serves an HTTP and a TCP service with
// Config.Listen and Config.Dial on a vnet.Memory, where the VIPs and
// endpoints exist only (inside a synctest bubble, a socket of the host's
// would block virtual time and hang the test).
func TestProxyOnASimulatedNetwork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := vnet.NewMemory()
		ln, err := n.Listen("tcp", "127.1.0.1:8080")
		if err != nil {
			t.Fatal(err)
		}
		web := &http.Server{Handler: answer("from the endpoint")}
		go web.Serve(ln)
		defer web.Close()
		db, err := n.Listen("tcp", "127.1.0.1:5432")
		if err != nil {
			t.Fatal(err)
		}
		echoUpper(t, db)

		p := New(Config{Listen: n.Listen, Dial: n.DialContext})
		defer p.Close()
		eps := endpoints(1, true, "127.1.0.1")
		update(t, p, httpService("web", "127.64.0.1", 8080, eps, only(1), ""),
			api.ServiceEndpoints{Namespace: "default", Name: "db", VIP: "127.64.0.2",
				Ports: []api.Port{{Name: "db", Port: 5432, Protocol: "tcp"}}, Endpoints: eps, Routes: only(1)})

		client := &http.Client{Transport: &http.Transport{DialContext: n.DialContext}}
		defer client.CloseIdleConnections()
		if r := get(t, client, "http://127.64.0.1:8080/"); r.status != http.StatusOK || r.body != "from the endpoint" {
			t.Errorf("HTTP VIP answered %d %q", r.status, r.body)
		}

		c, err := n.DialContext(context.Background(), "tcp", "127.64.0.2:5432")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "hello")
		c.(interface{ CloseWrite() error }).CloseWrite()
		if b, err := io.ReadAll(c); err != nil || string(b) != "HELLO" {
			t.Errorf("TCP VIP answered %q, %v; want HELLO", b, err)
		}
	})
}
