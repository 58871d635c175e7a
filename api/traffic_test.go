package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"flotilla/api"
)

func TestTrafficEndpointAnswersEmptyListsRatherThanNull(t *testing.T) {
	b := &fakeBackend{}
	srv := newTestServer(t, b, api.HandlerOptions{})
	r := send(t, srv.URL, http.MethodGet, "/v1/services/default/web/traffic", "")
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if got := strings.TrimSpace(string(r.body)); got != `{"namespace":"default","service":"web","windows":[]}` {
		t.Errorf("body = %s", got)
	}
	if calls := b.Calls("WriteTarget"); len(calls) != 1 || calls[0].Method != "Traffic" || !reflect.DeepEqual(calls[0].Args, []any{"default", "web"}) {
		t.Errorf("calls = %+v, want one Traffic(default, web)", calls)
	}
}

func TestTrafficFiguresSurviveTheClient(t *testing.T) {
	var lat api.Histogram
	lat.Observe(3 * time.Millisecond)
	lat.Observe(40 * time.Millisecond)
	want := &api.ServiceTraffic{Namespace: "default", Service: "web", Windows: []api.TrafficWindow{
		{Window: api.Duration(10 * time.Second), Revisions: []api.TrafficFigures{{Revision: 2, Requests: 2, Errors: 1,
			InFlight: 3, RPS: 0.2, ErrorRate: 0.5, P50Ms: 3, P90Ms: 40, P99Ms: 40, Latency: lat, Mirrored: 4, Differences: 1, Nodes: 2}}},
		{Window: api.Duration(time.Minute), Revisions: []api.TrafficFigures{}},
	}}
	srv := newTestServer(t, trafficBackend{&fakeBackend{}, want}, api.HandlerOptions{})
	client, err := api.NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, err := client.Traffic(context.Background(), "default", "web")
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Traffic = %+v, %v; want %+v", got, err, want)
	}
	b, _ := json.Marshal(want.Windows[1])
	if string(b) != `{"window":"1m","revisions":[]}` {
		t.Errorf("a window without traffic = %s", b)
	}
}

// trafficBackend answers Traffic with one fixed value.
type trafficBackend struct {
	*fakeBackend
	t *api.ServiceTraffic
}

func (b trafficBackend) Traffic(ctx context.Context, namespace, name string) (*api.ServiceTraffic, error) {
	return b.t, nil
}

func TestTrafficReportCarriesItsHistogramOnlyWhenThereIsOne(t *testing.T) {
	b, _ := json.Marshal(api.TrafficReport{Namespace: "default", Service: "web", Revision: 1})
	if strings.Contains(string(b), "latency") {
		t.Errorf("report without latencies = %s, want no latency field", b)
	}
	r := api.TrafficReport{Revision: 1, Requests: 1}
	r.Latency.Observe(time.Millisecond)
	b, _ = json.Marshal(r)
	var back api.TrafficReport
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, r) {
		t.Errorf("round trip of %s = %+v, %v", b, back, err)
	}
}
