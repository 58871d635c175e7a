package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"reflect"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// The proxy's HTTP/1.1 parsers, fuzzed against net/http's: the same bytes
// go to readRequest (then the body reader) and to http.ReadRequest with
// the checks net/http's Server adds, and likewise to readResponse and
// http.ReadResponse. What net/http refuses, the proxy must refuse; what
// both take, they must read alike: method, target, Host, fields, framing,
// whether the connection closes, the body, its trailers, and where the
// message ends (the bytes left after it), which is what request smuggling
// plays on.
//
// The proxy may refuse more than net/http does; it does, by design:
//   - a bare LF for a line end, in heads, chunk lines and trailers (RFC
//     9112 2.2 lets a recipient take one; net/http does in heads);
//   - folded lines (obs-fold), which net/http unfolds;
//   - a request with both Content-Length and Transfer-Encoding (net/http
//     drops the length);
//   - an HTTP/1.0 message with a Transfer-Encoding other than chunked, or
//     with a length besides (net/http ignores Transfer-Encoding in HTTP/1.0);
//   - chunk extensions outside RFC 9112's grammar (net/http drops whatever
//     follows ";" unread), and sizes with more than 15 significant digits;
//   - request targets that net/http's URL parser lets by (bad escapes in a
//     query, "*" but for OPTIONS, absolute URIs without a host, "foo:bar");
//   - Content-Length with more than 18 digits, status codes below 100,
//     control bytes in a reason phrase, versions other than HTTP/1.x (so
//     HTTP/2's preface too), bytes after a field value's CR;
//   - a Trailer field naming a framing field in HTTP/1.0 (net/http checks
//     it for chunked bodies, and in HTTP/1.0 sees none);
//   - sizes past its limits (a head, 64 KiB of trailers, a 4 KiB chunk
//     line), where the oracle's buffer is as large as the input.
//   - CONNECT, whatever its target: readRequest leaves that unread and
//     serveRequest answers 501, so the oracle counts it refused.
//
// And reads two things on purpose where net/http refuses them:
//   - up to four empty lines before a request line, which RFC 9112 2.2
//     says a server should ignore (net/http's Server does after a POST,
//     ReadRequest never): the oracle drops them before net/http reads;
//   - whitespace between a chunk's size and ";", RFC 9112 7.1.1's BWS,
//     which a recipient must take (net/http refuses it): when net/http
//     refuses a chunked body the proxy took, it reads the body again with
//     that whitespace removed, and then the two must agree. The proxy
//     frames what it forwards itself, so the next hop never sees it.
//
// And one on purpose where both take the message: an HTTP/1.0 message
// with "Transfer-Encoding: chunked" is read as chunks by the proxy and
// then the connection closes (RFC 9112 6.1), where net/http ignores the
// field; there only the head is compared, and the proxy must close. The
// proxy also closes after an answer with both a length and chunks (RFC
// 9112 6.3), which net/http reads the same but may keep open.

// message is a request or an answer as one parser read it.
type message struct {
	method, target, host string // requests
	status, minor        int    // answers; minor for both
	header               http.Header
	chunked              bool
	length               int64 // when not chunked; -1 for an answer until the end
	close                bool
	body                 []byte
	trailer              http.Header
	rest                 []byte // what follows the message

	// The proxy's alone: whether the head has Transfer-Encoding and
	// Content-Length, and whether an answer has no body.
	te, hasLength, noBody bool
}

// ignoredFields are set apart from the comparison: net/http moves or
// drops the framing fields (and Host) out of Header, and a response's
// Connection: close.
var ignoredFields = []string{"Host", "Content-Length", "Transfer-Encoding", "Trailer", "Connection"}

func comparableHeader(h http.Header) http.Header {
	out := h.Clone()
	if out == nil {
		out = http.Header{}
	}
	for _, k := range ignoredFields {
		delete(out, k)
	}
	// net/http reads "Pragma: no-cache" as Cache-Control too (RFC 7234 5.4).
	if p := out["Pragma"]; len(p) > 0 && p[0] == "no-cache" {
		if _, ok := out["Cache-Control"]; !ok {
			out["Cache-Control"] = []string{"no-cache"}
		}
	}
	return out
}

// trailerOf is the trailer fields received, without the ones a Trailer
// field announced that never came (net/http keeps those, empty).
func trailerOf(h http.Header) http.Header {
	out := http.Header{}
	for k, v := range h {
		if v != nil {
			out[k] = v
		}
	}
	return out
}

func proxyTrailer(h *header) http.Header {
	out := http.Header{}
	for i := range h.fields {
		k := http.CanonicalHeaderKey(string(h.bytes(h.fields[i].name)))
		out[k] = append(out[k], string(h.bytes(h.fields[i].value)))
	}
	return out
}

// readBody reads a body to its end and what follows it.
func readBody(body io.Reader, br *bufio.Reader) (b, rest []byte, err error) {
	if b, err = io.ReadAll(body); err != nil {
		return nil, nil, err
	}
	rest, _ = io.ReadAll(br)
	return b, rest, nil
}

// proxyReadsRequest reads raw as a client connection does.
func proxyReadsRequest(raw []byte) (m message, headErr, bodyErr error) {
	br := bufio.NewReaderSize(bytes.NewReader(raw), connBufferSize)
	var lr lineReader
	lr.start(br, maxHeaderBytes)
	var r request
	if err := lr.readRequest(&r); err != nil {
		return m, err, nil
	}
	if r.method == http.MethodConnect {
		return m, errTurnedDown, nil
	}
	m = message{method: r.method, target: string(r.target), host: string(r.host), minor: r.minor,
		header: comparableHeader(r.header.httpHeader()), chunked: r.chunked, length: r.length, close: r.close,
		te: r.header.has(fieldTransferEncoding), hasLength: r.header.has(fieldContentLength)}
	var b bodyReader
	b.reset(br, r.chunked, r.length)
	m.body, m.rest, bodyErr = readBody(&b, br)
	m.trailer = proxyTrailer(&b.trailer)
	return m, nil, bodyErr
}

// netHTTPReadsRequest reads raw as net/http's Server does, in a buffer
// that holds it all (so that only net/http's explicit limits apply).
// bodyAt is where the body starts in raw.
func netHTTPReadsRequest(raw []byte) (m message, bodyAt int, headErr, bodyErr error) {
	br := bufio.NewReaderSize(bytes.NewReader(raw), len(raw)+16)
	req, err := http.ReadRequest(br)
	if err == nil {
		err = serverChecks(req, raw)
	}
	if err != nil {
		return m, 0, err, nil
	}
	bodyAt = len(raw) - br.Buffered()
	m = message{method: req.Method, target: req.RequestURI, host: req.Host, minor: req.ProtoMinor,
		header: comparableHeader(req.Header), chunked: isChunked(req.TransferEncoding), length: req.ContentLength,
		close: req.Close}
	m.body, m.rest, bodyErr = readBody(req.Body, br)
	m.trailer = trailerOf(req.Trailer)
	return m, bodyAt, nil, bodyErr
}

// serverChecks are what net/http's Server checks after reading a request
// (conn.readRequest): the version (it answers 505 to all but HTTP/1.x,
// and hands HTTP/2's preface to a handler, which the proxy has not), Host,
// and the fields' names and values. ReadRequest drops the Host fields, so
// they are read again from raw, with the same textproto reader.
func serverChecks(req *http.Request, raw []byte) error {
	if req.ProtoMajor != 1 {
		return errors.New("unsupported protocol version")
	}
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw)))
	tp.ReadLine()
	fields, err := tp.ReadMIMEHeader()
	if err != nil {
		return fmt.Errorf("the head read again: %w", err)
	}
	hosts, haveHost := fields["Host"]
	if req.ProtoAtLeast(1, 1) && (!haveHost || len(hosts) == 0) && req.Method != http.MethodConnect {
		return errors.New("missing required Host header")
	}
	if len(hosts) == 1 && !httpguts.ValidHostHeader(hosts[0]) {
		return errors.New("malformed Host header")
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return errors.New("invalid header name")
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return errors.New("invalid header value")
			}
		}
	}
	return nil
}

// show is raw for a failure's message, cut short.
func show(raw []byte) []byte {
	if len(raw) > 400 {
		return append(raw[:400:400], "..."...)
	}
	return raw
}

// errTurnedDown stands for serveRequest's 501 to every CONNECT, whose
// target readRequest leaves unread.
var errTurnedDown = errors.New("CONNECT is not supported")

func isChunked(te []string) bool { return len(te) == 1 && te[0] == "chunked" }

// withoutLeadingEmptyLines drops the empty lines the proxy ignores before
// a request line.
func withoutLeadingEmptyLines(raw []byte) []byte {
	for i := 0; i < 4 && bytes.HasPrefix(raw, []byte("\r\n")); i++ {
		raw = raw[2:]
	}
	return raw
}

// withoutChunkBWS is raw with the whitespace between a chunk's size and
// ";" removed from the chunk lines of the chunked body from bodyAt on:
// the one thing in chunk lines the proxy takes and net/http does not.
func withoutChunkBWS(raw []byte, bodyAt int) []byte {
	out := append([]byte(nil), raw[:bodyAt]...)
	rest := raw[bodyAt:]
	for {
		line, after, ok := bytes.Cut(rest, []byte("\r\n"))
		if !ok {
			return append(out, rest...)
		}
		size, ext, semi := bytes.Cut(line, []byte{';'})
		if semi {
			size = bytes.TrimRight(size, " \t")
			out = append(append(append(out, size...), ';'), ext...)
		} else {
			out = append(out, line...)
		}
		out = append(out, "\r\n"...)
		var n int
		if _, err := fmt.Sscanf(string(bytes.TrimRight(size, " \t")), "%x", &n); err != nil || n <= 0 || n+2 > len(after) {
			return append(out, after...) // the last chunk, or a broken one
		}
		out = append(out, after[:n+2]...)
		rest = after[n+2:]
	}
}

func FuzzReadRequest(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkRequest)
}

// checkRequest holds the proxy's reading of raw as a request to
// net/http's.
func checkRequest(t *testing.T, raw []byte) {
	ours, ourHeadErr, ourBodyErr := proxyReadsRequest(raw)
	input := withoutLeadingEmptyLines(raw)
	theirs, bodyAt, theirHeadErr, theirBodyErr := netHTTPReadsRequest(input)
	switch {
	case theirHeadErr != nil && ourHeadErr == nil:
		t.Fatalf("net/http refuses the head (%v), the proxy takes it: %q", theirHeadErr, show(raw))
	case ourHeadErr != nil:
		return // refused by both, or by the proxy alone (see above)
	}
	faulty10 := ours.minor == 0 && ours.te
	if d := compareHeads(ours, theirs, !faulty10); d != "" {
		t.Fatalf("heads differ: %s\nin %q", d, show(raw))
	}
	if faulty10 {
		if !ours.close {
			t.Fatalf("an HTTP/1.0 request with Transfer-Encoding keeps the connection: %q", show(raw))
		}
		return
	}
	if theirBodyErr != nil && ourBodyErr == nil && ours.chunked {
		// Perhaps whitespace before a chunk extension's ";".
		theirs, _, _, theirBodyErr = netHTTPReadsRequest(withoutChunkBWS(input, bodyAt))
	}
	compareBodies(t, raw, ours, theirs, ourBodyErr, theirBodyErr)
}

func compareHeads(ours, theirs message, framing bool) string {
	switch {
	case ours.method != theirs.method || ours.target != theirs.target:
		return fmt.Sprintf("request line: proxy %s %s, net/http %s %s", ours.method, ours.target, theirs.method, theirs.target)
	case ours.host != theirs.host:
		return fmt.Sprintf("host: proxy %q, net/http %q", ours.host, theirs.host)
	case ours.status != theirs.status || ours.minor != theirs.minor:
		return fmt.Sprintf("status: proxy %d HTTP/1.%d, net/http %d HTTP/1.%d", ours.status, ours.minor, theirs.status, theirs.minor)
	case !reflect.DeepEqual(ours.header, theirs.header):
		return fmt.Sprintf("fields: proxy %q, net/http %q", ours.header, theirs.header)
	case !framing:
		return ""
	case ours.chunked != theirs.chunked:
		return fmt.Sprintf("chunked: proxy %v, net/http %v", ours.chunked, theirs.chunked)
	case !ours.chunked && ours.length != theirs.length:
		return fmt.Sprintf("length: proxy %d, net/http %d", ours.length, theirs.length)
	}
	return ""
}

func compareBodies(t *testing.T, raw []byte, ours, theirs message, ourErr, theirErr error) {
	t.Helper()
	switch {
	case theirErr != nil && ourErr == nil:
		t.Fatalf("net/http refuses the body (%v), the proxy reads %q: %q", theirErr, ours.body, show(raw))
	case ourErr != nil:
		return
	case !bytes.Equal(ours.body, theirs.body):
		t.Fatalf("bodies differ: proxy %q, net/http %q\nin %q", ours.body, theirs.body, show(raw))
	case !reflect.DeepEqual(ours.trailer, theirs.trailer):
		t.Fatalf("trailers differ: proxy %q, net/http %q\nin %q", ours.trailer, theirs.trailer, show(raw))
	case !bytes.Equal(ours.rest, theirs.rest):
		t.Fatalf("the message ends elsewhere: proxy leaves %q, net/http %q\nin %q", ours.rest, theirs.rest, show(raw))
	}
}

// proxyReadsResponse reads raw as an endpoint connection does, the answer
// to a request of method.
func proxyReadsResponse(raw []byte, method string) (m message, headErr, bodyErr error) {
	br := bufio.NewReaderSize(bytes.NewReader(raw), connBufferSize)
	var lr lineReader
	lr.start(br, maxResponseHeaderBytes)
	var r response
	if err := lr.readResponse(&r, method); err != nil {
		return m, err, nil
	}
	m = message{status: r.status, minor: r.minor, header: comparableHeader(r.header.httpHeader()),
		chunked: r.chunked, length: r.length, close: r.close,
		te: r.header.has(fieldTransferEncoding), hasLength: r.header.has(fieldContentLength), noBody: r.noBody}
	var b bodyReader
	if !r.noBody {
		b.reset(br, r.chunked, r.length)
	} else {
		b.reset(br, false, 0)
	}
	m.body, m.rest, bodyErr = readBody(&b, br)
	m.trailer = proxyTrailer(&b.trailer)
	return m, nil, bodyErr
}

func netHTTPReadsResponse(raw []byte, method string) (m message, bodyAt int, headErr, bodyErr error) {
	br := bufio.NewReaderSize(bytes.NewReader(raw), len(raw)+16)
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		return m, 0, err, nil
	}
	bodyAt = len(raw) - br.Buffered()
	m = message{status: resp.StatusCode, minor: resp.ProtoMinor, header: comparableHeader(resp.Header),
		chunked: isChunked(resp.TransferEncoding), length: resp.ContentLength, close: resp.Close}
	m.body, m.rest, bodyErr = readBody(resp.Body, br)
	m.trailer = trailerOf(resp.Trailer)
	return m, bodyAt, nil, bodyErr
}

func FuzzReadResponse(f *testing.F) {
	for _, s := range responseSeeds {
		f.Add([]byte(s), false)
	}
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), true)
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"), true)
	f.Fuzz(checkResponse)
}

// checkResponse holds the proxy's reading of raw as an answer (to HEAD,
// or else to GET) to net/http's.
func checkResponse(t *testing.T, raw []byte, head bool) {
	method := http.MethodGet
	if head {
		method = http.MethodHead
	}
	ours, ourHeadErr, ourBodyErr := proxyReadsResponse(raw, method)
	theirs, bodyAt, theirHeadErr, theirBodyErr := netHTTPReadsResponse(raw, method)
	switch {
	case theirHeadErr != nil && ourHeadErr == nil:
		t.Fatalf("net/http refuses the head (%v), the proxy takes it: %q", theirHeadErr, show(raw))
	case ourHeadErr != nil:
		return
	}
	faulty10 := ours.minor == 0 && ours.te
	if d := compareHeads(ours, theirs, !ours.noBody && !faulty10); d != "" {
		t.Fatalf("heads differ: %s\nin %q", d, show(raw))
	}
	switch {
	case theirs.close && !ours.close:
		t.Fatalf("net/http closes the connection after it, the proxy does not: %q", show(raw))
	case ours.close && !theirs.close && !faulty10 && !(ours.chunked && ours.hasLength):
		t.Fatalf("the proxy closes the connection after it, net/http does not: %q", show(raw))
	}
	if faulty10 && !ours.noBody {
		if !ours.close {
			t.Fatalf("an HTTP/1.0 answer with Transfer-Encoding keeps the connection: %q", show(raw))
		}
		return
	}
	if theirBodyErr != nil && ourBodyErr == nil && ours.chunked {
		theirs, _, _, theirBodyErr = netHTTPReadsResponse(withoutChunkBWS(raw, bodyAt), method)
	}
	compareBodies(t, raw, ours, theirs, ourBodyErr, theirBodyErr)
}

// The seed corpora, run by every go test: the cases message_test.go
// checks, and the classic smuggling shapes. They are kept small: the
// fuzzer minimizes every input that finds new code, and a large one takes
// it long; the limits are message_test.go's to check.
var requestSeeds = []string{
	"GET / HTTP/1.1\r\nHost: web\r\n\r\n",
	"GET /a?b=1 HTTP/1.1\r\nHost: web\r\nUser-Agent: x\r\nAccept: */*\r\n\r\nGET /next HTTP/1.1\r\nHost: web\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 5\r\n\r\nNEXT",
	"\r\n\r\nGET / HTTP/1.1\r\nHost: web\r\n\r\n",
	"GET http://api:8080/x?y HTTP/1.1\r\nHost: other\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: web\r\n\r\n",
	"CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n",
	"GET / HTTP/1.0\r\n\r\n",
	"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: web\r\nPragma: no-cache\r\n\r\n",
	// Bare LF.
	"GET / HTTP/1.1\nHost: web\n\n",
	"GET / HTTP/1.1\r\nHost: web\nContent-Length: 1\r\n\r\nx",
	"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\n\r\n",
	// Chunk extensions.
	"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n5;a=1;b=\"x;y\\\"z\"\r\nhello\r\n0;end\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n5 ; a = 1\r\nhello\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n5;a b\r\nhello\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n0000000000000005\r\nhello\r\n0\r\n\r\n",
	// Trailers.
	"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-A: 1\r\nX-A: 2\r\nHost: h\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n0\r\n\r\n",
	// HTTP/1.0 and Transfer-Encoding.
	"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
	"POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
	"POST / HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\n",
	// Framing conflicts.
	"POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
	"POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 3\r\nContent-Length: 03\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 3, 3\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: web\r\nContent-Length: +3\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: web\r\nContent-Length:\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
	// Folded and otherwise odd heads.
	"GET / HTTP/1.1\r\nHost: web\r\nX-A: 1\r\n 2\r\n\r\n",
	"GET / HTTP/1.1\r\n Host: web\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: web\r\nX-A: a\x00b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: web\r\nX-A: a\rb\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
	"GET / HTTP/1.1\r\n\r\n",
	"GET /%zz HTTP/1.1\r\nHost: web\r\n\r\n",
	"GET foo HTTP/1.1\r\nHost: web\r\n\r\n",
	"GET / HTTP/2.0\r\nHost: web\r\n\r\n",
	"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
	"GET / HTTP/0.9\r\n\r\n",
	"GET  / HTTP/1.1\r\nHost: web\r\n\r\n",
}

var responseSeeds = []string{
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 5\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
	"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
	"HTTP/1.1 204 No Content\r\n\r\n",
	"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
	"HTTP/1.1 304 Not Modified\r\nContent-Length: x\r\n\r\n",
	"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nframes",
	"HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=\"y\"\r\nok\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
	"HTTP/1.1 200 OK\r\nX-A: 1\r\n\t2\r\n\r\n",
	"HTTP/1.1 20 OK\r\n\r\n",
	"HTTP/1.1  200 OK\r\n\r\n",
	"HTTP/2 200 OK\r\n\r\n",
	"HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 0\r\n\r\n",
}
