package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"flotilla/api"
)

// fakeRolloutAPI serves the endpoints the rollout commands use for one
// service, default/web. GET .../rollout answers a script: a query with
// index N gets states[N] with index N+1, so that every blocking query
// moves the rollout one state on; past the end it answers the last state
// with an unchanged index once the wait is over, as a query that timed out
// does.
type fakeRolloutAPI struct {
	t         *testing.T
	url       string
	states    []*api.Rollout
	revisions []*api.Revision
	traffic   *api.ServiceTraffic // nil: 404, as from a server without figures
	service   *api.Service
	allocs    []*api.Allocation
	// actionErr, when set, is the 409 every rollout action answers.
	actionErr string
	undoTo    int // revision an undo creates

	mu    sync.Mutex
	posts map[string]string // path → body of each POST
	waits []string          // ?wait= of every blocking query
}

func newFakeRolloutAPI(t *testing.T, states ...*api.Rollout) *fakeRolloutAPI {
	f := &fakeRolloutAPI{t: t, states: states, posts: map[string]string{}}
	const base = "/v1/services/default/web"
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+base+"/rollout", func(w http.ResponseWriter, r *http.Request) {
		if len(f.states) == 0 {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error": "no rollout"}`)
			return
		}
		index, _ := strconv.Atoi(r.URL.Query().Get("index"))
		if index > 0 {
			f.mu.Lock()
			f.waits = append(f.waits, r.URL.Query().Get("wait"))
			f.mu.Unlock()
		}
		answer := index + 1
		if index >= len(f.states) {
			// Nothing changes any more: hold the query for its wait, as a
			// server does, or until the client gives up.
			wait, _ := api.ParseDuration(r.URL.Query().Get("wait"))
			select {
			case <-time.After(wait.Std()):
			case <-r.Context().Done():
				return
			}
			index, answer = len(f.states)-1, index
		}
		writeFake(w, answer, f.states[index])
	})
	mux.HandleFunc("POST "+base+"/rollout/{action}", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.posts[r.URL.Path] = string(body)
		f.mu.Unlock()
		if r.PathValue("action") == "undo" {
			writeFake(w, 10, api.ApplyResponse{Index: 10, Revision: f.undoTo, Changed: true})
			return
		}
		if f.actionErr != "" {
			w.WriteHeader(http.StatusConflict)
			json.NewEncoder(w).Encode(api.ErrorResponse{Error: f.actionErr})
			return
		}
		writeFake(w, 10, api.WriteResponse{Index: 10})
	})
	mux.HandleFunc("GET "+base+"/revisions", func(w http.ResponseWriter, r *http.Request) {
		writeFake(w, 1, f.revisions)
	})
	mux.HandleFunc("GET "+base+"/traffic", func(w http.ResponseWriter, r *http.Request) {
		if f.traffic == nil {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error": "no figures"}`)
			return
		}
		writeFake(w, 1, f.traffic)
	})
	mux.HandleFunc("GET "+base, func(w http.ResponseWriter, r *http.Request) {
		writeFake(w, 1, f.service)
	})
	mux.HandleFunc("GET /v1/allocations", func(w http.ResponseWriter, r *http.Request) {
		writeFake(w, 1, append([]*api.Allocation{}, f.allocs...))
	})
	mux.HandleFunc("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
		writeFake(w, 1, []*api.Event{})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func writeFake(w http.ResponseWriter, index int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(api.IndexHeader, strconv.Itoa(index))
	json.NewEncoder(w).Encode(v)
}

func (f *fakeRolloutAPI) posted(path string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, ok := f.posts[path]
	return body, ok
}

// runRolloutCLI runs `flotilla --address FAKE ARGS...` in-process.
func runRolloutCLI(t *testing.T, f *fakeRolloutAPI, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRoot()
	root.SetArgs(append([]string{"--address", f.url}, args...))
	root.SetOut(&out)
	root.SetErr(&errOut)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// canary is a canary rollout of revision 2 over 1 in the given state.
func canary(phase string, step int, weights map[int]int, reason string) *api.Rollout {
	return &api.Rollout{Namespace: "default", Service: "web", Strategy: api.RolloutCanary, Phase: phase,
		Revision: 2, StableRevision: 1, Step: step, Steps: 3, Weights: weights, Reason: reason,
		StartTime: time.Now().Add(-time.Minute)}
}

func TestRolloutStatusJSONHasTheContractFields(t *testing.T) {
	r := canary(api.PhasePaused, 1, map[int]int{1: 90, 2: 10}, "step 1/3: weight 10%; paused until `flotilla rollout promote web`")
	f := newFakeRolloutAPI(t, r)
	out, err := runRolloutCLI(t, f, "rollout", "status", "web", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Service        *string             `json:"service"`
		Strategy       *string             `json:"strategy"`
		Phase          *string             `json:"phase"`
		Revision       *json.Number        `json:"revision"`
		StableRevision *json.Number        `json:"stableRevision"`
		Step           *json.Number        `json:"step"`
		Steps          *json.Number        `json:"steps"`
		Weights        map[string]*float64 `json:"weights"`
		Reason         *string             `json:"reason"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	if got.Service == nil || *got.Service != "web" || got.Strategy == nil || *got.Strategy != "canary" ||
		got.Phase == nil || *got.Phase != "paused" || got.Reason == nil || *got.Reason != r.Reason {
		t.Fatalf("strings wrong or missing in %s", out)
	}
	for name, n := range map[string]*json.Number{"revision": got.Revision, "stableRevision": got.StableRevision, "step": got.Step, "steps": got.Steps} {
		if n == nil {
			t.Fatalf("%s missing in %s", name, out)
		}
	}
	if *got.Revision != "2" || *got.StableRevision != "1" || *got.Step != "1" || *got.Steps != "3" {
		t.Fatalf("numbers wrong in %s", out)
	}
	if len(got.Weights) != 2 || got.Weights["1"] == nil || *got.Weights["1"] != 90 || got.Weights["2"] == nil || *got.Weights["2"] != 10 {
		t.Fatalf("weights = %v, want {\"1\": 90, \"2\": 10} in %s", got.Weights, out)
	}
}

func TestRolloutStatusJSONWeightsAreAnObjectEvenWhenUnset(t *testing.T) {
	r := canary(api.PhaseProgressing, 0, nil, "waiting for the first evaluation")
	out, err := runRolloutCLI(t, newFakeRolloutAPI(t, r), "rollout", "status", "web", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &fields); err != nil {
		t.Fatal(err)
	}
	if string(fields["weights"]) != "{}" {
		t.Fatalf("weights = %s, want {}", fields["weights"])
	}
}

func TestRolloutStatusTableShowsWeightsAnalysisAndTrafficWhenThereIsSome(t *testing.T) {
	r := canary(api.PhaseProgressing, 1, map[int]int{1: 90, 2: 10}, "step 1/3: weight 10%; pause ends at ...")
	r.PauseUntil = time.Now().Add(30 * time.Second)
	r.PreviewVIP = "10.96.0.9"
	r.Analysis = []api.AnalysisRun{{Time: time.Now(), Step: 1, Verdict: api.VerdictPass, Message: "error rate and p99 within limits",
		Canary: api.AnalysisFigures{Revision: 2, Requests: 120, ErrorRate: 0.01, P99Ms: 14},
		Stable: api.AnalysisFigures{Revision: 1, Requests: 900, P99Ms: 12}}}
	f := newFakeRolloutAPI(t, r)

	out, err := runRolloutCLI(t, f, "rollout", "status", "web")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Phase:       progressing, step 1/3", "Revision:    2 over stable 1", "Reason:      step 1/3",
		"Pause:       30s left", "Preview:     web-canary (10.96.0.9)", "1 (stable)", " 90%", "2 (new)", " 10%",
		"pass", "rev 2: 120 req, 1.00% err, p99 14ms", "rev 1: 900 req, 0.00% err, p99 12ms"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "RPS") {
		t.Errorf("traffic shown though the server has none:\n%s", out)
	}

	f.traffic = &api.ServiceTraffic{Namespace: "default", Service: "web", Windows: []api.TrafficWindow{{
		Window: api.Duration(10 * time.Second),
		Revisions: []api.TrafficFigures{
			{Revision: 1, Requests: 900, RPS: 90, P50Ms: 3, P99Ms: 12},
			{Revision: 2, Requests: 100, Errors: 2, RPS: 10, ErrorRate: 0.02, P50Ms: 4, P99Ms: 15},
		}}}}
	out, err = runRolloutCLI(t, f, "rollout", "status", "web")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Traffic (last 10s):", "RPS", "90.0", "10.0", "2.00%", "15ms"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestRolloutStatusWatchPipedPrintsOneLinePerChangeAndExitsZeroOnCompleted(t *testing.T) {
	start := canary(api.PhaseProgressing, 0, map[int]int{1: 100}, "rolling out revision 2 over revision 1 (canary)")
	same := *start // a change the lines do not show
	same.ModifyIndex = 7
	f := newFakeRolloutAPI(t,
		start,
		&same,
		canary(api.PhaseProgressing, 1, map[int]int{1: 90, 2: 10}, "step 1/3: weight 10%"),
		canary(api.PhasePaused, 2, map[int]int{1: 50, 2: 50}, "step 2/3: weight 50%; paused until `flotilla rollout promote web`"),
		canary(api.PhaseCompleted, 3, map[int]int{2: 100}, "revision 2 serves all traffic"),
	)
	out, err := runRolloutCLI(t, f, "rollout", "status", "web", "-w")
	if err != nil {
		t.Fatalf("err = %v, want nil once completed; output:\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	want := [][]string{
		{"progressing", "step 0/3", "weights 1:100%", "rolling out revision 2 over revision 1"},
		{"progressing", "step 1/3", "weights 1:90% 2:10%", "step 1/3: weight 10%"},
		{"paused", "step 2/3", "weights 1:50% 2:50%", "paused until"},
		{"completed", "step 3/3", "weights 2:100%", "revision 2 serves all traffic"},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d (one per change):\n%s", len(lines), len(want), out)
	}
	for i, parts := range want {
		for _, p := range parts {
			if !strings.Contains(lines[i], p) {
				t.Errorf("line %d %q lacks %q", i+1, lines[i], p)
			}
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("terminal escapes in piped output:\n%q", out)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, w := range f.waits {
		if w == "" {
			t.Fatalf("a blocking query without ?wait=: %v", f.waits)
		}
	}
}

func TestRolloutStatusWatchExitsNonZeroWhenAborted(t *testing.T) {
	for _, phase := range []string{api.PhaseAborted, api.PhaseFailed} {
		t.Run(phase, func(t *testing.T) {
			f := newFakeRolloutAPI(t,
				canary(api.PhaseProgressing, 1, map[int]int{1: 90, 2: 10}, "step 1/3: weight 10%"),
				canary(phase, 1, map[int]int{1: 100}, "analysis failed twice: error rate 5.00% over 1.00%"),
			)
			out, err := runRolloutCLI(t, f, "rollout", "status", "web", "-w")
			var exit silentExit
			if !errors.As(err, &exit) || exit != 1 {
				t.Fatalf("err = %v, want exit status 1; output:\n%s", err, out)
			}
			if n := strings.Count(out, "\n"); n != 2 || !strings.Contains(out, phase) {
				t.Fatalf("want 2 lines ending %s, got:\n%s", phase, out)
			}
		})
	}
}

func TestRolloutStatusWatchJSONPrintsOneObjectPerChange(t *testing.T) {
	f := newFakeRolloutAPI(t,
		canary(api.PhaseProgressing, 1, map[int]int{1: 90, 2: 10}, "step 1/3: weight 10%"),
		canary(api.PhaseCompleted, 3, map[int]int{2: 100}, "revision 2 serves all traffic"),
	)
	out, err := runRolloutCLI(t, f, "rollout", "status", "web", "-w", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 JSON lines, got:\n%s", out)
	}
	var last api.Rollout
	if err := json.Unmarshal([]byte(lines[1]), &last); err != nil || last.Phase != api.PhaseCompleted {
		t.Fatalf("last line %q: %v", lines[1], err)
	}
}

func TestRolloutStatusWatchRedrawsInPlaceOnATerminal(t *testing.T) {
	f := newFakeRolloutAPI(t,
		canary(api.PhaseProgressing, 1, map[int]int{1: 90, 2: 10}, "step 1/3: weight 10%"),
		canary(api.PhaseCompleted, 3, map[int]int{2: 100}, "revision 2 serves all traffic"),
	)
	c, err := api.NewClient(f.url)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w := &rolloutWatch{c: c, namespace: "default", name: "web", out: &out, format: "table", terminal: true, width: 80, now: time.Now}
	if err := w.run(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The second block starts by moving up over the first one.
	first := strings.Index(out.String(), "Phase:")
	up := strings.Index(out.String(), "A\r\x1b[J")
	last := strings.LastIndex(out.String(), "Phase:       completed")
	if first < 0 || up < first || last < up {
		t.Fatalf("want a block, a move up, then the completed block:\n%q", out.String())
	}
	if !strings.HasSuffix(out.String(), "\x1b[?25h") {
		t.Fatalf("cursor not shown again at the end: %q", out.String())
	}
}

func TestRolloutStatusWatchEndsWhenInterrupted(t *testing.T) {
	f := newFakeRolloutAPI(t, canary(api.PhasePaused, 2, map[int]int{1: 50, 2: 50}, "paused until promote"))
	c, err := api.NewClient(f.url)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	lines := make(chan string, 1)
	w := &rolloutWatch{c: c, namespace: "default", name: "web", out: writerFunc(func(p []byte) {
		select {
		case lines <- string(p):
		default:
		}
	}), format: "table", now: time.Now}
	done := make(chan error, 1)
	go func() { done <- w.run(ctx) }()
	select {
	case <-lines: // the first state is shown: the view is following
	case <-time.After(10 * time.Second):
		t.Fatal("no line printed")
	}
	cancel()
	select {
	case err := <-done:
		var exit silentExit
		if !errors.As(err, &exit) || exit != 130 {
			t.Fatalf("err = %v, want exit status 130", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the view did not end with its context")
	}
}

type writerFunc func(p []byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }

func TestRolloutPromoteFullPostsFull(t *testing.T) {
	f := newFakeRolloutAPI(t, canary(api.PhasePaused, 1, map[int]int{1: 90, 2: 10}, "paused"))
	out, err := runRolloutCLI(t, f, "rollout", "promote", "web", "--full")
	if err != nil {
		t.Fatal(err)
	}
	body, ok := f.posted("/v1/services/default/web/rollout/promote")
	if !ok {
		t.Fatal("nothing posted to /rollout/promote")
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil || len(got) != 1 || got["full"] != true {
		t.Fatalf("body %q, want {\"full\":true}", body)
	}
	if out != "web: full promotion asked (revision 2)\n" {
		t.Fatalf("output %q", out)
	}
}

func TestRolloutActionsPostToTheirPathAndConfirmInOneLine(t *testing.T) {
	for action, want := range map[string]string{
		"promote": "web: promotion asked (revision 2)\n",
		"pause":   "web: pause asked (revision 2)\n",
		"resume":  "web: resume asked (revision 2)\n",
		"abort":   "web: abort asked (revision 2; traffic goes back to revision 1)\n",
	} {
		t.Run(action, func(t *testing.T) {
			f := newFakeRolloutAPI(t, canary(api.PhasePaused, 1, map[int]int{1: 90, 2: 10}, "paused"))
			out, err := runRolloutCLI(t, f, "rollout", action, "web")
			if err != nil {
				t.Fatal(err)
			}
			if out != want {
				t.Fatalf("output %q, want %q", out, want)
			}
			body, ok := f.posted("/v1/services/default/web/rollout/" + action)
			if !ok || strings.TrimSpace(body) != "{}" {
				t.Fatalf("posted %q (%v), want {}", body, ok)
			}
		})
	}
}

func TestRolloutActionErrorIsOneLine(t *testing.T) {
	f := newFakeRolloutAPI(t, canary(api.PhaseCompleted, 3, map[int]int{2: 100}, "done"))
	f.actionErr = "service default/web has no rollout in progress (its last rollout completed)"
	out, err := runRolloutCLI(t, f, "rollout", "abort", "web")
	if err == nil {
		t.Fatalf("no error; output %q", out)
	}
	if msg := oneLine(err); !strings.Contains(msg, f.actionErr) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error %q", msg)
	}
	if out != "" {
		t.Fatalf("output %q on error", out)
	}
}

func TestRolloutUndoPostsToRevision(t *testing.T) {
	f := newFakeRolloutAPI(t, canary(api.PhaseCompleted, 3, map[int]int{2: 100}, "done"))
	f.undoTo = 3
	out, err := runRolloutCLI(t, f, "rollout", "undo", "web", "--to-revision", "1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := f.posted("/v1/services/default/web/rollout/undo")
	var got api.UndoRequest
	if err := json.Unmarshal([]byte(body), &got); err != nil || got.ToRevision != 1 || !strings.Contains(body, `"toRevision":1`) {
		t.Fatalf("body %q, want {\"toRevision\":1}", body)
	}
	if out != "web: rolling back to the spec of revision 1 as revision 3\n" {
		t.Fatalf("output %q", out)
	}
}

func TestRolloutUndoWithoutRevisionNamesThePreviousOne(t *testing.T) {
	f := newFakeRolloutAPI(t, canary(api.PhaseCompleted, 3, map[int]int{2: 100}, "done"))
	f.undoTo = 3
	f.service = &api.Service{Namespace: "default", Name: "web", Revision: 2}
	f.revisions = []*api.Revision{{Revision: 1}, {Revision: 2}}
	out, err := runRolloutCLI(t, f, "rollout", "undo", "web")
	if err != nil {
		t.Fatal(err)
	}
	if body, _ := f.posted("/v1/services/default/web/rollout/undo"); strings.TrimSpace(body) != "{}" {
		t.Fatalf("body %q, want {} (the server picks the revision)", body)
	}
	if out != "web: rolling back to the spec of revision 1 as revision 3\n" {
		t.Fatalf("output %q", out)
	}
}

func TestRolloutHistoryMarksCurrentAndStableAndNamesChanges(t *testing.T) {
	r := canary(api.PhaseProgressing, 1, map[int]int{2: 90, 3: 10}, "step 1/3")
	r.Revision, r.StableRevision = 3, 2
	f := newFakeRolloutAPI(t, r)
	created := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	f.revisions = []*api.Revision{
		{Revision: 1, CreateTime: created, Spec: api.ServiceSpec{Name: "web", Image: "demo:v1", Args: []string{"--version", "v1"}}},
		{Revision: 2, CreateTime: created, Spec: api.ServiceSpec{Name: "web", Image: "demo:v2", Args: []string{"--version", "v2"}}},
		{Revision: 3, CreateTime: created, Spec: api.ServiceSpec{Name: "web", Image: "demo:v2", Args: []string{"--version", "v2"}, Env: map[string]string{"COLOR": "green"}}},
	}
	out, err := runRolloutCLI(t, f, "rollout", "history", "web")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "REVISION") {
		t.Fatalf("want a header and 3 rows:\n%s", out)
	}
	for i, want := range [][]string{
		{"1 ", "demo:v1", "--version v1", "created"},
		{"2 (stable)", "demo:v2", "--version v2", "image, args"},
		{"3 (current)", "demo:v2", "env"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i+1], w) {
				t.Errorf("row %d %q lacks %q", i+1, lines[i+1], w)
			}
		}
	}

	out, err = runRolloutCLI(t, f, "rollout", "history", "web", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var entries []historyEntry
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 || !entries[2].Current || !entries[1].Stable || strings.Join(entries[1].Changes, ",") != "image,args" {
		t.Fatalf("entries %+v", entries)
	}
}

// Once the rollout completed, the revision it rolled out is the stable
// one; the one it replaced is history.
func TestRolloutHistoryAfterACompletedRolloutMarksItStable(t *testing.T) {
	r := canary(api.PhaseCompleted, 3, map[int]int{3: 100}, "rollout completed")
	r.Revision, r.StableRevision = 3, 2
	f := newFakeRolloutAPI(t, r)
	f.revisions = []*api.Revision{{Revision: 1}, {Revision: 2}, {Revision: 3}}
	out, err := runRolloutCLI(t, f, "rollout", "history", "web")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || strings.Contains(lines[2], "stable") || !strings.HasPrefix(lines[3], "3 (current, stable)") {
		t.Fatalf("want revision 3 current and stable, 2 unmarked:\n%s", out)
	}
}

func TestDescribeServiceSaysWhyAReplicaIsNotRunning(t *testing.T) {
	f := newFakeRolloutAPI(t)
	f.service = &api.Service{Namespace: "default", Name: "web", Revision: 1, Replicas: 2}
	f.allocs = []*api.Allocation{
		{ID: "a1", Namespace: "default", Service: "web", Revision: 1, Node: "n1", DesiredStatus: api.DesiredRun, Status: api.AllocRunning},
		{ID: "a2", Namespace: "default", Service: "web", Revision: 1, Node: "n2", DesiredStatus: api.DesiredRun, Status: api.AllocStarting,
			StatusMessage: "create a2: pull image docker.io/library/web:v1: not reachable (retrying)"},
	}
	out, err := runRolloutCLI(t, f, "describe", "service", "web")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out, "\n")
	var header, a2 string
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "  ID "):
			header = l
		case strings.HasPrefix(l, "  a2 "):
			a2 = l
		}
	}
	if !strings.HasSuffix(header, "REASON") || !strings.HasSuffix(a2, "create a2: pull image docker.io/library/web:v1: not reachable (retrying)") {
		t.Fatalf("want a2's reason in a REASON column:\n%s", out)
	}
}

func TestDescribeServiceShowsTheRollout(t *testing.T) {
	r := canary(api.PhasePaused, 2, map[int]int{1: 50, 2: 50}, "step 2/3: weight 50%; paused until `flotilla rollout promote web`")
	r.PreviewVIP = "10.96.0.9"
	r.Analysis = []api.AnalysisRun{{Time: time.Now(), Step: 2, Verdict: api.VerdictPass, Message: "within limits"}}
	f := newFakeRolloutAPI(t, r)
	f.service = &api.Service{Namespace: "default", Name: "web", Revision: 2, Strategy: api.RolloutCanary}
	out, err := runRolloutCLI(t, f, "describe", "service", "web")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nRollout:\n", "Strategy:  canary", "Phase:     paused, step 2/3", "Weights:   1:50% 2:50%",
		"Reason:    step 2/3", "Preview:   web-canary (10.96.0.9)", "Analysis:  pass"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}
}

// After a change of rollout settings alone, which starts no rollout, the
// status of the last rollout says which strategy the next one will use;
// a rollout in progress shows its own only.
func TestRolloutStatusSaysTheNextStrategyOnceTheServiceChangedIt(t *testing.T) {
	done := canary(api.PhaseCompleted, 3, map[int]int{2: 100}, "revision 2 rolled out")
	f := newFakeRolloutAPI(t, done)
	f.service = &api.Service{Namespace: "default", Name: "web", Revision: 2, Strategy: api.RolloutBlueGreen}
	out, err := runRolloutCLI(t, f, "rollout", "status", "web")
	if err != nil {
		t.Fatal(err)
	}
	if want := "Strategy:    canary (the next rollout: blue-green)\n"; !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}

	running := canary(api.PhaseProgressing, 1, map[int]int{1: 90, 2: 10}, "step 1/3")
	f = newFakeRolloutAPI(t, running)
	f.service = &api.Service{Namespace: "default", Name: "web", Revision: 2, Strategy: api.RolloutBlueGreen}
	if out, err = runRolloutCLI(t, f, "rollout", "status", "web"); err != nil {
		t.Fatal(err)
	}
	if want := "Strategy:    canary\n"; !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
}
