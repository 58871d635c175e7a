package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
)

// HTTP/1.1 messages as the proxy reads them (RFC 9112). net/http's
// ReadRequest and ReadResponse cost a few microseconds and a dozen
// allocations a message, a tenth of what proxying a small request costs;
// these read into buffers that each connection reuses. They are at least
// as strict as net/http where it matters for request smuggling (one way to
// frame a body, no folded lines, no bytes that do not belong in a header),
// and stricter where RFC 9112 lets a recipient choose: lines end in CRLF
// only, never a bare LF. fuzz_test.go holds them to net/http's parser.

// Errors reading a message. A client gets 400 for errBadRequest (431, 501
// and 505 for the others); an endpoint's bad answer is a 502.
var (
	errMalformed       = errors.New("malformed HTTP message")
	errHeaderTooLarge  = errors.New("message header too large")
	errUnsupportedTE   = errors.New("unsupported transfer encoding")
	errVersion         = errors.New("unsupported HTTP version")
	errBothLengths     = errors.New("both Content-Length and Transfer-Encoding")
	errBadLength       = errors.New("bad Content-Length")
	errBadChunk        = errors.New("malformed chunked encoding")
	errMissingHost     = errors.New("missing required Host header")
	errBadHost         = errors.New("malformed Host header")
	errTooManyHosts    = errors.New("too many Host headers")
	errTargetMalformed = errors.New("malformed request target")
)

// maxResponseHeaderBytes bounds an endpoint's answer header.
const maxResponseHeaderBytes = 1 << 20

// maxTrailerBytes bounds the trailer fields after a chunked body. A
// client's body is read without a deadline, so its trailers get a small
// bound of their own rather than a head's; net/http's own bound is its
// 4 KiB read buffer.
const maxTrailerBytes = 64 << 10

// Chunk lines are bounded one by one, as net/http's are, and the bytes
// that are not data (sizes, extensions, line ends) all together: past
// 16 bytes a chunk plus twice its data, at most maxChunkOverhead, which is
// net/http's rule. A sender that streams a byte at a time keeps within it;
// one that wraps each byte in 4 KiB of extensions does not.
const (
	maxChunkLine     = 4096
	maxChunkOverhead = 16 << 10
)

// fieldID names the header fields the proxy looks at; any other is
// fieldOther.
type fieldID uint8

const (
	fieldOther fieldID = iota
	fieldHost
	fieldContentLength
	fieldTransferEncoding
	fieldConnection
	fieldProxyConnection
	fieldKeepAlive
	fieldProxyAuthenticate
	fieldProxyAuthorization
	fieldTE
	fieldTrailer
	fieldUpgrade
	fieldExpect
	fieldForwarded
	fieldXForwardedFor
	fieldXForwardedHost
	fieldXForwardedProto
	fieldCookie
	fieldDate
	fieldRevision
	fieldEndpoint
	fieldProxy
)

// identify tells a field's name, in any case.
func identify(name []byte) fieldID {
	switch len(name) {
	case 2:
		if lowerIs(name, "te") {
			return fieldTE
		}
	case 4:
		switch {
		case lowerIs(name, "host"):
			return fieldHost
		case lowerIs(name, "date"):
			return fieldDate
		}
	case 6:
		switch {
		case lowerIs(name, "cookie"):
			return fieldCookie
		case lowerIs(name, "expect"):
			return fieldExpect
		}
	case 7:
		switch {
		case lowerIs(name, "trailer"):
			return fieldTrailer
		case lowerIs(name, "upgrade"):
			return fieldUpgrade
		}
	case 9:
		if lowerIs(name, "forwarded") {
			return fieldForwarded
		}
	case 10:
		switch {
		case lowerIs(name, "connection"):
			return fieldConnection
		case lowerIs(name, "keep-alive"):
			return fieldKeepAlive
		}
	case 14:
		if lowerIs(name, "content-length") {
			return fieldContentLength
		}
	case 15:
		if lowerIs(name, "x-forwarded-for") {
			return fieldXForwardedFor
		}
	case 16:
		switch {
		case lowerIs(name, "proxy-connection"):
			return fieldProxyConnection
		case lowerIs(name, "x-forwarded-host"):
			return fieldXForwardedHost
		case lowerIs(name, "x-flotilla-proxy"):
			return fieldProxy
		}
	case 17:
		switch {
		case lowerIs(name, "transfer-encoding"):
			return fieldTransferEncoding
		case lowerIs(name, "x-forwarded-proto"):
			return fieldXForwardedProto
		}
	case 18:
		if lowerIs(name, "proxy-authenticate") {
			return fieldProxyAuthenticate
		}
	case 19:
		switch {
		case lowerIs(name, "proxy-authorization"):
			return fieldProxyAuthorization
		case lowerIs(name, "x-flotilla-revision"):
			return fieldRevision
		case lowerIs(name, "x-flotilla-endpoint"):
			return fieldEndpoint
		}
	}
	return fieldOther
}

// lowerIs compares a token with a lower-case name of letters and dashes:
// among token bytes only upper-case letters fold onto those.
func lowerIs(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range len(b) {
		if b[i]|0x20 != lower[i] {
			return false
		}
	}
	return true
}

// equalFold compares two tokens in any case.
func equalFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// span is a piece of a header's buffer.
type span struct{ from, to int32 }

type field struct {
	id          fieldID
	name, value span
}

// header is a message's header as received: its fields in order, names
// and values copied into one buffer that the next message reuses.
type header struct {
	buf    []byte
	fields []field
}

func (h *header) reset() {
	if cap(h.buf) > maxKeptBuffer {
		h.buf, h.fields = nil, nil // an outsized header's memory goes
	}
	h.buf = h.buf[:0]
	h.fields = h.fields[:0]
}

// maxKeptBuffer is the most a connection keeps of its buffers for
// message heads between messages.
const maxKeptBuffer = 64 << 10

func (h *header) bytes(s span) []byte { return h.buf[s.from:s.to] }

func (h *header) add(id fieldID, name, value []byte) {
	f := field{id: id}
	f.name = h.keep(name)
	f.value = h.keep(value)
	h.fields = append(h.fields, f)
}

// keep copies b into the buffer.
func (h *header) keep(b []byte) span {
	from := len(h.buf)
	h.buf = append(h.buf, b...)
	return span{int32(from), int32(len(h.buf))}
}

// first is the first value of a known field.
func (h *header) first(id fieldID) ([]byte, bool) {
	for i := range h.fields {
		if h.fields[i].id == id {
			return h.bytes(h.fields[i].value), true
		}
	}
	return nil, false
}

func (h *header) has(id fieldID) bool {
	_, ok := h.first(id)
	return ok
}

// hasToken reports whether a comma-separated field (Connection, Te,
// Expect) lists token, in any case.
func (h *header) hasToken(id fieldID, token string) bool {
	for i := range h.fields {
		if h.fields[i].id == id && listHas(h.bytes(h.fields[i].value), token) {
			return true
		}
	}
	return false
}

func listHas(list []byte, token string) bool {
	for len(list) > 0 {
		var item []byte
		item, list, _ = bytes.Cut(list, []byte{','})
		if equalFold(bytes.Trim(item, " \t"), []byte(token)) {
			return true
		}
	}
	return false
}

// connectionNamed reports whether the Connection header names field i as
// hop-by-hop, besides the fields always so.
func (h *header) connectionNamed(i int) bool {
	name := h.bytes(h.fields[i].name)
	for j := range h.fields {
		if h.fields[j].id == fieldConnection && listHasBytes(h.bytes(h.fields[j].value), name) {
			return true
		}
	}
	return false
}

func listHasBytes(list, token []byte) bool {
	for len(list) > 0 {
		var item []byte
		item, list, _ = bytes.Cut(list, []byte{','})
		if equalFold(bytes.Trim(item, " \t"), token) {
			return true
		}
	}
	return false
}

// namesExtra reports whether a Connection header names fields other than
// close, keep-alive and upgrade (which are hop-by-hop anyway).
func (h *header) namesExtra() bool {
	for i := range h.fields {
		if h.fields[i].id != fieldConnection {
			continue
		}
		list := h.bytes(h.fields[i].value)
		for len(list) > 0 {
			var item []byte
			item, list, _ = bytes.Cut(list, []byte{','})
			item = bytes.Trim(item, " \t")
			if len(item) > 0 && !lowerIs(item, "close") && !lowerIs(item, "keep-alive") && !lowerIs(item, "upgrade") {
				return true
			}
		}
	}
	return false
}

// httpHeader is the header as net/http keeps it (Host apart), for the
// rarer paths (route rules, mirrors) that want one.
func (h *header) httpHeader() http.Header {
	out := make(http.Header, len(h.fields))
	for i := range h.fields {
		if h.fields[i].id == fieldHost {
			continue
		}
		k := http.CanonicalHeaderKey(string(h.bytes(h.fields[i].name)))
		out[k] = append(out[k], string(h.bytes(h.fields[i].value)))
	}
	return out
}

// clone is a copy that outlives the connection's next message.
func (h *header) clone() header {
	return header{buf: bytes.Clone(h.buf), fields: append([]field(nil), h.fields...)}
}

// lineReader reads the lines of a message head, counting them against a
// limit; lines longer than the buffered reader's buffer are gathered in
// scratch.
type lineReader struct {
	br      *bufio.Reader
	limit   int
	scratch []byte
}

// start begins a message head of at most limit bytes.
func (lr *lineReader) start(br *bufio.Reader, limit int) {
	lr.br, lr.limit = br, limit
	if cap(lr.scratch) > maxKeptBuffer {
		lr.scratch = nil // an outsized line's memory goes
	}
}

// next returns the next line without its CRLF; it is valid until the next
// call. A line that ends in a bare LF is errMalformed: RFC 9112 2.2 lets a
// recipient take one for a line end, but an endpoint that does not would
// see another message than the proxy did.
func (lr *lineReader) next() ([]byte, error) {
	line, err := lr.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		buf := append(lr.scratch[:0], line...)
		for err == bufio.ErrBufferFull && len(buf) <= lr.limit {
			line, err = lr.br.ReadSlice('\n')
			buf = append(buf, line...)
		}
		lr.scratch, line = buf, buf
	}
	lr.limit -= len(line)
	if lr.limit < 0 {
		return nil, errHeaderTooLarge
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	n := len(line)
	if n < 2 || line[n-2] != '\r' {
		return nil, errMalformed
	}
	return line[:n-2], nil
}

// readFields reads header fields up to the empty line into h.
func (lr *lineReader) readFields(h *header) error {
	for {
		line, err := lr.next()
		if err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			return errMalformed // a folded line
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return errMalformed
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		if !isToken(name) || !validValue(value) {
			return errMalformed
		}
		h.add(identify(name), name, value)
	}
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// tokenByte marks the bytes of a token (RFC 9110 5.6.2).
var tokenByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenByte[c] {
			return false
		}
	}
	return true
}

// validValue accepts visible bytes, spaces, tabs and obs-text, as
// net/textproto does.
func validValue(b []byte) bool {
	for _, c := range b {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// parseVersion reads "HTTP/1.x"; ok is false for anything else, and
// major is 0 when it is not even "HTTP/d.d".
func parseVersion(b []byte) (major, minor int, ok bool) {
	if len(b) != 8 || string(b[:5]) != "HTTP/" || b[6] != '.' ||
		b[5] < '0' || b[5] > '9' || b[7] < '0' || b[7] > '9' {
		return 0, 0, false
	}
	major, minor = int(b[5]-'0'), int(b[7]-'0')
	return major, minor, major == 1
}

// parseLength reads a Content-Length: digits only, as net/http does.
func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// framing reads how a message's body is delimited: chunked, a length, or
// neither. Several Content-Length fields must be the same (as net/http
// compares them: as written); a Transfer-Encoding must be exactly
// "chunked", in HTTP/1.0 too. net/http ignores Transfer-Encoding in
// HTTP/1.0; RFC 9112 6.1 says such a message's framing is faulty, so the
// proxy reads it as it says and closes the connection after it (the
// callers see chunked in an HTTP/1.0 message). A chunked message's
// Trailer field must not announce framing fields, as net/http checks.
func (h *header) framing() (length int64, chunked, hasLength bool, err error) {
	var te, cl []byte
	teFields := 0
	for i := range h.fields {
		f := &h.fields[i]
		switch f.id {
		case fieldTransferEncoding:
			teFields++
			te = h.bytes(f.value)
		case fieldContentLength:
			v := h.bytes(f.value)
			if hasLength {
				if !bytes.Equal(v, cl) {
					return 0, false, false, errBadLength
				}
				continue
			}
			n, ok := parseLength(v)
			if !ok {
				return 0, false, false, errBadLength
			}
			length, hasLength, cl = n, true, v
		}
	}
	if teFields > 0 {
		if teFields > 1 || !lowerIs(te, "chunked") {
			return 0, false, false, errUnsupportedTE
		}
		chunked = true
		if h.trailerNamesFraming() {
			return 0, false, false, errMalformed
		}
	}
	return length, chunked, hasLength, nil
}

// trailerNamesFraming reports whether a Trailer field announces
// Content-Length, Transfer-Encoding or Trailer.
func (h *header) trailerNamesFraming() bool {
	for i := range h.fields {
		if h.fields[i].id != fieldTrailer {
			continue
		}
		list := h.bytes(h.fields[i].value)
		for len(list) > 0 {
			var item []byte
			item, list, _ = bytes.Cut(list, []byte{','})
			switch identify(trimOWS(item)) {
			case fieldContentLength, fieldTransferEncoding, fieldTrailer:
				return true
			}
		}
	}
	return false
}

// closes reports whether a message's connection closes after it: asked
// for (in HTTP/1.0, not asked to stay open), or, in HTTP/1.0, a message
// with Transfer-Encoding (RFC 9112 6.1).
func (h *header) closes(minor int, chunked bool) bool {
	if minor >= 1 {
		return h.hasToken(fieldConnection, "close")
	}
	return chunked || h.hasToken(fieldConnection, "close") || !h.hasToken(fieldConnection, "keep-alive")
}

// request is a client's request as read, reused for the next one.
type request struct {
	method string
	target []byte // as sent, for origin and asterisk forms
	uri    string // set for absolute form: the target in origin form
	host   []byte
	minor  int // HTTP/1.minor
	header header

	// The body: length bytes, or chunks when chunked; none when both are
	// zero.
	length  int64
	chunked bool
	close   bool // the client asks to close after the answer

	targetBuf []byte
}

// clone is a copy that outlives the connection's next request.
func (r *request) clone() *request {
	return &request{method: r.method, target: bytes.Clone(r.target), uri: r.uri, host: bytes.Clone(r.host),
		minor: r.minor, header: r.header.clone(), length: r.length, chunked: r.chunked}
}

// proto11 reports whether the client speaks HTTP/1.1.
func (r *request) proto11() bool { return r.minor >= 1 }

func (r *request) hasBody() bool { return r.chunked || r.length > 0 }

// targetOrigin is the request target an endpoint gets, in origin form.
func (r *request) targetOrigin() []byte {
	if r.uri != "" {
		return []byte(r.uri)
	}
	return r.target
}

// knownMethod avoids allocating the common methods' names.
func knownMethod(b []byte) string {
	switch string(b) {
	case "GET":
		return http.MethodGet
	case "HEAD":
		return http.MethodHead
	case "POST":
		return http.MethodPost
	case "PUT":
		return http.MethodPut
	case "DELETE":
		return http.MethodDelete
	case "OPTIONS":
		return http.MethodOptions
	case "PATCH":
		return http.MethodPatch
	case "CONNECT":
		return http.MethodConnect
	case "TRACE":
		return http.MethodTrace
	}
	return string(b)
}

// readRequest reads a request's line and header into r.
func (lr *lineReader) readRequest(r *request) error {
	r.header.reset()
	r.uri, r.host, r.length, r.chunked, r.close = "", nil, 0, false, false
	line, err := lr.next()
	// RFC 9112 2.2: empty lines before a request line (after a body, from
	// old clients) are ignored.
	for i := 0; err == nil && len(line) == 0 && i < 4; i++ {
		line, err = lr.next()
	}
	if err != nil {
		return err
	}
	method, rest, ok1 := bytes.Cut(line, []byte{' '})
	target, version, ok2 := bytes.Cut(rest, []byte{' '})
	if !ok1 || !ok2 || !isToken(method) || !validTarget(target) {
		return errMalformed
	}
	major, minor, ok := parseVersion(version)
	switch {
	case major > 1 || (major == 0 && ok):
		return errVersion
	case !ok:
		if major == 0 && len(version) == 8 && string(version[:5]) == "HTTP/" {
			return errVersion // HTTP/0.9 and the like
		}
		return errMalformed
	}
	r.method, r.minor = knownMethod(method), minor
	r.targetBuf = append(r.targetBuf[:0], target...)
	r.target = r.targetBuf
	if err := lr.readFields(&r.header); err != nil {
		return err
	}

	hosts := 0
	for i := range r.header.fields {
		if r.header.fields[i].id == fieldHost {
			hosts++
			r.host = r.header.bytes(r.header.fields[i].value)
		}
	}
	switch {
	case hosts > 1:
		return errTooManyHosts
	case hosts == 1 && !validHost(r.host):
		return errBadHost
	}
	if r.target[0] != '/' && string(r.target) != "*" {
		// Absolute form: its host wins over the Host header. CONNECT's
		// authority form is turned down later.
		if r.method != http.MethodConnect {
			u, err := url.ParseRequestURI(string(r.target))
			if err != nil || u.Host == "" {
				return errTargetMalformed
			}
			r.uri, r.host = u.RequestURI(), []byte(u.Host)
		}
	} else if r.method != http.MethodOptions && string(r.target) == "*" {
		return errTargetMalformed
	}
	if hosts == 0 && r.proto11() && r.method != http.MethodConnect {
		return errMissingHost // even with a host in the target (RFC 9112 3.2)
	}

	length, chunked, hasLength, err := r.header.framing()
	if err != nil {
		return err
	}
	if chunked && hasLength {
		return errBothLengths // a smuggling attempt, more likely than not
	}
	r.length, r.chunked = length, chunked
	r.close = r.header.closes(minor, chunked)
	return nil
}

// validTarget accepts a request target without spaces or control bytes
// and with well-formed percent escapes.
func validTarget(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c <= ' ' || c == 0x7f:
			return false
		case c == '%':
			if i+2 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// unhex is a hex digit's value.
func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// response is an endpoint's answer as read, reused for the next one.
type response struct {
	status int
	line   []byte // the status line after the version: "200 OK"
	minor  int
	header header

	// The body: none (noBody), chunks, length bytes, or (close
	// delimited) everything until the connection ends.
	noBody  bool
	chunked bool
	length  int64 // -1 when delimited by the connection's end
	close   bool  // the endpoint closes the connection after it

	lineBuf []byte
}

// readResponse reads an answer's status line and header into r; the
// answer is to a request of method.
func (lr *lineReader) readResponse(r *response, method string) error {
	r.header.reset()
	line, err := lr.next()
	if err != nil {
		return err
	}
	version, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return errMalformed
	}
	_, minor, ok := parseVersion(version)
	if !ok {
		return errVersion
	}
	code, _, _ := bytes.Cut(rest, []byte{' '})
	if len(code) != 3 || code[0] < '1' || code[0] > '9' || code[1] < '0' || code[1] > '9' || code[2] < '0' || code[2] > '9' ||
		!validValue(rest) {
		return errMalformed
	}
	r.status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	r.minor = minor
	r.lineBuf = append(r.lineBuf[:0], rest...)
	if len(rest) == 3 { // no reason phrase: give the usual one
		r.lineBuf = append(append(r.lineBuf, ' '), http.StatusText(r.status)...)
	}
	r.line = r.lineBuf
	if err := lr.readFields(&r.header); err != nil {
		return err
	}

	// The framing is checked even for an answer without a body, as
	// net/http does: a HEAD answer's Content-Length goes to the client.
	length, chunked, hasLength, err := r.header.framing()
	if err != nil {
		return err
	}
	r.close = r.header.closes(minor, chunked)
	r.noBody, r.chunked, r.length = false, false, -1
	if method == http.MethodHead || r.status < 200 || r.status == http.StatusNoContent || r.status == http.StatusNotModified {
		r.noBody, r.length = true, 0
		return nil
	}
	switch {
	case chunked:
		r.chunked = true
		if hasLength {
			r.close = true // RFC 9112 6.3: the endpoint's framing is suspect
		}
	case hasLength:
		r.length = length
	default:
		r.close = true // delimited by the connection's end
	}
	return nil
}

// bodyReader reads a message's body off a buffered reader: a length of
// bytes, chunks (then trailers), or everything until the end of the
// stream. One per connection, reset for each message.
type bodyReader struct {
	br      *bufio.Reader
	chunked bool
	remain  int64 // of the body, or of the current chunk; -1 until the stream ends
	eof     bool
	err     error  // sticky
	trailer header // after chunks
	lines   lineReader
	// inChunk is set between a chunk's size line and its end.
	inChunk bool
	// overhead counts the chunks' bytes that are not data, less what
	// their data allows (see maxChunkOverhead).
	overhead int64
}

func (b *bodyReader) reset(br *bufio.Reader, chunked bool, length int64) {
	b.br, b.chunked, b.remain, b.eof, b.err, b.inChunk, b.overhead = br, chunked, length, false, nil, false, 0
	b.trailer.reset()
	if !chunked && length == 0 {
		b.eof = true
	}
}

// done reports whether the body was read to its end.
func (b *bodyReader) done() bool { return b.eof }

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	if b.err != nil {
		return 0, b.err
	}
	var n int
	var err error
	if b.chunked {
		n, err = b.readChunked(p)
	} else {
		n, err = b.readPlain(p)
	}
	if err == io.EOF {
		b.eof = true
	} else if err != nil {
		b.err = err
	}
	return n, err
}

func (b *bodyReader) readPlain(p []byte) (int, error) {
	if b.remain < 0 { // until the connection ends
		return b.br.Read(p)
	}
	if int64(len(p)) > b.remain {
		p = p[:b.remain]
	}
	n, err := b.br.Read(p)
	b.remain -= int64(n)
	switch {
	case b.remain == 0:
		return n, io.EOF // with the data, so that the connection is known free at once
	case err == io.EOF:
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *bodyReader) readChunked(p []byte) (int, error) {
	for !b.inChunk {
		size, err := b.chunkSize()
		if err != nil {
			return 0, err
		}
		if size == 0 {
			b.lines.start(b.br, maxTrailerBytes)
			if err := b.lines.readFields(&b.trailer); err != nil {
				return 0, eofIsUnexpected(err)
			}
			return 0, io.EOF
		}
		b.remain, b.inChunk = size, true
	}
	if int64(len(p)) > b.remain {
		p = p[:b.remain]
	}
	n, err := b.br.Read(p)
	b.remain -= int64(n)
	if b.remain == 0 {
		b.inChunk = false
		if err := b.chunkEnd(); err != nil {
			return n, err
		}
		if n > 0 && b.br.Buffered() >= 5 {
			// The last chunk may follow at once: say EOF with the data.
			if peek, _ := b.br.Peek(5); string(peek) == "0\r\n\r\n" {
				b.br.Discard(5)
				return n, io.EOF
			}
		}
		return n, nil
	}
	return n, eofIsUnexpected(err)
}

// chunkSize reads a chunk's size line (RFC 9112 7.1): the size in hex,
// then extensions, which are checked, counted and dropped.
func (b *bodyReader) chunkSize() (int64, error) {
	b.lines.start(b.br, maxChunkLine)
	line, err := b.lines.next()
	if err != nil {
		if err == errHeaderTooLarge || err == errMalformed {
			return 0, errBadChunk
		}
		return 0, eofIsUnexpected(err)
	}
	var n int64
	i := 0
	for ; i < len(line); i++ {
		d, ok := unhex(line[i])
		if !ok {
			break
		}
		if i == 16 {
			// More than 16 digits, leading zeros included, as net/http
			// refuses them: an endpoint must not read a size the proxy
			// read otherwise.
			return 0, errBadChunk
		}
		if n >= 1<<56 {
			return 0, errBadChunk // 2^60 bytes and more: no chunk is that long
		}
		n = n<<4 | int64(d)
	}
	if i == 0 || (i < len(line) && !validChunkExt(line[i:])) {
		return 0, errBadChunk
	}
	b.overhead = max(b.overhead+int64(len(line))+2-16-2*n, 0)
	if b.overhead > maxChunkOverhead {
		return 0, errBadChunk
	}
	return n, nil
}

// validChunkExt checks what follows a chunk's size:
//
//	chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//	chunk-ext-name = token
//	chunk-ext-val  = token / quoted-string
//
// and whitespace before the line's end, which net/http takes too.
func validChunkExt(b []byte) bool {
	i := skipOWS(b, 0)
	for i < len(b) {
		if b[i] != ';' {
			return false
		}
		i = skipOWS(b, i+1)
		j := tokenEnd(b, i)
		if j == i {
			return false
		}
		i = skipOWS(b, j)
		if i < len(b) && b[i] == '=' {
			i = skipOWS(b, i+1)
			if i < len(b) && b[i] == '"' {
				j = quotedEnd(b, i)
			} else {
				j = tokenEnd(b, i)
			}
			if j == i {
				return false
			}
			i = skipOWS(b, j)
		}
	}
	return true
}

func skipOWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	return i
}

// tokenEnd is where the token from b[i] ends; i when there is none.
func tokenEnd(b []byte, i int) int {
	for i < len(b) && tokenByte[b[i]] {
		i++
	}
	return i
}

// quotedEnd is where the quoted-string (RFC 9110 5.6.4) from b[i] ends;
// i when it is not one.
func quotedEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1
		case c == '\\':
			j++
			if j == len(b) || (b[j] < ' ' && b[j] != '\t') || b[j] == 0x7f {
				return i
			}
		case (c < ' ' && c != '\t') || c == 0x7f:
			return i
		}
	}
	return i
}

// chunkEnd reads the CRLF after a chunk's data.
func (b *bodyReader) chunkEnd() error {
	for _, want := range [2]byte{'\r', '\n'} {
		c, err := b.br.ReadByte()
		switch {
		case err != nil:
			return eofIsUnexpected(err)
		case c != want:
			return errBadChunk
		}
	}
	return nil
}

func eofIsUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
