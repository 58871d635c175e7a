package api_test

import (
	"context"
	"net/http"
	"reflect"
	"testing"
	"time"

	"flotilla/api"
)

func TestRolloutDiffsAreReadOnTheLeaderAndSurviveTheClient(t *testing.T) {
	b := &fakeBackend{}
	srv := newTestServer(t, b, api.HandlerOptions{})
	if r := send(t, srv.URL, http.MethodGet, "/v1/services/default/web/rollout/diffs", ""); r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if calls := b.Calls("WriteTarget"); len(calls) != 1 || calls[0].Method != "RolloutDiffs" || !reflect.DeepEqual(calls[0].Args, []any{"default", "web"}) {
		t.Errorf("calls = %+v, want one RolloutDiffs(default, web) where writes go (the leader)", calls)
	}

	want := &api.RolloutDiffs{Namespace: "default", Service: "web", Revision: 2, StableRevision: 1, Phase: api.PhaseProgressing,
		Baseline: 50, Nodes: 3, Updated: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Report: api.DiffReport{Mirrored: 120, Dropped: 1, Comparisons: 118, Judged: 90, Differing: 9, DiffRate: 0.1, NoiseComparisons: 60,
			Endpoints: []api.DiffEndpoint{{Endpoint: "GET /", Comparisons: 118, Judged: 90, Differing: 9, DiffRate: 0.1, NoiseComparisons: 60,
				Fields: []api.DiffField{{Field: "status", CandidateDiffs: 9, Counted: 9, CandidateRate: 0.076, DiffRate: 0.1,
					Examples: []api.DiffExample{{Request: "GET /?a=1", Path: "status", Kind: "changed", Stable: "200", Candidate: "500"}}}}}}}}
	srv = newTestServer(t, diffsBackend{&fakeBackend{}, want}, api.HandlerOptions{})
	client, err := api.NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, err := client.RolloutDiffs(context.Background(), "default", "web")
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("RolloutDiffs = %+v, %v; want %+v", got, err, want)
	}
}

// diffsBackend answers RolloutDiffs with one fixed value.
type diffsBackend struct {
	*fakeBackend
	d *api.RolloutDiffs
}

func (b diffsBackend) RolloutDiffs(ctx context.Context, namespace, name string) (*api.RolloutDiffs, error) {
	return b.d, nil
}
