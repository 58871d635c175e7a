package scheduler

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"flotilla/api"
)

// BenchmarkReads measures what consistent reads cost against stale ones
// on a three-server cluster in this process: GET of one service, from one
// client at a time (latency) and from 16 at once (throughput), on the
// leader and on a follower.
//
//	go test -run '^$' -bench Reads -benchtime 3s ./scheduler
func BenchmarkReads(b *testing.B) {
	dir, err := os.MkdirTemp("", "reads-bench")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	c, err := StartLocalCluster(dir, 3, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	leader, err := c.WaitForLeader(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var follower *Server
	for _, s := range c.Servers() {
		if s != leader {
			follower = s
			break
		}
	}
	client, err := api.NewClient(strings.Join(c.HTTPAddrs(), ","))
	if err != nil {
		b.Fatal(err)
	}
	specs, err := api.DecodeServices("bench", []byte("kind: Service\nname: web\nimage: demo\nreplicas: 0\n"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := client.ApplyService(ctx, specs[0]); err != nil {
		b.Fatal(err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 64
	hc := &http.Client{Transport: transport}
	read := func(b *testing.B, url string) {
		resp, err := hc.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %s", url, resp.Status)
		}
	}
	for _, target := range []struct {
		name string
		s    *Server
	}{{"leader", leader}, {"follower", follower}} {
		for _, mode := range []struct{ name, query string }{{"consistent", ""}, {"stale", "?stale"}} {
			url := fmt.Sprintf("http://%s/v1/services/default/web%s", target.s.HTTPAddr(), mode.query)
			b.Run(fmt.Sprintf("%s/%s/1-client", target.name, mode.name), func(b *testing.B) {
				for b.Loop() {
					read(b, url)
				}
			})
			b.Run(fmt.Sprintf("%s/%s/16-clients", target.name, mode.name), func(b *testing.B) {
				b.SetParallelism(8) // 8 × GOMAXPROCS(2) = 16 goroutines
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						read(b, url)
					}
				})
			})
		}
	}
}
