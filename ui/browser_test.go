package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"flotilla/api"
	"flotilla/internal/testutil"
	"flotilla/ui"
)

// The tests here drive the dashboard in a headless Chromium (Debian's
// chromium-headless-shell, as cmd/flotilla/ui_e2e_test.go does) against a
// fake API: a few seconds each, no lab, and answers a lab cannot be made
// to give on cue (a 403, a 503, a server that dies).

var browserPaths = []string{
	"/usr/lib/chromium/chromium-headless-shell",
	"/usr/lib/chromium/headless_shell",
	"/usr/lib/chromium/chromium",
}

// fakeAPI answers /v1 from a map of path (with the query the page sends,
// less the blocking query's index, wait and stale) to value, as blocking
// queries: a read at the current index waits for a change (or 500 ms).
// It serves the dashboard itself under /ui/.
type fakeAPI struct {
	mu      sync.Mutex
	index   uint64
	objects map[string]any
	fail    map[string]int // key -> status to answer instead
	failAll int            // status every /v1 read answers (0: none)
	down    bool           // every /v1 request is cut, as by a dead server
	hits    []string       // every /v1 request, path and query
	changed chan struct{}
	srv     *httptest.Server
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{index: 1, objects: map[string]any{}, fail: map[string]int{}, changed: make(chan struct{})}
	static := ui.Handler()
	mux := http.NewServeMux()
	mux.Handle("GET /ui/", static)
	mux.HandleFunc("/v1/", f.serve)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		f.srv.CloseClientConnections()
		f.srv.Close()
	})
	return f
}

func (f *fakeAPI) url(hash string) string { return f.srv.URL + "/ui/" + hash }

// set serves v at key from now on, as a write at a new index.
func (f *fakeAPI) set(key string, v any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objects[key] = v
	f.bump()
}

func (f *fakeAPI) bump() {
	f.index++
	close(f.changed)
	f.changed = make(chan struct{})
}

// failWith makes key answer status (0: answer again).
func (f *fakeAPI) failWith(key string, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if status == 0 {
		delete(f.fail, key)
	} else {
		f.fail[key] = status
	}
	f.bump()
}

func (f *fakeAPI) setFailAll(status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failAll = status
	f.bump()
}

func (f *fakeAPI) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
	f.bump()
}

// count is how many /v1 requests started with prefix.
func (f *fakeAPI) count(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, h := range f.hits {
		if strings.HasPrefix(h, prefix) {
			n++
		}
	}
	return n
}

// mark is where the requests made from now on start, for hitsSince.
func (f *fakeAPI) mark() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.hits)
}

// hitsSince is the /v1 requests made since mark.
func (f *fakeAPI) hitsSince(mark int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.hits[mark:]...)
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	wantIndex, _ := strconv.ParseUint(q.Get("index"), 10, 64)
	q.Del("index")
	q.Del("wait")
	q.Del("stale")
	key := r.URL.Path
	if len(q) > 0 {
		key += "?" + q.Encode()
	}
	f.mu.Lock()
	f.hits = append(f.hits, r.URL.RequestURI())
	f.mu.Unlock()

	if r.URL.Path == "/v1/events" {
		f.events(w, r)
		return
	}
	for {
		f.mu.Lock()
		index, changed, down := f.index, f.changed, f.down
		status := f.fail[key]
		if f.failAll != 0 {
			status = f.failAll
		}
		v, ok := f.objects[key]
		f.mu.Unlock()
		if down {
			panic(http.ErrAbortHandler) // the connection is cut
		}
		if status == 0 && wantIndex > 0 && wantIndex >= index {
			select {
			case <-changed:
				continue
			case <-time.After(500 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case status != 0:
			w.WriteHeader(status)
			msg := map[int]string{http.StatusServiceUnavailable: "no cluster leader", http.StatusForbidden: "permission denied"}[status]
			if msg == "" {
				msg = http.StatusText(status)
			}
			json.NewEncoder(w).Encode(map[string]string{"error": msg})
		case !ok:
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]string{"error": "fake: nothing at " + key})
		default:
			w.Header().Set("X-Flotilla-Index", strconv.FormatUint(index, 10))
			json.NewEncoder(w).Encode(v)
		}
		return
	}
}

// events is an event stream with no events, cut when the fake goes down.
func (f *fakeAPI) events(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			f.mu.Lock()
			down, failing := f.down, f.failAll != 0
			f.mu.Unlock()
			if down {
				panic(http.ErrAbortHandler)
			}
			if failing {
				return
			}
		}
	}
}

// addService serves a service of 2 replicas (created `age` ago) in the
// default namespace, its allocations, a canary rollout at step 1 of 2
// (phase) and its traffic.
func (f *fakeAPI) addService(name, phase string, age time.Duration, change ...func(*api.Service)) {
	created := time.Now().Add(-age)
	svc := api.Service{
		Name: name, Namespace: api.DefaultNamespace, Revision: 2, Replicas: 2, ReadyReplicas: 2, RunningReplicas: 2,
		Strategy: "canary", VIP: "10.200.0.10", Health: api.HealthHealthy,
		Spec:       api.ServiceSpec{Name: name, Image: "flotilla.local/demo:v2", Ports: []api.Port{{Name: "http", Port: 8080, Protocol: "http"}}},
		CreateTime: created, ModifyTime: created, CreateIndex: 1, ModifyIndex: 1,
	}
	for _, c := range change {
		c(&svc)
	}
	var allocs []api.Allocation
	for i, node := range []string{"n1", "n2"} {
		allocs = append(allocs, api.Allocation{
			ID: fmt.Sprintf("%s-%d-0000-0000-000000000000", name, i), Service: name, Namespace: api.DefaultNamespace, Revision: 2 - i, Node: node,
			DesiredStatus: api.DesiredRun, Status: api.AllocRunning, Ready: true, Address: fmt.Sprintf("127.0.%d.2:8080", i+1),
			CreateTime: created, ModifyTime: created, CreateIndex: 1, ModifyIndex: 1,
		})
	}
	ro := api.Rollout{Namespace: api.DefaultNamespace, Service: name, Strategy: "canary", Phase: phase, Revision: 2, StableRevision: 1,
		Step: 1, Steps: 2, Weights: map[int]int{1: 75, 2: 25}, Reason: "waiting", StartTime: created, StepTime: created}
	traffic := api.ServiceTraffic{Namespace: api.DefaultNamespace, Service: name, Windows: []api.TrafficWindow{{
		Window: api.Duration(10 * time.Second), Revisions: []api.TrafficFigures{
			{Revision: 1, Requests: 300, RPS: 30, P50Ms: 1, P99Ms: 4, Nodes: 2},
			{Revision: 2, Requests: 100, RPS: 10, P50Ms: 1, P99Ms: 5, Nodes: 2},
		}}}}
	base := "/v1/services/default/" + name
	f.set(base, svc)
	f.set("/v1/allocations?namespace=default&service="+name, allocs)
	f.set(base+"/rollout", ro)
	f.set(base+"/traffic", traffic)
	for _, action := range []string{"promote", "pause", "resume", "abort", "retry", "undo"} {
		f.set(base+"/rollout/"+action, ro)
	}
	f.mu.Lock()
	list, _ := f.objects["/v1/services"].([]api.Service)
	f.mu.Unlock()
	f.set("/v1/services", append(list, svc))
}

// addNodes serves the servers' status and the nodes: n1 ready, and n2
// drained (ready, ineligible).
func (f *fakeAPI) addNodes() {
	f.set("/v1/status/leader", map[string]string{"leader": "127.0.0.1:4647"})
	f.set("/v1/status/peers", []map[string]any{{"id": "s1", "address": "127.0.0.1:4647", "http": "127.0.0.1:4646", "leader": true, "status": "alive", "knownLeader": true}})
	res := api.Resources{CPU: 4000, Memory: 8 << 30}
	now := time.Now()
	f.set("/v1/nodes", []api.Node{
		{Name: "n1", Status: api.NodeReady, Address: "127.0.1.1", Eligible: true, Capacity: res, Runtime: "sim", StatusTime: now},
		{Name: "n2", Status: api.NodeReady, Address: "127.0.2.1", Eligible: false, Capacity: res, Runtime: "sim", StatusMessage: "drained", StatusTime: now},
	})
}

// browser is a headless Chromium with one tab, recording the page's
// uncaught exceptions.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu         sync.Mutex
	exceptions []string
}

func startBrowser(t *testing.T) *browser {
	t.Helper()
	if testing.Short() {
		t.Skip("drives a browser; skipped with -short")
	}
	candidates := browserPaths
	if p := os.Getenv("FLOTILLA_BROWSER"); p != "" {
		candidates = []string{p}
	}
	execPath := ""
	for _, p := range candidates {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			execPath = p
			break
		}
	}
	if execPath == "" {
		testutil.SkipOrFail(t, "no headless Chromium at %s (apt-get install chromium-headless-shell)", strings.Join(candidates, ", "))
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(execPath), chromedp.WindowSize(1280, 800), chromedp.DisableGPU)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start the browser %s: %v", execPath, err)
	}
	if err := chromedp.Listen(ctx, b.record); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.checkNoExceptions)
	return b
}

func (b *browser) record(ev any) {
	if ev, ok := ev.(*runtime.EventExceptionThrown); ok {
		msg := ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			msg += " " + ev.ExceptionDetails.Exception.Description
		}
		b.mu.Lock()
		b.exceptions = append(b.exceptions, fmt.Sprintf("%s (%s:%d)", msg, ev.ExceptionDetails.URL, ev.ExceptionDetails.LineNumber+1))
		b.mu.Unlock()
	}
}

func (b *browser) checkNoExceptions() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.exceptions {
		b.t.Errorf("uncaught exception in the page: %s", e)
	}
}

func (b *browser) navigate(u string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(u)); err != nil {
		b.t.Fatalf("navigate to %s: %v", u, err)
	}
}

// eval evaluates a JavaScript expression in the page into out.
func (b *browser) eval(js string, out any) error {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](js))
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, out)
}

// text is document.querySelector(sel).textContent ("" when there is none).
func (b *browser) text(sel string) string {
	b.t.Helper()
	var s string
	if err := b.eval(fmt.Sprintf(`document.querySelector(%q)?.textContent ?? ''`, sel), &s); err != nil {
		b.t.Fatalf("read %s: %v", sel, err)
	}
	return s
}

// wait polls a JavaScript condition every 50 ms until it holds.
func (b *browser) wait(within time.Duration, what, js string) {
	b.t.Helper()
	deadline := time.Now().Add(within)
	for {
		var ok bool
		err := b.eval(js, &ok)
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			var body string
			b.eval(`document.body.innerText`, &body)
			b.t.Fatalf("the page did not show %s within %s (last error: %v); it shows:\n%s", what, within, err, body)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

// A malformed percent escape in the address shows a bad-address page,
// not an exception and a blank page.
func TestBrowserBadAddress(t *testing.T) {
	f := newFakeAPI(t)
	b := startBrowser(t)
	b.navigate(f.url("#/services/default/%E0%A4"))
	b.wait(5*time.Second, "the bad address page", `document.querySelector('#view').dataset.view === 'not-found' &&
		document.title === 'Bad address · Flotilla' && /cannot be read/.test(document.querySelector('#not-found')?.textContent)`)
	b.navigate(f.url("#/nope"))
	b.wait(5*time.Second, "the not found page", `document.title === 'Not found · Flotilla' && /no page at #\/nope/.test(document.querySelector('#not-found')?.textContent)`)
}

// An armed Abort stays armed for its 4 s even when it was armed, confirmed
// and armed again within 4 s of the first arming (the first arming's timer
// disarmed it early).
func TestBrowserRearmedAbortStaysArmed(t *testing.T) {
	f := newFakeAPI(t)
	f.addService("web", "progressing", time.Minute)
	b := startBrowser(t)
	b.navigate(f.url("#/services/default/web"))
	abort := `document.querySelector('#rollout-actions button[data-action="abort"]')`
	b.wait(5*time.Second, "the Abort button enabled", `!!`+abort+` && !`+abort+`.disabled`)
	// Arm, confirm after 1 s, arm again after 1.5 s.
	var ok bool
	if err := b.eval(`(() => { const btn = `+abort+`; btn.click(); setTimeout(() => btn.click(), 1000); setTimeout(() => btn.click(), 1500); return true; })()`, &ok); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	b.wait(3*time.Second, "the abort asked", `document.querySelector('#action-result')?.dataset.state === 'ok'`)
	if n := f.count("/v1/services/default/web/rollout/abort"); n != 1 {
		t.Fatalf("%d abort requests, want 1", n)
	}
	time.Sleep(time.Until(start.Add(4500 * time.Millisecond)))
	if armed := b.text(`#rollout-actions button[data-action="abort"]`); armed != "Confirm abort" {
		t.Errorf("4.5 s after the first arming, 3 s after the second, the button reads %q, want it still armed", armed)
	}
	b.wait(2*time.Second, "the button disarmed 4 s after the second arming", abort+`.textContent === 'Abort' && `+abort+`.dataset.armed === ''`)
	if n := f.count("/v1/services/default/web/rollout/abort"); n != 1 {
		t.Errorf("%d abort requests, want 1", n)
	}
}

// An allocation's age moves while nothing about it changes.
func TestBrowserAllocationAgeTicks(t *testing.T) {
	f := newFakeAPI(t)
	f.addService("web", "progressing", 5*time.Second)
	b := startBrowser(t)
	b.navigate(f.url("#/services/default/web"))
	age := `document.querySelector('#allocations tr[data-alloc] td:last-child')?.textContent`
	b.wait(5*time.Second, "the allocations' ages", `/^[5-7]s ago$/.test(`+age+`)`)
	b.wait(5*time.Second, "an age 3 s older without any change", `/^([89]|1[0-9])s ago$/.test(`+age+`)`)
}

// The cluster view counts services from their list (those with nothing
// placed too), writes "1 allocation", not "1 allocations", and says why a
// drained node is ineligible; the services view keeps a health badge
// apart from the name.
func TestBrowserClusterSummaryAndDrainedNode(t *testing.T) {
	f := newFakeAPI(t)
	f.addNodes()
	f.addService("web", "completed", time.Minute)
	f.addService("idle", "completed", time.Minute)
	f.addService("crashy", "completed", time.Minute, func(s *api.Service) { s.Health = api.HealthCrashLooping })
	alloc := api.Allocation{ID: "a1", Service: "web", Namespace: api.DefaultNamespace, Revision: 2, Node: "n1",
		DesiredStatus: api.DesiredRun, Status: api.AllocRunning, Ready: true, CreateTime: time.Now(), CreateIndex: 1, ModifyIndex: 1}
	f.set("/v1/allocations", []api.Allocation{alloc})
	b := startBrowser(t)
	b.navigate(f.url("#/cluster"))
	b.wait(5*time.Second, "the cluster view", `document.querySelectorAll('#nodes .node').length === 2 && /services?$/.test(document.querySelector('#cluster-summary').textContent)`)
	if got, want := b.text("#cluster-summary"), "2 nodes, 2 ready · 1 allocation placed, 1 running · 3 services"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	if got, want := b.text(`#nodes .node[data-node="n1"] .meta`), "sim · 127.0.1.1 · 1 allocation"; got != want {
		t.Errorf("n1's line %q, want %q", got, want)
	}
	var drained string
	if err := b.eval(`(() => { const m = document.querySelector('#nodes .node[data-node="n2"] .status-message'); return m.hidden ? '(hidden)' : m.textContent; })()`, &drained); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(drained, "drained (since ") {
		t.Errorf("n2's status message %q, want drained (since ...)", drained)
	}

	b.navigate(f.url("#/services"))
	b.wait(5*time.Second, "the services view", `!!document.querySelector('#services tr[data-service="default/crashy"] .badge')`)
	var name string
	if err := b.eval(`document.querySelector('#services tr[data-service="default/crashy"] td.name').innerText`, &name); err != nil {
		t.Fatal(err)
	}
	if name != "crashy crash-looping" {
		t.Errorf("the name cell reads %q, want %q", name, "crashy crash-looping")
	}
}

// A token that may not read nodes: the Nodes panel says so (it showed
// "Loading…" forever), /v1/nodes is not retried as if the server were
// down, and the token banner, once closed, stays closed for that refusal.
func TestBrowserNodesRefused(t *testing.T) {
	f := newFakeAPI(t)
	f.addNodes()
	f.addService("web", "completed", time.Minute)
	f.set("/v1/allocations", []api.Allocation{})
	f.failWith("/v1/nodes", http.StatusForbidden)
	b := startBrowser(t)
	b.navigate(f.url("#/cluster"))
	// The services list is followed on its own and may answer after the
	// refusal: the summary counts services once it has.
	b.wait(5*time.Second, "the Nodes panel saying the token may not read nodes, the token banner, and the services counted",
		`(() => { const p = document.querySelector('#nodes-refused'); return p && !p.hidden && /not readable with this token \(needs node read\)/.test(p.textContent); })() &&
		 !document.querySelector('#banner').hidden && /GET \/v1\/nodes/.test(document.querySelector('#banner').textContent) &&
		 /services?$/.test(document.querySelector('#cluster-summary').textContent)`)
	if got := b.text("#cluster-summary"); got != "0 allocations placed, 0 running · 1 service" {
		t.Errorf("summary %q", got)
	}
	b.wait(2*time.Second, "the connection live (a refusal is an answer)", `document.querySelector('#conn').dataset.state === 'live'`)
	var ok bool
	if err := b.eval(`document.querySelector('#banner-close').click(), true`, &ok); err != nil {
		t.Fatal(err)
	}
	reads := f.count("/v1/nodes")
	time.Sleep(4 * time.Second)
	if n := f.count("/v1/nodes") - reads; n > 0 {
		t.Errorf("/v1/nodes read %d more times in 4 s after a 403", n)
	}
	// Away and back: the view reads nodes again, and the banner stays
	// closed for the refusal it was closed on.
	b.navigate(f.url("#/services"))
	b.navigate(f.url("#/cluster"))
	b.wait(5*time.Second, "the Nodes panel saying so again", `!document.querySelector('#nodes-refused')?.hidden`)
	time.Sleep(500 * time.Millisecond)
	var hidden bool
	if err := b.eval(`document.querySelector('#banner').hidden`, &hidden); err != nil || !hidden {
		t.Errorf("the token banner opened again for the refusal it was closed on (%v)", err)
	}
}

// When the server stops answering, the service view says since when what
// it shows is not updated and why, says the figures are unavailable
// rather than "No requests counted yet.", and turns the rollout buttons
// off; all of it ends when the server answers again.
func TestBrowserServerDown(t *testing.T) {
	f := newFakeAPI(t)
	f.addService("web", "progressing", time.Minute)
	b := startBrowser(t)
	b.navigate(f.url("#/services/default/web"))
	promote := `document.querySelector('#rollout-actions button[data-action="promote"]')`
	b.wait(5*time.Second, "the service with its figures and Promote on", `!!document.querySelector('#revision-figures tr[data-revision="2"]') && !!`+promote+` && !`+promote+`.disabled &&
		document.querySelector('#stale').hidden && document.querySelector('#conn').dataset.state === 'live'`)
	f.setDown(true)
	b.wait(8*time.Second, "the page saying it is not updated, the figures unavailable and Promote off",
		`(() => { const s = document.querySelector('#stale'); return !s.hidden && /^Not updated since \d\d:\d\d:\d\d: .+/.test(s.textContent); })() &&
		 document.querySelector('#conn').dataset.state !== 'live' &&
		 /^Figures unavailable \(.+\)\.$/.test(document.querySelector('#figures-unavailable')?.textContent) &&
		 !/No requests/.test(document.querySelector('#revision-figures').textContent) &&
		 `+promote+`.disabled && [...document.querySelectorAll('#rollout-actions button')].every(b => b.disabled)`)
	f.setDown(false)
	b.wait(15*time.Second, "the page live again", `document.querySelector('#stale').hidden && document.querySelector('#conn').dataset.state === 'live' &&
		!!document.querySelector('#revision-figures tr[data-revision="2"]') && !`+promote+`.disabled`)
}

// With no leader (the leader's figures answer 503), the services view says
// so: the indicator is not live, each row's traffic says the figures are
// unavailable and why, and the Rollout column keeps the phase it last read,
// marked as not updated when a read of it failed (web's, which moves: a
// completed rollout is read again only a minute later).
func TestBrowserServicesNoLeader(t *testing.T) {
	f := newFakeAPI(t)
	f.addService("web", "progressing", time.Minute)
	f.addService("shop", "completed", time.Minute)
	b := startBrowser(t)
	b.navigate(f.url("#/services"))
	b.wait(8*time.Second, "both services with their rollout and traffic", `['web', 'shop'].every(s => {
		const tr = document.querySelector('#services tr[data-service="default/' + s + '"]');
		return tr && tr.querySelector('.rollout .badge') && tr.querySelector('.traffic [data-revision="2"]'); })`)
	for _, s := range []string{"web", "shop"} {
		f.failWith("/v1/services/default/"+s+"/traffic", http.StatusServiceUnavailable)
		f.failWith("/v1/services/default/"+s+"/rollout", http.StatusServiceUnavailable)
	}
	b.wait(8*time.Second, "every row saying its figures are unavailable, and the indicator not live", `['web', 'shop'].every(s => {
		const tr = document.querySelector('#services tr[data-service="default/' + s + '"]');
		return tr.querySelector('.traffic [data-unavailable]')?.textContent === 'figures unavailable (no cluster leader)' && tr.querySelector('.rollout .badge'); }) &&
		document.querySelector('#services tr[data-service="default/web"] .rollout [data-unavailable]')?.textContent === 'not updated (no cluster leader)' &&
		document.querySelector('#conn').dataset.state !== 'live' && /no cluster leader$/.test(document.querySelector('#stale').textContent)`)
}

// The services view with 57 services: over 10 s it reads the traffic of
// the rows on screen (and of no other), no service's figures more than
// once per 5 s, and the rollouts only of services whose rollout moves (or
// that changed); a row scrolled into view gets its figures, and a
// service's new revision its rollout. (It read every service's traffic
// and rollout every 5 s: 114 reads in 10 s against this fake.)
func TestBrowserServicesReadsLittle(t *testing.T) {
	f := newFakeAPI(t)
	for i := 0; i < 57; i++ {
		phase := "completed"
		if i%19 == 0 {
			phase = "progressing" // svc00, svc19 and svc38's rollouts move
		}
		f.addService(fmt.Sprintf("svc%02d", i), phase, time.Minute)
	}
	b := startBrowser(t)
	b.navigate(f.url("#/services"))
	b.wait(10*time.Second, "the first rows' traffic and every row's rollout",
		`!!document.querySelector('#services tr[data-service="default/svc00"] .traffic [data-revision="2"]') &&
		 document.querySelectorAll('#services .rollout .badge').length === 57`)
	time.Sleep(time.Second)
	from := f.mark()
	time.Sleep(10 * time.Second)
	perPath := map[string]int{}
	traffic, rollout := 0, 0
	for _, h := range f.hitsSince(from) {
		p := strings.SplitN(h, "?", 2)[0]
		switch {
		case strings.HasSuffix(p, "/traffic"):
			traffic++
		case strings.HasSuffix(p, "/rollout"):
			rollout++
		default:
			continue
		}
		perPath[p]++
		if perPath[p] == 3 {
			t.Errorf("%s read 3 times in 10 s", p)
		}
	}
	var onScreen []string
	if err := b.eval(`[...document.querySelectorAll('#services tbody tr')].filter(tr => { const r = tr.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; }).map(tr => tr.dataset.service)`, &onScreen); err != nil {
		t.Fatal(err)
	}
	t.Logf("in 10 s: %d traffic reads (%d rows on screen), %d rollout reads (3 rollouts move)", traffic, len(onScreen), rollout)
	if traffic > 2*len(onScreen) || traffic < len(onScreen) {
		t.Errorf("%d traffic reads in 10 s with %d rows on screen, want one or two per row", traffic, len(onScreen))
	}
	if rollout > 2*3 {
		t.Errorf("%d rollout reads in 10 s with 3 rollouts moving, want at most 6", rollout)
	}
	shown := map[string]bool{}
	for _, key := range onScreen {
		shown["/v1/services/"+key+"/traffic"] = true
	}
	for p := range perPath {
		if strings.HasSuffix(p, "/traffic") && !shown[p] {
			t.Errorf("%s read while off screen", p)
		}
	}

	b.eval(`document.querySelector('#services tr[data-service="default/svc56"]').scrollIntoView(), true`, new(bool))
	b.wait(3*time.Second, "the last row's traffic once it is on screen", `!!document.querySelector('#services tr[data-service="default/svc56"] .traffic [data-revision="2"]')`)

	// svc55's new revision starts a rollout.
	f.mu.Lock()
	list := f.objects["/v1/services"].([]api.Service)
	ro := f.objects["/v1/services/default/svc55/rollout"].(api.Rollout)
	f.mu.Unlock()
	for i := range list {
		if list[i].Name == "svc55" {
			list[i].Revision, list[i].ModifyIndex = 3, 2
		}
	}
	ro.Phase, ro.Revision, ro.StableRevision = "progressing", 3, 2
	f.set("/v1/services/default/svc55/rollout", ro)
	f.set("/v1/services", list)
	b.wait(7*time.Second, "svc55's new rollout", `document.querySelector('#services tr[data-service="default/svc55"] .rollout .badge')?.textContent === 'progressing'`)
}
