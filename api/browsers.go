package api

import (
	"fmt"
	"net"
	"net/http"
	"strings"
)

// GuardBrowsers keeps web pages other than the API's own out of it. A
// browser's cross-origin write (a form or a script on another site posting
// to 127.0.0.1:4646: CSRF) is refused, by http.CrossOriginProtection; a
// CLI, an agent or curl sends no Origin and is not concerned. When plain
// is set (the API listens on loopback without TLS), a request that names
// a host other than a loopback address or localhost is refused too, reads
// included: that is a page whose own name was made to resolve to
// 127.0.0.1 (DNS rebinding), which would otherwise read the API as its
// own origin. With TLS the page's name is not in the certificate, and a
// plain listener beyond loopback is --insecure's choice.
func GuardBrowsers(h http.Handler, plain bool) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusForbidden, 0, ErrorResponse{Error: fmt.Sprintf("cross-origin request refused (Origin %q): this API takes writes from its own pages only", r.Header.Get("Origin"))})
	}))
	guarded := cop.Handler(h)
	if !plain {
		return guarded
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			writeJSON(w, http.StatusForbidden, 0, ErrorResponse{Error: fmt.Sprintf("host %q refused: this API listens on loopback without TLS and answers loopback addresses and localhost only", r.Host)})
			return
		}
		guarded.ServeHTTP(w, r)
	})
}

// LoopbackPlain says whether an API listening on addr without TLS is
// GuardBrowsers' plain case.
func LoopbackPlain(addr net.Addr, tls bool) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return !tls && ok && tcp.IP.IsLoopback()
}

// loopbackHost reports whether a request's Host names this machine's
// loopback: an address of 127.0.0.0/8 or ::1, or localhost.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}
