package api

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// contractExample is the full service document, as the first design had
// it. It carries every rollout block "for reference", so it is not a valid
// spec as it stands.
const contractExample = `kind: Service
name: web                      # DNS label: [a-z0-9-], ≤ 63
namespace: default
image: flotilla.local/demo:v1  # registry ref, oci-archive:PATH, or the demo image
args: ["--version", "v1"]
replicas: 3
resources: {cpu: 250m, memory: 64Mi}
ports: [{name: http, port: 8080, protocol: http}]   # http | tcp
env: {COLOR: blue}
configs: [{name: web-config, path: /etc/web}]
secrets: [{name: db-password, env: {DB_PASSWORD: password}}]
placement: {strategy: spread, constraints: ["zone != b"]}   # spread | binpack
probes:
  startup:   {http: {path: /healthz, port: http}, period: 1s, failureThreshold: 30}
  readiness: {http: {path: /ready, port: http}, period: 2s}
  liveness:  {tcp: {port: http}, period: 5s, failureThreshold: 3}
restart: {policy: on-failure, maxRestarts: 5, backoff: 1s}  # always | on-failure | never
autoscale: {min: 2, max: 10, metric: inflight, target: 20}  # cpu | memory | inflight | rps
rollout:                       # every block shown for reference; a spec carries only its strategy's
  strategy: canary             # ramped | blue-green | canary | ab | shadow
  revisionHistory: 10
  ramped:    {maxSurge: 25%, maxUnavailable: 0, minReady: 5s, progressDeadline: 10m, autoRollback: true}
  blueGreen: {autoPromoteAfter: 60s, scaleDownDelay: 30s}          # omit autoPromoteAfter: manual promote
  canary:    {steps: [{weight: 10, pause: 30s}, {weight: 50, pause: manual}, {weight: 100}], sticky: true}
  ab:        {match: [{header: {name: X-Group, exact: beta}}, {cookie: {name: variant, exact: b}}], goal: {path: /checkout, method: POST}, autoPromote: true}
  shadow:    {percent: 50, compare: {status: true, body: true, ignoreHeaders: [Date], ignoreJSONFields: [time]}}
  analysis:  {interval: 10s, maxErrorRate: 1%, maxP99Latency: 300ms, maxDiffRate: 1%, failureLimit: 2}
`

// canaryExample is the Contract example as a real spec carries it: only the
// canary block, an analysis without maxDiffRate (which only a shadow
// rollout measures), and no configs or secrets (whose objects it would
// wait for).
var canaryExample = keepLines(contractExample, func(line string) bool {
	for _, other := range []string{"ramped:", "blueGreen:", "ab:", "shadow:", "configs:", "secrets:"} {
		if strings.HasPrefix(strings.TrimSpace(line), other) {
			return false
		}
	}
	return true
}, "maxDiffRate: 1%, ", "")

func keepLines(text string, keep func(string) bool, old, new string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if keep(line) {
			out = append(out, strings.Replace(line, old, new, 1))
		}
	}
	return strings.Join(out, "\n")
}

func ptr[T any](v T) *T { return &v }

func seconds(n float64) Duration { return Duration(n * float64(time.Second)) }

// canaryExampleSpec is canaryExample decoded, defaults included.
func canaryExampleSpec() ServiceSpec {
	return ServiceSpec{
		Kind:          "Service",
		Name:          "web",
		Namespace:     "default",
		Image:         "flotilla.local/demo:v1",
		Args:          []string{"--version", "v1"},
		Replicas:      ptr(3),
		Resources:     Resources{CPU: 250, Memory: 64 << 20},
		Ports:         []Port{{Name: "http", Port: 8080, Protocol: "http"}},
		Env:           map[string]string{"COLOR": "blue"},
		LoadBalancing: BalanceRoundRobin,
		Placement: PlacementSpec{
			Strategy:    "spread",
			Constraints: []Constraint{{Key: "zone", Op: OpNotEqual, Values: []string{"b"}}},
		},
		Probes: Probes{
			Startup: &Probe{
				HTTP:   &HTTPProbe{Path: "/healthz", Port: PortRef{Name: "http"}},
				Period: seconds(1), Timeout: seconds(1), SuccessThreshold: 1, FailureThreshold: 30,
			},
			Readiness: &Probe{
				HTTP:   &HTTPProbe{Path: "/ready", Port: PortRef{Name: "http"}},
				Period: seconds(2), Timeout: seconds(1), SuccessThreshold: 1, FailureThreshold: 3,
			},
			Liveness: &Probe{
				TCP:    &TCPProbe{Port: PortRef{Name: "http"}},
				Period: seconds(5), Timeout: seconds(1), SuccessThreshold: 1, FailureThreshold: 3,
			},
		},
		Restart: RestartPolicy{
			Policy: "on-failure", MaxRestarts: ptr(5), Window: seconds(300), Backoff: seconds(1), MaxBackoff: seconds(60),
		},
		Autoscale: &Autoscale{
			Min: 2, Max: 10, Metric: "inflight", Target: 20,
			Tolerance: ptr(Percent(10)), StabilizationWindow: ptr(seconds(300)),
		},
		Rollout: RolloutSpec{
			Strategy:        "canary",
			RevisionHistory: ptr(10),
			Canary: &CanaryRollout{
				Steps: []CanaryStep{
					{Weight: 10, Pause: &Pause{Duration: seconds(30)}},
					{Weight: 50, Pause: &Pause{Manual: true}},
					{Weight: 100},
				},
				Sticky: true,
			},
			Analysis: &AnalysisConfig{
				Interval:      seconds(10),
				MaxErrorRate:  ptr(Percent(1)),
				MaxP99Latency: Duration(300 * time.Millisecond),
				FailureLimit:  ptr(2),
			},
		},
	}
}

func decodeOne(t *testing.T, doc string) ServiceSpec {
	t.Helper()
	specs, err := DecodeServices("test.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("DecodeServices: %v", err)
	}
	if len(specs) != 1 {
		t.Fatalf("DecodeServices: %d specs, want 1", len(specs))
	}
	return specs[0]
}

// asFieldError fails the test unless err is a *FieldError.
func asFieldError(t *testing.T, err error) *FieldError {
	t.Helper()
	if err == nil {
		t.Fatal("no error, want a *FieldError")
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v is a %T, want *FieldError", err, err)
	}
	return fe
}

func wantFieldError(t *testing.T, err error, source, field, message string) {
	t.Helper()
	fe := asFieldError(t, err)
	if fe.Source != source || fe.Field != field || !strings.Contains(fe.Message, message) {
		t.Fatalf("error = %q\n(source %q, field %q, message %q)\nwant source %q, field %q, message containing %q",
			err, fe.Source, fe.Field, fe.Message, source, field, message)
	}
}

func TestDecodeContractExample(t *testing.T) {
	got := decodeOne(t, canaryExample)
	if want := canaryExampleSpec(); !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded spec differs\n got %+v\nwant %+v", got, want)
	}
}

// The Contract example shows every rollout block; a real spec may carry
// only its strategy's.
func TestDecodeContractExampleRefusesOtherStrategiesBlocks(t *testing.T) {
	_, err := DecodeServices("web.yaml", []byte(contractExample))
	wantFieldError(t, err, "web.yaml", "spec.rollout.ramped", "only used by strategy ramped (strategy is canary)")

	for _, tc := range []struct {
		line, field, message string
	}{
		{"  ramped:    {maxSurge: 25%, maxUnavailable: 0}", "spec.rollout.ramped", "only used by strategy ramped (strategy is canary)"},
		{"  blueGreen: {autoPromoteAfter: 60s, scaleDownDelay: 30s}", "spec.rollout.blueGreen", "only used by strategy blue-green (strategy is canary)"},
		{"  ab:        {match: [{header: {name: X-Group, exact: beta}}]}", "spec.rollout.ab", "only used by strategy ab (strategy is canary)"},
		{"  shadow:    {percent: 50}", "spec.rollout.shadow", "only used by strategy shadow (strategy is canary)"},
	} {
		doc := canaryExample + tc.line + "\n"
		_, err := DecodeServices("web.yaml", []byte(doc))
		wantFieldError(t, err, "web.yaml", tc.field, tc.message)
	}

	withDiffRate := strings.Replace(canaryExample, "failureLimit: 2", "failureLimit: 2, maxDiffRate: 1%", 1)
	_, err = DecodeServices("web.yaml", []byte(withDiffRate))
	wantFieldError(t, err, "web.yaml", "spec.rollout.analysis.maxDiffRate", "only used by strategy shadow (strategy is canary)")
}

const minimalDoc = "kind: Service\nname: web\nimage: demo\n"

func TestDecodeMultipleDocuments(t *testing.T) {
	data := "# two services\n---\n" + minimalDoc + "--- # the second\n" +
		"kind: Service\nname: api\nimage: demo\nports: [{name: http, port: 0}]\n"
	_, err := DecodeServices("web.yaml", []byte(data))
	wantFieldError(t, err, "web.yaml: document 2", "spec.ports[0].port", "must be between 1 and 65535")
	if got, want := err.Error(), "web.yaml: document 2: spec.ports[0].port: must be between 1 and 65535"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

func TestDecodeSkipsEmptyDocuments(t *testing.T) {
	data := "---\n" + minimalDoc + "---\n---\n# nothing here\n---   \n" +
		strings.Replace(minimalDoc, "web", "api", 1) + "---\n"
	specs, err := DecodeServices("web.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 2 || specs[0].Name != "web" || specs[1].Name != "api" {
		t.Fatalf("specs = %+v, want web and api", specs)
	}

	// Empty documents do not count: the bad one is the second.
	bad := "---\n" + minimalDoc + "---\n\n---\nkind: Service\nname: Api\nimage: demo\n"
	_, err = DecodeServices("web.yaml", []byte(bad))
	wantFieldError(t, err, "web.yaml: document 2", "spec.name", `invalid name "Api"`)
}

func TestDecodeSingleDocumentSourceHasNoNumber(t *testing.T) {
	_, err := DecodeServices("web.yaml", []byte("---\nkind: Service\nname: web\n"))
	wantFieldError(t, err, "web.yaml", "spec.image", "required")
}

func TestDecodeNoDocuments(t *testing.T) {
	for _, data := range []string{"", "\n\n", "# only a comment\n", "---\n---\n", "null\n", "[]"} {
		_, err := DecodeServices("empty.yaml", []byte(data))
		wantFieldError(t, err, "empty.yaml", "", "no service document")
	}
}

func TestDecodeUnknownFields(t *testing.T) {
	for _, tc := range []struct {
		name, doc, field, message string
	}{
		{"deep", minimalDoc + "ports: [{name: http, port: 80}]\nprobes:\n  readiness:\n    http: {prt: http}\n",
			"spec.probes.readiness.http.prt", `unknown field (did you mean "port"?)`},
		{"top level", minimalDoc + "replica: 2\n", "spec.replica", `unknown field (did you mean "replicas"?)`},
		{"case matters", minimalDoc + "Replicas: 2\n", "spec.Replicas", `unknown field (did you mean "replicas"?)`},
		{"no near name", minimalDoc + "colour: blue\n", "spec.colour", "unknown field"},
		{"forecast", minimalDoc + "autoscale: {min: 1, max: 3, metric: rps, target: 8, forecast: {season: 10m, lookahed: 1m}}\n",
			"spec.autoscale.forecast.lookahed", `unknown field (did you mean "lookahead"?)`},
		{"spec wrapper", "kind: Service\nspec: {name: web}\n", "spec.spec", "unknown field"},
		{"in a list", minimalDoc + "ports: [{name: http, port: 80, portocol: tcp}]\n", "spec.ports[0].portocol", `did you mean "protocol"?`},
		{"odd key", minimalDoc + "resources: {cpu: 1, \"mem ory\": 1Gi}\n", `spec.resources["mem ory"]`, "unknown field"},
		{"rollout block", minimalDoc + "rollout: {strategy: canary, canary: {steps: [{weight: 10, wait: 5s}]}}\n",
			"spec.rollout.canary.steps[0].wait", "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeServices("web.yaml", []byte(tc.doc))
			wantFieldError(t, err, "web.yaml", tc.field, tc.message)
		})
	}
}

func TestDecodeWrongTypes(t *testing.T) {
	for _, tc := range []struct {
		name, doc, field, message string
	}{
		{"word for int", "replicas: three", "spec.replicas", `must be a whole number, got the string "three"`},
		{"fraction for int", "replicas: 1.5", "spec.replicas", "must be a whole number, got 1.5"},
		{"huge int", "replicas: 99999999999999999999", "spec.replicas", "out of range"},
		{"object for list", "ports: {name: http}", "spec.ports", "must be a list, got an object"},
		{"string for port", `ports: [{name: http, port: "8080"}]`, "spec.ports[0].port", `must be a whole number, got the string "8080"`},
		{"number in args", "args: [--port, 8080]", "spec.args[1]", `must be a string, got a number (quote it: "8080")`},
		{"number in env", "env: {PORT: 8080}", "spec.env.PORT", "must be a string, got a number"},
		{"bool in env", "env: {DEBUG: true}", "spec.env.DEBUG", "must be a string, got a boolean"},
		{"null in env", "env: {DEBUG: }", "spec.env.DEBUG", "must be a string, got null"},
		{"null in args", "args: [a, null]", "spec.args[1]", "must be a string, got null"},
		{"list for string", "image: [demo]", "spec.name", "must be a string, got a list"},
		{"number for name", "name: 12", "spec.name", "must be a string, got a number"},
		{"bool for forecast", "autoscale: {min: 1, max: 3, metric: rps, target: 8, forecast: true}", "spec.autoscale.forecast", "must be an object, got the boolean true"},
		{"yes is a string", "rollout: {strategy: canary, canary: {steps: [{weight: 100}], sticky: yes}}",
			"spec.rollout.canary.sticky", `must be true or false, got the string "yes"`},
		{"list for object", "rollout: {canary: [1]}", "spec.rollout.canary", "must be an object, got a list"},
		{"bad cpu", "resources: {cpu: 25x}", "spec.resources.cpu", `invalid cpu quantity "25x" (want e.g. 250m or 1.5)`},
		{"bad memory", "resources: {memory: lots}", "spec.resources.memory", `invalid memory quantity "lots"`},
		{"bad duration", "probes: {readiness: {tcp: {port: 80}, period: soon}}", "spec.probes.readiness.period", `invalid duration "soon"`},
		{"bad pause", "rollout: {strategy: canary, canary: {steps: [{weight: 10, pause: 30s}, {weight: 50, pause: later}, {weight: 100}]}}",
			"spec.rollout.canary.steps[1].pause", `invalid pause "later"`},
		{"bad constraint", `placement: {constraints: ["zone ~ a"]}`, "spec.placement.constraints[0]", `invalid constraint "zone ~ a"`},
		{"bad percent", "rollout: {strategy: shadow, shadow: {percent: half}}", "spec.rollout.shadow.percent", "invalid percentage"},
		{"bad surge", "rollout: {ramped: {maxSurge: lots}}", "spec.rollout.ramped.maxSurge", "invalid count or percentage"},
		{"object for port ref", "probes: {liveness: {tcp: {port: {name: http}}}}", "spec.probes.liveness.tcp.port", "want a port name or number"},
		{"infinite number", "autoscale: {min: 1, max: 2, metric: rps, target: .inf}", "spec.autoscale.target", "must be a finite number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := "kind: Service\n" + tc.doc + "\n"
			if !strings.HasPrefix(tc.doc, "name:") && !strings.HasPrefix(tc.doc, "image:") {
				doc += "name: web\nimage: demo\n"
			}
			_, err := DecodeServices("web.yaml", []byte(doc))
			field := tc.field
			if strings.HasPrefix(tc.doc, "image:") {
				field = "spec.image"
			}
			wantFieldError(t, err, "web.yaml", field, tc.message)
		})
	}
}

func TestDecodeDuplicateKeys(t *testing.T) {
	for _, tc := range []struct {
		name, doc, field string
	}{
		{"top level", minimalDoc + "name: api\n", "spec.name"},
		{"nested", minimalDoc + "ports: [{name: http, port: 80, port: 81}]\n", "spec.ports[0].port"},
		{"map", minimalDoc + "env:\n  FOO: a\n  FOO: b\n", "spec.env.FOO"},
		{"json", `{"kind": "Service", "name": "web", "image": "demo", "kind": "Service"}`, "spec.kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeServices("web.yaml", []byte(tc.doc))
			wantFieldError(t, err, "web.yaml", tc.field, "duplicate key")
		})
	}
}

func TestDecodeNullMeansUnset(t *testing.T) {
	doc := minimalDoc + `namespace: ~
replicas: null
resources:
autoscale: null
ports: [{name: http, port: 80, protocol: null}]
probes:
  readiness: {http: {port: http, path: null}, period: null}
  liveness: null
rollout: {strategy: ~, ramped: {minReady: null}, analysis: null}
`
	got := decodeOne(t, doc)
	want := decodeOne(t, minimalDoc+"ports: [{name: http, port: 80}]\nprobes: {readiness: {http: {port: http}}}\n")
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("nulls decoded to %+v, want %+v", got, want)
	}
}

func TestDecodeJSON(t *testing.T) {
	one := `{"kind": "Service", "name": "web", "image": "flotilla.local\/demo:v1",
	"ports": [{"name": "http", "port": 8080.0}], "replicas": 2}`
	spec := decodeOne(t, one)
	if spec.Image != "flotilla.local/demo:v1" || spec.ReplicaCount() != 2 || spec.Ports[0].Port != 8080 {
		t.Fatalf("decoded %+v", spec)
	}

	list := `[{"kind": "Service", "name": "web", "image": "demo"},
	          {"kind": "Service", "name": "api", "image": "demo", "replicas": -1}]`
	_, err := DecodeServices("all.json", []byte(list))
	wantFieldError(t, err, "all.json: document 2", "spec.replicas", "must be between 0 and 1000000")

	stream := `{"kind": "Service", "name": "web", "image": "demo"}
{"kind": "Service", "name": "api", "image": "demo"}`
	specs, err := DecodeServices("all.json", []byte(stream))
	if err != nil || len(specs) != 2 {
		t.Fatalf("stream: %d specs, %v", len(specs), err)
	}

	_, err = DecodeServices("web.json", []byte("{\"kind\": \"Service\",\n\"name\": \"web\",,\n}"))
	wantFieldError(t, err, "web.json", "", "invalid JSON at line 2")

	// YAML flow style is not JSON but is still accepted.
	specs, err = DecodeServices("web.yaml", []byte("{kind: Service, name: web, image: demo}"))
	if err != nil || len(specs) != 1 {
		t.Fatalf("flow YAML: %v", err)
	}
}

func TestDecodeYAMLList(t *testing.T) {
	data := "- " + strings.ReplaceAll(strings.TrimSpace(minimalDoc), "\n", "\n  ") +
		"\n- kind: Service\n  name: api\n  image: demo\n  bogus: 1\n"
	_, err := DecodeServices("list.yaml", []byte(data))
	wantFieldError(t, err, "list.yaml: document 2", "spec.bogus", "unknown field")
}

func TestDecodeYAMLSyntaxErrorNamesDocumentAndFileLine(t *testing.T) {
	data := minimalDoc + "---\nkind: Service\nname: web: api\n"
	_, err := DecodeServices("web.yaml", []byte(data))
	fe := asFieldError(t, err)
	if fe.Source != "web.yaml: document 2" || fe.Field != "" || !strings.Contains(fe.Message, "line 6") {
		t.Fatalf("error = %q, want document 2 and file line 6", err)
	}
}

func TestDecodeAnchorsAndMerge(t *testing.T) {
	doc := minimalDoc + `ports: [{name: http, port: 80}]
probes:
  readiness: &check {http: {port: http, path: /ready}, period: 2s}
  liveness:
    <<: *check
    period: 5s
`
	spec := decodeOne(t, doc)
	if spec.Probes.Liveness.HTTP.Path != "/ready" || spec.Probes.Liveness.Period != seconds(5) ||
		spec.Probes.Readiness.Period != seconds(2) {
		t.Fatalf("probes = %+v / %+v", spec.Probes.Readiness, spec.Probes.Liveness)
	}
}

func TestDecodeRefusesHostileDocuments(t *testing.T) {
	// An alias bomb: each level repeats the previous ten times.
	var b strings.Builder
	b.WriteString(minimalDoc + "x0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 8; i++ {
		prev := "*a" + string(rune('0'+i-1))
		b.WriteString("x" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [" +
			strings.Repeat(prev+", ", 9) + prev + "]\n")
	}
	_, err := DecodeServices("bomb.yaml", []byte(b.String()))
	wantFieldError(t, err, "bomb.yaml", "", "document too large")

	deep := strings.Repeat("[", 500) + strings.Repeat("]", 500)
	var v ScaleRequest
	err = DecodeStrict("request", "", []byte(deep), &v)
	if fe := asFieldError(t, err); !strings.Contains(fe.Message, "nested too deeply") {
		t.Fatalf("deep nesting: %v", err)
	}
}

func TestDecodeWindowsLineEndingsAndBOM(t *testing.T) {
	data := "\ufeff" + strings.ReplaceAll(minimalDoc+"---\r\n"+strings.Replace(minimalDoc, "web", "api", 1), "\n", "\r\n")
	specs, err := DecodeServices("web.yaml", []byte(data))
	if err != nil || len(specs) != 2 || specs[1].Name != "api" {
		t.Fatalf("specs %+v, err %v", specs, err)
	}
}

func TestDecodeWholeNumbersWrittenAsFloats(t *testing.T) {
	spec := decodeOne(t, minimalDoc+"replicas: 2.0\n")
	if spec.ReplicaCount() != 2 {
		t.Fatalf("replicas = %d, want 2", spec.ReplicaCount())
	}
	spec, err := DecodeServiceJSON("request", []byte(`{"kind":"Service","name":"web","image":"demo","replicas":2.0}`))
	if err != nil || spec.ReplicaCount() != 2 {
		t.Fatalf("JSON replicas 2.0: %v, %v", spec.ReplicaCount(), err)
	}
}

func TestDecodeStrictRequests(t *testing.T) {
	var reg NodeRegistration
	err := DecodeStrict("request", "", []byte(`{"address": "127.0.0.1", "capacity": {"cpu": 4, "memory": "8Gi"}, "labels": {"zone": "a"}}`), &reg)
	if err != nil {
		t.Fatal(err)
	}
	want := NodeRegistration{Address: "127.0.0.1", Capacity: Resources{CPU: 4000, Memory: 8 << 30}, Labels: map[string]string{"zone": "a"}}
	if !reflect.DeepEqual(reg, want) {
		t.Fatalf("decoded %+v, want %+v", reg, want)
	}

	for _, tc := range []struct {
		name, body  string
		v           any
		field, want string
	}{
		{"unknown field", `{"capasity": {}}`, &NodeRegistration{}, "capasity", `unknown field (did you mean "capacity"?)`},
		{"case matters", `{"Replicas": 3}`, &ScaleRequest{}, "Replicas", "unknown field"},
		{"string for int", `{"replicas": "3"}`, &ScaleRequest{}, "replicas", "must be a whole number"},
		{"fraction", `{"replicas": 2.5}`, &ScaleRequest{}, "replicas", "must be a whole number, got 2.5"},
		{"nested path", `{"node": "n1", "updates": [{"id": "a", "status": "running"}, {"id": "b", "restarts": "x"}]}`,
			&AllocStatusBatch{}, "updates[1].restarts", "must be a whole number"},
		{"bad quantity", `{"capacity": {"cpu": "lots"}}`, &NodeRegistration{}, "capacity.cpu", "invalid cpu quantity"},
		{"label key", `{"labels": {"topology/zone": 1}}`, &NodeRegistration{}, `labels["topology/zone"]`, "must be a string"},
		{"duplicate", `{"enable": true, "enable": false}`, &DrainRequest{}, "enable", "duplicate key"},
		{"not an object", `[1]`, &DrainRequest{}, "", "must be an object, got a list"},
		{"null body", `null`, &DrainRequest{}, "", "must be an object, got null"},
		{"empty body", ` `, &DrainRequest{}, "", "empty document"},
		{"trailing data", `{} {}`, &DrainRequest{}, "", "unexpected data after the JSON document"},
		{"syntax", `{"enable": tru}`, &DrainRequest{}, "", "invalid JSON"},
		{"truncated", `{"enable": true`, &DrainRequest{}, "", "unexpected end of input"},
		{"spec prefix", `{"kind": "Service", "ports": [{"port": "x"}]}`, &ServiceSpec{}, "spec.ports[0].port", "must be a whole number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := DecodeStrict("request", prefixFor(tc.v), []byte(tc.body), tc.v)
			wantFieldError(t, err, "request", tc.field, tc.want)
		})
	}

	if err := DecodeStrict("request", "", []byte(`{}`), ScaleRequest{}); err == nil {
		t.Fatal("DecodeStrict into a non-pointer: no error")
	}
}

func prefixFor(v any) string {
	if _, ok := v.(*ServiceSpec); ok {
		return "spec"
	}
	return ""
}

func TestDecodeServiceJSON(t *testing.T) {
	spec, err := DecodeServiceJSON("request", []byte(`{"kind": "Service", "name": "web", "image": "demo"}`))
	if err != nil {
		t.Fatal(err)
	}
	if spec.Namespace != "default" || spec.ReplicaCount() != 1 || spec.Rollout.Ramped == nil {
		t.Fatalf("not defaulted: %+v", spec)
	}

	_, err = DecodeServiceJSON("request", []byte(`{"kind": "Service", "name": "web", "image": "demo", "ports": [{"name": "http", "port": 70000}]}`))
	wantFieldError(t, err, "request", "spec.ports[0].port", "must be between 1 and 65535")

	_, err = DecodeServiceJSON("request", []byte(`{"kind": "Service", "name": "web", "image": "demo", "probes": {"readiness": {"http": {"prt": 80}}}}`))
	wantFieldError(t, err, "request", "spec.probes.readiness.http.prt", "unknown field")
}

func TestFieldErrorString(t *testing.T) {
	for _, tc := range []struct {
		err  FieldError
		want string
	}{
		{FieldError{Source: "web.yaml: document 2", Field: "spec.ports[0].port", Message: "must be between 1 and 65535"},
			"web.yaml: document 2: spec.ports[0].port: must be between 1 and 65535"},
		{FieldError{Field: "spec.name", Message: "required"}, "spec.name: required"},
		{FieldError{Source: "web.yaml", Message: "yaml: line 3: bad"}, "web.yaml: yaml: line 3: bad"},
		{FieldError{Message: "bad"}, "bad"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
	if got := fieldErr("spec.replicas", "must be between %d and %d", 0, 10); got.Message != "must be between 0 and 10" || got.Field != "spec.replicas" {
		t.Errorf("fieldErr = %+v", got)
	}
}
