package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"hash"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"

	"flotilla/api"
)

// mirrorCall is one mirrored copy of a request on its way.
type mirrorCall struct {
	rev     int
	compare api.ShadowCompare
	primary chan outcome // the primary's answer, once the client has it
}

// outcome is an answer to compare.
type outcome struct {
	complete bool // the answer was received in full
	failed   bool // no endpoint answered; status is the proxy's
	status   int
	header   http.Header
	body     *bodyCapture // nil unless bodies are compared
}

// startMirrors sends a copy of r to each revision in revs that has a ready
// endpoint, asynchronously. Bodies up to 1 MiB are buffered (the primary
// then reads the buffer); larger ones are not mirrored. Mirrors never
// delay or change the primary's answer beyond that buffering.
func (p *Proxy) startMirrors(r *http.Request, fl *flight, revs []int) []*mirrorCall {
	if fl.pool == nil || r.Header.Get("Upgrade") != "" {
		return nil // nothing to mirror to; a connection upgrade is not a request to copy
	}
	var targets []int
	for _, rev := range revs {
		if fl.pool.byRevision[rev] != nil {
			targets = append(targets, rev)
		}
	}
	if len(targets) == 0 {
		return nil // no ready endpoint of any mirror revision
	}
	body, ok := bufferBody(r)
	if !ok {
		p.metrics.mirrorsDropped.Add(float64(len(targets)))
		return nil
	}
	header := mirrorHeader(r)
	var calls []*mirrorCall
	for _, rev := range targets {
		select {
		case p.mirrorSlots <- struct{}{}:
		default:
			p.metrics.mirrorsDropped.Inc()
			continue
		}
		if !p.mirrors.add() {
			<-p.mirrorSlots
			continue
		}
		m, _ := fl.svc.routes.Mirror(rev)
		call := &mirrorCall{rev: rev, compare: m.Compare, primary: make(chan outcome, 1)}
		fl.mirrored = true
		if m.Compare.Body {
			fl.captureBody = true
			fl.keepJSON = fl.keepJSON || len(m.Compare.IgnoreJSONFields) > 0
		}
		go p.runMirror(fl.svc, fl.pool, call, r.Method, r.URL.RequestURI(), r.Host, header.Clone(), body)
		calls = append(calls, call)
	}
	return calls
}

// runMirror sends one mirrored copy, reads its answer fully, discards it,
// and compares it with the primary's.
func (p *Proxy) runMirror(svc *service, pp *portPool, call *mirrorCall, method, uri, host string, header http.Header, body []byte) {
	defer p.mirrors.done()
	defer func() { <-p.mirrorSlots }()
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.MirrorTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://mirror"+uri, nil)
	if err != nil {
		p.log.Debug("cannot mirror request", "service", svc.key, "err", err)
		return
	}
	req.Header, req.Host = header, host
	if len(body) > 0 {
		req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	}

	fl := &flight{svc: svc, pool: pp, rev: call.rev, strict: true}
	fl.tried = fl.triedBuf[:0]
	start := p.clock.Now()
	got := outcome{complete: true}
	resp, err := p.send(req, fl)
	switch {
	case errors.Is(err, errNoEndpoint):
		return // its endpoints went meanwhile: nothing was mirrored
	case err != nil:
		got.failed, got.status = true, http.StatusServiceUnavailable
	default:
		capture := newBodyCapture(resp.Body, len(call.compare.IgnoreJSONFields) > 0)
		_, rerr := io.Copy(io.Discard, capture)
		resp.Body.Close()
		capture.finish()
		got.status, got.header, got.body = resp.StatusCode, resp.Header, capture
		got.complete = rerr == nil
	}
	fl.status = got.status
	fl.finish(p, start, got.failed || !got.complete || got.status >= 500)

	var primary outcome
	select {
	case primary = <-call.primary:
	case <-ctx.Done():
		return
	}
	if !primary.complete {
		return // the client hung up: nothing to compare with
	}
	differ := differs(call.compare, primary, got)
	p.metrics.series(svc.namespace, svc.name, call.rev).compared(differ)
}

// primaryDone hands the primary's answer to the mirrors.
func (p *Proxy) primaryDone(fl *flight, calls []*mirrorCall, completed bool) {
	out := outcome{
		complete: completed && fl.status != statusClientClosed,
		failed:   fl.served == nil,
		status:   fl.status,
		header:   fl.upstreamHeader,
	}
	if fl.capture != nil {
		fl.capture.finish()
		out.body = fl.capture
		out.complete = out.complete && fl.capture.eof
	}
	for _, c := range calls {
		c.primary <- out
	}
}

// differs says whether two answers differ in what compare counts: whether
// one failed, the status (if compare.Status), the body (if compare.Body,
// after removing compare.IgnoreJSONFields from JSON bodies) and the
// headers, except compare.IgnoreHeaders and those that always differ.
func differs(compare api.ShadowCompare, a, b outcome) bool {
	if a.failed != b.failed || !b.complete {
		return true
	}
	if compare.Status && a.status != b.status {
		return true
	}
	if compare.Body && !a.failed {
		if a.body == nil || b.body == nil ||
			a.body.digest(compare.IgnoreJSONFields) != b.body.digest(compare.IgnoreJSONFields) {
			return true
		}
	}
	return headersDiffer(a.header, b.header, compare.IgnoreHeaders)
}

// alwaysIgnored are headers that differ between any two answers or
// describe the connection rather than the answer.
var alwaysIgnored = []string{"Date", "Content-Length", "Connection", "Keep-Alive", "Proxy-Connection",
	"Transfer-Encoding", "Te", "Trailer", "Upgrade", "Proxy-Authenticate"}

func headersDiffer(a, b http.Header, ignore []string) bool {
	ignored := func(k string) bool {
		return slices.Contains(alwaysIgnored, k) ||
			slices.ContainsFunc(ignore, func(i string) bool { return strings.EqualFold(i, k) })
	}
	for k, av := range a {
		if !ignored(k) && !slices.Equal(av, b[k]) {
			return true
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok && !ignored(k) {
			return true
		}
	}
	return false
}

// bodyCapture hashes a body as it is read and, when asked, keeps up to
// 1 MiB of it to compare JSON.
type bodyCapture struct {
	rc       io.ReadCloser
	hash     hash.Hash
	keep     bool
	buf      []byte
	overflow bool
	eof      bool
	sum      [sha256.Size]byte
}

func newBodyCapture(rc io.ReadCloser, keep bool) *bodyCapture {
	return &bodyCapture{rc: rc, hash: sha256.New(), keep: keep}
}

func (b *bodyCapture) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.hash.Write(p[:n])
		if b.keep && !b.overflow {
			if len(b.buf)+n <= maxMirrorBody {
				b.buf = append(b.buf, p[:n]...)
			} else {
				b.overflow, b.buf = true, nil
			}
		}
	}
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *bodyCapture) Close() error { return b.rc.Close() }

// finish fixes the hash; the capture is read-only afterwards.
func (b *bodyCapture) finish() { b.hash.Sum(b.sum[:0]) }

// digest is the body's hash; a JSON body kept whole is hashed without the
// ignored fields instead.
func (b *bodyCapture) digest(ignoreJSON []string) [sha256.Size]byte {
	if len(ignoreJSON) > 0 && b.keep && !b.overflow {
		if d, ok := jsonDigest(b.buf, ignoreJSON); ok {
			return d
		}
	}
	return b.sum
}

// jsonDigest hashes a JSON document in canonical form (object keys sorted)
// after removing the ignored fields: a plain name ("time") wherever it
// appears, a dotted path ("meta.time") from the top.
func jsonDigest(body []byte, ignore []string) ([sha256.Size]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return [sha256.Size]byte{}, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return [sha256.Size]byte{}, false // more than one document
	}
	for _, field := range ignore {
		if strings.Contains(field, ".") {
			removePath(v, strings.Split(field, "."))
		} else {
			removeEverywhere(v, field)
		}
	}
	canonical, err := json.Marshal(v)
	if err != nil {
		return [sha256.Size]byte{}, false
	}
	return sha256.Sum256(canonical), true
}

func removeEverywhere(v any, field string) {
	switch v := v.(type) {
	case map[string]any:
		delete(v, field)
		for _, c := range v {
			removeEverywhere(c, field)
		}
	case []any:
		for _, c := range v {
			removeEverywhere(c, field)
		}
	}
}

func removePath(v any, path []string) {
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	if len(path) == 1 {
		delete(m, path[0])
		return
	}
	removePath(m[path[0]], path[1:])
}

// bufferBody reads r's body into memory when it is at most maxMirrorBody
// and gives r a body that replays it. A larger body is left to stream (r
// still reads all of it) and reported as not buffered.
func bufferBody(r *http.Request) ([]byte, bool) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, true
	}
	if r.ContentLength > maxMirrorBody {
		return nil, false
	}
	orig := r.Body
	buf, err := io.ReadAll(io.LimitReader(orig, maxMirrorBody+1))
	if err != nil || len(buf) > maxMirrorBody {
		r.Body = readCloser{io.MultiReader(bytes.NewReader(buf), orig), orig}
		return nil, false
	}
	r.Body = readCloser{bytes.NewReader(buf), orig}
	return buf, true
}

type readCloser struct {
	io.Reader
	io.Closer
}

// hopHeaders describe one connection and are not forwarded.
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// mirrorHeader is r's header as the primary endpoint receives it: without
// hop-by-hop headers, with the client added to X-Forwarded-For and
// X-Forwarded-Host and -Proto set.
func mirrorHeader(r *http.Request) http.Header {
	h := r.Header.Clone()
	for _, f := range h["Connection"] {
		for _, name := range strings.Split(f, ",") {
			h.Del(strings.TrimSpace(name))
		}
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior := h["X-Forwarded-For"]; len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		h.Set("X-Forwarded-For", ip)
	}
	h.Del("Forwarded")
	h.Set("X-Forwarded-Host", r.Host)
	h.Set("X-Forwarded-Proto", "http")
	return h
}
