package main

import (
	"strings"
	"time"

	"flotilla/api"
)

func init() { exampleChecks["shadow.yaml"] = exampleCheck{check: checkShadowExample} }

// shadow.yaml: a v2 failing 10% of its requests is aborted by the shadow's
// analysis, its status and body.error differences counted and examples
// recorded, and no client of the load gets its answer.
func checkShadowExample(x *exampleRun) {
	x.waitRunning("quotes", 3, true, 30*time.Second)
	load := x.load("quotes", 100, 60*time.Second)
	x.rig.waitTraffic("quotes", 1, 10*time.Second)
	x.applyText(strings.Replace(x.file.text, `"v1"]`, `"v2", "--error-rate", "0.1"]`, 1))
	ro := x.rig.waitRollout("quotes", 2, 45*time.Second, "the shadow aborted", func(ro *api.Rollout) bool {
		if ro.Phase == api.PhaseCompleted || ro.Phase == api.PhaseFailed {
			x.t.Fatalf("the shadow ended %s: %s", ro.Phase, ro.Reason)
		}
		return ro.Phase == api.PhaseAborted
	})
	x.t.Logf("aborted %s after shadowing began: %s", ro.EndTime.Sub(ro.StepTime).Round(time.Second), ro.Reason)
	if !strings.Contains(ro.Reason, "above maxDiffRate 1%") {
		x.t.Errorf("abort reason %q, want maxDiffRate named", ro.Reason)
	}
	d := x.rig.diffs("quotes")
	var get api.DiffEndpoint
	for _, e := range d.Report.Endpoints {
		if e.Endpoint == "GET /" {
			get = e
		}
	}
	for _, field := range []string{"status", "body.error"} {
		if f := fieldOf(get, field); f.Noise || f.DiffRate < 0.05 || f.DiffRate > 0.15 || len(f.Examples) == 0 {
			x.t.Errorf("GET / %s: %+v, want counted in about 10%% of judged comparisons, with examples", field, f)
		}
	}
	for _, field := range []string{"body.time", "body.hostname"} {
		if f := fieldOf(get, field); !f.Noise {
			x.t.Errorf("GET / %s: %+v, want noise", field, f)
		}
	}
	if out := x.l.must("rollout", "diffs", "quotes"); !strings.Contains(out, "status (changed): 200 -> 500") {
		x.t.Errorf("rollout diffs shows no status example:\n%s", out)
	}
	res := load.stop()
	x.t.Logf("load during the shadow: %d requests, %d errors, versions %v", res.Requests, res.Errors, res.Versions)
	if res.Errors != 0 || res.Versions["v2"] != 0 || res.Versions["v1"] == 0 {
		x.t.Fatalf("load during the shadow: %d errors, versions %v; want every answer from v1", res.Errors, res.Versions)
	}
}
