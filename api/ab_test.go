package api

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// An ab block left almost empty gets every default (what get -o yaml
// prints); rules leave the split out.
func TestABDefaults(t *testing.T) {
	specs, err := DecodeServices("web.yaml", []byte(minimalDoc+httpPort+"rollout: {strategy: ab, ab: {goal: {header: X-Conversion}}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := &ABRollout{
		Split: ptr(Percent(50)), Goal: ABGoal{Header: "X-Conversion"}, Confidence: ptr(Percent(95)),
		MinDetectableLift: ptr(Percent(20)), Interval: Duration(10 * time.Second),
	}
	if got := specs[0].Rollout.AB; !reflect.DeepEqual(got, want) {
		t.Errorf("defaults %+v, want %+v", got, want)
	}

	specs, err = DecodeServices("web.yaml", []byte(minimalDoc+httpPort+"rollout: {strategy: ab, ab: {match: [{header: {name: X-Group, exact: beta}}], goal: {path: /checkout}}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if ab := specs[0].Rollout.AB; ab.Split != nil || ab.SplitOrDefault() != 0 {
		t.Errorf("with rules the split is %v (%s), want none", ab.Split, ab.SplitOrDefault())
	}
	// Left out in Go, the OrDefault readers give the same values.
	var bare ABRollout
	if bare.SplitOrDefault() != 50 || bare.ConfidenceOrDefault() != 95 || bare.MinDetectableLiftOrDefault() != 20 || bare.IntervalOrDefault() != Duration(10*time.Second) {
		t.Error("the OrDefault readers disagree with the defaults")
	}
}

const httpPort = "ports: [{name: http, port: 80, protocol: http}]\n"

func TestABNeedsAnHTTPPort(t *testing.T) {
	_, err := DecodeServices("web.yaml", []byte(minimalDoc+"ports: [{port: 5432}]\nrollout: {strategy: ab, ab: {goal: {header: X-Conversion}}}\n"))
	wantFieldError(t, err, "web.yaml", "spec.rollout.ab", "needs a port with protocol http")
}

func TestSketchIsBase64InJSON(t *testing.T) {
	in := ABReport{Salt: "s", Visitors: Sketch{1, 2, 3}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"salt":"s","visitors":"AQID"}` {
		t.Fatalf("JSON %s", b)
	}
	var out ABReport
	if err := json.Unmarshal(b, &out); err != nil || !reflect.DeepEqual(out, in) {
		t.Fatalf("round trip %+v, %v", out, err)
	}
	if err := json.Unmarshal([]byte(`{"visitors":"not base64!"}`), &out); err == nil {
		t.Fatal("a sketch that is not base64 decoded")
	}
}

func TestValidateAB(t *testing.T) {
	rule := Match{Header: &ValueMatch{Name: "X-Group", Exact: "beta"}}
	for _, tc := range []struct {
		name    string
		mutate  func(ab *ABRollout)
		field   string
		message string
	}{
		{"rules and split", func(ab *ABRollout) { ab.Match = []Match{rule} }, "spec.rollout.ab.split", "only without match"},
		{"split 0", func(ab *ABRollout) { ab.Split = ptr(Percent(0)) }, "spec.rollout.ab.split", "more than 0% and less than 100%"},
		{"split 100", func(ab *ABRollout) { ab.Split = ptr(Percent(100)) }, "spec.rollout.ab.split", "got 100%"},
		{"bad rule", func(ab *ABRollout) { ab.Split, ab.Match = nil, []Match{rule, {}} }, "spec.rollout.ab.match[1]", "exactly one of header, cookie"},
		{"user header", func(ab *ABRollout) { ab.UserHeader = "X User" }, "spec.rollout.ab.userHeader", `invalid header name "X User"`},
		{"no goal", func(ab *ABRollout) { ab.Goal = ABGoal{} }, "spec.rollout.ab.goal", "required"},
		{"two goals", func(ab *ABRollout) { ab.Goal.Path = "/checkout" }, "spec.rollout.ab.goal", "exactly one of path, header"},
		{"goal header name", func(ab *ABRollout) { ab.Goal.Header = "X:Conv" }, "spec.rollout.ab.goal.header", "invalid header name"},
		{"method without path", func(ab *ABRollout) { ab.Goal.Method = "POST" }, "spec.rollout.ab.goal.method", "only with path"},
		{"relative path", func(ab *ABRollout) { ab.Goal = ABGoal{Path: "checkout"} }, "spec.rollout.ab.goal.path", "absolute path"},
		{"path with a query", func(ab *ABRollout) { ab.Goal = ABGoal{Path: "/checkout?x=1"} }, "spec.rollout.ab.goal.path", "without a query"},
		{"lower-case method", func(ab *ABRollout) { ab.Goal = ABGoal{Path: "/checkout", Method: "post"} }, "spec.rollout.ab.goal.method", `write "POST"`},
		{"confidence low", func(ab *ABRollout) { ab.Confidence = ptr(Percent(40)) }, "spec.rollout.ab.confidence", "at least 50%"},
		{"confidence 100", func(ab *ABRollout) { ab.Confidence = ptr(Percent(100)) }, "spec.rollout.ab.confidence", "less than 100%"},
		{"min sample 0", func(ab *ABRollout) { ab.MinSample = ptr(0) }, "spec.rollout.ab.minSample", "at least 1"},
		{"lift 0", func(ab *ABRollout) { ab.MinDetectableLift = ptr(Percent(0)) }, "spec.rollout.ab.minDetectableLift", "more than 0%"},
		{"lift huge", func(ab *ABRollout) { ab.MinDetectableLift = ptr(Percent(2000)) }, "spec.rollout.ab.minDetectableLift", "at most 1000%"},
		{"interval short", func(ab *ABRollout) { ab.Interval = Duration(500 * time.Millisecond) }, "spec.rollout.ab.interval", "at least 1s"},
		{"valid", func(ab *ABRollout) {}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := canaryExampleSpec()
			s.Rollout.Analysis = nil
			tc.mutate(abRollout(&s))
			if err := s.Validate(); tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else {
				wantFieldError(t, err, "", tc.field, tc.message)
			}
		})
	}
}
