package api

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestGuardBrowsersRefusesCrossOriginWritesAndRebindingNames(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	cases := []struct {
		what   string
		plain  bool
		method string
		header map[string]string
		want   int
		says   string
	}{
		{"the CLI's write (no Origin)", true, "POST", nil, 200, ""},
		{"a write from the API's own page", true, "POST", map[string]string{"Origin": "http://127.0.0.1:4646", "Sec-Fetch-Site": "same-origin"}, 200, ""},
		{"a write from another site, by Origin", true, "POST", map[string]string{"Origin": "http://evil.example"}, 403, `cross-origin request refused (Origin "http://evil.example")`},
		{"a write from another site, by Sec-Fetch-Site", false, "PUT", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, "cross-origin request refused"},
		{"a read from another site (it cannot see the answer)", false, "GET", map[string]string{"Origin": "http://evil.example"}, 200, ""},
		{"a rebound name on a plain loopback API, read", true, "GET", map[string]string{"Host": "evil.example:4646"}, 403, `host "evil.example:4646" refused`},
		{"localhost on a plain loopback API", true, "GET", map[string]string{"Host": "localhost:4646"}, 200, ""},
		{"::1 on a plain loopback API", true, "GET", map[string]string{"Host": "[::1]:4646"}, 200, ""},
		{"127.0.0.2 on a plain loopback API", true, "GET", map[string]string{"Host": "127.0.0.2"}, 200, ""},
		{"a name on a TLS or non-loopback API", false, "GET", map[string]string{"Host": "server1.lan:4646"}, 200, ""},
	}
	for _, c := range cases {
		r := httptest.NewRequest(c.method, "http://127.0.0.1:4646/v1/services/default/web/scale", strings.NewReader(`{"replicas": 1}`))
		for k, v := range c.header {
			if k == "Host" {
				r.Host = v
				continue
			}
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		GuardBrowsers(ok, c.plain).ServeHTTP(w, r)
		var body ErrorResponse
		json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != c.want || !strings.Contains(body.Error, c.says) {
			t.Errorf("%s: %d %s, want %d saying %q", c.what, w.Code, w.Body.String(), c.want, c.says)
		}
	}
}

func TestLoopbackPlainIsALoopbackListenerWithoutTLS(t *testing.T) {
	for _, c := range []struct {
		addr net.Addr
		tls  bool
		want bool
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4646}, false, true},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 4646}, false, true},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4646}, true, false},
		{&net.TCPAddr{IP: net.IPv4(10, 0, 0, 11), Port: 4646}, false, false},
		{&net.UnixAddr{Name: "/run/x.sock"}, false, false},
	} {
		if got := LoopbackPlain(c.addr, c.tls); got != c.want {
			t.Errorf("%v (TLS %v): %v, want %v", c.addr, c.tls, got, c.want)
		}
	}
}
