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
// these read into buffers that each connection reuses. They are as strict
// as net/http where it matters for request smuggling: one way to frame a
// body, no folded lines, no bytes that do not belong in a header.

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

// next returns the next line without its end (CRLF, or LF as net/http
// accepts); it is valid until the next call.
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
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
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
// neither. Several Content-Length fields must agree; a Transfer-Encoding
// must be exactly "chunked". It ignores Transfer-Encoding in HTTP/1.0, as
// net/http does.
func (h *header) framing(minor int) (length int64, chunked, hasLength bool, err error) {
	var te []byte
	teFields := 0
	for i := range h.fields {
		f := &h.fields[i]
		switch f.id {
		case fieldTransferEncoding:
			teFields++
			te = h.bytes(f.value)
		case fieldContentLength:
			n, ok := parseLength(h.bytes(f.value))
			if !ok || (hasLength && n != length) {
				return 0, false, false, errBadLength
			}
			length, hasLength = n, true
		}
	}
	if teFields > 0 && minor >= 1 {
		if teFields > 1 || !lowerIs(te, "chunked") {
			return 0, false, false, errUnsupportedTE
		}
		chunked = true
	}
	return length, chunked, hasLength, nil
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

	length, chunked, hasLength, err := r.header.framing(minor)
	if err != nil {
		return err
	}
	if chunked && hasLength {
		return errBothLengths // a smuggling attempt, more likely than not
	}
	r.length, r.chunked = length, chunked
	if r.proto11() {
		r.close = r.header.hasToken(fieldConnection, "close")
	} else {
		r.close = !r.header.hasToken(fieldConnection, "keep-alive")
	}
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

	if minor >= 1 {
		r.close = r.header.hasToken(fieldConnection, "close")
	} else {
		r.close = !r.header.hasToken(fieldConnection, "keep-alive")
	}
	r.noBody, r.chunked, r.length = false, false, -1
	if method == http.MethodHead || r.status < 200 || r.status == http.StatusNoContent || r.status == http.StatusNotModified {
		r.noBody, r.length = true, 0
		return nil
	}
	length, chunked, hasLength, err := r.header.framing(minor)
	switch {
	case err != nil:
		return err
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
}

func (b *bodyReader) reset(br *bufio.Reader, chunked bool, length int64) {
	b.br, b.chunked, b.remain, b.eof, b.err, b.inChunk = br, chunked, length, false, nil, false
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
			b.lines.start(b.br, maxResponseHeaderBytes)
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

// chunkSize reads a chunk's size line (extensions are ignored).
func (b *bodyReader) chunkSize() (int64, error) {
	b.lines.start(b.br, 4096)
	line, err := b.lines.next()
	if err != nil {
		if err == errHeaderTooLarge {
			return 0, errBadChunk
		}
		return 0, eofIsUnexpected(err)
	}
	size, _, _ := bytes.Cut(line, []byte{';'})
	size = trimOWS(size)
	if len(size) == 0 || len(size) > 15 {
		return 0, errBadChunk
	}
	var n int64
	for _, c := range size {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, errBadChunk
		}
		n = n<<4 | int64(d)
	}
	return n, nil
}

// chunkEnd reads the CRLF after a chunk's data.
func (b *bodyReader) chunkEnd() error {
	c, err := b.br.ReadByte()
	if err == nil && c == '\r' {
		c, err = b.br.ReadByte()
	}
	switch {
	case err != nil:
		return eofIsUnexpected(err)
	case c != '\n':
		return errBadChunk
	}
	return nil
}

func eofIsUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
