package proxy

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
)

// The HTTP/1.1 path on the wire: keep-alive, framing, pipelining,
// 100-continue, upgrades, and endpoints that close or misbehave.

// rawEndpoint is an endpoint that serves each connection with serve.
type rawEndpoint struct {
	ip    string
	port  int
	conns atomic.Int64
}

func startRawEndpoint(t *testing.T, port int, serve func(c net.Conn, br *bufio.Reader)) *rawEndpoint {
	t.Helper()
	ln := listenLoopback(t, port)
	e := &rawEndpoint{ip: ln.Addr().(*net.TCPAddr).IP.String(), port: ln.Addr().(*net.TCPAddr).Port}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.conns.Add(1)
			wg.Go(func() {
				defer c.Close()
				serve(c, bufio.NewReader(c))
			})
		}
	})
	return e
}

// proxyFor starts a proxy with one HTTP service in front of the
// endpoints at ips and returns the VIP's address.
func proxyFor(t *testing.T, cfg Config, port int, ips ...string) (*Proxy, string) {
	t.Helper()
	vip := freeVIP(t, port)
	p := newProxy(t, cfg)
	update(t, p, httpService("web", vip, port, endpoints(1, true, ips...), only(1), api.BalanceRoundRobin))
	return p, net.JoinHostPort(vip, strconv.Itoa(port))
}

// rawClient is a client connection that writes bytes as they are.
type rawClient struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawClient{t: t, c: c, br: bufio.NewReader(c)}
}

func (rc *rawClient) send(s string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatal(err)
	}
}

// answer reads one answer to a request of method, body included.
func (rc *rawClient) answer(method string) (*http.Response, string) {
	rc.t.Helper()
	resp, err := http.ReadResponse(rc.br, &http.Request{Method: method})
	if err != nil {
		rc.t.Fatalf("read answer: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		rc.t.Fatalf("read body: %v", err)
	}
	return resp, string(b)
}

// closed reports whether the proxy closed the connection.
func (rc *rawClient) closed() bool {
	rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := rc.br.ReadByte()
	return err == io.EOF || isReset(err)
}

// countingBackends is like startBackends with a count of the connections
// the endpoints accepted and closed.
func countingBackends(t *testing.T, n int, h http.Handler) (int, []*backend, *atomic.Int64, *atomic.Int64) {
	t.Helper()
	var opened, closed atomic.Int64
	port := 0
	var bs []*backend
	for range n {
		ln := listenLoopback(t, port)
		port = ln.Addr().(*net.TCPAddr).Port
		b := &backend{ip: ln.Addr().(*net.TCPAddr).IP.String()}
		b.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b.hits.Add(1)
			h.ServeHTTP(w, r)
		}))
		b.srv.Listener.Close()
		b.srv.Listener = ln
		b.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				opened.Add(1)
			case http.StateClosed, http.StateHijacked:
				closed.Add(1)
			}
		}
		b.srv.Start()
		t.Cleanup(b.srv.Close)
		bs = append(bs, b)
	}
	return port, bs, &opened, &closed
}

func TestKeepAliveReusesEndpointConnections(t *testing.T) {
	t.Parallel()
	port, bs, opened, _ := countingBackends(t, 1, answer("ok"))
	_, addr := proxyFor(t, Config{}, port, bs[0].ip)
	rc := dialRaw(t, addr)
	for i := range 20 {
		rc.send("GET /" + strconv.Itoa(i) + " HTTP/1.1\r\nHost: web\r\n\r\n")
		if resp, body := rc.answer("GET"); resp.StatusCode != 200 || body != "ok" || resp.Close {
			t.Fatalf("request %d: %d %q close=%v", i, resp.StatusCode, body, resp.Close)
		}
	}
	// Other clients, one after the other, share the same connection too.
	for range 5 {
		if r := get(t, newClient(false), "http://"+addr+"/"); r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
	}
	if n := opened.Load(); n != 1 {
		t.Errorf("the endpoint saw %d connections for 25 requests in a row, want 1", n)
	}
}

func TestPipelinedRequestsAreAnsweredInOrder(t *testing.T) {
	t.Parallel()
	port, bs := startBackends(t, 1, func(int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, b)
		})
	})
	_, addr := proxyFor(t, Config{}, port, bs[0].ip)
	rc := dialRaw(t, addr)
	rc.send("GET /first HTTP/1.1\r\nHost: web\r\n\r\n" +
		"POST /second HTTP/1.1\r\nHost: web\r\nContent-Length: 4\r\n\r\nbody" +
		"GET /third HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n")
	for _, want := range []string{"GET /first ", "POST /second body", "GET /third "} {
		if resp, body := rc.answer("GET"); resp.StatusCode != 200 || body != want {
			t.Fatalf("answer %d %q, want %q", resp.StatusCode, body, want)
		}
	}
	if !rc.closed() {
		t.Error("the connection stayed open after Connection: close")
	}
}

func TestChunkedAndCloseDelimitedAnswers(t *testing.T) {
	t.Parallel()
	ep := startRawEndpoint(t, 0, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			switch req.URL.Path {
			case "/chunked":
				io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"+
					"5\r\nhello\r\n7\r\n, world\r\n0\r\nX-Sum: 12\r\n\r\n")
			case "/until-close":
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it")
				return
			case "/http10":
				io.WriteString(c, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
				return
			}
		}
	})
	p, addr := proxyFor(t, Config{}, ep.port, ep.ip)
	c := newClient(true)

	resp, err := c.Get("http://" + addr + "/chunked")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hello, world" || resp.Trailer.Get("X-Sum") != "12" || len(resp.TransferEncoding) == 0 {
		t.Errorf("chunked: %q trailer %v encoding %v", b, resp.Trailer, resp.TransferEncoding)
	}
	for _, path := range []string{"/until-close", "/http10", "/chunked"} {
		if r := get(t, c, "http://"+addr+path); r.status != 200 {
			t.Errorf("%s: %d", path, r.status)
		}
	}
	if r := get(t, c, "http://"+addr+"/until-close"); r.body != "all of it" {
		t.Errorf("close-delimited answer = %q", r.body)
	}

	// An HTTP/1.0 client gets a chunked answer as one that ends with the
	// connection.
	rc := dialRaw(t, addr)
	rc.send("GET /chunked HTTP/1.0\r\n\r\n")
	if resp, body := rc.answer("GET"); resp.StatusCode != 200 || body != "hello, world" || !resp.Close {
		t.Errorf("HTTP/1.0 client: %d %q close=%v", resp.StatusCode, body, resp.Close)
	}
	if tr := traffic(p, 1); tr.Errors != 0 {
		t.Errorf("Traffic = %+v, want no errors", tr)
	}
}

func TestHeadAndBodylessAnswers(t *testing.T) {
	t.Parallel()
	port, bs := startBackends(t, 1, func(int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/204":
				w.WriteHeader(http.StatusNoContent)
			case "/304":
				w.WriteHeader(http.StatusNotModified)
			default:
				w.Header().Set("Content-Length", "5")
				io.WriteString(w, "hello")
			}
		})
	})
	_, addr := proxyFor(t, Config{}, port, bs[0].ip)
	rc := dialRaw(t, addr)
	rc.send("HEAD / HTTP/1.1\r\nHost: web\r\n\r\n")
	if resp, body := rc.answer("HEAD"); resp.StatusCode != 200 || body != "" || resp.ContentLength != 5 {
		t.Errorf("HEAD: %d %q length %d", resp.StatusCode, body, resp.ContentLength)
	}
	for _, path := range []string{"/204", "/304", "/"} {
		rc.send("GET " + path + " HTTP/1.1\r\nHost: web\r\n\r\n")
		resp, body := rc.answer("GET")
		if want, _ := strconv.Atoi(strings.TrimPrefix(path, "/")); want != 0 && resp.StatusCode != want {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
		if path == "/" && body != "hello" {
			t.Errorf("GET after HEAD, 204 and 304 on the same connection: %q", body)
		}
	}
}

// TestIdleEndpointConnectionClosedMeanwhile: an endpoint that closes a
// kept-alive connection while it is idle (or says something unasked on
// it) costs the next request nothing: a GET goes again on a new
// connection, a POST finds out before it is sent.
func TestIdleEndpointConnectionClosedMeanwhile(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, method string
		unasked      string // written on the idle connection before it closes
	}{
		{"GET", "GET", ""},
		{"POST", "POST", ""},
		{"POST after an unasked 408", "POST", "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"},
		{"GET after an unasked 408", "GET", "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dropped := make(chan struct{}, 1)
			ep := startRawEndpoint(t, 0, func(c net.Conn, br *bufio.Reader) {
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				b, _ := io.ReadAll(req.Body)
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(b)+2, "ok"+string(b))
				if req.URL.Path == "/first" {
					// Answered and kept alive as far as the proxy knows;
					// then the endpoint closes it.
					time.Sleep(20 * time.Millisecond)
					io.WriteString(c, tt.unasked)
					c.Close()
					dropped <- struct{}{}
				}
			})
			clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
			p, addr := proxyFor(t, Config{Clock: clk, Outlier: OutlierConfig{Consecutive: 1}}, ep.port, ep.ip)
			c := newClient(true)
			if r := do(t, c, tt.method, "http://"+addr+"/first", "a", nil); r.status != 200 || r.body != "oka" {
				t.Fatalf("first: %d %q", r.status, r.body)
			}
			waitFor(t, dropped, "the endpoint to close the idle connection")
			time.Sleep(20 * time.Millisecond) // for the close to reach the proxy's socket
			if r := do(t, c, tt.method, "http://"+addr+"/second", "b", nil); r.status != 200 || r.body != "okb" {
				t.Fatalf("second: %d %q", r.status, r.body)
			}
			if n := ep.conns.Load(); n != 2 {
				t.Errorf("the endpoint saw %d connections, want 2", n)
			}
			if tr := traffic(p, 1); tr.Requests != 2 || tr.Errors != 0 {
				t.Errorf("Traffic = %+v, want 2 requests and no errors", tr)
			}
			if n := metricSum(t, p, "flotilla_proxy_ejections_total"); n != 0 {
				t.Errorf("the endpoint was ejected (%v) for closing an idle connection", n)
			}
		})
	}
}

func TestExpectContinue(t *testing.T) {
	t.Parallel()
	port, bs := startBackends(t, 1, func(int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/refuse" {
				http.Error(w, "too large", http.StatusRequestEntityTooLarge)
				return
			}
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "got %d bytes", len(b))
		})
	})
	_, addr := proxyFor(t, Config{}, port, bs[0].ip)

	// The client waits for 100 Continue before it sends its body: the
	// endpoint's go-ahead reaches it.
	rc := dialRaw(t, addr)
	rc.send("POST /ok HTTP/1.1\r\nHost: web\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	tp := textproto.NewReader(rc.br)
	if line, err := tp.ReadLine(); err != nil || line != "HTTP/1.1 100 Continue" {
		t.Fatalf("interim answer %q, %v", line, err)
	}
	if _, err := tp.ReadMIMEHeader(); err != nil {
		t.Fatal(err)
	}
	rc.send("hello")
	if resp, body := rc.answer("POST"); resp.StatusCode != 200 || body != "got 5 bytes" {
		t.Fatalf("after 100 Continue: %d %q", resp.StatusCode, body)
	}

	// An endpoint that refuses first: the body is never asked for, and
	// the connection closes after the refusal.
	rc = dialRaw(t, addr)
	rc.send("POST /refuse HTTP/1.1\r\nHost: web\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	if resp, _ := rc.answer("POST"); resp.StatusCode != http.StatusRequestEntityTooLarge || !resp.Close {
		t.Fatalf("refused: %d close=%v", resp.StatusCode, resp.Close)
	}

	// Go's client with an expect timeout, body streamed.
	tr := &http.Transport{Proxy: nil, ExpectContinueTimeout: 5 * time.Second}
	req, _ := http.NewRequest("PUT", "http://"+addr+"/ok", strings.NewReader(strings.Repeat("x", 100<<10)))
	req.Header.Set("Expect", "100-continue")
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != fmt.Sprintf("got %d bytes", 100<<10) {
		t.Errorf("streamed with 100-continue: %q", b)
	}
}

func TestInformationalAnswersPassOn(t *testing.T) {
	t.Parallel()
	ep := startRawEndpoint(t, 0, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"+
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	_, addr := proxyFor(t, Config{}, ep.port, ep.ip)
	var hints []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		hints = append(hints, fmt.Sprintf("%d %s", code, h.Get("Link")))
		return nil
	}}
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := newClient(false).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(hints) != 1 || hints[0] != "103 </style.css>; rel=preload" {
		t.Errorf("status %d, 1xx %v", resp.StatusCode, hints)
	}
}

func TestUpgradeIsSpliced(t *testing.T) {
	t.Parallel()
	ep := startRawEndpoint(t, 0, func(c net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if req.Header.Get("Upgrade") != "echo" || req.Header.Get("Connection") != "Upgrade" {
			io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		io.Copy(c, br) // echo until the client is done
		c.(*net.TCPConn).CloseWrite()
	})
	p, addr := proxyFor(t, Config{Node: "n1"}, ep.port, ep.ip)
	rc := dialRaw(t, addr)
	rc.send("GET /chat HTTP/1.1\r\nHost: web\r\nConnection: keep-alive, Upgrade\r\nUpgrade: echo\r\n\r\nearly ")
	resp, err := http.ReadResponse(rc.br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Upgrade") != "echo" || resp.Header.Get(HeaderProxy) != "n1" {
		t.Fatalf("upgrade answer %d %v", resp.StatusCode, resp.Header)
	}
	rc.send("bytes")
	rc.c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(rc.br)
	if err != nil || string(got) != "early bytes" {
		t.Errorf("echoed %q, %v; want the bytes sent with and after the request", got, err)
	}
	p.Close() // the upgraded connection is done: Close does not wait for it
	if tr := traffic(p, 1); tr.Requests != 1 || tr.Errors != 0 || tr.InFlight != 0 {
		t.Errorf("Traffic = %+v", tr)
	}
}

func TestRequestBodiesArriveWhole(t *testing.T) {
	t.Parallel()
	port, bs := startBackends(t, 1, func(int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := sha256.New()
			n, err := io.Copy(h, r.Body)
			fmt.Fprintf(w, "%d %x %v %s", n, h.Sum(nil)[:4], err, r.Trailer.Get("X-Check"))
		})
	})
	_, addr := proxyFor(t, Config{}, port, bs[0].ip)
	c := newClient(true)
	for _, size := range []int{1, 4 << 10, maxBufferedBody, maxBufferedBody + 1, 3 << 20} {
		body := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		sum := sha256.Sum256(body)
		want := fmt.Sprintf("%d %x <nil> ", size, sum[:4])
		// Known length.
		if r := do(t, c, "POST", "http://"+addr+"/", string(body), nil); r.body != want {
			t.Errorf("%d bytes with a length: %q, want %q", size, r.body, want)
		}
		// Chunked, with a trailer.
		req, _ := http.NewRequest("POST", "http://"+addr+"/", io.MultiReader(bytes.NewReader(body)))
		req.Trailer = http.Header{"X-Check": {"yes"}}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != want+"yes" {
			t.Errorf("%d bytes chunked: %q, want %q", size, b, want+"yes")
		}
	}
}

func TestHopByHopAndForwardingHeaders(t *testing.T) {
	t.Parallel()
	seen := make(chan http.Header, 1)
	port, bs := startBackends(t, 1, func(int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen <- r.Header.Clone()
			w.Header().Set("Connection", "X-Internal")
			w.Header().Set("X-Internal", "secret")
			w.Header().Set("Keep-Alive", "timeout=5")
			w.Header().Set(HeaderRevision, "99")
			io.WriteString(w, "ok")
		})
	})
	_, addr := proxyFor(t, Config{}, port, bs[0].ip)
	rc := dialRaw(t, addr)
	rc.send("GET / HTTP/1.1\r\nHost: web.example\r\nConnection: X-Secret\r\nX-Secret: 1\r\nKeep-Alive: 5\r\n" +
		"Proxy-Authorization: basic x\r\nTe: trailers\r\nX-Forwarded-For: 10.0.0.1\r\nForwarded: for=1.2.3.4\r\n" +
		"X-Forwarded-Proto: https\r\nX-Kept: yes\r\n\r\n")
	resp, _ := rc.answer("GET")
	h := waitFor(t, seen, "the request at the endpoint")
	for _, gone := range []string{"X-Secret", "Keep-Alive", "Proxy-Authorization", "Forwarded", "Connection"} {
		if v := h.Get(gone); v != "" {
			t.Errorf("the endpoint got %s: %q", gone, v)
		}
	}
	for k, want := range map[string]string{"X-Kept": "yes", "Te": "trailers", "X-Forwarded-Host": "web.example",
		"X-Forwarded-Proto": "http"} {
		if got := h.Get(k); got != want {
			t.Errorf("the endpoint got %s %q, want %q", k, got, want)
		}
	}
	if xff := h.Get("X-Forwarded-For"); !strings.HasPrefix(xff, "10.0.0.1, 127.") {
		t.Errorf("X-Forwarded-For = %q, want the prior hop then the client", xff)
	}
	if resp.Header.Get("X-Internal") != "" || resp.Header.Get("Keep-Alive") != "" {
		t.Errorf("the client got the endpoint's hop-by-hop headers: %v", resp.Header)
	}
	if got := resp.Header.Values(HeaderRevision); len(got) != 1 || got[0] != "1" {
		t.Errorf("%s = %v, want the proxy's only", HeaderRevision, got)
	}
	if resp.Header.Get("Date") == "" {
		t.Error("no Date")
	}
}

func TestHTTP10Clients(t *testing.T) {
	t.Parallel()
	port, bs := startBackends(t, 1, func(int) http.Handler { return answer("ok") })
	_, addr := proxyFor(t, Config{}, port, bs[0].ip)

	rc := dialRaw(t, addr)
	rc.send("GET / HTTP/1.0\r\n\r\n")
	if resp, body := rc.answer("GET"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("HTTP/1.0: %d %q", resp.StatusCode, body)
	}
	if !rc.closed() {
		t.Error("an HTTP/1.0 connection without keep-alive stayed open")
	}

	rc = dialRaw(t, addr)
	for range 2 {
		rc.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
		if resp, body := rc.answer("GET"); resp.StatusCode != 200 || body != "ok" || resp.Header.Get("Connection") != "keep-alive" {
			t.Fatalf("HTTP/1.0 keep-alive: %d %q %v", resp.StatusCode, body, resp.Header)
		}
	}
}

func TestRequestsTheProxyTurnsDown(t *testing.T) {
	t.Parallel()
	port, bs := startBackends(t, 1, func(int) http.Handler { return answer("ok") })
	_, addr := proxyFor(t, Config{}, port, bs[0].ip)
	for _, tt := range []struct {
		name, raw string
		status    int
	}{
		{"length and chunks", "POST / HTTP/1.1\r\nHost: w\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400},
		{"unknown transfer coding", "POST / HTTP/1.1\r\nHost: w\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"folded header", "GET / HTTP/1.1\r\nHost: w\r\nX-A: 1\r\n 2\r\n\r\n", 400},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
		{"huge header", "GET / HTTP/1.1\r\nHost: w\r\nX-A: " + strings.Repeat("a", maxHeaderBytes) + "\r\n\r\n", 431},
		{"CONNECT", "CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n", 501},
		{"unknown expectation", "POST / HTTP/1.1\r\nHost: w\r\nExpect: magic\r\nContent-Length: 1\r\n\r\nx", 417},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rc := dialRaw(t, addr)
			rc.send(tt.raw)
			resp, _ := rc.answer("GET")
			if resp.StatusCode != tt.status || !resp.Close {
				t.Errorf("status %d close=%v, want %d and close", resp.StatusCode, resp.Close, tt.status)
			}
		})
	}
	if n := bs[0].hits.Load(); n != 0 {
		t.Errorf("%d turned-down requests reached the endpoint", n)
	}
}

func TestBadEndpointAnswersAre502(t *testing.T) {
	t.Parallel()
	ep := startRawEndpoint(t, 0, func(c net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		switch req.URL.Path {
		case "/garbage":
			io.WriteString(c, "HTP/1.1 200 OK\r\n\r\n")
		case "/smuggle":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")
		case "/short":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
		}
	})
	p, addr := proxyFor(t, Config{Outlier: OutlierConfig{Consecutive: -1}}, ep.port, ep.ip)
	c := newClient(false)
	for _, path := range []string{"/garbage", "/smuggle"} {
		if r := get(t, c, "http://"+addr+path); r.status != http.StatusBadGateway {
			t.Errorf("%s: %d %q, want 502", path, r.status, r.body)
		}
	}
	// An answer cut short reaches the client cut short.
	if _, err := c.Get("http://" + addr + "/short"); err == nil {
		resp, _ := c.Get("http://" + addr + "/short")
		if resp != nil {
			if _, err := io.ReadAll(resp.Body); err == nil {
				t.Error("an answer cut short read as whole")
			}
		}
	}
	if tr := traffic(p, 1); tr.Errors < 3 {
		t.Errorf("Traffic = %+v, want the bad answers counted as errors", tr)
	}
}

func TestEndpointConnectionsCloseWhenItTurnsUnready(t *testing.T) {
	t.Parallel()
	port, bs, opened, closed := countingBackends(t, 2, answer("ok"))
	vip := freeVIP(t, port)
	p := newProxy(t, Config{})
	both := append(endpoints(1, true, bs[0].ip), endpoints(1, true, bs[1].ip)...)
	update(t, p, httpService("web", vip, port, both, only(1), api.BalanceRoundRobin))
	c := newClient(true)
	for range 4 {
		get(t, c, fmt.Sprintf("http://%s/", net.JoinHostPort(vip, strconv.Itoa(port))))
	}
	if opened.Load() != 2 || closed.Load() != 0 {
		t.Fatalf("opened %d closed %d, want 2 kept alive", opened.Load(), closed.Load())
	}
	update(t, p, httpService("web", vip, port, append(endpoints(1, true, bs[0].ip), endpoints(1, false, bs[1].ip)...), only(1), api.BalanceRoundRobin))
	deadline := time.Now().Add(10 * time.Second)
	for closed.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if closed.Load() != 1 {
		t.Errorf("closed %d connections after one endpoint turned unready, want 1", closed.Load())
	}
	update(t, p)
	for closed.Load() != 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if closed.Load() != 2 {
		t.Errorf("closed %d connections after the service left, want 2", closed.Load())
	}
}

func TestIdleEndpointConnectionsExpire(t *testing.T) {
	t.Parallel()
	port, bs, _, closed := countingBackends(t, 1, answer("ok"))
	clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	_, addr := proxyFor(t, Config{Clock: clk}, port, bs[0].ip)
	get(t, newClient(true), "http://"+addr+"/")
	clk.Advance(idleConnTimeout - time.Second)
	time.Sleep(20 * time.Millisecond)
	if n := closed.Load(); n != 0 {
		t.Fatalf("closed %d connections before the idle timeout", n)
	}
	clk.Advance(time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for closed.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := closed.Load(); n != 1 {
		t.Errorf("closed %d connections after the idle timeout, want 1", n)
	}
}

func TestCloseClosesIdleClientConnectionsAtOnce(t *testing.T) {
	t.Parallel()
	port, bs := startBackends(t, 1, func(int) http.Handler { return answer("ok") })
	p := New(Config{ShutdownTimeout: time.Minute})
	vip := freeVIP(t, port)
	update(t, p, httpService("web", vip, port, endpoints(1, true, bs[0].ip), only(1), ""))
	rc := dialRaw(t, net.JoinHostPort(vip, strconv.Itoa(port)))
	rc.send("GET / HTTP/1.1\r\nHost: web\r\n\r\n")
	rc.answer("GET")
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	if err := waitFor(t, done, "Close with an idle kept-alive client"); err != nil {
		t.Fatal(err)
	}
	if !rc.closed() {
		t.Error("the idle client connection is still open")
	}
}

// RFC 9112 2.2 lets a recipient take a bare LF for CRLF; the proxy does
// not, in a client's head or an endpoint's, so that it never finds a
// message's end where the next hop would not.
func TestBareLineFeedsAreTurnedDown(t *testing.T) {
	t.Parallel()
	port, bs := startBackends(t, 1, func(int) http.Handler { return answer("ok") })
	_, addr := proxyFor(t, Config{}, port, bs[0].ip)
	for _, tt := range []struct{ name, raw string }{
		{"all bare", "GET / HTTP/1.1\nHost: w\n\n"},
		{"after the request line", "GET / HTTP/1.1\nHost: w\r\n\r\n"},
		{"after a field", "GET / HTTP/1.1\r\nHost: w\nX-A: 1\r\n\r\n"},
		{"at the end of the head", "GET / HTTP/1.1\r\nHost: w\r\n\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rc := dialRaw(t, addr)
			rc.send(tt.raw)
			resp, _ := rc.answer("GET")
			if resp.StatusCode != http.StatusBadRequest || !resp.Close {
				t.Errorf("status %d close=%v, want 400 and close", resp.StatusCode, resp.Close)
			}
		})
	}
	if n := bs[0].hits.Load(); n != 0 {
		t.Errorf("%d requests with bare LFs reached the endpoint", n)
	}

	ep := startRawEndpoint(t, 0, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err == nil {
			io.WriteString(c, "HTTP/1.1 200 OK\nContent-Length: 2\n\nok")
		}
	})
	_, bad := proxyFor(t, Config{Outlier: OutlierConfig{Consecutive: -1}}, ep.port, ep.ip)
	if r := get(t, newClient(false), "http://"+bad+"/"); r.status != http.StatusBadGateway {
		t.Errorf("an answer with bare LFs: %d %q, want 502", r.status, r.body)
	}
}

// RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty
// framing, whatever else it says: the proxy reads it as chunked if that is
// what it says, and closes the connection after it.
func TestHTTP10TransferEncodingIsReadThenTheConnectionCloses(t *testing.T) {
	t.Parallel()
	port, bs := startBackends(t, 1, func(int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s", r.Method, b)
		})
	})
	_, addr := proxyFor(t, Config{}, port, bs[0].ip)
	rc := dialRaw(t, addr)
	rc.send("POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
		"GET /smuggled HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	resp, body := rc.answer("POST")
	if resp.StatusCode != 200 || body != "POST abc" || resp.Header.Get("Connection") == "keep-alive" {
		t.Errorf("HTTP/1.0 chunked request: %d %q %v, want its body and no keep-alive", resp.StatusCode, body, resp.Header)
	}
	if !rc.closed() {
		t.Error("the connection stayed open after an HTTP/1.0 request with Transfer-Encoding")
	}
	if n := bs[0].hits.Load(); n != 1 {
		t.Errorf("the endpoint got %d requests, want 1", n)
	}

	// An endpoint's HTTP/1.0 answer with Transfer-Encoding: read as
	// chunks, and its connection not used again.
	ep := startRawEndpoint(t, 0, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			io.WriteString(c, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
		}
	})
	_, addr = proxyFor(t, Config{}, ep.port, ep.ip)
	c := newClient(true)
	c.Timeout = 5 * time.Second
	for i := range 2 {
		if r := get(t, c, "http://"+addr+"/"); r.status != 200 || r.body != "abc" {
			t.Fatalf("answer %d: %d %q, want the chunks' data", i, r.status, r.body)
		}
	}
	if n := ep.conns.Load(); n != 2 {
		t.Errorf("the endpoint saw %d connections for 2 requests, want 2: one answer each", n)
	}
}
