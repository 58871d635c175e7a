package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	miekg "github.com/miekg/dns"

	"flotilla/api"
	rolloutctl "flotilla/scheduler/rollout"
)

// examplesDir is scenarios/examples, seen from this package's directory.
var examplesDir = filepath.Join("..", "..", "scenarios", "examples")

// exampleCheck proves that one file of scenarios/examples does what its
// comments say, in a sim lab of 3 servers and 3 agents (n1, n2, n3, zones
// a, b, c, 4 cores and 4Gi each) where the example has just been applied.
type exampleCheck struct {
	// quiet examples need the lab to themselves (they fill nodes or rely
	// on which node is the fullest): they run one after another before
	// the others, which run side by side.
	quiet bool
	check func(x *exampleRun)
}

// exampleChecks has one entry per file of scenarios/examples; a file
// without one fails TestEveryExampleDecodesAndHasACheck.
var exampleChecks = map[string]exampleCheck{
	"web.yaml":                   {check: checkWebExample},
	"web-ramped.yaml":            {check: checkRampedExample},
	"web-blue-green.yaml":        {check: checkBlueGreenExample},
	"web-canary.yaml":            {check: checkCanaryExample},
	"web-ab.yaml":                {check: checkABExample},
	"probes-startup.yaml":        {check: checkStartupProbeExample},
	"probes-readiness.yaml":      {check: checkReadinessProbeExample},
	"probes-liveness.yaml":       {check: checkLivenessProbeExample},
	"probes-exec.yaml":           {check: checkExecProbeExample},
	"tcp-service.yaml":           {check: checkTCPServiceExample},
	"headless.yaml":              {check: checkHeadlessExample},
	"restart-on-failure.yaml":    {check: checkRestartOnFailureExample},
	"placement-constraints.yaml": {check: checkConstraintsExample},
	"placement-binpack.yaml":     {quiet: true, check: checkBinpackExample},
	"placement-host-port.yaml":   {check: checkHostPortExample},
	"resources.yaml":             {quiet: true, check: checkResourcesExample},
	"autoscale-inflight.yaml":    {check: checkInflightAutoscaleExample},
	"autoscale-rps.yaml":         {check: checkRPSAutoscaleExample},
	"autoscale-cpu.yaml":         {check: checkCPUAutoscaleExample},
	"autoscale-memory.yaml":      {check: checkMemoryAutoscaleExample},
	"autoscale-to-zero.yaml":     {check: checkScaleToZeroExample},
	"autoscale-forecast.yaml":    {check: checkForecastExample},
}

// exampleFile is one example as the decoder reads it.
type exampleFile struct {
	name  string // file name
	path  string
	text  string
	specs []api.ServiceSpec
}

// readExamples decodes every file of scenarios/examples but its README.
func readExamples(t *testing.T) []*exampleFile {
	t.Helper()
	entries, err := os.ReadDir(examplesDir)
	if err != nil {
		t.Fatal(err)
	}
	var out []*exampleFile
	for _, e := range entries {
		if e.IsDir() || e.Name() == "README.md" {
			continue
		}
		path := filepath.Join(examplesDir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		specs, err := api.DecodeServices(e.Name(), data)
		if err != nil {
			t.Errorf("%s does not decode: %v", e.Name(), err)
			continue
		}
		out = append(out, &exampleFile{name: e.Name(), path: path, text: string(data), specs: specs})
	}
	return out
}

// TestEveryExampleDecodesAndHasACheck: every example decodes and validates,
// says in its comments how to apply it, and has a check in exampleChecks
// (and every check a file), so that a new example cannot go untested.
func TestEveryExampleDecodesAndHasACheck(t *testing.T) {
	files := readExamples(t)
	seen := map[string]bool{}
	for _, f := range files {
		seen[f.name] = true
		if _, ok := exampleChecks[f.name]; !ok {
			t.Errorf("%s has no entry in exampleChecks: add a check that it runs as its comments say", f.name)
		}
		if run := "flotilla apply -f scenarios/examples/" + f.name; !strings.Contains(f.text, run) {
			t.Errorf("%s: its comments do not say how to run it (%q)", f.name, run)
		}
		if !strings.HasPrefix(f.text, "#") {
			t.Errorf("%s does not start with a comment saying what it shows", f.name)
		}
	}
	for name := range exampleChecks {
		if !seen[name] {
			t.Errorf("exampleChecks has %s, which is not a file of %s", name, examplesDir)
		}
	}
	index, err := os.ReadFile(filepath.Join(examplesDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !strings.Contains(string(index), "("+f.name+")") {
			t.Errorf("scenarios/examples/README.md does not link %s", f.name)
		}
	}
}

// exampleGroups puts examples that name the same service in one group, in
// file order: a group's examples run one after another, each deleted
// before the next, and groups run side by side.
func exampleGroups(files []*exampleFile) [][]*exampleFile {
	var groups [][]*exampleFile
	groupOf := map[string]int{} // service key -> group
	for _, f := range files {
		g := -1
		for _, s := range f.specs {
			if i, ok := groupOf[s.Namespace+"/"+s.Name]; ok {
				g = i
			}
		}
		if g < 0 {
			g = len(groups)
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], f)
		for _, s := range f.specs {
			groupOf[s.Namespace+"/"+s.Name] = g
		}
	}
	return groups
}

// TestExamplesRunAsTheirCommentsSay applies every file of
// scenarios/examples to one sim lab and checks that it does what its
// comments say (exampleChecks). Examples that name the same service run
// one after another, each deleted before the next; the others side by
// side.
func TestExamplesRunAsTheirCommentsSay(t *testing.T) {
	files := readExamples(t)
	if t.Failed() {
		t.FailNow()
	}
	lab := startLab(t)
	t.Cleanup(func() { keepLabLogs(t, lab) })
	dns := lab.labEnv()["FLOTILLA_DNS_ADDR"]
	if dns == "" {
		t.Fatal("lab env exports no FLOTILLA_DNS_ADDR")
	}
	var quiet, rest []*exampleFile
	for _, f := range files {
		if exampleChecks[f.name].quiet {
			quiet = append(quiet, f)
		} else {
			rest = append(rest, f)
		}
	}
	runOne := func(t *testing.T, f *exampleFile) {
		c, err := api.NewClient(lab.addr)
		if err != nil {
			t.Fatal(err)
		}
		l := &labCLI{t: t, bin: lab.bin, env: lab.env, addr: lab.addr}
		x := &exampleRun{
			t: t, l: l, c: c, dns: dns, file: f,
			rig:  &rolloutRig{t: t, l: l, c: c, dir: t.TempDir()},
			http: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}},
		}
		x.since = x.index()
		// Cleanups run last first: the loads stop, then the services go.
		t.Cleanup(x.deleteAll)
		t.Cleanup(x.rig.stopLoads)
		t.Logf("%s", strings.TrimSpace(l.must("apply", "-f", f.path)))
		exampleChecks[f.name].check(x)
	}
	t.Run("quiet", func(t *testing.T) {
		for _, f := range quiet {
			t.Run(f.name, func(t *testing.T) { runOne(t, f) })
		}
	})
	t.Run("side by side", func(t *testing.T) {
		for _, group := range exampleGroups(rest) {
			t.Run(group[0].name, func(t *testing.T) {
				t.Parallel()
				for _, f := range group {
					t.Run(f.name, func(t *testing.T) { runOne(t, f) })
				}
			})
		}
	})
}

// exampleRun is one example applied to the shared lab.
type exampleRun struct {
	t    *testing.T
	l    *labCLI
	c    *api.Client
	rig  *rolloutRig // loads and rollout helpers
	dns  string      // an agent's DNS server, host:port
	file *exampleFile
	http *http.Client
	// since is the cluster's index before the apply: allocations and
	// events of an earlier service of the same name are older.
	since uint64
}

func (x *exampleRun) ctx() context.Context { return context.Background() }

// index is the state's current Raft index.
func (x *exampleRun) index() uint64 {
	x.t.Helper()
	_, idx, err := x.c.Services(x.ctx(), api.QueryOptions{})
	if err != nil {
		x.t.Fatal(err)
	}
	return idx
}

// deleteAll deletes the example's services and waits until none of their
// replicas runs, so that the next example of the same name starts afresh.
func (x *exampleRun) deleteAll() {
	for _, s := range x.file.specs {
		if _, err := x.c.DeleteService(x.ctx(), s.Namespace, s.Name); errors.Is(err, api.ErrNotFound) {
			continue // the apply failed
		} else if err != nil {
			x.t.Errorf("delete %s: %v", s.Name, err)
			continue
		}
		x.eventually(30*time.Second, "the replicas of the deleted "+s.Name+" stopped", func() bool {
			allocs, _, err := x.c.Allocations(x.ctx(), api.AllocFilter{Namespace: s.Namespace, Service: s.Name}, api.QueryOptions{})
			if err != nil {
				return false
			}
			for _, a := range allocs {
				if !a.TerminalStatus() {
					return false
				}
			}
			return true
		})
	}
}

// eventually polls cond until it holds, failing the test after within.
func (x *exampleRun) eventually(within time.Duration, what string, cond func() bool) {
	x.t.Helper()
	waitFor(x.t, within, what, cond)
}

func (x *exampleRun) service(name string) *api.Service {
	x.t.Helper()
	s, _, err := x.c.Service(x.ctx(), api.DefaultNamespace, name, api.QueryOptions{})
	if err != nil {
		x.t.Fatalf("service %s: %v", name, err)
	}
	return s
}

// allocs lists the allocations of this run's service name, old and new,
// leaving out those of an earlier service of the same name.
func (x *exampleRun) allocs(name string) []*api.Allocation {
	x.t.Helper()
	all, _, err := x.c.Allocations(x.ctx(), api.AllocFilter{Namespace: api.DefaultNamespace, Service: name}, api.QueryOptions{})
	if err != nil {
		x.t.Fatalf("allocations of %s: %v", name, err)
	}
	var out []*api.Allocation
	for _, a := range all {
		if a.CreateIndex > x.since {
			out = append(out, a)
		}
	}
	return out
}

// wanted lists the allocations meant to run.
func (x *exampleRun) wanted(name string) []*api.Allocation {
	x.t.Helper()
	var out []*api.Allocation
	for _, a := range x.allocs(name) {
		if a.DesiredStatus == api.DesiredRun {
			out = append(out, a)
		}
	}
	return out
}

// waitRunning waits until exactly n allocations are meant to run, all
// running (and ready, when ready is set), and returns them.
func (x *exampleRun) waitRunning(name string, n int, ready bool, within time.Duration) []*api.Allocation {
	x.t.Helper()
	var got []*api.Allocation
	what := fmt.Sprintf("%d replicas of %s running", n, name)
	if ready {
		what += " and ready"
	}
	x.eventually(within, what, func() bool {
		got = x.wanted(name)
		if len(got) != n {
			return false
		}
		for _, a := range got {
			if a.Status != api.AllocRunning || ready && !a.Ready {
				return false
			}
		}
		return true
	})
	return got
}

// events lists this run's events of the service.
func (x *exampleRun) events(name string) []*api.Event {
	x.t.Helper()
	all, _, err := x.c.Events(x.ctx(), api.EventFilter{Namespace: api.DefaultNamespace, Service: name}, api.QueryOptions{})
	if err != nil {
		x.t.Fatalf("events of %s: %v", name, err)
	}
	var out []*api.Event
	for _, e := range all {
		if e.Index > x.since {
			out = append(out, e)
		}
	}
	return out
}

// waitEvent waits for an event of type typ whose message holds every one
// of texts, and returns the first.
func (x *exampleRun) waitEvent(name, typ string, within time.Duration, texts ...string) *api.Event {
	x.t.Helper()
	var found *api.Event
	deadline := time.Now().Add(within)
	for found == nil {
		for _, e := range x.events(name) {
			if e.Type == typ && containsAll(e.Message, texts...) {
				found = e
				break
			}
		}
		if found != nil {
			break
		}
		if time.Now().After(deadline) {
			var lines []string
			for _, e := range x.events(name) {
				lines = append(lines, e.Type+": "+e.Message)
			}
			x.t.Fatalf("no %s event of %s mentioning %q within %s; its events:\n%s", typ, name, texts, within, strings.Join(lines, "\n"))
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	return found
}

func containsAll(s string, texts ...string) bool {
	for _, text := range texts {
		if !strings.Contains(s, text) {
			return false
		}
	}
	return true
}

// describe is `flotilla describe service NAME`.
func (x *exampleRun) describe(name string) string {
	x.t.Helper()
	return x.l.must("describe", "service", name)
}

// describes waits until describe shows every one of texts.
func (x *exampleRun) describes(name string, within time.Duration, texts ...string) string {
	x.t.Helper()
	var out string
	deadline := time.Now().Add(within)
	for {
		out = x.describe(name)
		if containsAll(out, texts...) {
			return out
		}
		if time.Now().After(deadline) {
			x.t.Fatalf("describe service %s does not show %q within %s:\n%s", name, texts, within, out)
		}
		time.Sleep(200 * time.Millisecond) // polling interval
	}
}

// vipURL is http://VIP:PORT/ of the service.
func (x *exampleRun) vipURL(name string, port int) string {
	x.t.Helper()
	s := x.service(name)
	if s.VIP == "" {
		x.t.Fatalf("service %s has no VIP", name)
	}
	return fmt.Sprintf("http://%s/", net.JoinHostPort(s.VIP, fmt.Sprint(port)))
}

// demoAnswer is what the demo app's GET / answers.
type demoAnswer struct {
	Version, Node, Allocation string
	Header                    http.Header
}

func (x *exampleRun) get(url string) (demoAnswer, error) {
	resp, err := x.http.Get(url)
	if err != nil {
		return demoAnswer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return demoAnswer{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return demoAnswer{}, fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	var a demoAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return demoAnswer{}, fmt.Errorf("GET %s: %w: %s", url, err, body)
	}
	a.Header = resp.Header
	return a, nil
}

func (x *exampleRun) mustGet(url string) demoAnswer {
	x.t.Helper()
	a, err := x.get(url)
	if err != nil {
		x.t.Fatal(err)
	}
	return a
}

// versions sends n GETs to url and counts the versions that answered, and
// the allocations.
func (x *exampleRun) versions(url string, n int) (map[string]int, map[string]int) {
	x.t.Helper()
	versions, allocs := map[string]int{}, map[string]int{}
	for range n {
		a := x.mustGet(url)
		versions[a.Version]++
		allocs[a.Allocation]++
	}
	return versions, allocs
}

// post POSTs to one replica's admin endpoint.
func (x *exampleRun) post(url string) {
	x.t.Helper()
	resp, err := x.http.Post(url, "", nil)
	if err != nil {
		x.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		x.t.Fatalf("POST %s: %s %s", url, resp.Status, body)
	}
}

// applyText applies a changed copy of the example, as its comments do
// with sed.
func (x *exampleRun) applyText(text string) {
	x.t.Helper()
	path := filepath.Join(x.t.TempDir(), x.file.name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		x.t.Fatal(err)
	}
	x.t.Logf("%s", strings.TrimSpace(x.l.must("apply", "-f", path)))
}

// load runs `flotilla load SERVICE --rate R --duration D -o json` in the
// background.
func (x *exampleRun) load(service string, rate int, d time.Duration) *rolloutLoad {
	x.t.Helper()
	return x.rig.startLoadAt(service, rate, d)
}

// waitReplicas waits until the service's desired count satisfies cond and
// returns it.
func (x *exampleRun) waitReplicas(name string, within time.Duration, what string, cond func(int) bool) int {
	x.t.Helper()
	var n int
	x.eventually(within, name+": "+what, func() bool {
		n = x.service(name).Replicas
		return cond(n)
	})
	return n
}

func byNode(allocs []*api.Allocation) map[string]int {
	out := map[string]int{}
	for _, a := range allocs {
		out[a.Node]++
	}
	return out
}

// web.yaml: 6 replicas, 2 on each node, each answering with its own node
// and ID; the VIP answers v1; env reaches the replicas. (What the comment
// says of `lab kill n2` is TestLabRunsReplacesAndCleansUp's, on this same
// file: killing a node here would disturb the examples running beside it.)
func checkWebExample(x *exampleRun) {
	allocs := x.waitRunning("web", 6, true, 30*time.Second)
	if got := byNode(allocs); got["n1"] != 2 || got["n2"] != 2 || got["n3"] != 2 {
		x.t.Fatalf("replicas per node %v, want 2 on each of n1, n2, n3", got)
	}
	for _, a := range allocs {
		got := x.mustGet("http://" + a.Address + "/")
		if got.Version != "v1" || got.Node != a.Node || got.Allocation != a.ID {
			x.t.Fatalf("replica %s on %s answered %+v", a.ID, a.Node, got)
		}
	}
	url := x.vipURL("web", 8080)
	x.rig.proxiesCaughtUp("web")
	if v, _ := x.versions(url, 10); v["v1"] != 10 {
		x.t.Fatalf("the VIP answered %v, want v1 ten times", v)
	}
	if out := strings.TrimSpace(x.l.must("exec", allocs[0].ID, "--", "printenv", "COLOR")); out != "blue" {
		x.t.Fatalf("printenv COLOR in %s: %q, want blue", allocs[0].ID, out)
	}
	x.describes("web", time.Second, "VIP:", ":8080/http")
}

// web-ramped.yaml: under load, v2 replaces v1 in waves and the rollout
// completes with no failed request; undo rolls v1 out again.
func checkRampedExample(x *exampleRun) {
	x.waitRunning("web", 6, true, 30*time.Second)
	load := x.load("web", 100, 40*time.Second)
	x.rig.waitTraffic("web", 1, 10*time.Second)
	x.applyText(strings.ReplaceAll(x.file.text, "v1", "v2"))
	x.rig.waitRollout("web", 2, 40*time.Second, "the ramped rollout completed", func(ro *api.Rollout) bool {
		if ro.Phase == api.PhaseFailed || ro.Phase == api.PhaseAborted {
			x.t.Fatalf("the ramped rollout ended %s: %s", ro.Phase, ro.Reason)
		}
		return ro.Phase == api.PhaseCompleted
	})
	res := load.stop()
	x.t.Logf("load during the rollout: %d requests, %d errors, versions %v", res.Requests, res.Errors, res.Versions)
	if res.Errors != 0 || res.Versions["v1"] == 0 || res.Versions["v2"] == 0 {
		x.t.Fatalf("load during the ramped rollout: %d errors (%v), versions %v; want none, and answers from v1 and v2",
			res.Errors, res.ErrorKinds, res.Versions)
	}
	for _, a := range x.waitRunning("web", 6, true, 10*time.Second) {
		if a.Revision != 2 {
			x.t.Fatalf("after the rollout %s runs revision %d", a.ID, a.Revision)
		}
	}
	x.t.Logf("%s", strings.TrimSpace(x.l.must("rollout", "undo", "web")))
	x.rig.waitRollout("web", 3, 40*time.Second, "the undo rolled out as revision 3", func(ro *api.Rollout) bool {
		return ro.Phase == api.PhaseCompleted
	})
	x.waitRunning("web", 6, true, 10*time.Second)
	x.rig.proxiesCaughtUp("web")
	if v, _ := x.versions(x.vipURL("web", 8080), 10); v["v1"] != 10 {
		x.t.Fatalf("after undo the VIP answered %v, want v1", v)
	}
}

// web-blue-green.yaml: green starts beside blue and waits for a person;
// the preview reaches green, the VIP blue; promote moves the VIP to green
// and blue's scale-down is scheduled.
func checkBlueGreenExample(x *exampleRun) {
	x.waitRunning("web", 4, true, 30*time.Second)
	url := x.vipURL("web", 8080)
	x.applyText(strings.ReplaceAll(x.file.text, "v1", "v2"))
	ro := x.rig.waitRollout("web", 2, 30*time.Second, "green waiting for a promotion", func(ro *api.Rollout) bool {
		return ro.Phase == api.PhasePaused && strings.Contains(ro.Reason, "flotilla rollout promote web") && ro.PreviewVIP != ""
	})
	x.t.Logf("rollout: %s", ro.Reason)
	if got := x.wanted("web"); len(got) != 8 {
		x.t.Fatalf("%d replicas meant to run while green waits, want 4 blue and 4 green", len(got))
	}
	if v, _ := x.versions("http://"+net.JoinHostPort(ro.PreviewVIP, "8080")+"/", 10); v["v2"] != 10 {
		x.t.Fatalf("web-preview answered %v, want v2 only", v)
	}
	if v, _ := x.versions(url, 10); v["v1"] != 10 {
		x.t.Fatalf("the VIP answered %v before the promotion, want v1 only", v)
	}
	x.l.must("rollout", "promote", "web")
	promoted := time.Now()
	x.eventually(5*time.Second, "the VIP answering v2", func() bool {
		a, err := x.get(url)
		return err == nil && a.Version == "v2"
	})
	x.t.Logf("the VIP answered v2 %s after promote", time.Since(promoted).Round(time.Millisecond))
	x.rig.proxiesCaughtUp("web")
	if v, _ := x.versions(url, 20); v["v2"] != 20 {
		x.t.Fatalf("after the promotion the VIP answered %v, want v2 only", v)
	}
	x.rig.waitRollout("web", 2, 10*time.Second, "blue's scale-down scheduled", func(ro *api.Rollout) bool {
		return strings.Contains(ro.Reason, "blue revision 1 stops at") && !ro.ScaleDownAt.IsZero()
	})
}

// web-canary.yaml: under the comment's load, the canary goes through its
// steps with passing analyses and completes; no request fails; then the
// VIP answers v2 only.
func checkCanaryExample(x *exampleRun) {
	x.waitRunning("web", 6, true, 30*time.Second)
	load := x.load("web", 200, 60*time.Second)
	x.rig.waitTraffic("web", 1, 10*time.Second)
	x.applyText(strings.ReplaceAll(x.file.text, "v1", "v2"))
	applied := time.Now()
	steps := map[int]bool{}
	ro := x.rig.waitRollout("web", 2, 50*time.Second, "the canary completed", func(ro *api.Rollout) bool {
		if ro.Phase == api.PhaseAborted || ro.Phase == api.PhaseFailed {
			x.t.Fatalf("the canary ended %s: %s", ro.Phase, ro.Reason)
		}
		steps[ro.Weights[2]] = true
		return ro.Phase == api.PhaseCompleted
	})
	x.t.Logf("canary completed %s after apply: %s", time.Since(applied).Round(time.Second), ro.Reason)
	if !steps[10] || !steps[50] {
		x.t.Errorf("weights of revision 2 seen: %v, want the steps at 10%% and 50%%", steps)
	}
	passes := 0
	for _, a := range ro.Analysis {
		if a.Verdict == api.VerdictFail {
			x.t.Errorf("a failed analysis on the way: %+v", a)
		}
		if a.Verdict == api.VerdictPass {
			passes++
		}
	}
	if passes == 0 {
		x.t.Errorf("no passing analysis recorded: %+v", ro.Analysis)
	}
	res := load.stop()
	x.t.Logf("load during the canary: %d requests, %d errors, versions %v", res.Requests, res.Errors, res.Versions)
	if res.Errors != 0 || res.Versions["v1"] == 0 || res.Versions["v2"] == 0 {
		x.t.Fatalf("load during the canary: %d errors (%v), versions %v; want none, and answers from v1 and v2",
			res.Errors, res.ErrorKinds, res.Versions)
	}
	x.rig.proxiesCaughtUp("web")
	if v, _ := x.versions(x.vipURL("web", 8080), 20); v["v2"] != 20 {
		x.t.Fatalf("after the canary the VIP answered %v, want v2 only", v)
	}
}

// web-ab.yaml: once v2 has its half of the replicas the split starts;
// each user (by X-User-Id) gets one version from every proxy, and both
// versions serve; a first answer without the header sets the cookie.
// Under the comment's visitors B wins and is promoted; the verdict event
// and rollout status give the figures, and the load's summary counts each
// version's visitors.
func checkABExample(x *exampleRun) {
	x.waitRunning("shop", 6, true, 30*time.Second)
	// As the comment's sed does: the first match of each line, the args'.
	x.applyText(strings.ReplaceAll(x.file.text, `"v1", "--conversion-rate", "0.10"`, `"v2", "--conversion-rate", "0.15"`))
	x.rig.waitRollout("shop", 2, 30*time.Second, "the experiment started", func(ro *api.Rollout) bool {
		return ro.AB != nil && !ro.StepTime.IsZero()
	})
	url := x.vipURL("shop", 8080)
	byVersion := map[string]int{}
	for i := range 16 {
		user := fmt.Sprintf("user-%d", i)
		seen := map[string]int{}
		for range 6 { // new connections: the nodes' proxies answer in turn
			req, err := http.NewRequest(http.MethodGet, url, nil)
			if err != nil {
				x.t.Fatal(err)
			}
			req.Header.Set("X-User-Id", user)
			resp, err := x.http.Do(req)
			if err != nil {
				x.t.Fatal(err)
			}
			var a demoAnswer
			err = json.NewDecoder(resp.Body).Decode(&a)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				x.t.Fatalf("GET %s as %s: %s, %v", url, user, resp.Status, err)
			}
			seen[a.Version]++
		}
		if len(seen) != 1 {
			x.t.Fatalf("%s got %v, want one version every time", user, seen)
		}
		for v := range seen {
			byVersion[v]++
		}
	}
	if byVersion["v1"] == 0 || byVersion["v2"] == 0 {
		x.t.Fatalf("16 users got %v, want both versions serving", byVersion)
	}
	x.t.Logf("16 users, each on one version: %v", byVersion)
	if a := x.mustGet(url); !strings.Contains(strings.Join(a.Header.Values("Set-Cookie"), "; "), rolloutctl.ABCookie("shop")+"=") {
		x.t.Fatalf("a first answer without X-User-Id set no flotilla-ab-shop cookie: %v", a.Header)
	}

	load := startUsersLoad(x.rig, "shop", "--users", "4000", "--checkout-ratio", "1", "--rate", "250", "--duration", "60s")
	started := time.Now()
	ro := x.rig.waitRollout("shop", 2, 90*time.Second, "B winning and promoted", func(ro *api.Rollout) bool {
		verdict := ""
		if ro.AB != nil {
			verdict = ro.AB.Verdict
		}
		if ro.Phase == api.PhaseAborted || ro.Phase == api.PhaseFailed || verdict != "" && verdict != string(rolloutctl.ABWinnerB) {
			// The visitors' own count beside the proxies': a miscount
			// shows as a difference, bad luck as none.
			res := load.stop()
			x.t.Fatalf("the experiment ended %s, verdict %q: %s; the load's own figures by version: %+v",
				ro.Phase, verdict, ro.Reason, res.Users)
		}
		return ro.Phase == api.PhaseCompleted
	})
	x.t.Logf("completed %s after the load began: %s", time.Since(started).Round(100*time.Millisecond), ro.Reason)
	e := x.waitEvent("shop", rolloutctl.EventABVerdict, 5*time.Second, "A/B default/shop: B wins: conversion B ", " vs A ", "lift +", "n=")
	x.t.Logf("%s", e.Message)
	status := x.l.must("rollout", "status", "shop")
	for _, want := range []string{"A/B experiment (goal: response header X-Conversion, autoPromote)", "A: revision 1", "B: revision 2", "Lift:", "p-value:", "Looks:", "Verdict:     B wins"} {
		if !strings.Contains(status, want) {
			x.t.Errorf("rollout status lacks %q:\n%s", want, status)
		}
	}
	res := load.stop()
	if res.Users == nil || res.Users.ByVersion["v1"].Visitors == 0 || res.Users.ByVersion["v2"].Visitors == 0 || res.Users.Checkouts == 0 {
		x.t.Fatalf("the load's visitors: %+v, want visitors and checkouts answered by v1 and v2", res.Users)
	}
	x.t.Logf("load: %d requests, %d errors; %d visitors, %d checkouts, by version %+v",
		res.Requests, res.Errors, res.Users.Visitors, res.Users.Checkouts, res.Users.ByVersion)
}

// probes-startup.yaml: not ready, and not restarted, for the startup
// delay; then ready with no restart, after the startup probe's success.
func checkStartupProbeExample(x *exampleRun) {
	a := x.waitRunning("slow-start", 1, true, 30*time.Second)[0]
	if a.Restarts != 0 {
		x.t.Fatalf("the slow starter was restarted %d times", a.Restarts)
	}
	if took := a.ReadyTime.Sub(a.CreateTime); took < 4*time.Second {
		x.t.Fatalf("ready %s after it was placed, before its 5s startup delay", took)
	}
	x.waitEvent("slow-start", api.EventProbeSucceeded, 5*time.Second, "startup probe succeeded")
	for _, e := range x.events("slow-start") {
		if e.Type == api.EventLivenessKilled || e.Type == api.EventStartupKilled {
			x.t.Fatalf("the slow starter was killed: %s", e.Message)
		}
	}
}

// probes-readiness.yaml: a replica whose /ready fails leaves the
// endpoints and the VIP's rotation within about 2 s and comes back; none
// is restarted.
func checkReadinessProbeExample(x *exampleRun) {
	allocs := x.waitRunning("checkout", 3, true, 30*time.Second)
	victim := allocs[0]
	url := x.vipURL("checkout", 8080)
	endpointReady := func(id string) (ready, found bool) {
		eps, err := x.c.ServiceEndpoints(x.ctx(), api.DefaultNamespace, "checkout")
		if err != nil {
			return false, false
		}
		for _, e := range eps.Endpoints {
			if e.ID == id {
				return e.Ready, true
			}
		}
		return false, false
	}
	x.post("http://" + victim.Address + "/admin/readiness?fail=true")
	failed := time.Now()
	x.eventually(5*time.Second, "the failing replica out of the endpoints", func() bool {
		ready, found := endpointReady(victim.ID)
		return found && !ready
	})
	x.t.Logf("out of rotation %s after /ready failed", time.Since(failed).Round(time.Millisecond))
	// Every proxy has its update within a watch round trip.
	x.eventually(3*time.Second, "the VIP not answering from the failing replica", func() bool {
		_, by := x.versions(url, 12)
		return by[victim.ID] == 0
	})
	// 12 answers may all have come from proxies that switched.
	x.rig.proxiesCaughtUp("checkout")
	if _, by := x.versions(url, 30); by[victim.ID] != 0 || len(by) != 2 {
		x.t.Fatalf("30 GETs through the VIP were answered by %v, want only the 2 ready replicas", by)
	}
	x.post("http://" + victim.Address + "/admin/readiness?fail=false")
	x.eventually(5*time.Second, "the replica back in the endpoints", func() bool {
		ready, _ := endpointReady(victim.ID)
		return ready
	})
	for _, a := range x.wanted("checkout") {
		if a.Restarts != 0 {
			x.t.Fatalf("%s was restarted %d times: readiness must not restart", a.ID, a.Restarts)
		}
	}
}

// probes-liveness.yaml: a replica whose /healthz fails is killed and
// restarted in place (same ID and node) and is ready again.
func checkLivenessProbeExample(x *exampleRun) {
	a := x.waitRunning("self-heal", 1, true, 30*time.Second)[0]
	x.post("http://" + a.Address + "/admin/liveness?fail=true")
	x.eventually(15*time.Second, "the replica restarted in place and ready", func() bool {
		now := x.wanted("self-heal")
		return len(now) == 1 && now[0].ID == a.ID && now[0].Node == a.Node &&
			now[0].Restarts == 1 && now[0].Status == api.AllocRunning && now[0].Ready
	})
	x.waitEvent("self-heal", api.EventLivenessKilled, 5*time.Second, "liveness probe failed 2 times")
	x.waitEvent("self-heal", api.EventAllocationRestart, 5*time.Second, "restarted after liveness probe failed")
}

// probes-exec.yaml: the exec probe runs wget inside the container; it
// fails, and takes the replica out of rotation, when /ready does.
func checkExecProbeExample(x *exampleRun) {
	allocs := x.waitRunning("exec-probed", 2, true, 30*time.Second)
	victim := allocs[0]
	if out := strings.TrimSpace(x.l.must("exec", victim.ID, "--", "wget", "-q", "-O", "-", "http://localhost:8080/ready")); out != "ok" {
		x.t.Fatalf("the probe's command in %s printed %q, want ok", victim.ID, out)
	}
	x.post("http://" + victim.Address + "/admin/readiness?fail=true")
	x.eventually(5*time.Second, "the replica unready by its exec probe", func() bool {
		for _, a := range x.wanted("exec-probed") {
			if a.ID == victim.ID {
				return !a.Ready && a.Status == api.AllocRunning
			}
		}
		return false
	})
	x.waitEvent("exec-probed", api.EventProbeFailed, 5*time.Second, "readiness probe failed", "wget", "503")
	for _, a := range x.wanted("exec-probed") {
		if a.ID != victim.ID && !a.Ready {
			x.t.Fatalf("the other replica %s is not ready", a.ID)
		}
	}
}

// tcp-service.yaml: not ready until the port listens (3 s); the VIP's
// port forwards the connection without touching the bytes.
func checkTCPServiceExample(x *exampleRun) {
	allocs := x.waitRunning("ledger", 2, true, 30*time.Second)
	for _, a := range allocs {
		if took := a.ReadyTime.Sub(a.CreateTime); took < 2500*time.Millisecond {
			x.t.Fatalf("%s ready %s after it was placed, before it listened (3s)", a.ID, took)
		}
	}
	url := x.vipURL("ledger", 9000)
	x.eventually(5*time.Second, "the VIP's TCP port answering", func() bool {
		_, err := x.get(url)
		return err == nil
	})
	a := x.mustGet(url)
	if a.Version != "v1" || a.Header.Get("X-Flotilla-Revision") != "" {
		x.t.Fatalf("through the TCP VIP: version %q, X-Flotilla-Revision %q; want v1 and no header (layer 4)",
			a.Version, a.Header.Get("X-Flotilla-Revision"))
	}
	x.describes("ledger", time.Second, ":9000/tcp")
}

// headless.yaml: no VIP; the DNS name answers the ready replicas'
// addresses, and SRV records on port 7000.
func checkHeadlessExample(x *exampleRun) {
	allocs := x.waitRunning("peers", 3, true, 30*time.Second)
	if s := x.service("peers"); s.VIP != "" {
		x.t.Fatalf("the headless service has the VIP %s", s.VIP)
	}
	x.describes("peers", time.Second, "VIP:         none (headless")
	var want []string
	for _, a := range allocs {
		host, _, err := net.SplitHostPort(a.Address)
		if err != nil {
			x.t.Fatal(err)
		}
		want = append(want, host)
	}
	sort.Strings(want)
	var got []string
	x.eventually(5*time.Second, "DNS answering the 3 ready addresses", func() bool {
		got = nil
		for _, rr := range query(x.t, x.dns, "peers.default.svc.flotilla", miekg.TypeA).Answer {
			if a, ok := rr.(*miekg.A); ok {
				got = append(got, a.A.String())
			}
		}
		sort.Strings(got)
		return slices.Equal(got, want)
	})
	srv := query(x.t, x.dns, "_peer._tcp.peers.default.svc.flotilla", miekg.TypeSRV)
	if len(srv.Answer) != 3 {
		x.t.Fatalf("SRV answers %v, want 3", srv.Answer)
	}
	for _, rr := range srv.Answer {
		if s, ok := rr.(*miekg.SRV); !ok || s.Port != 7000 {
			x.t.Fatalf("SRV answer %v, want port 7000", rr)
		}
	}
	// An unready replica leaves the answers.
	x.post("http://" + allocs[0].Address + "/admin/readiness?fail=true")
	gone, _, _ := net.SplitHostPort(allocs[0].Address)
	x.eventually(5*time.Second, "DNS answering only the 2 ready addresses", func() bool {
		answers := query(x.t, x.dns, "peers.default.svc.flotilla", miekg.TypeA).Answer
		for _, rr := range answers {
			if a, ok := rr.(*miekg.A); ok && a.A.String() == gone {
				return false
			}
		}
		return len(answers) == 2
	})
}

// restart-on-failure.yaml: the crashing replica is restarted twice on its
// node, then failed and replaced on another node; events say why.
func checkRestartOnFailureExample(x *exampleRun) {
	var first *api.Allocation
	x.eventually(45*time.Second, "the crashing replica failed after 2 restarts", func() bool {
		for _, a := range x.allocs("crashy") {
			if a.Status == api.AllocFailed && a.Restarts == 2 && a.PreviousAllocation == "" {
				first = a
				return true
			}
		}
		return false
	})
	x.eventually(15*time.Second, "its replacement on another node", func() bool {
		for _, a := range x.allocs("crashy") {
			if a.PreviousAllocation == first.ID && a.DesiredStatus == api.DesiredRun {
				if a.Node == first.Node {
					x.t.Fatalf("the replacement %s runs on %s, the node its predecessor failed on", a.ID, a.Node)
				}
				return true
			}
		}
		return false
	})
	x.waitEvent("crashy", api.EventAllocationRestart, time.Second, first.ID, "exited with code 1")
	x.waitEvent("crashy", api.EventAllocationFailed, time.Second, first.ID, "restarted 2 times in 1m, the limit")
}

// placement-constraints.yaml: zone c is excluded: two replicas on n1
// (zone a), two on n2 (zone b), none on n3.
func checkConstraintsExample(x *exampleRun) {
	for name, zone := range map[string]string{"n1": "a", "n2": "b", "n3": "c"} {
		n, err := x.c.Node(x.ctx(), name)
		if err != nil {
			x.t.Fatal(err)
		}
		if n.Labels["zone"] != zone {
			x.t.Fatalf("node %s has zone %q, want %q as the comment says", name, n.Labels["zone"], zone)
		}
	}
	allocs := x.waitRunning("zonal", 4, true, 30*time.Second)
	if got := byNode(allocs); got["n1"] != 2 || got["n2"] != 2 || got["n3"] != 0 {
		x.t.Fatalf("replicas per node %v, want 2 on n1, 2 on n2, none on n3", got)
	}
	x.describes("zonal", time.Second, "Placement:   spread, zone != c")
}

// placement-binpack.yaml: on an idle lab all four replicas share one node.
func checkBinpackExample(x *exampleRun) {
	allocs := x.waitRunning("packed", 4, true, 30*time.Second)
	got := byNode(allocs)
	if len(got) != 1 {
		x.t.Fatalf("replicas per node %v, want all four on one node", got)
	}
	x.l.must("scale", "packed", "20")
	allocs = x.waitRunning("packed", 20, true, 30*time.Second)
	full := allocs[0].Node
	for node := range got {
		full = node
	}
	if got := byNode(allocs); len(got) != 2 || got[full] != 16 {
		x.t.Fatalf("20 replicas per node %v, want 16 filling %s's 4 cores and 4 on one more node", got, full)
	}
}

// placement-host-port.yaml: one replica per node; a fourth has no node
// with the port free, and describe says so.
func checkHostPortExample(x *exampleRun) {
	allocs := x.waitRunning("edge", 3, true, 30*time.Second)
	if got := byNode(allocs); len(got) != 3 {
		x.t.Fatalf("replicas per node %v, want one on each node", got)
	}
	x.l.must("scale", "edge", "4")
	x.describes("edge", 10*time.Second, "Unplaced:    1 replica: no node fits: port 9443 in use on 3 nodes")
	if got := x.wanted("edge"); len(got) != 3 {
		x.t.Fatalf("%d replicas placed after scale 4, want 3", len(got))
	}
}

// resources.yaml: a 3-core replica per 4-core node; a fourth does not
// fit anywhere, and describe says why.
func checkResourcesExample(x *exampleRun) {
	allocs := x.waitRunning("heavy", 3, true, 30*time.Second)
	if got := byNode(allocs); len(got) != 3 {
		x.t.Fatalf("replicas per node %v, want one on each node", got)
	}
	for _, a := range allocs {
		n, err := x.c.Node(x.ctx(), a.Node)
		if err != nil {
			x.t.Fatal(err)
		}
		if n.Allocated.CPU < 3000 {
			x.t.Fatalf("node %s has %s allocated, want at least the 3 cores of %s", n.Name, n.Allocated.CPU, a.ID)
		}
	}
	x.l.must("scale", "heavy", "4")
	x.describes("heavy", 10*time.Second, "Unplaced:    1 replica: no node fits: insufficient cpu on 3 nodes")
}

// autoscaleUnderLoad runs the comment's load against an autoscaled
// service, waits until the count is at least atLeast, and returns the
// service after the load, which must have lost no request.
func (x *exampleRun) autoscaleUnderLoad(name string, rate int, d time.Duration, atLeast int, within time.Duration) *api.Service {
	x.t.Helper()
	start := time.Now()
	load := x.load(name, rate, d)
	n := x.waitReplicas(name, within, fmt.Sprintf("at least %d replicas", atLeast), func(n int) bool { return n >= atLeast })
	x.t.Logf("%s: %d replicas %s after the load began", name, n, time.Since(start).Round(100*time.Millisecond))
	res := load.stop()
	x.t.Logf("load: %d requests, %d errors, p99 %.1fms", res.Requests, res.Errors, res.P99Ms)
	x.logScaling(name)
	if res.Errors != 0 {
		x.t.Fatalf("load on %s while it scaled: %d errors (%v %v), want none", name, res.Errors, res.ErrorKinds, res.ErrorSamples)
	}
	return x.service(name)
}

// logScaling logs the service's autoscaling changes so far.
func (x *exampleRun) logScaling(name string) {
	x.t.Helper()
	for _, e := range x.events(name) {
		if e.Type == api.EventServiceScaled {
			x.t.Logf("%s", e.Message)
		}
	}
}

// autoscale-inflight.yaml: ~20 requests in flight at target 5 take the
// service from 1 to about 4 replicas at once (panic mode); describe shows
// the rule, least-request balancing and the change.
func checkInflightAutoscaleExample(x *exampleRun) {
	x.waitRunning("orders", 1, true, 30*time.Second)
	s := x.autoscaleUnderLoad("orders", 200, 30*time.Second, 3, 15*time.Second)
	if s.Replicas > 6 {
		x.t.Fatalf("%d replicas for about 20 requests in flight at target 5, want about 4", s.Replicas)
	}
	x.waitEvent("orders", api.EventServiceScaled, time.Second, "autoscaled default/orders 1 →", "inflight", "target 5 (panic)")
	x.describes("orders", time.Second, "Autoscale:   inflight, target 5 per replica, 1..10 replicas", "last change", "balanced least-request")
}

// autoscale-rps.yaml: 100 requests/s at target 25 ask for 4 replicas.
func checkRPSAutoscaleExample(x *exampleRun) {
	x.waitRunning("search", 1, true, 30*time.Second)
	s := x.autoscaleUnderLoad("search", 100, 40*time.Second, 3, 15*time.Second)
	if s.Replicas > 6 {
		x.t.Fatalf("%d replicas for 100 requests/s at target 25, want about 4", s.Replicas)
	}
	x.waitEvent("search", api.EventServiceScaled, time.Second, "autoscaled default/search 1 →", "rps", "target 25")
	x.describes("search", time.Second, "Autoscale:   rps, target 25 per replica, 1..8 replicas", "balanced p2c")
}

// autoscale-cpu.yaml: 30 requests/s at 20 ms of CPU each on 100m
// replicas: the runtime's readings reach top and the service grows to
// max, with no panic mode.
func checkCPUAutoscaleExample(x *exampleRun) {
	x.waitRunning("thumbnails", 1, true, 30*time.Second)
	load := x.load("thumbnails", 30, 60*time.Second)
	x.eventually(15*time.Second, "top showing a replica's CPU", func() bool {
		top, err := x.c.TopAllocations(x.ctx())
		if err != nil {
			return false
		}
		for _, u := range top.Allocations {
			if u.Service == "thumbnails" && u.CPU >= 100 {
				return true
			}
		}
		return false
	})
	x.waitReplicas("thumbnails", 25*time.Second, "at least 3 replicas", func(n int) bool { return n >= 3 })
	// The rate limit lets it grow by +4 per 15 s; the load asks for more
	// than max.
	x.waitReplicas("thumbnails", 35*time.Second, "max (6) replicas", func(n int) bool { return n == 6 })
	if res := load.stop(); res.Errors != 0 {
		x.t.Fatalf("load while scaling on cpu: %d errors (%v)", res.Errors, res.ErrorKinds)
	}
	x.logScaling("thumbnails")
	e := x.waitEvent("thumbnails", api.EventServiceScaled, time.Second, "autoscaled default/thumbnails 1 →", "cpu", "target 50")
	if strings.Contains(e.Message, "(panic)") {
		x.t.Fatalf("%q: cpu has no panic mode", e.Message)
	}
	x.describes("thumbnails", time.Second, "Autoscale:   cpu, target 50 per replica, 1..6 replicas", "last change")
}

// autoscale-memory.yaml: 48Mi of 64Mi against a target of 50%, without
// load: the service grows to max (3) and its change names the memory.
func checkMemoryAutoscaleExample(x *exampleRun) {
	x.waitReplicas("cache", 30*time.Second, "max (3) replicas", func(n int) bool { return n == 3 })
	x.waitRunning("cache", 3, true, 20*time.Second)
	x.logScaling("cache")
	x.waitEvent("cache", api.EventServiceScaled, time.Second, "autoscaled default/cache 1 → 2", "memory 75.0 per replica", "target 50")
	// A replica's first reading comes within a report (a second).
	x.eventually(5*time.Second, "top showing 48Mi held by each of the 3 replicas", func() bool {
		top, err := x.c.TopAllocations(x.ctx())
		if err != nil {
			return false
		}
		n := 0
		for _, u := range top.Allocations {
			if u.Service == "cache" && u.Memory == 48<<20 {
				n++
			}
		}
		return n == 3
	})
	x.describes("cache", time.Second, "Autoscale:   memory, target 50 per replica, 1..3 replicas", "last change")
}

// autoscale-to-zero.yaml: it starts at zero; a GET to its VIP is held,
// wakes it and is answered; after 30 s without a request it is at zero
// again.
func checkScaleToZeroExample(x *exampleRun) {
	if s := x.service("sleepy"); s.Replicas != 0 || len(x.wanted("sleepy")) != 0 {
		x.t.Fatalf("sleepy has %d replicas (%d allocations) after apply, want to start at zero", s.Replicas, len(x.wanted("sleepy")))
	}
	url := x.vipURL("sleepy", 8080)
	held := &http.Client{Timeout: 40 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	start := time.Now()
	resp, err := held.Get(url)
	if err != nil {
		x.t.Fatalf("the first GET at zero: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		x.t.Fatalf("the first GET at zero: %s", resp.Status)
	}
	x.t.Logf("the first GET at zero was answered after %s", time.Since(start).Round(time.Millisecond))
	x.waitEvent("sleepy", api.EventServiceScaled, 5*time.Second, "woken from zero")
	x.waitRunning("sleepy", 1, true, 10*time.Second)
	idle := time.Now()
	x.eventually(50*time.Second, "sleepy back at zero", func() bool {
		return x.service("sleepy").Replicas == 0 && len(x.wanted("sleepy")) == 0
	})
	if took := time.Since(idle); took < 25*time.Second {
		x.t.Fatalf("back at zero after %s idle, before the 30s idle window", took)
	}
	x.waitEvent("sleepy", api.EventServiceScaled, 5*time.Second, "scaled to zero")
}

// autoscale-forecast.yaml: describe shows the forecast block and that the
// model is learning its first season. What the comment says of later (a
// forecast after 3 min, a scale-up before the second peak) takes over 4
// minutes, past this test's budget; scheduler/autoscale's tests prove the
// model and scheduler's the autoscaler's use of it.
func checkForecastExample(x *exampleRun) {
	x.waitRunning("reports", 1, true, 30*time.Second)
	x.describes("reports", 5*time.Second,
		"Autoscale:   inflight, target 5 per replica, 1..8 replicas, tolerance 10%, scale-down window 20s",
		"forecast: season 3m, lookahead 20s (no forecast yet: the model learns one season first)")
}
