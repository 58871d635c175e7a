package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/network/proxy/route"
	rolloutctl "flotilla/scheduler/rollout"
)

// TestABInALab is the A/B strategy's end-to-end check in a sim lab: v1
// converts 10% of checkouts, v2 15%; users are split 50/50; each user
// (by cookie, or by the X-User-Id header) gets the same variant from every
// node's proxy, before and after an agent restarts; 4000 visitors with
// cookie jars browse and check out; the analysis declares v2 the winner
// and, with autoPromote, promotes it.
func TestABInALab(t *testing.T) {
	r, _ := newLabRig(t)
	start := time.Now()
	const name = "shop"
	port := 10000 + rand.IntN(9000)
	// minSample 400: looks at 400, 800 and 1600 visitors per variant.
	// With every visit checking out, a visitor converts 10% (v1) or 15%
	// (v2) of the times it comes, so the third look alone finds v2 with
	// probability above 0.999 (z about 5.6 against 2.81), and 4000
	// visitors reach it in about 7000 visits.
	block := "  ab: {split: 50%, userHeader: X-User-Id, goal: {header: X-Conversion}, minSample: 400, autoPromote: true, interval: 2s}\n"
	spec := func(version, rate string) string {
		return rolloutServiceSpec(name, port, 6, []string{"--version", version, "--conversion-rate", rate}, "ab", block)
	}
	r.apply(spec("v1", "0.10"))
	r.waitReady(name, 1, 6, 30*time.Second)
	r.apply(spec("v2", "0.15"))
	started := r.waitRollout(name, 2, 30*time.Second, "the experiment to start", func(ro *api.Rollout) bool {
		return ro.AB != nil && !ro.StepTime.IsZero()
	})
	t.Logf("experiment started %s after the lab came up: %s", time.Since(start).Round(time.Millisecond), started.Reason)
	salt := started.AB.Salt
	url := fmt.Sprintf("http://%s/", net.JoinHostPort(r.vip(name), strconv.Itoa(port)))
	waitVariantsReady := func() {
		r.waitAllocs(name, 30*time.Second, "3 ready replicas of each variant", func(allocs []*api.Allocation) bool {
			ready := map[int]int{}
			for _, a := range allocs {
				if a.DesiredStatus == api.DesiredRun && a.Status == api.AllocRunning && a.Ready {
					ready[a.Revision]++
				}
			}
			return ready[1] == 3 && ready[2] == 3
		})
	}
	waitVariantsReady()

	// Users: some known by their own cookie, some by the header, one by
	// the cookie the proxy gives it.
	type user struct {
		key    string
		header http.Header
	}
	var users []user
	for i := range 6 {
		key := fmt.Sprintf("cookie-user-%d", i)
		users = append(users, user{key, http.Header{"Cookie": {rolloutctl.ABCookie(name) + "=" + key}}})
		key = fmt.Sprintf("header-user-%d", i)
		users = append(users, user{key, http.Header{"X-User-Id": {key}}})
	}
	given := abCookieOf(t, url, name)
	users = append(users, user{given, http.Header{"Cookie": {rolloutctl.ABCookie(name) + "=" + given}}})
	want := map[string]string{}
	for _, u := range users {
		want[u.key] = "1"
		if route.UserHash(salt, u.key) < 1<<63 { // B's 50% of the hash range
			want[u.key] = "2"
		}
	}
	check := func(when string) {
		t.Helper()
		variants := map[string]int{}
		for _, u := range users {
			byProxy := variantByProxy(t, url, u.header, 3)
			for node, rev := range byProxy {
				if rev != want[u.key] {
					t.Errorf("%s: %s got revision %s from %s's proxy, want %s (by its salted hash); all: %v", when, u.key, rev, node, want[u.key], byProxy)
				}
			}
			variants[want[u.key]]++
		}
		t.Logf("%s: %d users each got the same variant from all 3 proxies (%v per revision)", when, len(users), variants)
	}
	check("before the restart")
	r.l.must("lab", "restart", "n2")
	waitVariantsReady()
	check("after n2's agent restarted")

	// 4000 visitors, each visit a browse then a checkout.
	load := startUsersLoad(r, url, "--users", "4000", "--checkout-ratio", "1", "--seed", "13", "--rate", "250", "--duration", "70s")
	loadStart := time.Now()
	decided := r.waitRollout(name, 2, 75*time.Second, "a verdict", func(ro *api.Rollout) bool {
		return ro.AB != nil && ro.AB.Verdict != ""
	})
	res := load.stop()
	// The promotion moves A's users to v2 from the verdict on, as B's
	// replicas come up, and the load stops a moment after the verdict was
	// seen: a visitor who came back in between was answered by both
	// versions, rightly. Only if no verdict had been reached when the
	// load stopped must nobody have switched (variantByProxy checked
	// above that each user keeps one variant on every proxy).
	after := r.waitRollout(name, 2, 10*time.Second, "the rollout once the load stopped", func(*api.Rollout) bool { return true })
	stillSplit := after.Phase == api.PhaseProgressing && (after.AB == nil || after.AB.Verdict == "")
	t.Logf("verdict %s after %s of load: %s", decided.AB.Verdict, time.Since(loadStart).Round(time.Millisecond), decided.Reason)
	if decided.AB.Verdict != string(rolloutctl.ABWinnerB) {
		t.Fatalf("verdict %q, want %q: %+v", decided.AB.Verdict, rolloutctl.ABWinnerB, decided.AB.Last)
	}
	if res.Users == nil {
		t.Fatalf("the load summary has no visitors: %+v", res.Summary)
	}
	u := res.Users
	t.Logf("load: %d requests, %d errors, %.0f rps; %d visitors, %d visits, %d checkouts, %d conversions, %d converted visitors, %d switched; by version %+v",
		res.Requests, res.Errors, res.RPS, u.Visitors, u.Visits, u.Checkouts, u.Conversions, u.ConvertedVisitors, u.SwitchedVisitors, u.ByVersion)
	if stillSplit && u.SwitchedVisitors != 0 {
		t.Errorf("%d visitors were answered by both versions during the experiment", u.SwitchedVisitors)
	}
	// Whenever the load stopped, users lost their variant only at the
	// promotion: a few of them, where sticky variants that did not stick
	// would switch about half of those who came back.
	if u.SwitchedVisitors > u.Visitors/20 {
		t.Errorf("%d of %d visitors were answered by both versions: more than the promotion's moment explains", u.SwitchedVisitors, u.Visitors)
	}
	// The proxies' distinct counts (HyperLogLog, as of the last analysis)
	// stay within the visitors the load saw, give or take the sketch's
	// error.
	last := decided.AB.Last
	for _, v := range []struct {
		fig     api.ABVariantFigures
		version string
	}{{last.A, "v1"}, {last.B, "v2"}} {
		truth := u.ByVersion[v.version]
		if float64(v.fig.Visitors) > 1.02*float64(truth.Visitors)+2 || float64(v.fig.Conversions) > 1.02*float64(truth.ConvertedVisitors)+2 {
			t.Errorf("revision %d counted %d visitors and %d conversions, more than the load's %d and %d for %s",
				v.fig.Revision, v.fig.Visitors, v.fig.Conversions, truth.Visitors, truth.ConvertedVisitors, v.version)
		}
	}

	done := r.waitRollout(name, 2, 30*time.Second, "v2 promoted and the rollout completed", func(ro *api.Rollout) bool {
		return ro.Phase == api.PhaseCompleted
	})
	t.Logf("completed: %s", done.Reason)
	r.checkAllRunning(name, 2, 6)
	verdict := r.event(name, rolloutctl.EventABVerdict, "B wins")
	t.Logf("verdict event: %s", verdict.Message)
	for _, want := range []string{"A/B default/" + name + ": B wins: conversion B ", " vs A ", "lift +", "p=", "n="} {
		if !strings.Contains(verdict.Message, want) {
			t.Errorf("verdict event %q lacks %q", verdict.Message, want)
		}
	}
	r.event(name, api.EventRolloutPromoted, "B wins")
	status := r.l.must("rollout", "status", name)
	for _, want := range []string{"A/B experiment (goal: response header X-Conversion, autoPromote)", "A: revision 1", "B: revision 2", "Verdict:     B wins"} {
		if !strings.Contains(status, want) {
			t.Errorf("rollout status lacks %q:\n%s", want, status)
		}
	}
	t.Logf("the whole run took %s", time.Since(start).Round(time.Millisecond))
}

// abCookieOf asks the service once without a cookie and returns the user
// cookie the proxy set.
func abCookieOf(t *testing.T, url, service string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == rolloutctl.ABCookie(service) && c.Value != "" {
			return c.Value
		}
	}
	t.Fatalf("no %s cookie in %v", rolloutctl.ABCookie(service), resp.Header)
	return ""
}

// variantByProxy asks url as one user (its header) on new connections,
// which the kernel spreads over the nodes' proxies, until each of nodes
// proxies has answered, and returns the revision each gave; two answers of
// one proxy must agree.
func variantByProxy(t *testing.T, url string, header http.Header, nodes int) map[string]string {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	got := map[string]string{}
	for i := 0; i < 400 && len(got) < nodes; i++ {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header = header.Clone()
		resp, err := client.Do(req)
		if err != nil {
			t.Logf("GET %s: %v", url, err)
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		node, rev := resp.Header.Get("X-Flotilla-Proxy"), resp.Header.Get("X-Flotilla-Revision")
		if prev, ok := got[node]; ok && prev != rev {
			t.Errorf("%s's proxy answered %v with revision %s, then %s", node, header, prev, rev)
		}
		got[node] = rev
	}
	if len(got) < nodes {
		t.Fatalf("only %d proxies answered %v in 400 connections: %v", len(got), header, got)
	}
	return got
}

// startUsersLoad runs `flotilla load URL ARGS -o json` in the background.
func startUsersLoad(r *rolloutRig, url string, args ...string) *rolloutLoad {
	r.t.Helper()
	load := &rolloutLoad{t: r.t, exited: make(chan struct{})}
	load.cmd = exec.Command(r.l.bin, append(append([]string{"load", url}, args...), "-o", "json")...)
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

// checkABExperiment is the A/B strategy in a containerd lab (a subtest of
// TestContainerdLab): v1 converts 10% of checkouts, v2 15%, 4000 visitors
// from node n1's network namespace; v2 wins and is promoted.
func checkABExperiment(t *testing.T, l *labCLI, netns string) {
	spec := func(version, rate string) string {
		return "kind: Service\nname: shop\nimage: flotilla.local/demo:v1\nargs: [--version, " + version + ", --conversion-rate, \"" + rate + "\"]\nreplicas: 4\n" +
			"ports: [{name: http, port: 8080, protocol: http}]\n" +
			"probes: {readiness: {http: {path: /ready, port: http}, period: 1s}}\n" +
			"rollout: {strategy: ab, ab: {split: 50%, goal: {header: X-Conversion}, minSample: 400, autoPromote: true, interval: 2s}}\n"
	}
	file := t.TempDir() + "/shop.yaml"
	apply := func(version, rate string) {
		if err := os.WriteFile(file, []byte(spec(version, rate)), 0o644); err != nil {
			t.Fatal(err)
		}
		l.must("apply", "-f", file)
	}
	status := func() (*api.Rollout, bool) {
		var r api.Rollout
		o, err := l.run("rollout", "status", "shop", "-o", "json")
		return &r, err == nil && json.Unmarshal([]byte(o), &r) == nil
	}
	apply("v1", "0.10")
	waitFor(t, 90*time.Second, "revision 1 completed", func() bool {
		r, ok := status()
		return ok && r.Revision == 1 && r.Phase == api.PhaseCompleted
	})
	apply("v2", "0.15")
	waitFor(t, 90*time.Second, "the experiment to start", func() bool {
		r, ok := status()
		return ok && r.Revision == 2 && r.AB != nil && !r.StepTime.IsZero()
	})
	var svc api.ServiceDocument
	if err := json.Unmarshal([]byte(l.must("get", "services", "shop", "-o", "json")), &svc); err != nil {
		t.Fatal(err)
	}
	load := exec.Command("ip", "netns", "exec", netns, l.bin, "load", "http://"+svc.VIP+":8080/",
		"--users", "4000", "--checkout-ratio", "1", "--seed", "13", "--rate", "200", "--duration", "80s", "-o", "json")
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- load.Wait() }()
	t.Cleanup(func() {
		_ = load.Process.Kill()
		<-done
	})
	var last *api.Rollout
	waitFor(t, 90*time.Second, "v2 to win and be promoted", func() bool {
		r, ok := status()
		if ok {
			last = r
		}
		return ok && r.Revision == 2 && r.Phase == api.PhaseCompleted
	})
	if last.AB == nil || last.AB.Verdict != string(rolloutctl.ABWinnerB) {
		t.Fatalf("completed with A/B state %+v, want B to have won", last.AB)
	}
	t.Logf("%s", last.Reason)
}
