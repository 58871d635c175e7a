package proxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"testing"

	"flotilla/api"
)

// BenchmarkProxyHTTP sends small GETs over kept-alive connections, straight
// to the endpoint and through the proxy, one client at a time and in
// parallel.
func BenchmarkProxyHTTP(b *testing.B) {
	port, bs := startBackends(b, 2, func(int) http.Handler { return answer("ok") })
	vip := freeVIP(b, port)
	p := newProxy(b, Config{})
	eps := append(endpoints(1, true, bs[0].ip), endpoints(2, true, bs[1].ip)...)
	routes := api.RouteTable{Split: []api.WeightedBackend{{Backend: 1, Weight: 90}, {Backend: 2, Weight: 10}}}
	update(b, p, httpService("web", vip, port, eps, routes, api.BalanceLeastRequest))

	for _, tt := range []struct{ name, host string }{
		{"direct", bs[0].ip},
		{"proxy", vip},
	} {
		url := fmt.Sprintf("http://%s/", net.JoinHostPort(tt.host, strconv.Itoa(port)))
		b.Run(tt.name, func(b *testing.B) {
			c := newClient(true)
			b.ReportAllocs()
			for b.Loop() {
				fetch(b, c, url)
			}
		})
		b.Run(tt.name+"-parallel", func(b *testing.B) {
			c := newClient(true)
			b.ReportAllocs()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					fetch(b, c, url)
				}
			})
		})
		// As many client connections as `bench proxy`'s largest sweep:
		// more than a small fixed pool to the endpoints would keep.
		b.Run(tt.name+"-256conns", func(b *testing.B) {
			c := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 256}}
			defer c.CloseIdleConnections()
			b.ReportAllocs()
			b.SetParallelism(max(1, 256/runtime.GOMAXPROCS(0)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					fetch(b, c, url)
				}
			})
		})
	}
}

func fetch(b *testing.B, c *http.Client, url string) {
	resp, err := c.Get(url)
	if err != nil {
		b.Error(err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Errorf("status %d", resp.StatusCode)
	}
}

// BenchmarkProxyTCP opens a connection through the proxy, sends a few bytes,
// half-closes and reads the answer.
func BenchmarkProxyTCP(b *testing.B) {
	ln := listenLoopback(b, 0)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	vip := freeVIP(b, port)
	p := newProxy(b, Config{})
	update(b, p, api.ServiceEndpoints{Namespace: "default", Name: "echo", VIP: vip,
		Ports:     []api.Port{{Name: "echo", Port: port}},
		Endpoints: endpoints(1, true, ln.Addr().(*net.TCPAddr).IP.String()), Routes: only(1)})
	addr := net.JoinHostPort(vip, strconv.Itoa(port))
	b.ReportAllocs()
	for b.Loop() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		c.Write([]byte("ping"))
		c.(*net.TCPConn).CloseWrite()
		if got, err := io.ReadAll(c); err != nil || string(got) != "ping" {
			b.Fatalf("echo = %q, %v", got, err)
		}
		c.Close()
	}
}
