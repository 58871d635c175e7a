package proxy

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

func readRequestFrom(t *testing.T, raw string) (*request, error) {
	t.Helper()
	lr := lineReader{br: bufio.NewReaderSize(strings.NewReader(raw), 64), limit: 4096}
	var r request
	err := lr.readRequest(&r)
	return &r, err
}

func TestRequestHeads(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		err     error // nil: read fine
		method  string
		target  string // as sent on
		host    string
		length  int64
		chunked bool
		close   bool
	}{
		{name: "plain GET", raw: "GET /a?b=1 HTTP/1.1\r\nHost: web\r\n\r\n",
			method: "GET", target: "/a?b=1", host: "web"},
		{name: "bare LF line ends, as net/http takes", raw: "GET / HTTP/1.1\nHost: web\n\n",
			method: "GET", target: "/", host: "web"},
		{name: "empty lines before the request line", raw: "\r\n\r\nGET / HTTP/1.1\r\nHost: web\r\n\r\n",
			method: "GET", target: "/", host: "web"},
		{name: "length", raw: "POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 12\r\n\r\n",
			method: "POST", target: "/", host: "web", length: 12},
		{name: "repeated equal lengths", raw: "POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\n",
			method: "POST", target: "/", host: "web", length: 3},
		{name: "chunked", raw: "POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: Chunked\r\n\r\n",
			method: "POST", target: "/", host: "web", chunked: true},
		{name: "HTTP/1.0 without Host closes", raw: "GET / HTTP/1.0\r\n\r\n",
			method: "GET", target: "/", close: true},
		{name: "HTTP/1.0 keep-alive", raw: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
			method: "GET", target: "/"},
		{name: "HTTP/1.0 ignores Transfer-Encoding", raw: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n",
			method: "POST", target: "/", length: 2, close: true},
		{name: "Connection: close", raw: "GET / HTTP/1.1\r\nHost: web\r\nConnection: keep-alive, close\r\n\r\n",
			method: "GET", target: "/", host: "web", close: true},
		{name: "absolute form: its host wins", raw: "GET http://api:8080/x?y HTTP/1.1\r\nHost: other\r\n\r\n",
			method: "GET", target: "/x?y", host: "api:8080"},
		{name: "OPTIONS *", raw: "OPTIONS * HTTP/1.1\r\nHost: web\r\n\r\n",
			method: "OPTIONS", target: "*", host: "web"},
		{name: "values are trimmed", raw: "GET / HTTP/1.1\r\nHost: \t web \t\r\n\r\n",
			method: "GET", target: "/", host: "web"},
		{name: "odd method", raw: "PURGE / HTTP/1.1\r\nHost: web\r\n\r\n",
			method: "PURGE", target: "/", host: "web"},

		{name: "missing Host", raw: "GET / HTTP/1.1\r\n\r\n", err: errMissingHost},
		{name: "absolute form without Host", raw: "GET http://api/ HTTP/1.1\r\n\r\n", err: errMissingHost},
		{name: "two Hosts", raw: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", err: errTooManyHosts},
		{name: "bad Host", raw: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", err: errBadHost},
		{name: "length and chunks", raw: "POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", err: errBothLengths},
		{name: "lengths disagree", raw: "POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", err: errBadLength},
		{name: "length list", raw: "POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 3, 3\r\n\r\n", err: errBadLength},
		{name: "signed length", raw: "POST / HTTP/1.1\r\nHost: web\r\nContent-Length: +3\r\n\r\n", err: errBadLength},
		{name: "gzip transfer", raw: "POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", err: errUnsupportedTE},
		{name: "two transfer fields", raw: "POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", err: errUnsupportedTE},
		{name: "folded line", raw: "GET / HTTP/1.1\r\nHost: web\r\nX-A: 1\r\n 2\r\n\r\n", err: errMalformed},
		{name: "space before colon", raw: "GET / HTTP/1.1\r\nHost : web\r\n\r\n", err: errMalformed},
		{name: "no colon", raw: "GET / HTTP/1.1\r\nHost web\r\n\r\n", err: errMalformed},
		{name: "control byte in value", raw: "GET / HTTP/1.1\r\nHost: web\r\nX-A: a\x00b\r\n\r\n", err: errMalformed},
		{name: "bare CR in value", raw: "GET / HTTP/1.1\r\nHost: web\r\nX-A: a\rb\r\n\r\n", err: errMalformed},
		{name: "bad escape in target", raw: "GET /%zz HTTP/1.1\r\nHost: web\r\n\r\n", err: errMalformed},
		{name: "relative target", raw: "GET foo HTTP/1.1\r\nHost: web\r\n\r\n", err: errTargetMalformed},
		{name: "asterisk for GET", raw: "GET * HTTP/1.1\r\nHost: web\r\n\r\n", err: errTargetMalformed},
		{name: "HTTP/2", raw: "GET / HTTP/2.0\r\nHost: web\r\n\r\n", err: errVersion},
		{name: "HTTP/0.9", raw: "GET / HTTP/0.9\r\n\r\n", err: errVersion},
		{name: "garbage version", raw: "GET / HTTX/1.1\r\n\r\n", err: errMalformed},
		{name: "three words missing", raw: "GET /\r\n\r\n", err: errMalformed},
		{name: "header too large", raw: "GET / HTTP/1.1\r\nHost: web\r\nX-A: " + strings.Repeat("a", 5000) + "\r\n\r\n", err: errHeaderTooLarge},
		{name: "cut short", raw: "GET / HTTP/1.1\r\nHost: we", err: io.ErrUnexpectedEOF},
		{name: "nothing", raw: "", err: io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := readRequestFrom(t, tt.raw)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if r.method != tt.method || string(r.targetOrigin()) != tt.target || string(r.host) != tt.host ||
				r.length != tt.length || r.chunked != tt.chunked || r.close != tt.close {
				t.Errorf("got %s %s host %q length %d chunked %v close %v", r.method, r.targetOrigin(), r.host, r.length, r.chunked, r.close)
			}
		})
	}
}

func TestRequestFieldsKeepOrderAndCase(t *testing.T) {
	r, err := readRequestFrom(t, "GET / HTTP/1.1\r\nHost: web\r\nx-b: 1\r\nX-A: 2\r\nx-b: 3\r\nConnection: x-a\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := range r.header.fields {
		f := &r.header.fields[i]
		got = append(got, string(r.header.bytes(f.name))+"="+string(r.header.bytes(f.value)))
	}
	if strings.Join(got, " ") != "Host=web x-b=1 X-A=2 x-b=3 Connection=x-a" {
		t.Errorf("fields = %v", got)
	}
	if !r.header.namesExtra() || !r.header.connectionNamed(2) || r.header.connectionNamed(1) {
		t.Errorf("Connection: x-a should name X-A only")
	}
	if h := r.header.httpHeader(); len(h["X-B"]) != 2 || h.Get("X-A") != "2" {
		t.Errorf("httpHeader = %v", h)
	}
}

func TestResponseFraming(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		method  string
		err     error
		status  int
		line    string
		noBody  bool
		chunked bool
		length  int64
		close   bool
	}{
		{name: "length", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", status: 200, line: "200 OK", length: 5},
		{name: "chunked", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", status: 200, line: "200 OK", chunked: true, length: -1},
		{name: "chunked wins over a length, then closes", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
			status: 200, line: "200 OK", chunked: true, length: -1, close: true},
		{name: "until the connection ends", raw: "HTTP/1.1 200 OK\r\n\r\n", status: 200, line: "200 OK", length: -1, close: true},
		{name: "HTTP/1.0 closes", raw: "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", status: 200, line: "200 OK", length: 1, close: true},
		{name: "HTTP/1.0 keep-alive", raw: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n", status: 200, line: "200 OK", length: 1},
		{name: "Connection: close", raw: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n", status: 200, line: "200 OK", length: 1, close: true},
		{name: "HEAD has no body", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", method: "HEAD", status: 200, line: "200 OK", noBody: true},
		{name: "204", raw: "HTTP/1.1 204 No Content\r\n\r\n", status: 204, line: "204 No Content", noBody: true},
		{name: "304", raw: "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", status: 304, line: "304 Not Modified", noBody: true},
		{name: "103", raw: "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", status: 103, line: "103 Early Hints", noBody: true},
		{name: "no reason phrase", raw: "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", status: 404, line: "404 Not Found"},
		{name: "odd reason phrase kept", raw: "HTTP/1.1 200 Fine Thanks\r\nContent-Length: 0\r\n\r\n", status: 200, line: "200 Fine Thanks"},

		{name: "gzip transfer", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", err: errUnsupportedTE},
		{name: "lengths disagree", raw: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", err: errBadLength},
		{name: "two-digit status", raw: "HTTP/1.1 20 OK\r\n\r\n", err: errMalformed},
		{name: "HTTP/2", raw: "HTTP/2 200 OK\r\n\r\n", err: errVersion},
		{name: "folded", raw: "HTTP/1.1 200 OK\r\nX-A: 1\r\n\t2\r\n\r\n", err: errMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "GET"
			}
			lr := lineReader{br: bufio.NewReader(strings.NewReader(tt.raw)), limit: 4096}
			var r response
			err := lr.readResponse(&r, method)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if r.status != tt.status || string(r.line) != tt.line || r.noBody != tt.noBody || r.chunked != tt.chunked ||
				(!tt.noBody && r.length != tt.length) || r.close != tt.close {
				t.Errorf("got status %d line %q noBody %v chunked %v length %d close %v", r.status, r.line, r.noBody, r.chunked, r.length, r.close)
			}
		})
	}
}

func TestBodyReader(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		chunked bool
		length  int64
		body    string
		err     error  // from reading the body
		rest    string // what follows the body
		trailer string // "name=value" of the first trailer
	}{
		{name: "length", raw: "hello, and then the next", length: 5, body: "hello", rest: ", and then the next"},
		{name: "length cut short", raw: "hel", length: 5, err: io.ErrUnexpectedEOF},
		{name: "until the end", raw: "everything", length: -1, body: "everything"},
		{name: "chunks", raw: "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\nNEXT", chunked: true, body: "hello, world", rest: "NEXT"},
		{name: "chunks with trailers", raw: "3\r\nabc\r\n0\r\nX-Sum: 7\r\n\r\nNEXT", chunked: true, body: "abc", rest: "NEXT", trailer: "X-Sum=7"},
		{name: "upper-case hex", raw: "A\r\n0123456789\r\n0\r\n\r\n", chunked: true, body: "0123456789"},
		{name: "bad size", raw: "x\r\nabc\r\n0\r\n\r\n", chunked: true, err: errBadChunk},
		{name: "data longer than its size", raw: "3\r\nabcd\r\n0\r\n\r\n", chunked: true, err: errBadChunk},
		{name: "missing last chunk", raw: "3\r\nabc\r\n", chunked: true, err: io.ErrUnexpectedEOF},
		{name: "huge size", raw: "fffffffffffffffff\r\n", chunked: true, err: errBadChunk},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(tt.raw), 16)
			var b bodyReader
			b.reset(br, tt.chunked, tt.length)
			got, err := io.ReadAll(&b)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v (read %q)", err, tt.err, got)
				}
				return
			}
			if err != nil || string(got) != tt.body || !b.done() {
				t.Fatalf("body = %q, %v, done %v; want %q", got, err, b.done(), tt.body)
			}
			if rest, _ := io.ReadAll(br); string(rest) != tt.rest {
				t.Errorf("left %q, want %q", rest, tt.rest)
			}
			if tt.trailer != "" {
				f := &b.trailer.fields[0]
				if got := string(b.trailer.bytes(f.name)) + "=" + string(b.trailer.bytes(f.value)); got != tt.trailer {
					t.Errorf("trailer = %q, want %q", got, tt.trailer)
				}
			}
		})
	}
}

func TestIdentifyKnowsFieldsInAnyCase(t *testing.T) {
	for name, want := range map[string]fieldID{
		"Host": fieldHost, "HOST": fieldHost, "content-length": fieldContentLength,
		"Transfer-Encoding": fieldTransferEncoding, "x-forwarded-for": fieldXForwardedFor,
		"X-Flotilla-Revision": fieldRevision, "X-Flotilla-Proxy": fieldProxy, "TE": fieldTE,
		"Hosts": fieldOther, "X-Forwarded-Fox": fieldOther, "Dat_": fieldOther,
	} {
		if got := identify([]byte(name)); got != want {
			t.Errorf("identify(%q) = %d, want %d", name, got, want)
		}
	}
}
