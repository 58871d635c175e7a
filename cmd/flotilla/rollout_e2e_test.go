package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"flotilla/api"
)

// TestRolloutsInALab is the rollout issue's end-to-end check in one sim
// lab: ramped, blue-green and canary rollouts under load lose no request;
// a canary whose errors or latency fail the analysis is aborted and its
// traffic goes back to the stable revision; a blue-green promotion moves
// the VIP at once; a ramped rollout that cannot progress keeps its
// availability and rolls back; undo rolls an old spec out again.
func TestRolloutsInALab(t *testing.T) {
	lab := startLab(t)
	t.Cleanup(func() { keepLabLogs(t, lab) })
	// Labs have VIP ranges of their own (by base port); ports of its own
	// are one more guard against a cluster started outside any lab.
	basePort := 10000 + rand.IntN(9000)
	var portMu sync.Mutex
	nextPort := func() int {
		portMu.Lock()
		defer portMu.Unlock()
		basePort++
		return basePort
	}
	rig := func(t *testing.T) *rolloutRig {
		c, err := api.NewClient(lab.addr)
		if err != nil {
			t.Fatal(err)
		}
		r := &rolloutRig{t: t, l: &labCLI{t: t, bin: lab.bin, env: lab.env, addr: lab.addr}, c: c, dir: t.TempDir()}
		t.Cleanup(r.stopLoads)
		return r
	}

	t.Run("zero errors under load", func(t *testing.T) {
		strategies := []struct {
			name, strategy, block string
		}{
			{"ramped", "ramped", "  ramped: {maxSurge: 2, maxUnavailable: 0}\n"},
			{"blue-green", "blue-green", "  blueGreen: {autoPromoteAfter: 3s, scaleDownDelay: 2s}\n"},
			{"canary", "canary", "  canary: {steps: [{weight: 20, pause: 2s}, {weight: 50, pause: 2s}, {weight: 100}]}\n"},
		}
		for _, s := range strategies {
			t.Run(s.name, func(t *testing.T) {
				t.Parallel()
				r := rig(t)
				name := "zero-" + s.name
				port := nextPort()
				spec := func(version string) string {
					return rolloutServiceSpec(name, port, 6, []string{"--version", version}, s.strategy, s.block)
				}
				r.apply(spec("v1"))
				r.waitReady(name, 1, 6, 30*time.Second)
				vipURL := fmt.Sprintf("http://%s/", net.JoinHostPort(r.vip(name), strconv.Itoa(port)))

				load := r.startLoad(vipURL, 20*time.Second)
				r.waitTraffic(name, 1, 10*time.Second)
				r.apply(spec("v2"))
				applied := time.Now()
				// Not fatal: the load's figures say whether a rollout that
				// never says it is done lost requests. (A ramped rollout
				// whose last old replica is stopped by a plan is not looked
				// at again until its progressDeadline, 10m by default, so
				// it stays progressing meanwhile: reported, not fixed here.)
				done, ok := r.tryWaitRollout(name, 2, 15*time.Second, func(ro *api.Rollout) bool {
					return ro.Phase == api.PhaseCompleted
				})
				if ok {
					t.Logf("%s rollout completed %s after apply: %s", s.name, time.Since(applied).Round(time.Millisecond), done.Reason)
				} else {
					b, _ := json.MarshalIndent(done, "", "  ")
					t.Errorf("the %s rollout had not completed 15s after apply; status:\n%s\nallocations:\n%s\nevaluations:\n%s",
						s.name, b, r.l.must("get", "allocs", "--service", name), r.l.must("get", "evals", "--service", name))
				}

				res := load.wait()
				t.Logf("load: %d requests, %d errors, %.0f rps, p50 %.2fms p99 %.2fms, statuses %v, versions %v",
					res.Requests, res.Errors, res.RPS, res.P50Ms, res.P99Ms, res.Statuses, res.Versions)
				if res.Errors != 0 {
					t.Errorf("%d of %d requests failed during the %s rollout: %v %v", res.Errors, res.Requests, s.name, res.ErrorKinds, res.ErrorSamples)
				}
				if res.Requests < 3600 {
					t.Errorf("%d requests, want about 4000 (200 rps for 20s)", res.Requests)
				}
				if res.Versions["v1"] == 0 || res.Versions["v2"] == 0 {
					t.Errorf("versions %v, want answers from both v1 and v2", res.Versions)
				}
				r.checkAllRunning(name, 2, 6)
			})
		}
	})

	t.Run("canary analysis aborts on errors and latency", func(t *testing.T) {
		r := rig(t)
		const name = "analysed"
		const interval = 3 * time.Second
		port := nextPort()
		// A failing analysis holds the first step whatever its pause, so
		// 6s is long enough for v2 and v3, and short enough for v4 to
		// complete soon.
		block := "  canary: {steps: [{weight: 20, pause: 6s}, {weight: 100}]}\n" +
			"  analysis: {interval: 3s, maxErrorRate: 5%, maxP99Latency: 100ms, failureLimit: 2}\n"
		spec := func(args ...string) string {
			return rolloutServiceSpec(name, port, 6, args, "canary", block)
		}
		r.apply(spec("--version", "v1"))
		r.waitReady(name, 1, 6, 30*time.Second)
		vipURL := fmt.Sprintf("http://%s/", net.JoinHostPort(r.vip(name), strconv.Itoa(port)))
		load := r.startLoad(vipURL, 2*time.Minute)
		r.waitTraffic(name, 1, 10*time.Second)

		// v2 fails 30% of its requests.
		r.apply(spec("--version", "v2", "--error-rate", "0.3"))
		aborted := r.waitRollout(name, 2, 30*time.Second, "the canary of v2 aborted", func(ro *api.Rollout) bool {
			if ro.Phase == api.PhaseCompleted || ro.Phase == api.PhaseFailed {
				t.Fatalf("the canary of a v2 failing 30%% of requests ended %s: %s", ro.Phase, ro.Reason)
			}
			return ro.Phase == api.PhaseAborted
		})
		took := aborted.EndTime.Sub(aborted.StepTime)
		t.Logf("v2 aborted %s after its first step took effect: %s", took.Round(time.Millisecond), aborted.Reason)
		if aborted.StepTime.IsZero() || aborted.Step != 1 {
			t.Errorf("aborted at step %d, step time %v; want at step 1, after it took effect", aborted.Step, aborted.StepTime)
		}
		// The first analysis often finds too few samples (the agents
		// report every 2s): one inconclusive run and some slack.
		if limit := 2*interval + interval + 4*time.Second; took > limit {
			t.Errorf("aborted %s after the first step took effect, want within 2 intervals (%s) plus slack: %s", took, 2*interval, limit)
		}
		if got := aborted.Weights; len(got) != 1 || got[1] != 100 {
			t.Errorf("weights after the abort %v, want all to revision 1", got)
		}
		if !strings.Contains(aborted.Reason, "maxErrorRate") || !strings.Contains(aborted.Reason, "error rate") {
			t.Errorf("abort reason %q does not name the error rate and maxErrorRate", aborted.Reason)
		}
		if n := len(aborted.Analysis); n == 0 || aborted.Analysis[n-1].Verdict != api.VerdictFail || aborted.Analysis[n-1].Metric != "errorRate" {
			t.Errorf("last analysis %+v, want a failure on errorRate", aborted.Analysis)
		} else if last := aborted.Analysis[n-1]; last.Canary.Revision != 2 || last.Stable.Revision != 1 || last.Canary.ErrorRate < 0.15 {
			t.Errorf("last analysis figures: canary %+v stable %+v, want revision 2 at about 30%% errors against revision 1", last.Canary, last.Stable)
		}
		var verdicts []string
		fails := 0
		for _, a := range aborted.Analysis {
			verdicts = append(verdicts, a.Verdict)
			if a.Verdict == api.VerdictFail {
				fails++
			}
		}
		t.Logf("analyses of v2: %v", verdicts)
		if fails != 2 || aborted.Failures != 2 {
			t.Errorf("aborted after %d failed analyses (failures %d), want failureLimit 2: %v", fails, aborted.Failures, verdicts)
		}

		// A second after the abort, the VIP answers v1 only.
		time.Sleep(time.Until(aborted.EndTime.Add(time.Second))) // the measurement window starts 1s after the abort, as the issue says
		answers := r.sample(vipURL, 50, 1500*time.Millisecond)
		if answers["v2"] > 0 || answers["v1"] != 50 {
			t.Errorf("50 GETs from 1s after the abort: %v, want all from v1", answers)
		}
		r.waitAllocs(name, 10*time.Second, "every v2 allocation desired stop", func(allocs []*api.Allocation) bool {
			n := 0
			for _, a := range allocs {
				if a.Revision == 2 {
					n++
					if a.DesiredStatus != api.DesiredStop {
						return false
					}
				}
			}
			return n > 0
		})
		ev := r.event(name, api.EventRolloutAborted, "revision 2")
		for _, want := range []string{"error rate", "maxErrorRate"} {
			if !strings.Contains(ev.Message, want) {
				t.Errorf("RolloutAborted event %q does not mention %q", ev.Message, want)
			}
		}
		for _, re := range []string{
			`error rate of revision 2 is \d+(\.\d+)?% against \d+(\.\d+)?% for stable revision 1`,
			`revision 2: \d+ requests, \d+(\.\d+)?% errors`,
			`stable revision 1: \d+ requests, \d+(\.\d+)?% errors`,
		} {
			if !regexp.MustCompile(re).MatchString(ev.Message) {
				t.Errorf("RolloutAborted event %q does not match %s", ev.Message, re)
			}
		}

		// v3 answers in 300ms, against maxP99Latency 100ms.
		r.apply(spec("--version", "v3", "--latency", "300ms"))
		aborted = r.waitRollout(name, 3, 30*time.Second, "the canary of v3 aborted", func(ro *api.Rollout) bool {
			if ro.Phase == api.PhaseCompleted || ro.Phase == api.PhaseFailed {
				t.Fatalf("the canary of a v3 answering in 300ms ended %s: %s", ro.Phase, ro.Reason)
			}
			return ro.Phase == api.PhaseAborted
		})
		t.Logf("v3 aborted %s after its first step took effect: %s", aborted.EndTime.Sub(aborted.StepTime).Round(time.Millisecond), aborted.Reason)
		if aborted.StableRevision != 1 || !strings.Contains(aborted.Reason, "maxP99Latency") {
			t.Errorf("v3's rollout over stable revision %d aborted with %q, want over revision 1 naming maxP99Latency", aborted.StableRevision, aborted.Reason)
		}
		if ev := r.event(name, api.EventRolloutAborted, "revision 3"); !strings.Contains(ev.Message, "maxP99Latency") {
			t.Errorf("RolloutAborted event %q does not mention maxP99Latency", ev.Message)
		}

		// The same rollout settings with a healthy v4 complete.
		r.apply(spec("--version", "v4"))
		applied := time.Now()
		done := r.waitRollout(name, 4, 45*time.Second, "the canary of v4 completed", func(ro *api.Rollout) bool {
			if ro.Phase == api.PhaseAborted || ro.Phase == api.PhaseFailed {
				t.Fatalf("the canary of a healthy v4 ended %s: %s", ro.Phase, ro.Reason)
			}
			return ro.Phase == api.PhaseCompleted
		})
		t.Logf("v4 completed %s after apply: %s", time.Since(applied).Round(time.Millisecond), done.Reason)
		r.checkAllRunning(name, 4, 6)
		res := load.stop()
		t.Logf("load through the three rollouts: %d requests, %d errors, statuses %v, versions %v", res.Requests, res.Errors, res.Statuses, res.Versions)
	})

	t.Run("blue-green manual promotion", func(t *testing.T) {
		r := rig(t)
		const name = "bluegreen"
		port := nextPort()
		spec := func(version string) string {
			return rolloutServiceSpec(name, port, 6, []string{"--version", version}, "blue-green", "  blueGreen: {scaleDownDelay: 2s}\n")
		}
		r.apply(spec("v1"))
		r.waitReady(name, 1, 6, 30*time.Second)
		mainURL := fmt.Sprintf("http://%s/", net.JoinHostPort(r.vip(name), strconv.Itoa(port)))
		r.apply(spec("v2"))
		ready := r.waitRollout(name, 2, 20*time.Second, "green ready, waiting for promotion", func(ro *api.Rollout) bool {
			return ro.Phase == api.PhasePaused
		})
		if !strings.Contains(ready.Reason, "promote") || ready.PreviewVIP == "" {
			t.Fatalf("paused with reason %q and preview VIP %q, want a reason asking for a promotion and a preview VIP", ready.Reason, ready.PreviewVIP)
		}
		previewURL := fmt.Sprintf("http://%s/", net.JoinHostPort(ready.PreviewVIP, strconv.Itoa(port)))
		if got := r.sample(previewURL, 20, 0); got["v2"] != 20 {
			t.Errorf("20 GETs to %s-preview (%s): %v, want all from v2", name, ready.PreviewVIP, got)
		}
		if got := r.sample(mainURL, 20, 0); got["v1"] != 20 {
			t.Errorf("20 GETs to %s: %v, want all from v1", name, got)
		}

		out := r.l.must("rollout", "promote", name)
		returned := time.Now()
		t.Logf("%s", strings.TrimSpace(out))
		// Each GET on a new connection, so that every agent's proxy (the
		// kernel spreads connections over them) has to have switched.
		client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		var streakStart time.Time
		streak, after := 0, 0
		var seen []string
		for deadline := returned.Add(10 * time.Second); time.Now().Before(deadline) && after < 30; {
			at := time.Now()
			version, err := rolloutDemoVersion(client, mainURL)
			if err != nil {
				t.Fatalf("GET %s after the promotion: %v", mainURL, err)
			}
			seen = append(seen, fmt.Sprintf("%s@%dms", version, at.Sub(returned).Milliseconds()))
			switch {
			case streak >= 10 && version != "v2":
				t.Fatalf("the main VIP answered %s after 10 answers in a row from v2: %v", version, seen)
			case streak >= 10:
				after++
			case version == "v2":
				if streak == 0 {
					streakStart = at
				}
				streak++
			default:
				streak = 0
			}
		}
		if streak < 10 {
			t.Fatalf("the main VIP never answered v2 10 times in a row within 10s of the promotion: %v", seen)
		}
		switched := streakStart.Sub(returned)
		t.Logf("the main VIP answers only v2 from %s after `rollout promote` returned (%d answers before)", switched.Round(time.Millisecond), len(seen)-10-after)
		if switched > 1500*time.Millisecond {
			t.Errorf("the main VIP answered only v2 from %s after the promotion, want within 1s (+0.5s slack): %v", switched, seen)
		}
		done := r.waitRollout(name, 2, 20*time.Second, "phase completed", func(ro *api.Rollout) bool {
			return ro.Phase == api.PhaseCompleted
		})
		if done.PreviewVIP != "" {
			t.Errorf("the completed rollout still has a preview VIP %s", done.PreviewVIP)
		}
		r.checkAllRunning(name, 2, 6)
	})

	t.Run("ramped never ready keeps availability and rolls back", func(t *testing.T) {
		r := rig(t)
		const name = "neverready"
		const replicas, maxUnavailable = 4, 1
		port := nextPort()
		block := "  ramped: {maxSurge: 1, maxUnavailable: 1, progressDeadline: 8s, autoRollback: true}\n"
		r.apply(rolloutServiceSpec(name, port, replicas, []string{"--version", "v1"}, "ramped", block))
		r.waitReady(name, 1, replicas, 30*time.Second)

		// Sample the allocations every 100ms from before the apply until
		// the rollback is over.
		type sample struct {
			at                time.Duration
			ready, newRunning int
		}
		var (
			mu        sync.Mutex
			samples   []sample
			lowest    = sample{ready: replicas}
			sampleErr int
		)
		ctx, cancel := context.WithCancel(context.Background())
		sampled := make(chan struct{})
		start := time.Now()
		go func() {
			defer close(sampled)
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				allocs, _, err := r.c.Allocations(ctx, api.AllocFilter{Namespace: api.DefaultNamespace, Service: name}, api.QueryOptions{})
				mu.Lock()
				if err != nil {
					if ctx.Err() == nil {
						sampleErr++
					}
				} else {
					s := sample{at: time.Since(start)}
					for _, a := range allocs {
						if a.DesiredStatus == api.DesiredRun && a.Status == api.AllocRunning && a.Ready {
							s.ready++
						}
						if a.DesiredStatus == api.DesiredRun && a.Revision == 2 {
							s.newRunning++
						}
					}
					samples = append(samples, s)
					if s.ready < lowest.ready {
						lowest = s
					}
				}
				mu.Unlock()
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		}()
		stopSampling := func() {
			cancel()
			<-sampled
		}
		defer stopSampling()

		// v2 is never ready. --fail-readiness-after alone is not enough:
		// the agent probes a replica as soon as it starts, and a probe
		// within the first millisecond passes, so the replica counts as
		// available (minReady 0) for the 3 failures it takes to turn
		// unready, and old replicas are stopped meanwhile. Not listening
		// for 100ms keeps every probe from seeing /ready before it fails.
		r.apply(rolloutServiceSpec(name, port, replicas, []string{"--version", "v2", "--fail-readiness-after", "1ms", "--startup-delay", "100ms"}, "ramped", block))
		applied := time.Now()
		failed := r.waitRollout(name, 2, 30*time.Second, "phase failed", func(ro *api.Rollout) bool {
			if ro.Phase == api.PhaseCompleted || ro.Phase == api.PhaseAborted {
				t.Fatalf("the rollout of a never-ready v2 ended %s: %s", ro.Phase, ro.Reason)
			}
			return ro.Phase == api.PhaseFailed
		})
		t.Logf("failed %s after apply: %s", time.Since(applied).Round(time.Millisecond), failed.Reason)
		if !strings.Contains(failed.Reason, "progressDeadline") {
			t.Errorf("failure reason %q does not name progressDeadline", failed.Reason)
		}
		if d := failed.EndTime.Sub(failed.StartTime); d < 8*time.Second || d > 12*time.Second {
			t.Errorf("failed %s after the rollout started, want after the 8s progressDeadline (+ up to 4s)", d)
		}
		r.waitAllocs(name, 20*time.Second, "4 ready allocations of revision 1 and nothing else running", func(allocs []*api.Allocation) bool {
			n := 0
			for _, a := range allocs {
				if a.DesiredStatus != api.DesiredRun {
					continue
				}
				if a.Revision != 1 || a.Status != api.AllocRunning || !a.Ready {
					return false
				}
				n++
			}
			return n == replicas
		})
		stopSampling()

		mu.Lock()
		defer mu.Unlock()
		maxNew := 0
		for _, s := range samples {
			maxNew = max(maxNew, s.newRunning)
		}
		t.Logf("%d samples (%d failed reads); fewest ready: %d at %s; most revision 2 allocations meant to run: %d",
			len(samples), sampleErr, lowest.ready, lowest.at.Round(time.Millisecond), maxNew)
		if len(samples) < 50 {
			t.Errorf("only %d samples of the allocations", len(samples))
		}
		if maxNew == 0 {
			t.Errorf("no allocation of revision 2 was ever meant to run: the rollout did not try")
		}
		if lowest.ready < replicas-maxUnavailable {
			var trace []string
			for _, s := range samples {
				trace = append(trace, fmt.Sprintf("%dms:%d", s.at.Milliseconds(), s.ready))
			}
			t.Errorf("ready allocations fell to %d at %s, below replicas-maxUnavailable = %d; ready over time: %s",
				lowest.ready, lowest.at, replicas-maxUnavailable, strings.Join(trace, " "))
		}
	})

	t.Run("undo to revision 1", func(t *testing.T) {
		r := rig(t)
		const name = "undone"
		port := nextPort()
		// Blue-green rather than ramped: a ramped rollout does not complete
		// until its progressDeadline (see the ramped subtest).
		spec := func(version string) string {
			return rolloutServiceSpec(name, port, 3, []string{"--version", version}, "blue-green", "  blueGreen: {autoPromoteAfter: 1s, scaleDownDelay: 1s}\n")
		}
		r.apply(spec("v1"))
		r.waitReady(name, 1, 3, 30*time.Second)
		vipURL := fmt.Sprintf("http://%s/", net.JoinHostPort(r.vip(name), strconv.Itoa(port)))
		r.apply(spec("v2"))
		r.waitRollout(name, 2, 20*time.Second, "v2 completed", func(ro *api.Rollout) bool { return ro.Phase == api.PhaseCompleted })
		r.proxiesCaughtUp(name)
		if got := r.sample(vipURL, 10, 0); got["v2"] != 10 {
			t.Fatalf("before the undo: %v, want all from v2", got)
		}

		out := r.l.must("rollout", "undo", name, "--to-revision", "1")
		t.Logf("%s", strings.TrimSpace(out))
		if !strings.Contains(out, "revision 3") {
			t.Errorf("undo said %q, want it to name the new revision 3", out)
		}
		r.waitRollout(name, 3, 20*time.Second, "revision 3 completed", func(ro *api.Rollout) bool { return ro.Phase == api.PhaseCompleted })
		r.checkAllRunning(name, 3, 3)
		client := &http.Client{Timeout: 2 * time.Second}
		for _, a := range r.allocs(name) {
			if a.DesiredStatus != api.DesiredRun {
				continue
			}
			if version, err := rolloutDemoVersion(client, "http://"+a.Address+"/"); err != nil || version != "v1" {
				t.Errorf("allocation %s of revision %d at %s answers %q (%v), want v1", a.ID, a.Revision, a.Address, version, err)
			}
		}
		r.proxiesCaughtUp(name)
		if got := r.sample(vipURL, 10, 0); got["v1"] != 10 {
			t.Errorf("after the undo: %v, want all from v1", got)
		}

		var history []historyEntry
		if err := json.Unmarshal([]byte(r.l.must("rollout", "history", name, "-o", "json")), &history); err != nil {
			t.Fatal(err)
		}
		var revs []int
		for _, h := range history {
			revs = append(revs, h.Revision)
			if h.Current != (h.Revision == 3) {
				t.Errorf("history: revision %d current=%v, want only revision 3 current", h.Revision, h.Current)
			}
		}
		if !slices.Equal(revs, []int{1, 2, 3}) {
			t.Fatalf("history lists revisions %v, want 1, 2, 3", revs)
		}
		if args := strings.Join(history[2].Args, " "); args != strings.Join(history[0].Args, " ") {
			t.Errorf("revision 3 runs %q, revision 1 %q: want the same spec", args, strings.Join(history[0].Args, " "))
		}
	})
}

// rolloutServiceSpec is a demo service with a readiness probe and the
// given rollout strategy; block is the strategy's YAML, indented under
// rollout.
func rolloutServiceSpec(name string, port, replicas int, args []string, strategy, block string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = strconv.Quote(a)
	}
	return fmt.Sprintf(`kind: Service
name: %s
image: flotilla.local/demo:v1
args: [%s]
replicas: %d
ports: [{name: http, port: %d, protocol: http}]
probes:
  readiness: {http: {path: /ready, port: http}, period: 1s}
rollout:
  strategy: %s
%s`, name, strings.Join(quoted, ", "), replicas, port, strategy, block)
}

// newLabRig starts a sim lab of the test's own and a rig in it.
func newLabRig(t *testing.T) (*rolloutRig, *api.Client) {
	t.Helper()
	lab := startLab(t)
	t.Cleanup(func() { keepLabLogs(t, lab) })
	client, err := api.NewClient(lab.addr)
	if err != nil {
		t.Fatal(err)
	}
	r := &rolloutRig{t: t, l: &labCLI{t: t, bin: lab.bin, env: lab.env, addr: lab.addr}, c: client, dir: t.TempDir()}
	t.Cleanup(r.stopLoads)
	return r, client
}

// rolloutRig drives one subtest's service in the shared lab.
type rolloutRig struct {
	t   *testing.T
	l   *labCLI
	c   *api.Client
	dir string

	mu    sync.Mutex
	loads []*rolloutLoad
}

func (r *rolloutRig) apply(spec string) {
	r.t.Helper()
	file := filepath.Join(r.dir, fmt.Sprintf("spec-%d.yaml", time.Now().UnixNano()))
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.t.Logf("%s", strings.TrimSpace(r.l.must("apply", "-f", file)))
}

// poll calls cond every 100ms until it holds, failing the test after within.
func (r *rolloutRig) poll(within time.Duration, what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}

// proxiesCaughtUp waits until every agent's proxy routes by the
// service's endpoints as the servers have them now (GET /v1/agent/routes):
// one answer of a new version says one proxy switched, not that all did.
func (r *rolloutRig) proxiesCaughtUp(name string) {
	r.t.Helper()
	se, err := r.c.ServiceEndpoints(context.Background(), api.DefaultNamespace, name)
	if err != nil {
		r.t.Fatalf("endpoints of %s: %v", name, err)
	}
	nodes, _, err := r.c.Nodes(context.Background(), api.QueryOptions{})
	if err != nil {
		r.t.Fatalf("nodes: %v", err)
	}
	key := api.DefaultNamespace + "/" + name
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	for _, n := range nodes {
		if n.HTTPAddress == "" {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := pollAgentRoutes(ctx, client, n.HTTPAddress, key, se.ModifyIndex)
		cancel()
		if err != nil {
			r.t.Fatalf("%s: %v", n.Name, err)
		}
	}
}

func (r *rolloutRig) rollout(name string) (*api.Rollout, error) {
	out, err := r.l.run("rollout", "status", name, "-o", "json")
	if err != nil {
		return nil, err
	}
	var ro api.Rollout
	if err := json.Unmarshal([]byte(out), &ro); err != nil {
		return nil, fmt.Errorf("decode %q: %w", out, err)
	}
	return &ro, nil
}

// tryWaitRollout polls `rollout status NAME -o json` until the rollout of
// revision rev satisfies cond, for at most within; it returns the last
// status read and whether cond held.
func (r *rolloutRig) tryWaitRollout(name string, rev int, within time.Duration, cond func(*api.Rollout) bool) (*api.Rollout, bool) {
	r.t.Helper()
	var last *api.Rollout
	deadline := time.Now().Add(within)
	for {
		ro, err := r.rollout(name)
		if err != nil {
			r.t.Logf("rollout status %s: %v", name, err)
		} else {
			last = ro
			if ro.Revision == rev && cond(ro) {
				return ro, true
			}
		}
		if time.Now().After(deadline) {
			return last, false
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}

// waitRollout is tryWaitRollout failing the test on a timeout.
func (r *rolloutRig) waitRollout(name string, rev int, within time.Duration, what string, cond func(*api.Rollout) bool) *api.Rollout {
	r.t.Helper()
	ro, ok := r.tryWaitRollout(name, rev, within, cond)
	if !ok {
		b, _ := json.MarshalIndent(ro, "", "  ")
		r.t.Fatalf("timed out after %s waiting for %s of %s revision %d; last status:\n%s\nevents:\n%s",
			within, what, name, rev, b, r.l.must("events", "--service", name))
	}
	return ro
}

func (r *rolloutRig) allocs(name string) []*api.Allocation {
	r.t.Helper()
	var out []*api.Allocation
	if err := json.Unmarshal([]byte(r.l.must("get", "allocs", "--all", "--service", name, "-o", "json")), &out); err != nil {
		r.t.Fatal(err)
	}
	return out
}

func (r *rolloutRig) waitAllocs(name string, within time.Duration, what string, cond func([]*api.Allocation) bool) {
	r.t.Helper()
	var last []*api.Allocation
	deadline := time.Now().Add(within)
	for {
		last = r.allocs(name)
		if cond(last) {
			return
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(last, "", "  ")
			r.t.Fatalf("timed out after %s waiting for %s of %s; allocations:\n%s", within, what, name, b)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}

// waitReady waits for n ready replicas of revision rev.
func (r *rolloutRig) waitReady(name string, rev, n int, within time.Duration) {
	r.t.Helper()
	r.waitAllocs(name, within, fmt.Sprintf("%d ready replicas of revision %d", n, rev), func(allocs []*api.Allocation) bool {
		ready := 0
		for _, a := range allocs {
			if a.DesiredStatus == api.DesiredRun && a.Revision == rev && a.Status == api.AllocRunning && a.Ready {
				ready++
			}
		}
		return ready == n
	})
}

// checkAllRunning checks that exactly n allocations are meant to run, all
// of revision rev and running.
func (r *rolloutRig) checkAllRunning(name string, rev, n int) {
	r.t.Helper()
	var bad []string
	count := 0
	for _, a := range r.allocs(name) {
		if a.DesiredStatus != api.DesiredRun {
			continue
		}
		count++
		if a.Revision != rev || a.Status != api.AllocRunning {
			bad = append(bad, fmt.Sprintf("%s: revision %d %s", a.ID, a.Revision, a.Status))
		}
	}
	if count != n || len(bad) > 0 {
		r.t.Errorf("%d allocations meant to run, want %d, all running revision %d; wrong: %v", count, n, rev, bad)
	}
}

func (r *rolloutRig) vip(name string) string {
	r.t.Helper()
	var svc api.ServiceDocument
	if err := json.Unmarshal([]byte(r.l.must("get", "services", name, "-o", "json")), &svc); err != nil {
		r.t.Fatal(err)
	}
	if svc.VIP == "" {
		r.t.Fatalf("service %s has no VIP", name)
	}
	return svc.VIP
}

// waitTraffic waits until the agents have reported requests to revision
// rev: the load is flowing.
func (r *rolloutRig) waitTraffic(name string, rev int, within time.Duration) {
	r.t.Helper()
	r.poll(within, "traffic to "+name+" reported", func() bool {
		tr, err := r.c.Traffic(context.Background(), api.DefaultNamespace, name)
		if err != nil {
			return false
		}
		for _, w := range tr.Windows {
			for _, f := range w.Revisions {
				if f.Revision == rev && f.Requests > 0 {
					return true
				}
			}
		}
		return false
	})
}

// event returns the newest event of type typ of the service whose message
// contains text.
func (r *rolloutRig) event(name, typ, text string) *api.Event {
	r.t.Helper()
	out := r.l.must("events", "--service", name, "-o", "json")
	var events []*api.Event
	if err := json.Unmarshal([]byte(out), &events); err != nil {
		r.t.Fatalf("decode events: %v\n%s", err, out)
	}
	for i := len(events) - 1; i >= 0; i-- {
		if events[i].Type == typ && strings.Contains(events[i].Message, text) {
			return events[i]
		}
	}
	r.t.Fatalf("no %s event mentioning %q among:\n%s", typ, text, r.l.must("events", "--service", name))
	return nil
}

// rolloutDemoVersion GETs url and returns the demo app's version, failing on
// anything but a 200.
func rolloutDemoVersion(client *http.Client, url string) (string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		Version string `json:"version"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", fmt.Errorf("decode the answer (%s): %w", resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK {
		return body.Version, fmt.Errorf("status %s from %s", resp.Status, body.Version)
	}
	return body.Version, nil
}

// sample sends n GETs to url, spread over span, each on a new connection,
// and counts the versions that answered ("error" for failures).
func (r *rolloutRig) sample(url string, n int, span time.Duration) map[string]int {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	got := map[string]int{}
	start := time.Now()
	for i := 0; i < n; i++ {
		time.Sleep(time.Until(start.Add(span * time.Duration(i) / time.Duration(n)))) // pacing the requests over span
		version, err := rolloutDemoVersion(client, url)
		if err != nil {
			r.t.Logf("GET %s: %v", url, err)
			version = "error"
		}
		got[version]++
	}
	return got
}

// rolloutLoad is a `flotilla load -o json` running in the background.
type rolloutLoad struct {
	t              *testing.T
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	exited         chan struct{} // closed once the process has ended; err is its exit
	err            error
}

func (r *rolloutRig) startLoad(url string, d time.Duration) *rolloutLoad {
	r.t.Helper()
	return r.startLoadAt(url, 200, d)
}

// startLoadAt runs `flotilla load URL --rate RATE --duration D -o json` in
// the background.
func (r *rolloutRig) startLoadAt(url string, rate int, d time.Duration) *rolloutLoad {
	r.t.Helper()
	load := &rolloutLoad{t: r.t, exited: make(chan struct{})}
	load.cmd = exec.Command(r.l.bin, "load", url, "--rate", strconv.Itoa(rate), "--duration", d.String(), "-o", "json")
	load.cmd.Env = r.l.env
	load.cmd.Stdout, load.cmd.Stderr = &load.stdout, &load.stderr
	if err := load.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go func() {
		load.err = load.cmd.Wait()
		close(load.exited)
	}()
	r.mu.Lock()
	r.loads = append(r.loads, load)
	r.mu.Unlock()
	return load
}

// wait waits for the load to end and returns its summary.
func (l *rolloutLoad) wait() loadResult {
	l.t.Helper()
	select {
	case <-l.exited:
	case <-time.After(3 * time.Minute):
		l.t.Fatalf("flotilla load did not end")
	}
	if l.err != nil {
		l.t.Fatalf("flotilla load: %v: %s", l.err, l.stderr.String())
	}
	var res loadResult
	if err := json.Unmarshal(l.stdout.Bytes(), &res); err != nil {
		l.t.Fatalf("decode the load summary %q: %v (stderr %q)", l.stdout.String(), err, l.stderr.String())
	}
	return res
}

// stop interrupts the load, as Ctrl-C does, and returns its summary.
func (l *rolloutLoad) stop() loadResult {
	l.t.Helper()
	l.cmd.Process.Signal(os.Interrupt)
	return l.wait()
}

// stopLoads kills the loads still running when a subtest ends early.
func (r *rolloutRig) stopLoads() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.loads {
		select {
		case <-l.exited:
		default:
			l.cmd.Process.Kill()
			<-l.exited
		}
	}
}

// keepLabLogs copies a failed test's lab logs out of its temporary
// directory, which goes with the test, and says where.
func keepLabLogs(t *testing.T, l *labCLI) {
	if !t.Failed() {
		return
	}
	var dir string
	for _, kv := range l.env {
		if v, ok := strings.CutPrefix(kv, "FLOTILLA_LAB_DIR="); ok {
			dir = v
		}
	}
	keep, err := os.MkdirTemp("", "rollout-e2e-logs-")
	if err != nil || dir == "" {
		return
	}
	if err := os.CopyFS(keep, os.DirFS(dir)); err != nil {
		t.Logf("keeping the lab's logs: %v", err)
	}
	t.Logf("the lab's files are kept in %s", keep)
}
