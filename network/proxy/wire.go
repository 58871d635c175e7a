package proxy

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// HTTP/1.1 as the proxy writes it. Fields come from parsed messages
// (message.go checked them), so they are written as they came; the
// framing (Content-Length, Transfer-Encoding) is always the proxy's own,
// never copied, so that both sides agree on where a message ends.

func writeHeaderLine(w *bufio.Writer, k, v string) {
	w.WriteString(k)
	w.WriteString(": ")
	w.WriteString(v)
	w.WriteString("\r\n")
}

func writeField(w *bufio.Writer, h *header, f *field) {
	w.Write(h.bytes(f.name))
	w.WriteString(": ")
	w.Write(h.bytes(f.value))
	w.WriteString("\r\n")
}

// writeFields writes the fields of h named id.
func writeFields(w *bufio.Writer, h *header, id fieldID) {
	for i := range h.fields {
		if h.fields[i].id == id {
			writeField(w, h, &h.fields[i])
		}
	}
}

// writeFieldsExcept writes the fields of h but those in skip.
func writeFieldsExcept(w *bufio.Writer, h *header, skip *[256]bool) {
	for i := range h.fields {
		if !skip[h.fields[i].id] {
			writeField(w, h, &h.fields[i])
		}
	}
}

// writeRequestHead writes out's request line and header: the client's
// fields less hop-by-hop ones, the forwarding fields (as
// httputil.ProxyRequest.SetXForwarded sets them) and the body's framing.
// addr is the endpoint, the Host of a request that named none.
func writeRequestHead(w *bufio.Writer, out *outbound, addr string) {
	req := out.req
	h := &req.header
	w.WriteString(req.method)
	w.WriteByte(' ')
	w.Write(req.targetOrigin())
	w.WriteString(" HTTP/1.1\r\nHost: ")
	if len(req.host) > 0 {
		w.Write(req.host)
	} else {
		w.WriteString(addr)
	}
	w.WriteString("\r\n")
	for i := range h.fields {
		f := &h.fields[i]
		if hopRequest[f.id] || (out.extraHop && h.connectionNamed(i)) {
			continue
		}
		writeField(w, h, f)
	}
	if out.clientIP != "" {
		w.WriteString("X-Forwarded-For: ")
		for i := range h.fields {
			if h.fields[i].id == fieldXForwardedFor {
				w.Write(h.bytes(h.fields[i].value))
				w.WriteString(", ")
			}
		}
		w.WriteString(out.clientIP)
		w.WriteString("\r\n")
	}
	w.WriteString("X-Forwarded-Host: ")
	w.Write(req.host)
	w.WriteString("\r\nX-Forwarded-Proto: http\r\n")
	if out.teTrailers {
		w.WriteString("Te: trailers\r\n")
	}
	if len(out.upgrade) > 0 {
		w.WriteString("Connection: Upgrade\r\nUpgrade: ")
		w.Write(out.upgrade)
		w.WriteString("\r\n")
	}
	switch {
	case out.body != nil:
		writeContentLength(w, int64(len(out.body)))
	case out.stream != nil && out.stream.length >= 0:
		writeContentLength(w, out.stream.length)
	case out.stream != nil:
		w.WriteString("Transfer-Encoding: chunked\r\n")
		writeFields(w, h, fieldTrailer)
	case req.method == http.MethodPost || req.method == http.MethodPut || req.method == http.MethodPatch ||
		h.has(fieldContentLength):
		w.WriteString("Content-Length: 0\r\n")
	}
	w.WriteString("\r\n")
}

func writeContentLength(w *bufio.Writer, n int64) {
	w.WriteString("Content-Length: ")
	w.Write(strconv.AppendInt(w.AvailableBuffer(), n, 10))
	w.WriteString("\r\n")
}

func writeChunkHeader(w *bufio.Writer, n int) {
	w.Write(strconv.AppendInt(w.AvailableBuffer(), int64(n), 16))
	w.WriteString("\r\n")
}

// validHost reports whether a Host header holds only the bytes a host,
// port or IP literal may (as net/http's Server checks).
func validHost(h []byte) bool {
	for _, c := range h {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!$%&'()*+,-.:;=[]_~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// dateCache formats the Date header once a second.
type dateCache struct{ v atomic.Pointer[dateValue] }

type dateValue struct {
	sec int64
	s   string
}

func (d *dateCache) get(now time.Time) string {
	sec := now.Unix()
	if v := d.v.Load(); v != nil && v.sec == sec {
		return v.s
	}
	s := now.UTC().Format(http.TimeFormat)
	d.v.Store(&dateValue{sec: sec, s: s})
	return s
}
