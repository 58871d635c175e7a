package api

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// FuzzDecodeServices: no document makes DecodeServices panic; what it
// refuses it refuses with a *FieldError; and every spec it accepts
// validates, and written out as JSON (what the API returns) decodes to
// itself, as TestDefaultedSpecRoundTrips checks for chosen specs.
func FuzzDecodeServices(f *testing.F) {
	for _, doc := range []string{
		minimalDoc,
		canaryExample,
		contractExample,
		minimalDoc + "rollout: {ramped: {maxSurge: 1, maxUnavailable: 10%, minReady: 5s, autoRollback: true}}\n",
		minimalDoc + "rollout: {strategy: blue-green, blueGreen: {autoPromoteAfter: 90s}, analysis: {maxP99Latency: 250ms}}\n",
		minimalDoc + "rollout: {strategy: canary, canary: {steps: [{weight: 10, pause: 30s}, {weight: 50, pause: manual}, {weight: 100}]}}\n",
		minimalDoc + `command: [/bin/app]
clusterIP: none
ports: [{name: http, port: 80, protocol: http, hostPort: 8080}, {name: metrics, port: 9100}]
configs: [{name: app, path: /etc/app, reload: signal}]
secrets: [{name: key, path: /run/key}, {name: token, env: {TOKEN: token}}]
placement: {strategy: binpack, constraints: ["zone in (a, b)", "node.name != n2"]}
probes:
  startup: {exec: {command: [/bin/check, --startup]}, initialDelay: 2s}
  readiness: {http: {port: http, path: /ready, headers: {X-Probe: "1"}}, successThreshold: 2, timeout: 500ms}
  liveness: {tcp: {port: 80}}
restart: {policy: never, maxRestarts: 1, window: 1h, backoff: 250ms, maxBackoff: 10s}
autoscale: {min: 1, max: 100, metric: memory, target: 80.5, tolerance: 5%, stabilizationWindow: 90s, forecast: {season: 10m, lookahead: 1m}}
`,
		minimalDoc + "resources: {cpu: 1.5, memory: 1Gi}\nenv: {A: '1', B: \"two\"}\nargs: [a, 'b c']\nreplicas: 0\n",
		"---\n" + minimalDoc + "--- # the second\nkind: Service\nname: api\nimage: demo\n",
		"- " + "{kind: Service, name: web, image: demo}\n- {kind: Service, name: api, image: demo}\n",
		`{"kind": "Service", "name": "web", "image": "demo", "replicas": 2, "resources": {"cpu": "500m", "memory": "128Mi"}}`,
		`[{"kind": "Service", "name": "web", "image": "demo"}, {"kind": "Service", "name": "db", "image": "demo", "ports": [{"port": 5432}]}]`,
		"a: &a [x, *a]\n",
		"kind: Service\nname: web\nimage: demo\nreplicas: 1e3\n",
		"",
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		specs, err := DecodeServices("fuzz.yaml", data)
		if err != nil {
			if fe := (*FieldError)(nil); !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a *FieldError", err, err)
			}
			return
		}
		for i, spec := range specs {
			if err := spec.Validate(); err != nil {
				t.Fatalf("spec %d was accepted but does not validate: %v\nin %q", i, err, data)
			}
			js, err := json.Marshal(spec)
			if err != nil {
				t.Fatalf("spec %d: marshal: %v", i, err)
			}
			back, err := DecodeServiceJSON("round trip", js)
			if err != nil {
				t.Fatalf("spec %d: decode its JSON %s: %v\nin %q", i, js, err, data)
			}
			if !reflect.DeepEqual(back, spec) {
				t.Fatalf("spec %d: JSON round trip\n got %+v\nwant %+v\njson %s\nin %q", i, back, spec, js, data)
			}
		}
	})
}

// FuzzParseJSONFast: whatever jsontext's parse takes, encoding/json's
// takes too and reads as the same tree (keys in order, duplicates kept,
// numbers normalized), so the fast path changes no request's meaning; what
// it does not take goes to encoding/json, whose error is the one returned.
func FuzzParseJSONFast(f *testing.F) {
	for _, doc := range []string{
		`{"node":"n1","updates":[{"id":"a","status":"running","ready":true,"restarts":0}]}`,
		`{"a":1,"a":2}`, `{"A":1,"a":{"b":[1,2,{"c":null}]}}`,
		`[]`, `{}`, `[[[[]]]]`, `"x"`, `true`, `false`, `null`, ` 1 `,
		`1.0`, `1e3`, `-0`, `-0.0`, `1E+2`, `0.1`, `18446744073709551615`, `18446744073709551616`,
		`-9223372036854775809`, `1e400`, `1e-400`, `01`, `1.`, `.5`, `+1`,
		`"\u00e9\n\t\"\\\/"`, `"\ud83d\ude00"`, `"\ud800"`, `"\udc00x"`, "\"\xff\"", "\"a\x01\"", `"\x"`,
		`{"a":1} {"b":2}`, `{"a":1}}`, `{"a":1,}`, `[1,]`, `{"a" 1}`, `{1:2}`, `{"a":1`, `[`,
		`{"a":"<&>"}`, "\t{\r\n\"a\" : [ 1 , 2 ] }\n",
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := parseJSONFast(data)
		if !ok {
			return
		}
		slow, fe := parseJSONSlow(data)
		if fe != nil {
			t.Fatalf("the fast parse took %q, encoding/json refused it: %v", data, fe)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: the fast parse read %s, encoding/json %s", data, appendJSON(nil, fast), appendJSON(nil, slow))
		}
	})
}

// The fast path is the one requests take: a fallback taken every time
// would pass FuzzParseJSONFast and make nothing faster.
func TestParseJSONFastTakesRequestsAndSpecs(t *testing.T) {
	for _, doc := range []string{
		string(statusBatchBody(t)),
		`{"kind": "Service", "name": "web", "image": "demo", "replicas": 2, "resources": {"cpu": "500m", "memory": "128Mi"}, "env": {"A": "é\u00e9"}}`,
		`{"a":1,"a":2}`, // duplicates are for the walk to refuse, with their path
	} {
		if _, ok := parseJSONFast([]byte(doc)); !ok {
			t.Errorf("the fast parse did not take %s", doc)
		}
	}
	for _, doc := range []string{`{"a":1} {"b":2}`, "\"\xff\"", `{"a":1,}`, `1e400`} {
		if _, ok := parseJSONFast([]byte(doc)); ok {
			t.Errorf("the fast parse took %q; it must leave it to encoding/json", doc)
		}
	}
}
