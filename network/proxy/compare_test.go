package proxy

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"flotilla/api"
)

func captured(t *testing.T, body string, keep bool) *bodyCapture {
	t.Helper()
	c := newBodyCapture(io.NopCloser(strings.NewReader(body)), keep)
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatal(err)
	}
	c.finish()
	return c
}

func TestDiffers(t *testing.T) {
	json := http.Header{"Content-Type": {"application/json"}}
	answer := func(status int, h http.Header, body string, keep bool) outcome {
		return outcome{complete: true, status: status, header: h, body: captured(t, body, keep)}
	}
	tests := []struct {
		name    string
		compare api.ShadowCompare
		a, b    outcome
		want    bool
	}{
		{"identical", api.ShadowCompare{Status: true, Body: true},
			answer(200, json, `{"a":1}`, false), answer(200, json, `{"a":1}`, false), false},
		{"status differs", api.ShadowCompare{Status: true},
			answer(200, json, "", false), answer(500, json, "", false), true},
		{"status differs but is not compared", api.ShadowCompare{Body: true},
			answer(200, json, "x", false), answer(500, json, "x", false), false},
		{"body differs", api.ShadowCompare{Body: true},
			answer(200, json, `{"a":1}`, false), answer(200, json, `{"a":2}`, false), true},
		{"ignored field anywhere, keys in any order", api.ShadowCompare{Body: true, IgnoreJSONFields: []string{"time"}},
			answer(200, json, `{"a":1,"time":1,"n":[{"time":2}]}`, true), answer(200, json, `{"n":[{"time":3}],"time":9,"a":1}`, true), false},
		{"dotted path only there", api.ShadowCompare{Body: true, IgnoreJSONFields: []string{"meta.time"}},
			answer(200, json, `{"meta":{"time":1},"time":1}`, true), answer(200, json, `{"meta":{"time":2},"time":2}`, true), true},
		{"not JSON: raw bytes", api.ShadowCompare{Body: true, IgnoreJSONFields: []string{"time"}},
			answer(200, json, `time=1`, true), answer(200, json, `time=2`, true), true},
		{"header differs", api.ShadowCompare{},
			answer(200, http.Header{"X-A": {"1"}}, "", false), answer(200, http.Header{"X-A": {"2"}}, "", false), true},
		{"header only on one side", api.ShadowCompare{},
			answer(200, http.Header{}, "", false), answer(200, http.Header{"X-A": {"2"}}, "", false), true},
		{"ignored and always-ignored headers", api.ShadowCompare{IgnoreHeaders: []string{"x-a"}},
			answer(200, http.Header{"X-A": {"1"}, "Date": {"Mon"}, "Content-Length": {"1"}}, "", false),
			answer(200, http.Header{"X-A": {"2"}, "Date": {"Tue"}}, "", false), false},
		{"mirror failed", api.ShadowCompare{},
			answer(200, nil, "", false), outcome{complete: true, failed: true, status: 503}, true},
		{"mirror cut short", api.ShadowCompare{},
			answer(200, nil, "", false), outcome{status: 200}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := differs(tt.compare, tt.a, tt.b); got != tt.want {
				t.Errorf("differs = %v, want %v", got, tt.want)
			}
		})
	}
}
