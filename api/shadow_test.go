package api

import (
	"slices"
	"testing"
)

func TestShadowDefaultsAndWrittenValues(t *testing.T) {
	const http = "ports: [{name: http, port: 80, protocol: http}]\n"
	left := decodeOne(t, minimalDoc+http+"rollout: {strategy: shadow, shadow: {percent: 10%}}\n").Rollout.Shadow
	if !slices.Equal(left.Methods, []string{"GET", "HEAD", "OPTIONS"}) || left.Baseline == nil || *left.Baseline != 50 || left.Replicas != nil {
		t.Errorf("left out: methods %v, baseline %v, replicas %v; want GET HEAD OPTIONS, 50%%, sized by percent", left.Methods, left.Baseline, left.Replicas)
	}
	written := decodeOne(t, minimalDoc+http+"rollout: {strategy: shadow, shadow: {percent: 10%, methods: [POST], baseline: 0, replicas: 3}}\n").Rollout.Shadow
	if !slices.Equal(written.Methods, []string{"POST"}) || written.BaselineOrDefault() != 0 || *written.Replicas != 3 {
		t.Errorf("written: methods %v, baseline %v, replicas %v; want POST, 0 (no noise learning), 3", written.Methods, written.Baseline, *written.Replicas)
	}
}

func TestMirrorsMethod(t *testing.T) {
	for _, tc := range []struct {
		methods []string
		method  string
		want    bool
	}{
		{nil, "GET", true}, {nil, "HEAD", true}, {nil, "OPTIONS", true},
		{nil, "POST", false}, {nil, "DELETE", false}, {nil, "get", false},
		{[]string{"POST"}, "POST", true}, {[]string{"POST"}, "GET", false},
	} {
		if got := MirrorsMethod(tc.methods, tc.method); got != tc.want {
			t.Errorf("MirrorsMethod(%v, %s) = %v, want %v", tc.methods, tc.method, got, tc.want)
		}
	}
}

func TestParseJSONFieldPath(t *testing.T) {
	for _, tc := range []struct {
		path string
		want []JSONFieldStep
	}{
		{"time", []JSONFieldStep{{Key: "time"}}},
		{"meta.time", []JSONFieldStep{{Key: "meta"}, {Key: "time"}}},
		{"items[*].price", []JSONFieldStep{{Key: "items"}, {IsIndex: true, AnyIndex: true}, {Key: "price"}}},
		{"items[2]", []JSONFieldStep{{Key: "items"}, {IsIndex: true, Index: 2}}},
		{"[].id", []JSONFieldStep{{IsIndex: true, AnyIndex: true}, {Key: "id"}}},
	} {
		got, err := ParseJSONFieldPath(tc.path)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseJSONFieldPath(%q) = %+v, %v; want %+v", tc.path, got, err, tc.want)
		}
	}
	for _, bad := range []string{"a..b", "a.[0]", "items[x]", "items[-1]", "items[0", "a]b"} {
		if _, err := ParseJSONFieldPath(bad); err == nil {
			t.Errorf("ParseJSONFieldPath(%q) read it, want an error", bad)
		}
	}
}
