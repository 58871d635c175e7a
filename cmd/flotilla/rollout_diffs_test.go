package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"flotilla/api"
)

func shadowDiffsFixture() *api.RolloutDiffs {
	return &api.RolloutDiffs{Namespace: "default", Service: "web", Revision: 2, StableRevision: 1, Phase: api.PhaseProgressing,
		Baseline: 50, Nodes: 3, Updated: time.Now().Add(-time.Second),
		Report: api.DiffReport{Mirrored: 1300, Dropped: 4, Comparisons: 1290, Judged: 1200, Differing: 118, DiffRate: 118.0 / 1200, NoiseComparisons: 640,
			Endpoints: []api.DiffEndpoint{{Endpoint: "GET /", Comparisons: 1290, Judged: 1200, Differing: 118, DiffRate: 118.0 / 1200, NoiseComparisons: 640,
				Fields: []api.DiffField{
					{Field: "status", CandidateDiffs: 125, Counted: 118, CandidateRate: 125.0 / 1290, DiffRate: 118.0 / 1200,
						Examples: []api.DiffExample{{Request: "GET /?page=2", Path: "status", Kind: "changed", Stable: "200", Candidate: "500"}}},
					{Field: "body.error", CandidateDiffs: 125, Counted: 118, CandidateRate: 125.0 / 1290, DiffRate: 118.0 / 1200,
						Examples: []api.DiffExample{{Request: "GET /?page=2", Path: "body.error", Kind: "added", Candidate: `"injected error"`}}},
					{Field: "body.time", CandidateDiffs: 1290, NoiseDiffs: 640, CandidateRate: 1, NoiseRate: 1, Noise: true,
						Examples: []api.DiffExample{{Request: "GET /", Path: "body.time", Kind: "changed", Stable: `"10:00:00.1"`, Candidate: `"10:00:00.2"`}}},
				}}}}}
}

func TestRolloutDiffsShowsEachFieldWithItsRatesAndExamples(t *testing.T) {
	d := shadowDiffsFixture()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/services/default/web/rollout/diffs", func(w http.ResponseWriter, r *http.Request) { writeFake(w, 1, d) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	run := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		root := newRoot()
		root.SetArgs(append([]string{"--address", srv.URL, "rollout", "diffs", "web"}, args...))
		root.SetOut(&out)
		root.SetErr(&out)
		if err := root.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("rollout diffs %v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}

	out := run()
	for _, want := range []string{
		"Rollout:     shadow of revision 2 over stable 1 (progressing)",
		"Compared:    1290 of 1300 mirrored requests, 4 not mirrored (too many in flight), from 3 proxies",
		"Noise:       640 baseline comparisons (50% of mirrored requests also went to a second stable replica)",
		"Diff rate:   9.83%: 118 of 1200 judged comparisons differ",
		"GET /: 1290 compared, 1200 judged, diff rate 9.83%, 640 noise comparisons",
		"FIELD", "CANDIDATE", "NOISE", "COUNTED", "DIFF RATE", "VERDICT",
		"status", "125 (9.69%)", "counts",
		"body.time", "1290 (100.00%)", "640 (100.00%)", "noise",
		"GET /?page=2  status (changed): 200 -> 500",
		`GET /?page=2  body.error (added): (none) -> "injected error"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "10:00:00.1") {
		t.Errorf("a noise field's example shown without --all:\n%s", out)
	}
	if out := run("--all"); !strings.Contains(out, `GET /  body.time (changed): "10:00:00.1" -> "10:00:00.2"`) {
		t.Errorf("--all lacks the noise field's example:\n%s", out)
	}

	var back api.RolloutDiffs
	if err := json.Unmarshal([]byte(run("-o", "json")), &back); err != nil || back.Report.Judged != 1200 || len(back.Report.Endpoints[0].Fields) != 3 {
		t.Errorf("-o json: %+v, %v", back, err)
	}
}

func TestRolloutStatusShowsTheShadowSummary(t *testing.T) {
	r := &api.Rollout{Namespace: "default", Service: "web", Strategy: api.RolloutShadow, Phase: api.PhaseAborted,
		Revision: 2, StableRevision: 1, Step: 1, Steps: 2, Weights: map[int]int{1: 100}, Reason: "aborted after 2 failed analyses",
		StartTime: time.Now().Add(-time.Minute), Failures: 2,
		Shadow: &api.ShadowStatus{Time: time.Now(), Mirrored: 1300, Comparisons: 1290, NoiseComparisons: 640, Judged: 1200, Differing: 118, DiffRate: 118.0 / 1200,
			NoiseFields: []string{"body.allocation", "body.time"}, DiffFields: []api.ShadowFieldDiff{{Field: "GET / status", Counted: 118, DiffRate: 118.0 / 1200}}},
		Analysis: []api.AnalysisRun{{Time: time.Now(), Step: 1, Verdict: api.VerdictFail, Metric: "diffRate", Message: "diff rate 9.8% above maxDiffRate 1%"}}}
	out, err := runRolloutCLI(t, newFakeRolloutAPI(t, r), "rollout", "status", "web")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Shadow (as of 0s ago):", "mirrored 1300, compared 1290, noise comparisons 640",
		"diff rate 9.83% (118 of 1200 judged comparisons)", "noise fields: body.allocation, body.time",
		"differing: GET / status 118 (9.83%)", "verdict: fail (diffRate)", "flotilla rollout diffs web"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
