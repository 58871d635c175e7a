package api

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

func TestSetDefaultsMinimal(t *testing.T) {
	got := decodeOne(t, minimalDoc)
	want := ServiceSpec{
		Kind:          "Service",
		Name:          "web",
		Namespace:     "default",
		Image:         "demo",
		Replicas:      ptr(1),
		Resources:     Resources{CPU: 100, Memory: 64 << 20},
		LoadBalancing: BalanceRoundRobin,
		Placement:     PlacementSpec{Strategy: "spread"},
		Restart: RestartPolicy{
			Policy: "always", MaxRestarts: 5, Window: Duration(5 * time.Minute),
			Backoff: Duration(time.Second), MaxBackoff: Duration(time.Minute),
		},
		Rollout: RolloutSpec{
			Strategy:        "ramped",
			RevisionHistory: 10,
			Ramped: &RampedRollout{
				MaxSurge:         IntOrPercent{Value: 25, Percent: true},
				ProgressDeadline: Duration(10 * time.Minute),
			},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("defaults\n got %+v\nwant %+v", got, want)
	}
}

func TestSetDefaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		doc   string // added to minimalDoc
		check func(t *testing.T, s ServiceSpec)
	}{
		{"port protocol tcp", "ports: [{name: db, port: 5432}]", func(t *testing.T, s ServiceSpec) {
			if s.Ports[0].Protocol != "tcp" {
				t.Errorf("protocol = %q, want tcp", s.Ports[0].Protocol)
			}
		}},
		{"probes follow Kubernetes", "probes: {readiness: {http: {port: 8080}}, liveness: {exec: {command: [check]}, period: 30s}}", func(t *testing.T, s ServiceSpec) {
			want := Probe{
				HTTP:   &HTTPProbe{Path: "/", Port: PortRef{Number: 8080}},
				Period: Duration(10 * time.Second), Timeout: Duration(time.Second),
				SuccessThreshold: 1, FailureThreshold: 3,
			}
			if !reflect.DeepEqual(*s.Probes.Readiness, want) {
				t.Errorf("readiness = %+v, want %+v", *s.Probes.Readiness, want)
			}
			if l := s.Probes.Liveness; l.Period != Duration(30*time.Second) || l.Timeout != Duration(time.Second) || l.FailureThreshold != 3 {
				t.Errorf("liveness = %+v", *l)
			}
			if s.Probes.Startup != nil {
				t.Error("startup probe created")
			}
		}},
		{"replicas from autoscale min", "autoscale: {min: 3, max: 6, metric: inflight, target: 70}", func(t *testing.T, s ServiceSpec) {
			if s.ReplicaCount() != 3 {
				t.Errorf("replicas = %d, want autoscale.min 3", s.ReplicaCount())
			}
			if s.Autoscale.Tolerance != 10 || s.Autoscale.StabilizationWindow != Duration(5*time.Minute) {
				t.Errorf("autoscale = %+v", *s.Autoscale)
			}
		}},
		{"written replicas stay", "replicas: 4\nautoscale: {min: 3, max: 6, metric: inflight, target: 70}", func(t *testing.T, s ServiceSpec) {
			if s.ReplicaCount() != 4 {
				t.Errorf("replicas = %d, want 4", s.ReplicaCount())
			}
		}},
		{"zero replicas stay", "replicas: 0", func(t *testing.T, s ServiceSpec) {
			if s.Replicas == nil || *s.Replicas != 0 {
				t.Errorf("replicas = %v, want 0", s.Replicas)
			}
		}},
		{"long backoff raises max backoff", "restart: {backoff: 2m}", func(t *testing.T, s ServiceSpec) {
			if s.Restart.MaxBackoff != Duration(2*time.Minute) {
				t.Errorf("maxBackoff = %s, want 2m", s.Restart.MaxBackoff)
			}
		}},
		{"ramped keeps a written maxUnavailable alone", "rollout: {ramped: {maxUnavailable: 1}}", func(t *testing.T, s ServiceSpec) {
			r := s.Rollout.Ramped
			if r.MaxSurge != (IntOrPercent{}) || r.MaxUnavailable != (IntOrPercent{Value: 1}) {
				t.Errorf("ramped = %+v, want maxSurge 0, maxUnavailable 1", *r)
			}
		}},
		{"blue-green block created", "rollout: {strategy: blue-green, analysis: {maxErrorRate: 1%}}", func(t *testing.T, s ServiceSpec) {
			want := &BlueGreen{ScaleDownDelay: Duration(30 * time.Second)}
			if !reflect.DeepEqual(s.Rollout.BlueGreen, want) || s.Rollout.Ramped != nil {
				t.Errorf("rollout = %+v", s.Rollout)
			}
			if a := s.Rollout.Analysis; a.Interval != Duration(10*time.Second) || a.FailureLimit != 2 {
				t.Errorf("analysis = %+v", *a)
			}
		}},
		{"canary steps kept", "rollout: {strategy: canary, canary: {steps: [{weight: 100}]}}", func(t *testing.T, s ServiceSpec) {
			if s.Rollout.Ramped != nil || len(s.Rollout.Canary.Steps) != 1 || s.Rollout.Analysis != nil {
				t.Errorf("rollout = %+v", s.Rollout)
			}
		}},
		{"empty lists dropped", "args: []\nenv: {}\nports: []\nplacement: {constraints: []}", func(t *testing.T, s ServiceSpec) {
			if s.Args != nil || s.Env != nil || s.Ports != nil || s.Placement.Constraints != nil {
				t.Errorf("empty lists kept: %+v", s)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, decodeOne(t, minimalDoc+tc.doc+"\n"))
		})
	}
}

func TestSetDefaultsKeepsKind(t *testing.T) {
	s := ServiceSpec{Name: "web"}
	s.SetDefaults()
	if s.Kind != "" {
		t.Fatalf("kind = %q, want it left empty", s.Kind)
	}
}

// defaultedSpecs covers every strategy that runs and every optional block.
func defaultedSpecs(t *testing.T) map[string]ServiceSpec {
	t.Helper()
	docs := map[string]string{
		"minimal":    minimalDoc,
		"contract":   canaryExample,
		"ramped":     minimalDoc + "rollout: {ramped: {maxSurge: 1, maxUnavailable: 10%, minReady: 5s, autoRollback: true}}\n",
		"blue-green": minimalDoc + "rollout: {strategy: blue-green, blueGreen: {autoPromoteAfter: 90s}, analysis: {maxP99Latency: 250ms}}\n",
		// ab and shadow, configs and secrets are refused until they run
		// (see validate.go).
		"everything": minimalDoc + `command: [/bin/app]
clusterIP: none
ports: [{name: http, port: 80, protocol: http, hostPort: 8080}, {name: metrics, port: 9100}]
placement: {strategy: binpack, constraints: ["zone in (a, b)", "node.name != n2"]}
probes:
  startup: {exec: {command: [/bin/check, --startup]}, initialDelay: 2s}
  readiness: {http: {port: http, path: /ready, headers: {X-Probe: "1"}}, successThreshold: 2, timeout: 500ms}
  liveness: {tcp: {port: 80}}
restart: {policy: never, maxRestarts: 1, window: 1h, backoff: 250ms, maxBackoff: 10s}
autoscale: {min: 1, max: 100, metric: rps, target: 80.5, tolerance: 5%, stabilizationWindow: 90s, forecast: {season: 10m, lookahead: 1m}}
`,
	}
	specs := map[string]ServiceSpec{}
	for name, doc := range docs {
		specs[name] = decodeOne(t, doc)
	}
	return specs
}

func TestSetDefaultsIsIdempotent(t *testing.T) {
	for name, once := range defaultedSpecs(t) {
		// A deep copy through JSON, so that the second call cannot touch once.
		data, err := json.Marshal(once)
		if err != nil {
			t.Fatal(err)
		}
		var twice ServiceSpec
		if err := json.Unmarshal(data, &twice); err != nil {
			t.Fatal(err)
		}
		twice.SetDefaults()
		twice.SetDefaults()
		if !reflect.DeepEqual(once, twice) {
			t.Errorf("%s: SetDefaults twice\n got %+v\nwant %+v", name, twice, once)
		}
	}
}

// A defaulted spec written out as JSON (what the API returns) or YAML (what
// "get -o yaml" prints) decodes to itself, so it can be applied again.
func TestDefaultedSpecRoundTrips(t *testing.T) {
	for name, spec := range defaultedSpecs(t) {
		data, err := json.Marshal(spec)
		if err != nil {
			t.Fatalf("%s: marshal: %v", name, err)
		}
		back, err := DecodeServiceJSON("round trip", data)
		if err != nil {
			t.Fatalf("%s: decode %s: %v", name, data, err)
		}
		if !reflect.DeepEqual(back, spec) {
			t.Errorf("%s: JSON round trip\n got %+v\nwant %+v\njson %s", name, back, spec, data)
		}

		y, err := yaml.JSONToYAML(data)
		if err != nil {
			t.Fatalf("%s: to YAML: %v", name, err)
		}
		specs, err := DecodeServices("round-trip.yaml", y)
		if err != nil {
			t.Fatalf("%s: decode YAML:\n%s\n%v", name, y, err)
		}
		if !reflect.DeepEqual(specs[0], spec) {
			t.Errorf("%s: YAML round trip\n got %+v\nwant %+v\nyaml:\n%s", name, specs[0], spec, y)
		}
	}
}
