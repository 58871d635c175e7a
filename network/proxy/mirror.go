package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"hash"
	"io"
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

// startMirrors sends a copy of c's request to each revision in revs that
// has a ready endpoint, asynchronously. Bodies up to 1 MiB are buffered
// (the primary then sends the buffer too); larger ones are not mirrored.
// Mirrors never delay or change the primary's answer beyond that
// buffering.
func (p *Proxy) startMirrors(c *clientConn, out *outbound, fl *flight, revs []int) []*mirrorCall {
	if fl.pool == nil || len(out.upgrade) > 0 {
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
	body := out.body
	if out.stream != nil {
		buf, ok, rest := bufferBody(out.stream.r, out.stream.length)
		out.stream.r, c.reqBody = rest, rest // what was read, then the rest
		if !ok {
			p.metrics.mirrorsDropped.Add(float64(len(targets)))
			return nil
		}
		// The body is in memory now: the primary sends it whole too.
		body, out.body, out.stream, out.expect = buf, buf, nil, false
	}
	copyOf := mirrorRequest{req: c.req.clone(), clientIP: out.clientIP, extraHop: out.extraHop,
		teTrailers: out.teTrailers, body: body}
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
		go p.runMirror(fl.svc, fl.pool, call, copyOf)
		calls = append(calls, call)
	}
	return calls
}

// mirrorRequest is what a mirrored copy needs of the original request;
// the copies share it and only read it.
type mirrorRequest struct {
	req        *request
	clientIP   string
	extraHop   bool
	teTrailers bool
	body       []byte
}

// runMirror sends one mirrored copy, reads its answer fully, discards it,
// and compares it with the primary's.
func (p *Proxy) runMirror(svc *service, pp *portPool, call *mirrorCall, mr mirrorRequest) {
	defer p.mirrors.done()
	defer func() { <-p.mirrorSlots }()
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.MirrorTimeout)
	defer cancel()
	out := &outbound{req: mr.req, clientIP: mr.clientIP, extraHop: mr.extraHop,
		teTrailers: mr.teTrailers, body: mr.body, ctx: ctx}

	fl := newFlight(svc, 0)
	fl.pool, fl.rev, fl.strict = pp, call.rev, true
	start := p.clock.Now()
	got := outcome{complete: true}
	uc, resp, err := p.send(fl, out, start)
	switch {
	case errors.Is(err, errNoEndpoint):
		return // its endpoints went meanwhile: nothing was mirrored
	case err != nil:
		got.failed, got.status = true, http.StatusServiceUnavailable
	default:
		capture := newBodyCapture(&uc.body, len(call.compare.IgnoreJSONFields) > 0)
		_, rerr := io.Copy(io.Discard, capture)
		capture.finish()
		got.status, got.header, got.body = resp.status, resp.header.httpHeader(), capture
		got.complete = rerr == nil
		out.release(uc, rerr == nil, p.clock.Now())
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
	r        io.Reader
	hash     hash.Hash
	keep     bool
	buf      []byte
	overflow bool
	eof      bool
	sum      [sha256.Size]byte
}

func newBodyCapture(r io.Reader, keep bool) *bodyCapture {
	return &bodyCapture{r: r, hash: sha256.New(), keep: keep}
}

func (b *bodyCapture) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
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

// bufferBody reads a body of length (-1: unknown) into memory when it is
// at most maxMirrorBody; rest replays it. A larger body is left to stream
// (rest still reads all of it) and reported as not buffered.
func bufferBody(body io.Reader, length int64) (buf []byte, ok bool, rest io.Reader) {
	if length > maxMirrorBody {
		return nil, false, body
	}
	buf, err := io.ReadAll(io.LimitReader(body, maxMirrorBody+1))
	if err != nil || len(buf) > maxMirrorBody {
		return nil, false, io.MultiReader(bytes.NewReader(buf), body)
	}
	return buf, true, bytes.NewReader(buf)
}
