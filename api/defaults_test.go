package api

import (
	"encoding/json"
	"reflect"
	"strings"
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
			Policy: "always", MaxRestarts: ptr(5), Window: Duration(5 * time.Minute),
			Backoff: Duration(time.Second), MaxBackoff: Duration(time.Minute),
		},
		Rollout: RolloutSpec{
			Strategy:        "ramped",
			RevisionHistory: ptr(10),
			Ramped: &RampedRollout{
				MaxSurge:         &IntOrPercent{Value: 25, Percent: true},
				MaxUnavailable:   &IntOrPercent{},
				ProgressDeadline: ptr(Duration(10 * time.Minute)),
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
			if *s.Autoscale.Tolerance != 10 || *s.Autoscale.StabilizationWindow != Duration(5*time.Minute) {
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
			if *r.MaxSurge != (IntOrPercent{}) || *r.MaxUnavailable != (IntOrPercent{Value: 1}) {
				t.Errorf("ramped = %+v, want maxSurge 0, maxUnavailable 1", *r)
			}
		}},
		{"blue-green block created", "rollout: {strategy: blue-green, analysis: {maxErrorRate: 1%}}", func(t *testing.T, s ServiceSpec) {
			want := &BlueGreen{ScaleDownDelay: ptr(Duration(30 * time.Second))}
			if !reflect.DeepEqual(s.Rollout.BlueGreen, want) || s.Rollout.Ramped != nil {
				t.Errorf("rollout = %+v", s.Rollout)
			}
			if a := s.Rollout.Analysis; a.Interval != Duration(10*time.Second) || *a.FailureLimit != 2 {
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

// A value written is the value used: where 0 means something it stays 0,
// and only a field left out (or null) gets the default.
func TestSetDefaultsKeepsWrittenZeros(t *testing.T) {
	zeros := decodeOne(t, minimalDoc+`restart: {maxRestarts: 0}
autoscale: {min: 0, max: 8, metric: rps, target: 50, tolerance: 0%, stabilizationWindow: 0}
rollout: {strategy: blue-green, blueGreen: {scaleDownDelay: 0}}
`)
	for _, tc := range []struct {
		field     string
		got, want any
	}{
		{"restart.maxRestarts", *zeros.Restart.MaxRestarts, 0},
		{"autoscale.min", zeros.Autoscale.Min, 0},
		{"autoscale.tolerance", *zeros.Autoscale.Tolerance, Percent(0)},
		{"autoscale.stabilizationWindow", *zeros.Autoscale.StabilizationWindow, Duration(0)},
		{"rollout.blueGreen.scaleDownDelay", *zeros.Rollout.BlueGreen.ScaleDownDelay, Duration(0)},
		{"replicas (from autoscale.min)", zeros.ReplicaCount(), 0},
	} {
		if tc.got != tc.want {
			t.Errorf("%s written as 0 is %v, want %v", tc.field, tc.got, tc.want)
		}
	}

	for name, doc := range map[string]string{
		"left out": minimalDoc + "autoscale: {max: 8, metric: cpu, target: 50}\nrollout: {strategy: blue-green}\n",
		"null":     minimalDoc + "restart: {maxRestarts: null}\nautoscale: {min: null, max: 8, metric: cpu, target: 50, tolerance: null, stabilizationWindow: null}\nrollout: {strategy: blue-green, revisionHistory: null, blueGreen: {scaleDownDelay: null}}\n",
	} {
		s := decodeOne(t, doc)
		for _, tc := range []struct {
			field     string
			got, want any
		}{
			{"restart.maxRestarts", *s.Restart.MaxRestarts, 5},
			{"autoscale.min", s.Autoscale.Min, 1},
			{"autoscale.tolerance", *s.Autoscale.Tolerance, Percent(10)},
			{"autoscale.stabilizationWindow", *s.Autoscale.StabilizationWindow, Duration(5 * time.Minute)},
			{"rollout.revisionHistory", *s.Rollout.RevisionHistory, 10},
			{"rollout.blueGreen.scaleDownDelay", *s.Rollout.BlueGreen.ScaleDownDelay, Duration(30 * time.Second)},
			{"replicas (from autoscale.min)", s.ReplicaCount(), 1},
		} {
			if tc.got != tc.want {
				t.Errorf("%s: %s is %v, want the default %v", name, tc.field, tc.got, tc.want)
			}
		}
	}
}

// HPA's minReplicas defaults to 1: an autoscale block without min is a
// valid cpu autoscaler, not a refused scale to zero.
func TestAutoscaleMinLeftOutIsOne(t *testing.T) {
	s := decodeOne(t, minimalDoc+"autoscale: {max: 5, metric: cpu, target: 50}\n")
	if s.Autoscale.Min != 1 || s.ReplicaCount() != 1 {
		t.Fatalf("min %d, replicas %d; want 1 and 1", s.Autoscale.Min, s.ReplicaCount())
	}
	// The same in every JSON decoding, strict or not (the API client
	// reads responses with encoding/json).
	var a Autoscale
	if err := json.Unmarshal([]byte(`{"max": 5, "metric": "cpu", "target": 50}`), &a); err != nil || a.Min != 1 {
		t.Fatalf("json.Unmarshal without min: %+v, %v; want min 1", a, err)
	}
	if err := json.Unmarshal([]byte(`{"min": 0, "max": 5, "metric": "rps", "target": 50}`), &a); err != nil || a.Min != 0 {
		t.Fatalf("json.Unmarshal with min 0: %+v, %v; want min 0", a, err)
	}
	// The walk still checks the block field by field.
	_, err := DecodeServices("web.yaml", []byte(minimalDoc+"autoscale: {minn: 0, max: 5, metric: rps, target: 50}\n"))
	wantFieldError(t, err, "web.yaml", "spec.autoscale.minn", `unknown field (did you mean "min"?)`)
	_, err = DecodeServices("web.yaml", []byte(minimalDoc+"autoscale: {min: 1.5, max: 5, metric: rps, target: 50}\n"))
	wantFieldError(t, err, "web.yaml", "spec.autoscale.min", "must be a whole number")
	_, err = DecodeServices("web.yaml", []byte(minimalDoc+"autoscale: 3\n"))
	wantFieldError(t, err, "web.yaml", "spec.autoscale", "must be an object, got the number 3")
}

// A spec built in Go without SetDefaults reads as the defaults through
// the OrDefault methods, as the cluster reads it.
func TestOrDefaultReadsUnsetAsTheDefault(t *testing.T) {
	var s ServiceSpec
	a, r, b, an := Autoscale{}, RampedRollout{}, BlueGreen{}, AnalysisConfig{}
	for _, tc := range []struct {
		field     string
		got, want any
	}{
		{"restart.maxRestarts", s.Restart.MaxRestartsOrDefault(), 5},
		{"autoscale.tolerance", a.ToleranceOrDefault(), Percent(10)},
		{"autoscale.stabilizationWindow", a.StabilizationWindowOrDefault(), Duration(5 * time.Minute)},
		{"rollout.revisionHistory", s.Rollout.RevisionHistoryOrDefault(), 10},
		{"rollout.ramped.progressDeadline", r.ProgressDeadlineOrDefault(), Duration(10 * time.Minute)},
		{"rollout.blueGreen.scaleDownDelay", b.ScaleDownDelayOrDefault(), Duration(30 * time.Second)},
		{"rollout.analysis.failureLimit", an.FailureLimitOrDefault(), 2},
	} {
		if tc.got != tc.want {
			t.Errorf("unset %s reads %v, want %v", tc.field, tc.got, tc.want)
		}
	}
	b.ScaleDownDelay = ptr(Duration(0))
	if got := b.ScaleDownDelayOrDefault(); got != 0 {
		t.Errorf("scaleDownDelay set to 0 reads %s, want 0s", got)
	}
}

// The specs an earlier version stored in Raft (and printed with get -o
// json) wrote every defaulted field with its value. They decode to the
// spec the same document gives today, and encode back byte for byte, so a
// leader of this version reads the stored state as the old one wrote it
// and sees no change in it.
func TestSpecStoredByEarlierVersionDecodesTheSame(t *testing.T) {
	for _, tc := range []struct {
		name, doc, stored string
	}{
		{"canary", canaryExample,
			`{"kind":"Service","name":"web","namespace":"default","image":"flotilla.local/demo:v1","args":["--version","v1"],"replicas":3,"resources":{"cpu":"250m","memory":"64Mi"},"ports":[{"name":"http","port":8080,"protocol":"http"}],"env":{"COLOR":"blue"},"loadBalancing":"round-robin","placement":{"strategy":"spread","constraints":["zone != b"]},"probes":{"startup":{"http":{"path":"/healthz","port":"http"},"period":"1s","timeout":"1s","successThreshold":1,"failureThreshold":30},"readiness":{"http":{"path":"/ready","port":"http"},"period":"2s","timeout":"1s","successThreshold":1,"failureThreshold":3},"liveness":{"tcp":{"port":"http"},"period":"5s","timeout":"1s","successThreshold":1,"failureThreshold":3}},"restart":{"policy":"on-failure","maxRestarts":5,"window":"5m","backoff":"1s","maxBackoff":"1m"},"autoscale":{"min":2,"max":10,"metric":"inflight","target":20,"tolerance":"10%","stabilizationWindow":"5m"},"rollout":{"strategy":"canary","revisionHistory":10,"canary":{"steps":[{"weight":10,"pause":"30s"},{"weight":50,"pause":"manual"},{"weight":100}],"sticky":true},"analysis":{"interval":"10s","maxErrorRate":"1%","maxP99Latency":"300ms","failureLimit":2}}}`},
		{"blue-green", minimalDoc + "rollout: {strategy: blue-green, blueGreen: {autoPromoteAfter: 90s}, analysis: {maxP99Latency: 250ms}}\n",
			`{"kind":"Service","name":"web","namespace":"default","image":"demo","replicas":1,"resources":{"cpu":"100m","memory":"64Mi"},"loadBalancing":"round-robin","placement":{"strategy":"spread"},"probes":{},"restart":{"policy":"always","maxRestarts":5,"window":"5m","backoff":"1s","maxBackoff":"1m"},"rollout":{"strategy":"blue-green","revisionHistory":10,"blueGreen":{"autoPromoteAfter":"1m30s","scaleDownDelay":"30s"},"analysis":{"interval":"10s","maxP99Latency":"250ms","failureLimit":2}}}`},
		{"scale to zero, ramped", minimalDoc + "restart: {policy: on-failure}\nautoscale: {min: 0, max: 5, metric: rps, target: 50, forecast: {season: 10m, lookahead: 1m}}\n",
			`{"kind":"Service","name":"web","namespace":"default","image":"demo","replicas":0,"resources":{"cpu":"100m","memory":"64Mi"},"loadBalancing":"round-robin","placement":{"strategy":"spread"},"probes":{},"restart":{"policy":"on-failure","maxRestarts":5,"window":"5m","backoff":"1s","maxBackoff":"1m"},"autoscale":{"min":0,"max":5,"metric":"rps","target":50,"tolerance":"10%","stabilizationWindow":"5m","forecast":{"season":"10m","lookahead":"1m"}},"rollout":{"strategy":"ramped","revisionHistory":10,"ramped":{"maxSurge":"25%","maxUnavailable":0,"progressDeadline":"10m"}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := decodeOne(t, tc.doc)
			// As the state store restores it: plain encoding/json.
			var stored ServiceSpec
			if err := json.Unmarshal([]byte(tc.stored), &stored); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(stored, want) {
				t.Errorf("stored spec decodes to\n%+v\nwant\n%+v", stored, want)
			}
			if err := stored.Validate(); err != nil {
				t.Errorf("stored spec does not validate: %v", err)
			}
			again := stored
			again.SetDefaults()
			if !reflect.DeepEqual(again, stored) {
				t.Errorf("SetDefaults changed the stored spec:\n%+v\nwant\n%+v", again, stored)
			}
			if data, err := json.Marshal(stored); err != nil || string(data) != tc.stored {
				t.Errorf("encodes back as\n%s (%v)\nwant\n%s", data, err, tc.stored)
			}
			// As apply takes what an earlier get -o json printed.
			applied, err := DecodeServiceJSON("stored", []byte(tc.stored))
			if err != nil || !reflect.DeepEqual(applied, want) {
				t.Errorf("applied again: %+v, %v; want %+v", applied, err, want)
			}
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
		"shadow": minimalDoc + "ports: [{name: http, port: 80, protocol: http}]\n" +
			"rollout: {strategy: shadow, shadow: {percent: 20%, compare: {body: true, ignoreJSONFields: [time]}}, analysis: {maxDiffRate: 1%}}\n",
		"shadow written": minimalDoc + "ports: [{name: http, port: 80, protocol: http}]\n" +
			"rollout: {strategy: shadow, shadow: {percent: 100%, methods: [GET, POST], baseline: 0%, replicas: 2}}\n",
		// ab, configs and secrets are refused until they run (see
		// validate.go).
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
		// A written 0 is kept, printed and read back as 0.
		"written zeros": minimalDoc + `restart: {maxRestarts: 0}
autoscale: {min: 0, max: 8, metric: rps, target: 50, tolerance: 0, stabilizationWindow: 0s}
rollout: {strategy: blue-green, blueGreen: {scaleDownDelay: 0s}}
`,
		"autoscale min left out": minimalDoc + "autoscale: {max: 5, metric: cpu, target: 50}\n",
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

// get -o yaml prints a written 0 and every default explicitly, so that
// applying it back means the same.
func TestDefaultedSpecPrintsZerosAndDefaults(t *testing.T) {
	specs := defaultedSpecs(t)
	for name, want := range map[string][]string{
		"written zeros":          {"maxRestarts: 0\n", "min: 0\n", "tolerance: 0%\n", "stabilizationWindow: 0s\n", "scaleDownDelay: 0s\n"},
		"minimal":                {"maxRestarts: 5\n", "revisionHistory: 10\n", "progressDeadline: 10m\n"},
		"autoscale min left out": {"min: 1\n", "replicas: 1\n", "tolerance: 10%\n", "stabilizationWindow: 5m\n"},
		"blue-green":             {"scaleDownDelay: 30s\n", "failureLimit: 2\n"},
	} {
		data, err := json.Marshal(specs[name])
		if err != nil {
			t.Fatal(err)
		}
		y, err := yaml.JSONToYAML(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range want {
			if !strings.Contains(string(y), line) {
				t.Errorf("%s: YAML has no %q:\n%s", name, strings.TrimSpace(line), y)
			}
		}
	}
}
