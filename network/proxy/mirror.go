package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
	"flotilla/network/proxy/shadowdiff"
)

// Mirrors (shadow rollouts). A route table's mirror copies a share of the
// requests of its methods to a candidate revision; the client only ever
// gets the primary's answer, and the copies never make it wait: they are
// sent from goroutines of their own, bounded by MaxMirrorsInFlight (past
// it a request is not mirrored rather than queued). A share of the
// mirrored requests is also sent to a second replica of the revision that
// served the primary, not the one that did: the baseline, whose
// differences from the primary are noise (network/proxy/shadowdiff). The
// answers are compared once the client has its own, and counted in one
// Aggregator per service and candidate revision, which Traffic reports.
//
//	client ──► primary (stable) ──► answer to the client ──┐ primaryDone
//	   │ startMirrors                                        ▼
//	   ├──► candidate copy (runMirror) ─── its answer ──► Record ◄── baseline's answer
//	   └──► baseline copy (runBaseline): waits for the primary's endpoint,
//	        then another ready replica of its revision

// shadowKeep is how long a shadow's figures are kept (and reported) after
// its mirror left the route table, so that the servers get its last ones.
const shadowKeep = 2 * time.Minute

// maxCompareBody is the most of an answer's body kept for comparing; a
// longer body is compared as bytes as far as this goes.
const maxCompareBody = 256 << 10

// shadowKey names one shadow rollout on this proxy.
type shadowKey struct {
	namespace, service string
	revision           int // the candidate
}

// shadow is one shadow rollout's figures on this proxy and the mirror
// settings they were counted with. It outlives service snapshots.
type shadow struct {
	key      shadowKey
	mirror   api.Mirror
	baseline float64 // the fraction of copies that get a baseline
	agg      *shadowdiff.Aggregator

	// Guarded by shadowBook.mu: whether a service snapshot serves the
	// mirror, and since when none does.
	inUse      bool
	unlistedAt time.Time
}

// mirrors reports whether a request of method is copied.
func (s *shadow) mirrors(method string) bool { return api.MirrorsMethod(s.mirror.Methods, method) }

// shadowBook holds the proxy's shadows.
type shadowBook struct {
	mu    sync.Mutex
	byKey map[shadowKey]*shadow
}

func newShadowBook() *shadowBook { return &shadowBook{byKey: map[shadowKey]*shadow{}} }

// forService returns the shadows of a service's mirrors, by candidate
// revision, making new ones; a mirror whose settings changed starts
// counting afresh. A mirror whose settings cannot be used is reported and
// left out: its revision gets no copies.
func (b *shadowBook) forService(namespace, name string, mirrors []api.Mirror) (map[int]*shadow, error) {
	if len(mirrors) == 0 {
		return nil, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[int]*shadow{}
	var errs []error
	for _, m := range mirrors {
		k := shadowKey{namespace, name, m.Backend}
		sh := b.byKey[k]
		if sh == nil || !reflect.DeepEqual(sh.mirror, m) {
			var err error
			if sh, err = newShadow(k, m); err != nil {
				errs = append(errs, fmt.Errorf("mirror to revision %d: %w", m.Backend, err))
				continue
			}
			b.byKey[k] = sh
		}
		out[m.Backend] = sh
	}
	return out, errors.Join(errs...)
}

func newShadow(k shadowKey, m api.Mirror) (*shadow, error) {
	if !(m.Baseline >= 0 && m.Baseline <= 100) {
		return nil, fmt.Errorf("baseline: must be between 0%% and 100%%, got %s", m.Baseline)
	}
	cmp, err := shadowdiff.NewComparer(m.Compare)
	if err != nil {
		return nil, err
	}
	m.Methods = slices.Clone(m.Methods)
	m.Compare.IgnoreHeaders = slices.Clone(m.Compare.IgnoreHeaders)
	m.Compare.IgnoreJSONFields = slices.Clone(m.Compare.IgnoreJSONFields)
	return &shadow{key: k, mirror: m, baseline: m.Baseline.Fraction(), inUse: true, // until serving says
		agg: shadowdiff.NewAggregator(cmp, shadowdiff.Options{NoBaseline: m.Baseline == 0})}, nil
}

// serving notes which shadows the service snapshots now serve, and
// forgets those none has served for shadowKeep.
func (b *shadowBook) serving(current map[string]*service, now time.Time) {
	used := map[*shadow]bool{}
	for _, svc := range current {
		for _, sh := range svc.shadows {
			used[sh] = true
		}
	}
	b.mu.Lock()
	for _, sh := range b.byKey {
		if sh.inUse && !used[sh] {
			sh.unlistedAt = now
		}
		sh.inUse = used[sh]
	}
	b.mu.Unlock()
	b.expire(now)
}

// expire forgets the shadows no snapshot has served for shadowKeep.
func (b *shadowBook) expire(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, sh := range b.byKey {
		if !sh.inUse && now.Sub(sh.unlistedAt) > shadowKeep {
			delete(b.byKey, k)
		}
	}
}

// report is the figures of the shadow whose candidate is k, nil when
// there is none, and the rollout they are of (Mirror.Rollout).
func (b *shadowBook) report(k shadowKey) (*api.DiffReport, uint64) {
	b.mu.Lock()
	sh := b.byKey[k]
	b.mu.Unlock()
	if sh == nil {
		return nil, 0
	}
	r := trimExamples(sh.agg.Report())
	return &r, sh.mirror.Rollout
}

// reportedExampleFields bounds the fields per endpoint whose examples a
// report carries (those that count most come first): what a report sent
// every second costs stays small whatever the answers look like.
const reportedExampleFields = 16

func trimExamples(r api.DiffReport) api.DiffReport {
	for i := range r.Endpoints {
		for j := range r.Endpoints[i].Fields {
			if j >= reportedExampleFields {
				r.Endpoints[i].Fields[j].Examples = nil
			}
		}
	}
	return r
}

// mirrorCall is one mirrored copy of a request on its way.
type mirrorCall struct {
	sh       *shadow
	req      shadowdiff.Request
	primary  chan outcome  // the primary's answer, once the client has it
	baseline *baselineCall // nil when this request has no baseline copy
}

// baselineCall is the baseline copy of a mirrored request.
type baselineCall struct {
	served chan *endpoint          // the primary's endpoint once chosen; nil when none answered
	answer chan *shadowdiff.Answer // its answer; nil when it could not be sent
}

// outcome is an answer to compare.
type outcome struct {
	complete bool // the answer was received in full
	failed   bool // no endpoint answered; status is the proxy's
	status   int
	header   http.Header
	body     *bodyCapture // nil unless bodies are compared
}

// answer is o as the differ reads it.
func (o outcome) answer() shadowdiff.Answer {
	a := shadowdiff.Answer{Failed: o.failed, Status: o.status, Header: o.header}
	if o.body != nil {
		a.Body, a.Truncated = o.body.buf, o.body.truncated
	}
	return a
}

// startMirrors sends a copy of c's request to each revision in revs whose
// mirror copies the request's method and that has a ready endpoint, and
// sometimes to the baseline, asynchronously. Bodies up to 1 MiB are
// buffered (the primary then sends the buffer too); larger ones are not
// mirrored. Mirrors never delay or change the primary's answer beyond
// that buffering.
func (p *Proxy) startMirrors(c *clientConn, out *outbound, fl *flight, revs []int) []*mirrorCall {
	if fl.pool == nil || len(out.upgrade) > 0 {
		return nil // nothing to mirror to; a connection upgrade is not a request to copy
	}
	var targets []*shadow
	for _, rev := range revs {
		if sh := fl.svc.shadows[rev]; sh != nil && sh.mirrors(c.req.method) && fl.pool.byRevision[rev] != nil {
			targets = append(targets, sh)
		}
	}
	if len(targets) == 0 {
		return nil // not this method, or no ready endpoint of any mirror revision
	}
	body := out.body
	if out.stream != nil {
		buf, ok, rest := bufferBody(out.stream.r, out.stream.length)
		out.stream.r, c.reqBody = rest, rest // what was read, then the rest
		if !ok {
			p.metrics.mirrorsDropped.Add(float64(len(targets)))
			for _, sh := range targets {
				sh.agg.AddDropped()
			}
			return nil
		}
		// The body is in memory now: the primary sends it whole too.
		body, out.body, out.stream, out.expect = buf, buf, nil, false
	}
	copyOf := mirrorRequest{req: c.req.clone(), clientIP: out.clientIP, extraHop: out.extraHop,
		teTrailers: out.teTrailers, body: body}
	req := shadowdiff.Request{Method: c.req.method, Target: string(c.req.targetOrigin())}
	var calls []*mirrorCall
	for _, sh := range targets {
		if !p.takeMirrorSlot() {
			p.metrics.mirrorsDropped.Inc()
			sh.agg.AddDropped()
			continue
		}
		call := &mirrorCall{sh: sh, req: req, primary: make(chan outcome, 1)}
		fl.mirrored = true
		fl.captureBody = fl.captureBody || sh.mirror.Compare.Body
		// The baseline needs a second replica of the primary's revision,
		// and a slot of its own; without either the copy goes alone.
		if sh.baseline > 0 && fl.rev >= 0 && p.rnd() < sh.baseline {
			if pl := fl.pool.byRevision[fl.rev]; pl != nil && len(pl.targets) >= 2 && p.takeMirrorSlot() {
				call.baseline = &baselineCall{served: make(chan *endpoint, 1), answer: make(chan *shadowdiff.Answer, 1)}
				go p.runBaseline(fl.svc, fl.pool, fl.rev, sh.mirror.Compare.Body, call.baseline, copyOf)
			}
		}
		go p.runMirror(fl.svc, fl.pool, call, copyOf)
		calls = append(calls, call)
	}
	return calls
}

// takeMirrorSlot takes room for one copy in flight, without waiting.
func (p *Proxy) takeMirrorSlot() bool {
	select {
	case p.mirrorSlots <- struct{}{}:
	default:
		return false
	}
	if !p.mirrors.add() {
		<-p.mirrorSlots
		return false
	}
	return true
}

// releaseMirrorSlot gives back what takeMirrorSlot took.
func (p *Proxy) releaseMirrorSlot() {
	<-p.mirrorSlots
	p.mirrors.done()
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

// sendCopy sends one copy of mr with fl's choice of endpoint and reads its
// answer fully; sent is false when no endpoint was there to send it to.
func (p *Proxy) sendCopy(ctx context.Context, fl *flight, mr mirrorRequest, keepBody bool) (got outcome, sent bool) {
	out := &outbound{req: mr.req, clientIP: mr.clientIP, extraHop: mr.extraHop,
		teTrailers: mr.teTrailers, body: mr.body, ctx: ctx}
	start := p.clock.Now()
	got = outcome{complete: true}
	uc, resp, err := p.send(fl, out, start)
	switch {
	case errors.Is(err, errNoEndpoint):
		return got, false // its endpoints went meanwhile: nothing was sent
	case err != nil:
		got.failed, got.status = true, http.StatusServiceUnavailable
	default:
		var capture *bodyCapture
		var r io.Reader = &uc.body
		if keepBody {
			capture = newBodyCapture(r)
			r = capture
		}
		_, rerr := io.Copy(io.Discard, r)
		got.status, got.header, got.body = resp.status, resp.header.httpHeader(), capture
		got.complete = rerr == nil
		out.release(uc, rerr == nil, p.clock.Now())
	}
	fl.status = got.status
	fl.finish(p, start, got.failed || !got.complete || got.status >= 500)
	return got, true
}

// mirrorContext bounds a copy by MirrorTimeout twice over: its deadline is
// the sockets' (real time, the kernel's), and the proxy's clock cancels it
// too, so that its waits for the other answers follow the clock in
// virtual time.
func (p *Proxy) mirrorContext() (context.Context, context.CancelFunc) {
	sockets, stop := context.WithTimeout(p.ctx, p.cfg.MirrorTimeout)
	ctx, cancel := clock.WithTimeout(sockets, p.clock, p.cfg.MirrorTimeout)
	return ctx, func() { cancel(); stop() }
}

// runMirror sends one copy to the candidate, reads its answer, and once
// the primary's (and the baseline's, if any) are in, records the
// comparison.
func (p *Proxy) runMirror(svc *service, pp *portPool, call *mirrorCall, mr mirrorRequest) {
	defer p.releaseMirrorSlot()
	ctx, cancel := p.mirrorContext()
	defer cancel()
	fl := newFlight(svc, 0)
	fl.pool, fl.rev, fl.strict = pp, call.sh.key.revision, true
	got, sent := p.sendCopy(ctx, fl, mr, call.sh.mirror.Compare.Body)
	if !sent {
		return
	}
	call.sh.agg.AddMirrored()
	candidate := got.answer()
	if !got.complete {
		candidate = shadowdiff.Answer{Failed: true} // cut short: no whole answer came
	}

	var primary outcome
	select {
	case primary = <-call.primary:
	case <-ctx.Done():
		return
	}
	if !primary.complete {
		return // the client hung up: nothing to compare with
	}
	var baseline *shadowdiff.Answer
	if call.baseline != nil {
		select {
		case baseline = <-call.baseline.answer:
		case <-ctx.Done():
			return
		}
	}
	differs := call.sh.agg.Record(call.req, primary.answer(), candidate, baseline)
	p.metrics.series(svc.namespace, svc.name, call.sh.key.revision).compared(differs)
}

// runBaseline sends the baseline copy to a ready replica of revision rev
// other than the one that serves the primary, once that one is chosen,
// and hands its answer over (nil when it could not be sent, or the
// answer was cut short).
func (p *Proxy) runBaseline(svc *service, pp *portPool, rev int, keepBody bool, b *baselineCall, mr mirrorRequest) {
	defer p.releaseMirrorSlot()
	ctx, cancel := p.mirrorContext()
	defer cancel()
	var primary *endpoint
	select {
	case primary = <-b.served:
	case <-ctx.Done():
	}
	if primary == nil {
		b.answer <- nil // the primary got no answer: nothing to learn noise from
		return
	}
	fl := newFlight(svc, 0)
	fl.pool, fl.rev, fl.strict = pp, rev, true
	fl.tried = append(fl.tried, primary) // never the primary's replica
	got, sent := p.sendCopy(ctx, fl, mr, keepBody)
	if !sent || !got.complete {
		b.answer <- nil
		return
	}
	a := got.answer()
	b.answer <- &a
}

// primaryServed tells the baselines which endpoint serves the primary
// (nil: none could).
func primaryServed(calls []*mirrorCall, served *target) {
	var ep *endpoint
	if served != nil {
		ep = served.ep
	}
	for _, c := range calls {
		if c.baseline != nil {
			c.baseline.served <- ep
		}
	}
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
		out.body = fl.capture
		out.complete = out.complete && fl.capture.eof
	}
	for _, c := range calls {
		c.primary <- out
	}
}

// bodyCapture keeps the first maxCompareBody bytes of a body as it is
// read, to compare.
type bodyCapture struct {
	r         io.Reader
	buf       []byte
	truncated bool // the body went on past buf
	eof       bool
}

func newBodyCapture(r io.Reader) *bodyCapture { return &bodyCapture{r: r} }

func (b *bodyCapture) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		keep := min(n, maxCompareBody-len(b.buf))
		b.buf = append(b.buf, p[:keep]...)
		if keep < n {
			b.truncated = true
		}
	}
	if err == io.EOF {
		b.eof = true
	}
	return n, err
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
