package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"flotilla/api"
)

// TestShadowRolloutInALab is issue 13's shadow check in one sim lab, two
// services at once: a new revision that differs from the stable one only
// in noisy fields (the demo app's hostname, allocation, node and time;
// the version is ignored by the spec) shows a diff rate of 0 once noise is
// learned, its mirrored POSTs happen because methods lists POST, and
// `rollout promote` ramps it up; one that fails 10% of its requests shows
// about 10% status differences and is aborted by maxDiffRate 1%, and no
// POST reaches it (methods left out). Through both runs no client answer
// comes from the new revision: checked on the X-Flotilla-Revision header
// and the body's version of every answer of a checker, and on the
// versions `flotilla load` counted.
func TestShadowRolloutInALab(t *testing.T) {
	lab := startLab(t)
	t.Cleanup(func() { keepLabLogs(t, lab) })
	basePort := 10000 + rand.IntN(9000)
	rig := func(t *testing.T) *rolloutRig {
		c, err := api.NewClient(lab.addr)
		if err != nil {
			t.Fatal(err)
		}
		r := &rolloutRig{t: t, l: &labCLI{t: t, bin: lab.bin, env: lab.env, addr: lab.addr}, c: c, dir: t.TempDir()}
		t.Cleanup(r.stopLoads)
		return r
	}

	// Noise only: diff rate 0, POSTs mirrored when listed, promoted.
	t.Run("noise only", func(t *testing.T) {
		t.Parallel()
		r := rig(t)
		const name = "shadow-noise"
		port := basePort + 1
		block := "  shadow: {percent: 100%, methods: [GET, POST], compare: {status: true, body: true, ignoreJSONFields: [version]}}\n" +
			"  analysis: {interval: 3s, maxDiffRate: 1%}\n"
		spec := func(version string) string {
			return rolloutServiceSpec(name, port, 3, []string{"--version", version}, "shadow", block)
		}
		r.apply(spec("v1"))
		r.waitReady(name, 1, 3, 30*time.Second)
		url := fmt.Sprintf("http://%s/", net.JoinHostPort(r.vip(name), strconv.Itoa(port)))
		load := r.startLoadAt(url, 100, 2*time.Minute)
		check := startShadowChecker(t, url)
		r.waitTraffic(name, 1, 10*time.Second)

		r.apply(spec("v2"))
		passed := r.waitRollout(name, 2, 45*time.Second, "a passing analysis of judged comparisons", func(ro *api.Rollout) bool {
			if !ro.Active() {
				t.Fatalf("the shadow of v2 ended %s: %s", ro.Phase, ro.Reason)
			}
			n := len(ro.Analysis)
			return n > 0 && ro.Analysis[n-1].Verdict == api.VerdictPass && ro.Shadow != nil && ro.Shadow.Judged >= 50
		})
		t.Logf("passed: %s", passed.Reason)
		if s := passed.Shadow; s.DiffRate != 0 || s.Differing != 0 || len(s.DiffFields) != 0 {
			t.Errorf("shadow status %+v, want a diff rate of 0 and no differing field", s)
		}
		d := r.diffs(name)
		t.Logf("diffs: %d mirrored, %d compared, %d judged, %d differing, %d noise comparisons", d.Report.Mirrored, d.Report.Comparisons,
			d.Report.Judged, d.Report.Differing, d.Report.NoiseComparisons)
		if d.Report.DiffRate != 0 || d.Report.Differing != 0 || d.Report.Judged == 0 || d.Report.NoiseComparisons == 0 {
			t.Errorf("merged report %+v, want judged comparisons, noise comparisons and a diff rate of 0", d.Report)
		}
		endpoints := map[string]api.DiffEndpoint{}
		for _, e := range d.Report.Endpoints {
			endpoints[e.Endpoint] = e
			for _, f := range e.Fields {
				t.Logf("  %s %s: candidate %.2f, noise %.2f, counted %d, noise=%v", e.Endpoint, f.Field, f.CandidateRate, f.NoiseRate, f.Counted, f.Noise)
				if f.Counted != 0 {
					t.Errorf("%s %s counted %d times against v2, want 0: it differs only in noise", e.Endpoint, f.Field, f.Counted)
				}
			}
		}
		for _, noisy := range []string{"body.time", "body.hostname", "body.allocation"} {
			if f := fieldOf(endpoints["GET /"], noisy); !f.Noise {
				t.Errorf("GET / %s: %+v, want it learned as noise", noisy, f)
			}
		}
		if _, ok := endpoints["POST /checkout"]; !ok {
			t.Errorf("endpoints %v, want POST /checkout compared too (methods lists POST)", keysOf(endpoints))
		}
		if n := r.checkouts(name, 2); n == 0 {
			t.Errorf("revision 2 answered no POST /checkout, want mirrored POSTs (methods lists POST)")
		}
		if out := r.l.must("rollout", "status", name); !strings.Contains(out, "Shadow") || !strings.Contains(out, "noise fields:") {
			t.Errorf("rollout status shows no shadow summary:\n%s", out)
		}

		check.stop(t, "shadow-noise")
		res := load.stop()
		t.Logf("load: %d requests, %d errors, versions %v", res.Requests, res.Errors, res.Versions)
		if res.Errors != 0 || res.Versions["v2"] != 0 || res.Versions["v1"] == 0 {
			t.Errorf("load answered %d errors and versions %v, want only v1 and no error", res.Errors, res.Versions)
		}

		r.l.must("rollout", "promote", name)
		done := r.waitRollout(name, 2, 30*time.Second, "the promoted shadow completed", func(ro *api.Rollout) bool {
			return ro.Phase == api.PhaseCompleted
		})
		t.Logf("completed: %s", done.Reason)
		r.checkAllRunning(name, 2, 3)
		// Each proxy applies the completed route as its watch answers
		// (within half a second, docs/BENCHMARKS.md): ask until ten in a
		// row come from v2.
		var got map[string]int
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
			if got = r.sample(url, 10, 0); got["v2"] == 10 {
				break
			}
		}
		if got["v2"] != 10 {
			t.Errorf("5 s after the promotion: %v, want all from v2", got)
		}
	})

	// 10% errors: status diffs, aborted by maxDiffRate, no POST mirrored.
	t.Run("errors", func(t *testing.T) {
		t.Parallel()
		r := rig(t)
		const name = "shadow-errors"
		port := basePort + 2
		block := "  shadow: {percent: 100%, compare: {status: true, body: true, ignoreJSONFields: [version]}}\n" +
			"  analysis: {interval: 5s, maxDiffRate: 1%, failureLimit: 2}\n"
		spec := func(args ...string) string {
			return rolloutServiceSpec(name, port, 3, args, "shadow", block)
		}
		r.apply(spec("--version", "v1"))
		r.waitReady(name, 1, 3, 30*time.Second)
		url := fmt.Sprintf("http://%s/", net.JoinHostPort(r.vip(name), strconv.Itoa(port)))
		load := r.startLoadAt(url, 150, 2*time.Minute)
		check := startShadowChecker(t, url)
		r.waitTraffic(name, 1, 10*time.Second)

		r.apply(spec("--version", "v2", "--error-rate", "0.1"))
		shadowing := r.waitRollout(name, 2, 30*time.Second, "the first analysis", func(ro *api.Rollout) bool {
			return len(ro.Analysis) > 0 || !ro.Active()
		})
		// While v2 runs: every POST went to v1 only.
		if shadowing.Active() {
			if n := r.checkouts(name, 2); n != 0 {
				t.Errorf("revision 2 answered %d POST /checkout, want none: methods defaults to GET, HEAD, OPTIONS", n)
			}
		}
		aborted := r.waitRollout(name, 2, 45*time.Second, "the shadow aborted", func(ro *api.Rollout) bool {
			if ro.Phase == api.PhaseCompleted || ro.Phase == api.PhaseFailed {
				t.Fatalf("the shadow of a v2 failing 10%% of requests ended %s: %s", ro.Phase, ro.Reason)
			}
			return ro.Phase == api.PhaseAborted
		})
		t.Logf("aborted %s after shadowing began: %s", aborted.EndTime.Sub(aborted.StepTime).Round(time.Millisecond), aborted.Reason)
		if n := len(aborted.Analysis); n == 0 || aborted.Analysis[n-1].Metric != "diffRate" || aborted.Failures != 2 {
			t.Errorf("analyses %+v with %d failures, want the second failure on diffRate to abort", aborted.Analysis, aborted.Failures)
		}
		for _, want := range []string{"above maxDiffRate 1%", "status", "revision 2 discarded"} {
			if !strings.Contains(aborted.Reason, want) {
				t.Errorf("abort reason %q does not say %q", aborted.Reason, want)
			}
		}
		ev := r.event(name, api.EventRolloutAborted, "revision 2")
		if !strings.Contains(ev.Message, "diff rate") || !strings.Contains(ev.Message, "judged comparisons") {
			t.Errorf("RolloutAborted event %q does not give the figures", ev.Message)
		}

		d := r.diffs(name)
		var get api.DiffEndpoint
		for _, e := range d.Report.Endpoints {
			if e.Endpoint == "GET /" {
				get = e
			}
			if strings.HasPrefix(e.Endpoint, "POST") {
				t.Errorf("endpoint %s compared, want no POST mirrored", e.Endpoint)
			}
		}
		status := fieldOf(get, "status")
		t.Logf("diffs: %d compared, %d judged, diff rate %.3f; status: candidate %.3f, counted %d (%.3f)",
			d.Report.Comparisons, d.Report.Judged, d.Report.DiffRate, status.CandidateRate, status.Counted, status.DiffRate)
		if status.Noise || status.DiffRate < 0.07 || status.DiffRate > 0.13 {
			t.Errorf("status differs in %.1f%% of judged comparisons (noise %v), want about 10%% (7 to 13)", 100*status.DiffRate, status.Noise)
		}
		if d.Report.Judged < 300 {
			t.Errorf("only %d judged comparisons", d.Report.Judged)
		}
		if ex := status.Examples; len(ex) == 0 || ex[0].Path != "status" || ex[0].Stable != "200" || ex[0].Candidate != "500" || !strings.HasPrefix(ex[0].Request, "GET /") {
			t.Errorf("status examples %+v, want GET / with 200 against 500", ex)
		}
		if f := fieldOf(get, "body.error"); f.Counted == 0 || len(f.Examples) == 0 || f.Examples[0].Kind != "added" {
			t.Errorf("body.error %+v, want counted, with an example of the field added", f)
		}
		text := r.l.must("rollout", "diffs", name)
		for _, want := range []string{"GET /:", "status", "counts", "examples (request, field: stable -> new):", "status (changed): 200 -> 500", "body.error (added): (none) ->"} {
			if !strings.Contains(text, want) {
				t.Errorf("rollout diffs lacks %q:\n%s", want, text)
			}
		}

		check.stop(t, "shadow-errors")
		res := load.stop()
		t.Logf("load: %d requests, %d errors, statuses %v, versions %v", res.Requests, res.Errors, res.Statuses, res.Versions)
		if res.Errors != 0 || res.Versions["v2"] != 0 || res.Versions["v1"] == 0 {
			t.Errorf("load answered %d errors and versions %v, want only v1 and no error", res.Errors, res.Versions)
		}
	})
}

// fieldOf is endpoint e's figures of field, zero when it has none.
func fieldOf(e api.DiffEndpoint, field string) api.DiffField {
	for _, f := range e.Fields {
		if f.Field == field {
			return f
		}
	}
	return api.DiffField{}
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// diffs is `rollout diffs NAME -o json`.
func (r *rolloutRig) diffs(name string) *api.RolloutDiffs {
	r.t.Helper()
	var d api.RolloutDiffs
	out := r.l.must("rollout", "diffs", name, "-o", "json")
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		r.t.Fatalf("decode %q: %v", out, err)
	}
	return &d
}

// checkouts sums the POST /checkout answers the running replicas of rev
// counted (the demo app's flotilla_workload_checkouts_total).
func (r *rolloutRig) checkouts(name string, rev int) int {
	r.t.Helper()
	total, replicas := 0, 0
	client := &http.Client{Timeout: 2 * time.Second}
	for _, a := range r.allocs(name) {
		if a.Revision != rev || a.DesiredStatus != api.DesiredRun || a.Status != api.AllocRunning {
			continue
		}
		replicas++
		resp, err := client.Get("http://" + a.Address + "/metrics")
		if err != nil {
			r.t.Fatalf("metrics of %s: %v", a.ID, err)
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "flotilla_workload_checkouts_total{") {
				continue
			}
			fields := strings.Fields(line)
			v, _ := strconv.ParseFloat(fields[len(fields)-1], 64)
			total += int(v)
		}
		resp.Body.Close()
	}
	if replicas == 0 {
		r.t.Fatalf("no running replica of revision %d to read", rev)
	}
	return total
}

// shadowChecker sends GET / and POST /checkout to a service's VIP, each on
// a new connection (so every agent's proxy answers some), and counts the
// answers that did not come from revision 1 by their X-Flotilla-Revision
// header or their body's version.
type shadowChecker struct {
	done    chan struct{}
	stopped chan struct{}

	mu                  sync.Mutex
	answers, posts      int
	fromOther, failures int
	samples             []string
}

func startShadowChecker(t *testing.T, url string) *shadowChecker {
	c := &shadowChecker{done: make(chan struct{}), stopped: make(chan struct{})}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	go func() {
		defer close(c.stopped)
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-c.done:
				return
			case <-tick.C: // the checker's pace
			}
			post := i%3 == 2
			var resp *http.Response
			var err error
			if post {
				resp, err = client.Post(url+"checkout", "application/json", strings.NewReader("{}"))
			} else {
				resp, err = client.Get(url)
			}
			c.mu.Lock()
			if err != nil {
				c.failures++
				c.samples = append(c.samples, err.Error())
				c.mu.Unlock()
				continue
			}
			var body struct {
				Version string `json:"version"`
			}
			decodeErr := json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			c.answers++
			if post {
				c.posts++
			}
			rev := resp.Header.Get("X-Flotilla-Revision")
			if rev != "1" || body.Version != "v1" || decodeErr != nil || resp.StatusCode != http.StatusOK {
				c.fromOther++
				c.samples = append(c.samples, fmt.Sprintf("%s from revision %q, version %q (%v)", resp.Status, rev, body.Version, decodeErr))
			}
			c.mu.Unlock()
		}
	}()
	return c
}

// stop ends the checks and fails the test if any answer was not revision
// 1's.
func (c *shadowChecker) stop(t *testing.T, what string) {
	t.Helper()
	close(c.done)
	<-c.stopped
	c.mu.Lock()
	defer c.mu.Unlock()
	t.Logf("%s checker: %d answers (%d POSTs), %d not from revision 1, %d failed", what, c.answers, c.posts, c.fromOther, c.failures)
	if c.answers < 50 || c.fromOther != 0 || c.failures != 0 {
		t.Errorf("%s: %d of %d answers not from revision 1 and %d failed, want every answer from revision 1: %v",
			what, c.fromOther, c.answers, c.failures, c.samples[:min(len(c.samples), 10)])
	}
}

// checkShadowRollout is the shadow rollout in the containerd lab (run by
// TestContainerdLab): real containers answer the mirrored copies; a v2
// failing 10% of its requests shows about 10% status differences, is
// aborted by maxDiffRate 1%, and no client of the load (run in node
// netns's network namespace, through the VIP) gets its answer.
func checkShadowRollout(t *testing.T, l *labCLI, netns string) {
	spec := func(args string) string {
		return "kind: Service\nname: shadow\nimage: flotilla.local/demo:v1\nargs: [" + args + "]\nreplicas: 3\n" +
			"ports: [{name: http, port: 8080, protocol: http}]\n" +
			"probes: {readiness: {http: {path: /ready, port: http}, period: 1s}}\n" +
			"rollout:\n  strategy: shadow\n" +
			"  shadow: {percent: 100%, compare: {status: true, body: true, ignoreJSONFields: [version]}}\n" +
			"  analysis: {interval: 5s, maxDiffRate: 1%, failureLimit: 2}\n"
	}
	file := t.TempDir() + "/shadow.yaml"
	apply := func(args string) {
		if err := os.WriteFile(file, []byte(spec(args)), 0o644); err != nil {
			t.Fatal(err)
		}
		l.must("apply", "-f", file)
	}
	rollout := func() *api.Rollout {
		var r api.Rollout
		o, err := l.run("rollout", "status", "shadow", "-o", "json")
		if err != nil || json.Unmarshal([]byte(o), &r) != nil {
			return &api.Rollout{}
		}
		return &r
	}
	apply("--version, v1")
	waitFor(t, 90*time.Second, "3 replicas of v1 ready", func() bool {
		ready := 0
		for _, a := range l.allocs() {
			if a.Service == "shadow" && a.DesiredStatus == api.DesiredRun && a.Ready {
				ready++
			}
		}
		return ready == 3
	})
	var svc api.ServiceDocument
	if err := json.Unmarshal([]byte(l.must("get", "services", "shadow", "-o", "json")), &svc); err != nil {
		t.Fatal(err)
	}
	load := exec.Command("ip", "netns", "exec", netns, l.bin, "load", "http://"+svc.VIP+":8080/", "--rate", "100", "--duration", "60s", "-o", "json")
	var out strings.Builder
	load.Stdout = &out
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- load.Wait() }()
	t.Cleanup(func() {
		_ = load.Process.Kill()
		<-done
	})
	apply(`--version, v2, --error-rate, "0.1"`)
	waitFor(t, 90*time.Second, "the shadow of v2 aborted", func() bool {
		r := rollout()
		return r.Revision == 2 && r.Phase == api.PhaseAborted
	})
	if r := rollout(); !strings.Contains(r.Reason, "above maxDiffRate 1%") {
		t.Errorf("abort reason %q, want maxDiffRate named", r.Reason)
	}
	var d api.RolloutDiffs
	if err := json.Unmarshal([]byte(l.must("rollout", "diffs", "shadow", "-o", "json")), &d); err != nil {
		t.Fatal(err)
	}
	for _, e := range d.Report.Endpoints {
		if e.Endpoint != "GET /" {
			continue
		}
		if f := fieldOf(e, "status"); f.DiffRate < 0.05 || f.DiffRate > 0.15 || len(f.Examples) == 0 {
			t.Errorf("status: %+v, want about 10%% of judged comparisons, with examples", f)
		}
	}
	_ = load.Process.Signal(os.Interrupt)
	select {
	case err := <-done:
		done <- err // for the cleanup
	case <-time.After(30 * time.Second):
		t.Fatal("flotilla load did not end")
	}
	var sum struct {
		Errors   int            `json:"errors"`
		Versions map[string]int `json:"versions"`
	}
	if err := json.Unmarshal([]byte(out.String()), &sum); err != nil {
		t.Fatalf("load summary: %v: %s", err, out.String())
	}
	if sum.Errors != 0 || sum.Versions["v2"] != 0 || sum.Versions["v1"] == 0 {
		t.Fatalf("load during the shadow: %s; want every answer from v1 and no error", out.String())
	}
}
