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
		// RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding has
		// faulty framing; it is read as it says and the connection closes.
		{name: "HTTP/1.0 chunked is read as chunked and closes", raw: "POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n",
			method: "POST", target: "/", chunked: true, close: true},
		{name: "HTTP/1.0 keep-alive, then close", raw: "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
			method: "GET", target: "/", close: true},
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
		{name: "HTTP/1.0 length and chunks", raw: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n", err: errBothLengths},
		{name: "HTTP/1.0 gzip transfer", raw: "POST / HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\n", err: errUnsupportedTE},
		{name: "lengths spelt differently", raw: "POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 3\r\nContent-Length: 03\r\n\r\n", err: errBadLength},
		{name: "Content-Length declared a trailer", raw: "POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum, content-length\r\n\r\n", err: errMalformed},
		{name: "two transfer fields", raw: "POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", err: errUnsupportedTE},
		{name: "folded line", raw: "GET / HTTP/1.1\r\nHost: web\r\nX-A: 1\r\n 2\r\n\r\n", err: errMalformed},
		// RFC 9112 2.2 lets a recipient take a bare LF for a line end;
		// the proxy does not, so that it never reads a head differently
		// from an endpoint that does not either.
		{name: "bare LF line ends", raw: "GET / HTTP/1.1\nHost: web\n\n", err: errMalformed},
		{name: "bare LF after the request line", raw: "GET / HTTP/1.1\nHost: web\r\n\r\n", err: errMalformed},
		{name: "bare LF after a field", raw: "GET / HTTP/1.1\r\nHost: web\nX-A: 1\r\n\r\n", err: errMalformed},
		{name: "bare LF ends the head", raw: "GET / HTTP/1.1\r\nHost: web\r\n\n", err: errMalformed},
		{name: "bare LF before the request line", raw: "\nGET / HTTP/1.1\r\nHost: web\r\n\r\n", err: errMalformed},
		{name: "CR CR LF", raw: "GET / HTTP/1.1\r\r\nHost: web\r\n\r\n", err: errMalformed},
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

		{name: "HTTP/1.0 chunked is read as chunked and closes", raw: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n",
			status: 200, line: "200 OK", chunked: true, length: -1, close: true},
		{name: "HTTP/1.0 chunks win over a length, then close", raw: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
			status: 200, line: "200 OK", chunked: true, length: -1, close: true},
		{name: "HTTP/1.0 keep-alive, then close", raw: "HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 1\r\n\r\n",
			status: 200, line: "200 OK", length: 1, close: true},

		{name: "gzip transfer", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", err: errUnsupportedTE},
		{name: "HTTP/1.0 gzip transfer", raw: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: gzip\r\n\r\n", err: errUnsupportedTE},
		{name: "bad length on a 304", raw: "HTTP/1.1 304 Not Modified\r\nContent-Length: x\r\n\r\n", err: errBadLength},
		{name: "bad length to HEAD", raw: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", method: "HEAD", err: errBadLength},
		{name: "gzip transfer on a 204", raw: "HTTP/1.1 204 No Content\r\nTransfer-Encoding: gzip\r\n\r\n", err: errUnsupportedTE},
		{name: "bare LF line ends", raw: "HTTP/1.1 200 OK\nContent-Length: 0\n\n", err: errMalformed},
		{name: "bare LF after the status line", raw: "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", err: errMalformed},
		{name: "bare LF after a field", raw: "HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n", err: errMalformed},
		{name: "bare LF ends the head", raw: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n", err: errMalformed},
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
		{name: "size with leading zeros", raw: "0000000000000003\r\nabc\r\n0\r\n\r\n", chunked: true, body: "abc"},
		// More than 16 digits, zeros or not, as net/http refuses them.
		{name: "size of 17 digits", raw: "00000000000000003\r\nabc\r\n0\r\n\r\n", chunked: true, err: errBadChunk},
		{name: "space after the size", raw: "3 \t\r\nabc\r\n0\r\n\r\n", chunked: true, body: "abc"},

		// RFC 9112 7.1.1: chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ).
		{name: "extensions", raw: "3;a\r\nabc\r\n3 ; b = 1 ;c\t=\t\"x;\\\"y\"\r\ndef\r\n0;last=yes\r\n\r\nNEXT", chunked: true, body: "abcdef", rest: "NEXT"},
		{name: "extension without a name", raw: "3;\r\nabc\r\n0\r\n\r\n", chunked: true, err: errBadChunk},
		{name: "extension with an empty value", raw: "3;a=\r\nabc\r\n0\r\n\r\n", chunked: true, err: errBadChunk},
		{name: "extension name not a token", raw: "3;a b\r\nabc\r\n0\r\n\r\n", chunked: true, err: errBadChunk},
		{name: "extension value not a token", raw: "3;a=b c\r\nabc\r\n0\r\n\r\n", chunked: true, err: errBadChunk},
		{name: "extension value unquoted", raw: "3;a=\"b\r\nabc\r\n0\r\n\r\n", chunked: true, err: errBadChunk},
		{name: "extension value quoted, then more", raw: "3;a=\"b\"c\r\nabc\r\n0\r\n\r\n", chunked: true, err: errBadChunk},
		{name: "control byte in an extension", raw: "3;a=\"\x01\"\r\nabc\r\n0\r\n\r\n", chunked: true, err: errBadChunk},
		{name: "space before the size", raw: " 3\r\nabc\r\n0\r\n\r\n", chunked: true, err: errBadChunk},
		{name: "two sizes", raw: "3 3\r\nabc\r\n0\r\n\r\n", chunked: true, err: errBadChunk},
		{name: "extensions out of all measure", raw: strings.Repeat("1;"+strings.Repeat("x", 4000)+"\r\na\r\n", 8) + "0\r\n\r\n", chunked: true, err: errBadChunk},
		{name: "extensions in measure with the data", raw: strings.Repeat("800;"+strings.Repeat("x", 4000)+"\r\n"+strings.Repeat("a", 0x800)+"\r\n", 8) + "0\r\n\r\n",
			chunked: true, body: strings.Repeat("a", 8*0x800)},

		// Chunk lines and the end of chunk data are CRLF, never a bare LF
		// (RFC 9112 7.1, and erratum 7633).
		{name: "bare LF after the size", raw: "3\nabc\r\n0\r\n\r\n", chunked: true, err: errBadChunk},
		{name: "bare LF after an extension", raw: "3;a=1\nabc\r\n0\r\n\r\n", chunked: true, err: errBadChunk},
		{name: "bare LF after the data", raw: "3\r\nabc\n0\r\n\r\n", chunked: true, err: errBadChunk},
		{name: "bare LF after the last chunk", raw: "3\r\nabc\r\n0\n\r\n", chunked: true, err: errBadChunk},
		{name: "bare LF ends the trailers", raw: "3\r\nabc\r\n0\r\n\n", chunked: true, err: errMalformed},
		{name: "bare LF after a trailer", raw: "3\r\nabc\r\n0\r\nX-Sum: 7\n\r\n", chunked: true, err: errMalformed},
		{name: "CR in the size line", raw: "3\r\r\nabc\r\n0\r\n\r\n", chunked: true, err: errBadChunk},

		// Trailers are held like a head, and bounded far below a response
		// head: a client may take its time sending them.
		{name: "trailers in measure", raw: "0\r\nX-A: " + strings.Repeat("a", maxTrailerBytes-20) + "\r\n\r\n", chunked: true},
		{name: "trailers out of measure", raw: "0\r\nX-A: " + strings.Repeat("a", maxTrailerBytes) + "\r\n\r\n", chunked: true, err: errHeaderTooLarge},
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

// The parsers' own cost, apart from the sockets BenchmarkProxyHTTP
// measures: a browser-like request head, an answer's head and a chunked
// body with extensions and a trailer.
func BenchmarkReadRequestHead(b *testing.B) {
	raw := "GET /api/v1/items?page=2 HTTP/1.1\r\nHost: web.example\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n" +
		"Accept: text/html,application/xhtml+xml\r\nAccept-Encoding: gzip, deflate\r\nAccept-Language: en-GB,en;q=0.9\r\n" +
		"Cookie: session=0123456789abcdef; theme=dark\r\nConnection: keep-alive\r\n\r\n"
	rd := strings.NewReader(raw)
	br := bufio.NewReader(rd)
	var lr lineReader
	var r request
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(raw)
		br.Reset(rd)
		lr.start(br, maxHeaderBytes)
		if err := lr.readRequest(&r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadResponseHead(b *testing.B) {
	raw := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1234\r\nDate: Mon, 02 Jan 2006 15:04:05 GMT\r\n" +
		"Cache-Control: no-store\r\nVary: Accept-Encoding\r\n\r\n"
	rd := strings.NewReader(raw)
	br := bufio.NewReader(rd)
	var lr lineReader
	var r response
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(raw)
		br.Reset(rd)
		lr.start(br, maxResponseHeaderBytes)
		if err := lr.readResponse(&r, "GET"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadChunkedBody(b *testing.B) {
	var sb strings.Builder
	for i := range 64 {
		if i%8 == 0 {
			sb.WriteString("100;seq=" + strings.Repeat("7", i%5+1) + `;note="a b"` + "\r\n")
		} else {
			sb.WriteString("100\r\n")
		}
		sb.WriteString(strings.Repeat("x", 0x100) + "\r\n")
	}
	sb.WriteString("0\r\nX-Checksum: 12345\r\n\r\n")
	raw := sb.String()
	rd := strings.NewReader(raw)
	br := bufio.NewReader(rd)
	var body bodyReader
	buf := make([]byte, 32<<10)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(raw)
		br.Reset(rd)
		body.reset(br, true, 0)
		for {
			_, err := body.Read(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}
