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
