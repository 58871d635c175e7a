package scheduler

import (
	"testing"

	"flotilla/api"
)

func TestAutoscalerForecastBookListsTheLatestPerService(t *testing.T) {
	b := newForecastBook()
	b.set(api.ServiceForecast{Namespace: "default", Service: "web", Forecast: 10})
	b.set(api.ServiceForecast{Namespace: "default", Service: "api", Forecast: 3})
	b.set(api.ServiceForecast{Namespace: "default", Service: "web", Forecast: 42})
	got := b.list()
	if len(got) != 2 || got[0].Service != "api" || got[1].Service != "web" || got[1].Forecast != 42 {
		t.Fatalf("list = %+v, want api then web with the latest forecast 42", got)
	}
	b.remove("default/api")
	if got := b.list(); len(got) != 1 || got[0].Service != "web" {
		t.Fatalf("after remove: %+v", got)
	}
	b.reset()
	if got := b.list(); len(got) != 0 {
		t.Fatalf("after reset: %+v", got)
	}
}
