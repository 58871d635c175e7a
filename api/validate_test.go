package api

import (
	"strings"
	"testing"
	"time"
)

// useRollout swaps the base spec's rollout for another strategy's, with
// defaults, so that a row can break one of its fields.
func useRollout(s *ServiceSpec, r RolloutSpec) {
	s.Rollout = r
	s.Rollout.setDefaults()
}

func rampedRollout(s *ServiceSpec) *RampedRollout {
	useRollout(s, RolloutSpec{Strategy: RolloutRamped})
	return s.Rollout.Ramped
}

func abRollout(s *ServiceSpec, m ...Match) *ABRollout {
	useRollout(s, RolloutSpec{Strategy: RolloutAB, AB: &ABRollout{Match: m, Goal: ABGoal{Header: "X-Conversion"}}})
	return s.Rollout.AB
}

func shadowRollout(s *ServiceSpec) *ShadowRollout {
	useRollout(s, RolloutSpec{
		Strategy: RolloutShadow,
		Shadow:   &ShadowRollout{Percent: 50},
		Analysis: &AnalysisConfig{MaxDiffRate: ptr(Percent(1))},
	})
	return s.Rollout.Shadow
}

// withFiles gives the base spec a config and a secret, so that a row can
// break one.
func withFiles(s *ServiceSpec) {
	s.Configs = []ConfigMount{{Name: "web-config", Path: "/etc/web", Reload: ReloadRestart}}
	s.Secrets = []SecretRef{{Name: "db", Env: map[string]string{"DB_PASSWORD": "password"}}}
}

func twoPorts(s *ServiceSpec) {
	s.Ports = []Port{{Name: "http", Port: 8080, Protocol: "http"}, {Name: "admin", Port: 9090, Protocol: "tcp"}}
}

// TestValidate has one row per rule, each breaking one field of a valid,
// defaulted spec (the Contract example) and naming the field it expects.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mutate  func(s *ServiceSpec)
		field   string
		message string
	}{
		// kind, name, namespace, image, replicas
		{"kind missing", func(s *ServiceSpec) { s.Kind = "" }, "spec.kind", "required (Service)"},
		{"kind other", func(s *ServiceSpec) { s.Kind = "Deployment" }, "spec.kind", `must be "Service", got "Deployment"`},
		{"name missing", func(s *ServiceSpec) { s.Name = "" }, "spec.name", "required"},
		{"name uppercase", func(s *ServiceSpec) { s.Name = "Web" }, "spec.name", `invalid name "Web"`},
		{"name leading dash", func(s *ServiceSpec) { s.Name = "-web" }, "spec.name", "invalid name"},
		{"name trailing dash", func(s *ServiceSpec) { s.Name = "web-" }, "spec.name", "invalid name"},
		{"name with dot", func(s *ServiceSpec) { s.Name = "web.v1" }, "spec.name", "invalid name"},
		{"name too long", func(s *ServiceSpec) { s.Name = strings.Repeat("a", 64) }, "spec.name", "at most 63 characters"},
		{"namespace", func(s *ServiceSpec) { s.Namespace = "Prod_1" }, "spec.namespace", "invalid name"},
		{"image missing", func(s *ServiceSpec) { s.Image = "" }, "spec.image", "required"},
		{"image spaces", func(s *ServiceSpec) { s.Image = "demo v1" }, "spec.image", "must not contain spaces"},
		{"replicas negative", func(s *ServiceSpec) { s.Autoscale = nil; s.Replicas = ptr(-1) }, "spec.replicas", "must be between 0 and 1000000"},
		{"replicas too many", func(s *ServiceSpec) { s.Autoscale = nil; s.Replicas = ptr(1_000_001) }, "spec.replicas", "must be between 0 and 1000000"},

		// resources
		{"cpu zero", func(s *ServiceSpec) { s.Resources.CPU = 0 }, "spec.resources.cpu", "must be greater than 0"},
		{"cpu too much", func(s *ServiceSpec) { s.Resources.CPU = 1001 * 1000 }, "spec.resources.cpu", "at most 1000 cores"},
		{"memory zero", func(s *ServiceSpec) { s.Resources.Memory = 0 }, "spec.resources.memory", "must be greater than 0"},
		{"memory too much", func(s *ServiceSpec) { s.Resources.Memory = 17 << 40 }, "spec.resources.memory", "at most 16Ti, got 17Ti"},

		// ports
		{"port name", func(s *ServiceSpec) { s.Ports[0].Name = "HTTP" }, "spec.ports[0].name", `invalid name "HTTP"`},
		{"port name missing", func(s *ServiceSpec) { twoPorts(s); s.Ports[1].Name = "" }, "spec.ports[1].name", "required when there is more than one port"},
		{"port name duplicate", func(s *ServiceSpec) { twoPorts(s); s.Ports[1].Name = "http" }, "spec.ports[1].name", `duplicate port name "http"`},
		{"port zero", func(s *ServiceSpec) { s.Ports[0].Port = 0 }, "spec.ports[0].port", "must be between 1 and 65535"},
		{"port too high", func(s *ServiceSpec) { s.Ports[0].Port = 65536 }, "spec.ports[0].port", "must be between 1 and 65535"},
		{"port duplicate", func(s *ServiceSpec) { twoPorts(s); s.Ports[1].Port = 8080 }, "spec.ports[1].port", "duplicate port 8080"},
		{"protocol", func(s *ServiceSpec) { s.Ports[0].Protocol = "udp" }, "spec.ports[0].protocol", `must be http or tcp, got "udp"`},
		{"host port range", func(s *ServiceSpec) { s.Ports[0].HostPort = 70000 }, "spec.ports[0].hostPort", "must be between 1 and 65535"},
		{"host port duplicate", func(s *ServiceSpec) { twoPorts(s); s.Ports[0].HostPort = 80; s.Ports[1].HostPort = 80 }, "spec.ports[1].hostPort", "duplicate hostPort 80"},

		// env
		{"env leading digit", func(s *ServiceSpec) { s.Env["1FOO"] = "x" }, "spec.env.1FOO", `invalid variable name "1FOO"`},
		{"env dash", func(s *ServiceSpec) { s.Env["FOO-BAR"] = "x" }, "spec.env.FOO-BAR", "invalid variable name"},
		{"env dot", func(s *ServiceSpec) { s.Env["a.b"] = "x" }, `spec.env["a.b"]`, "invalid variable name"},

		// configs and secrets
		{"config name", func(s *ServiceSpec) { withFiles(s); s.Configs[0].Name = "Web_Config" }, "spec.configs[0].name", "invalid name"},
		{"config twice", func(s *ServiceSpec) {
			withFiles(s)
			s.Configs = append(s.Configs, ConfigMount{Name: "web-config", Path: "/etc/other", Reload: ReloadRestart})
		}, "spec.configs[1].name", "mounted twice"},
		{"config path missing", func(s *ServiceSpec) { withFiles(s); s.Configs[0].Path = "" }, "spec.configs[0].path", "required"},
		{"config path relative", func(s *ServiceSpec) { withFiles(s); s.Configs[0].Path = "etc/web" }, "spec.configs[0].path", "must be an absolute directory path"},
		{"config path unclean", func(s *ServiceSpec) { withFiles(s); s.Configs[0].Path = "/etc/../web" }, "spec.configs[0].path", "must be an absolute directory path"},
		{"config path nested", func(s *ServiceSpec) {
			withFiles(s)
			s.Configs = append(s.Configs, ConfigMount{Name: "b", Path: "/etc/web/b", Reload: ReloadRestart})
		}, "spec.configs[1].path", `"/etc/web/b" overlaps "/etc/web"`},
		{"config reload", func(s *ServiceSpec) { withFiles(s); s.Configs[0].Reload = "hup" }, "spec.configs[0].reload", "must be restart or signal"},
		{"config signal without reload signal", func(s *ServiceSpec) { withFiles(s); s.Configs[0].Signal = "SIGHUP" }, "spec.configs[0].signal", "only with reload: signal"},
		{"config signal unknown", func(s *ServiceSpec) { withFiles(s); s.Configs[0].Reload, s.Configs[0].Signal = ReloadSignal, "SIGKILL" }, "spec.configs[0].signal", "must be one of SIGHUP"},
		{"secret name", func(s *ServiceSpec) { withFiles(s); s.Secrets[0].Name = "" }, "spec.secrets[0].name", "required"},
		{"secret twice", func(s *ServiceSpec) {
			withFiles(s)
			s.Secrets = append(s.Secrets, SecretRef{Name: "db", Path: "/run/db"})
		}, "spec.secrets[1].name", "named twice"},
		{"secret neither", func(s *ServiceSpec) { withFiles(s); s.Secrets[0].Env = nil }, "spec.secrets[0]", "at least one of path, env"},
		{"secret env name", func(s *ServiceSpec) { withFiles(s); s.Secrets[0].Env = map[string]string{"DB-PASSWORD": "password"} }, "spec.secrets[0].env.DB-PASSWORD", "invalid variable name"},
		{"secret env key", func(s *ServiceSpec) { withFiles(s); s.Secrets[0].Env = map[string]string{"DB": "../etc"} }, "spec.secrets[0].env.DB", "invalid key"},
		{"secret env also in env", func(s *ServiceSpec) { withFiles(s); s.Secrets[0].Env = map[string]string{"COLOR": "password"} }, "spec.secrets[0].env.COLOR", `"COLOR" is also set in env`},
		{"secret env duplicate", func(s *ServiceSpec) {
			withFiles(s)
			s.Secrets = append(s.Secrets, SecretRef{Name: "db2", Env: map[string]string{"DB_PASSWORD": "x"}})
		}, "spec.secrets[1].env.DB_PASSWORD", "duplicate variable"},
		{"secret path relative", func(s *ServiceSpec) { withFiles(s); s.Secrets[0] = SecretRef{Name: "db", Path: "db"} }, "spec.secrets[0].path", "must be an absolute directory path"},
		{"secret path taken by config", func(s *ServiceSpec) { withFiles(s); s.Secrets[0] = SecretRef{Name: "db", Path: "/etc/web"} }, "spec.secrets[0].path", "overlaps"},

		// clusterIP and placement
		{"cluster IP", func(s *ServiceSpec) { s.ClusterIP = "10.0.0.1" }, "spec.clusterIP", `must be "none"`},
		{"load balancing", func(s *ServiceSpec) { s.LoadBalancing = "random" }, "spec.loadBalancing", "must be round-robin, least-request or p2c"},
		{"placement strategy", func(s *ServiceSpec) { s.Placement.Strategy = "random" }, "spec.placement.strategy", `must be spread or binpack, got "random"`},
		{"constraint operator", func(s *ServiceSpec) { s.Placement.Constraints[0].Op = "~" }, "spec.placement.constraints[0]", `unknown operator "~"`},
		{"constraint value", func(s *ServiceSpec) { s.Placement.Constraints[0].Values = []string{"a b"} }, "spec.placement.constraints[0]", "bad value"},

		// probes
		{"probe two handlers", func(s *ServiceSpec) { s.Probes.Liveness.HTTP = &HTTPProbe{Path: "/", Port: PortRef{Name: "http"}} }, "spec.probes.liveness", "exactly one of http, tcp, exec"},
		{"probe no handler", func(s *ServiceSpec) { s.Probes.Liveness.TCP = nil }, "spec.probes.liveness", "exactly one of http, tcp, exec"},
		{"probe port name", func(s *ServiceSpec) { s.Probes.Readiness.HTTP.Port = PortRef{Name: "htp"} }, "spec.probes.readiness.http.port", `no port named "htp" (ports: http)`},
		{"probe port number", func(s *ServiceSpec) { s.Probes.Readiness.HTTP.Port = PortRef{Number: 70000} }, "spec.probes.readiness.http.port", "must be between 1 and 65535"},
		{"probe port missing", func(s *ServiceSpec) { s.Probes.Readiness.HTTP.Port = PortRef{} }, "spec.probes.readiness.http.port", "required"},
		{"probe path", func(s *ServiceSpec) { s.Probes.Readiness.HTTP.Path = "ready" }, "spec.probes.readiness.http.path", `must start with "/"`},
		{"probe header", func(s *ServiceSpec) { s.Probes.Readiness.HTTP.Headers = map[string]string{"X Bad": "1"} }, `spec.probes.readiness.http.headers["X Bad"]`, "invalid header name"},
		{"tcp probe port", func(s *ServiceSpec) { s.Probes.Liveness.TCP.Port = PortRef{Name: "grpc"} }, "spec.probes.liveness.tcp.port", `no port named "grpc"`},
		{"exec probe command", func(s *ServiceSpec) { s.Probes.Liveness.TCP = nil; s.Probes.Liveness.Exec = &ExecProbe{} }, "spec.probes.liveness.exec.command", "required"},
		{"probe period", func(s *ServiceSpec) { s.Probes.Readiness.Period = 0 }, "spec.probes.readiness.period", "must be greater than 0"},
		{"probe timeout", func(s *ServiceSpec) { s.Probes.Readiness.Timeout = 0 }, "spec.probes.readiness.timeout", "must be greater than 0"},
		{"probe initial delay", func(s *ServiceSpec) { s.Probes.Readiness.InitialDelay = -1 }, "spec.probes.readiness.initialDelay", "must not be negative"},
		{"probe failure threshold", func(s *ServiceSpec) { s.Probes.Startup.FailureThreshold = 0 }, "spec.probes.startup.failureThreshold", "must be at least 1"},
		{"probe success threshold", func(s *ServiceSpec) { s.Probes.Readiness.SuccessThreshold = 0 }, "spec.probes.readiness.successThreshold", "must be at least 1"},
		{"liveness success threshold", func(s *ServiceSpec) { s.Probes.Liveness.SuccessThreshold = 2 }, "spec.probes.liveness.successThreshold", "must be 1 for a liveness probe"},
		{"startup success threshold", func(s *ServiceSpec) { s.Probes.Startup.SuccessThreshold = 3 }, "spec.probes.startup.successThreshold", "must be 1 for a startup probe"},

		// restart
		{"restart policy", func(s *ServiceSpec) { s.Restart.Policy = "sometimes" }, "spec.restart.policy", `must be always, on-failure or never, got "sometimes"`},
		{"max restarts", func(s *ServiceSpec) { s.Restart.MaxRestarts = ptr(-1) }, "spec.restart.maxRestarts", "must not be negative"},
		{"restart window", func(s *ServiceSpec) { s.Restart.Window = 0 }, "spec.restart.window", "must be greater than 0"},
		{"backoff", func(s *ServiceSpec) { s.Restart.Backoff = 0 }, "spec.restart.backoff", "must be greater than 0"},
		{"max backoff", func(s *ServiceSpec) { s.Restart.MaxBackoff = seconds(0.5) }, "spec.restart.maxBackoff", "must be at least backoff (1s)"},

		// autoscale
		{"autoscale min", func(s *ServiceSpec) { s.Autoscale.Min = -1 }, "spec.autoscale.min", "must be between 0 and 1000000"},
		{"autoscale max zero", func(s *ServiceSpec) { s.Autoscale.Max = 0 }, "spec.autoscale.max", "must be between 1 and 1000000"},
		{"autoscale max below min", func(s *ServiceSpec) { s.Autoscale.Max = 1 }, "spec.autoscale.max", "must be at least min (2)"},
		{"autoscale metric", func(s *ServiceSpec) { s.Autoscale.Metric = "qps" }, "spec.autoscale.metric", `must be cpu, memory, inflight or rps, got "qps"`},
		{"autoscale target", func(s *ServiceSpec) { s.Autoscale.Target = 0 }, "spec.autoscale.target", "must be greater than 0"},
		{"autoscale cpu target", func(s *ServiceSpec) { s.Autoscale.Metric = "cpu"; s.Autoscale.Target = 150 }, "spec.autoscale.target", "at most 100 (percent of the cpu each replica reserves)"},
		{"autoscale tolerance", func(s *ServiceSpec) { s.Autoscale.Tolerance = ptr(Percent(150)) }, "spec.autoscale.tolerance", "must be between 0% and 100%, got 150%"},
		{"replicas outside autoscale", func(s *ServiceSpec) { s.Replicas = ptr(11) }, "spec.replicas", "must be between autoscale.min (2) and autoscale.max (10), got 11"},

		// rollout
		{"rollout strategy", func(s *ServiceSpec) { s.Rollout.Strategy = "rolling" }, "spec.rollout.strategy", `must be ramped, blue-green, canary, ab or shadow, got "rolling"`},
		{"revision history zero", func(s *ServiceSpec) { s.Rollout.RevisionHistory = ptr(0) }, "spec.rollout.revisionHistory", "must be between 1 and 100, got 0: the count includes the current revision"},
		{"revision history high", func(s *ServiceSpec) { s.Rollout.RevisionHistory = ptr(101) }, "spec.rollout.revisionHistory", "must be between 1 and 100"},
		{"ramped block with canary", func(s *ServiceSpec) { s.Rollout.Ramped = &RampedRollout{} }, "spec.rollout.ramped", "only used by strategy ramped (strategy is canary)"},
		{"blue-green block with canary", func(s *ServiceSpec) { s.Rollout.BlueGreen = &BlueGreen{} }, "spec.rollout.blueGreen", "only used by strategy blue-green (strategy is canary)"},
		{"ab block with canary", func(s *ServiceSpec) { s.Rollout.AB = &ABRollout{} }, "spec.rollout.ab", "only used by strategy ab (strategy is canary)"},
		{"shadow block with canary", func(s *ServiceSpec) { s.Rollout.Shadow = &ShadowRollout{} }, "spec.rollout.shadow", "only used by strategy shadow (strategy is canary)"},
		{"canary block with ramped", func(s *ServiceSpec) {
			c := s.Rollout.Canary
			rampedRollout(s)
			s.Rollout.Canary = c
		}, "spec.rollout.canary", "only used by strategy canary (strategy is ramped)"},
		{"strategy block missing", func(s *ServiceSpec) { s.Rollout.Canary = nil }, "spec.rollout.canary", "required for strategy canary"},
		{"analysis with ramped", func(s *ServiceSpec) {
			a := s.Rollout.Analysis
			rampedRollout(s)
			s.Rollout.Analysis = a
		}, "spec.rollout.analysis", "only used by strategies canary, blue-green and shadow (strategy is ramped)"},
		{"analysis with ab", func(s *ServiceSpec) {
			a := s.Rollout.Analysis
			abRollout(s, Match{Header: &ValueMatch{Name: "X-Group", Exact: "beta"}})
			s.Rollout.Analysis = a
		}, "spec.rollout.analysis", "(strategy is ab)"},
		{"diff rate with canary", func(s *ServiceSpec) { s.Rollout.Analysis.MaxDiffRate = ptr(Percent(1)) }, "spec.rollout.analysis.maxDiffRate", "only used by strategy shadow (strategy is canary)"},

		// ramped
		{"ramped surge negative", func(s *ServiceSpec) { rampedRollout(s).MaxSurge = &IntOrPercent{Value: -1} }, "spec.rollout.ramped.maxSurge", "must not be negative"},
		{"ramped surge percent", func(s *ServiceSpec) { rampedRollout(s).MaxSurge = &IntOrPercent{Value: 101, Percent: true} }, "spec.rollout.ramped.maxSurge", "must be at most 100%"},
		{"ramped unavailable percent", func(s *ServiceSpec) { rampedRollout(s).MaxUnavailable = &IntOrPercent{Value: 150, Percent: true} }, "spec.rollout.ramped.maxUnavailable", "must be at most 100%"},
		{"ramped both zero", func(s *ServiceSpec) {
			rampedRollout(s).MaxSurge = &IntOrPercent{Value: 0, Percent: true}
		}, "spec.rollout.ramped.maxSurge", "maxSurge and maxUnavailable cannot both be 0"},
		{"ramped min ready", func(s *ServiceSpec) { rampedRollout(s).MinReady = -1 }, "spec.rollout.ramped.minReady", "must not be negative"},
		{"ramped deadline", func(s *ServiceSpec) {
			r := rampedRollout(s)
			r.MinReady = seconds(600)
		}, "spec.rollout.ramped.progressDeadline", "must be greater than minReady (10m)"},

		// blue-green
		{"auto promote zero", func(s *ServiceSpec) {
			useRollout(s, RolloutSpec{Strategy: RolloutBlueGreen, BlueGreen: &BlueGreen{AutoPromoteAfter: ptr(Duration(0))}})
		}, "spec.rollout.blueGreen.autoPromoteAfter", "must be greater than 0"},
		{"scale down delay", func(s *ServiceSpec) {
			useRollout(s, RolloutSpec{Strategy: RolloutBlueGreen})
			s.Rollout.BlueGreen.ScaleDownDelay = ptr(Duration(-1))
		}, "spec.rollout.blueGreen.scaleDownDelay", "must not be negative"},

		// canary
		{"canary no steps", func(s *ServiceSpec) { s.Rollout.Canary.Steps = nil }, "spec.rollout.canary.steps", "at least one step is required"},
		{"canary weight zero", func(s *ServiceSpec) { s.Rollout.Canary.Steps[0].Weight = 0 }, "spec.rollout.canary.steps[0].weight", "must be between 1 and 100"},
		{"canary weight high", func(s *ServiceSpec) { s.Rollout.Canary.Steps[2].Weight = 101 }, "spec.rollout.canary.steps[2].weight", "must be between 1 and 100"},
		{"canary weights increase", func(s *ServiceSpec) { s.Rollout.Canary.Steps[1].Weight = 10 }, "spec.rollout.canary.steps[1].weight", "must be greater than the previous step's weight (10)"},
		{"canary pause on last step", func(s *ServiceSpec) { s.Rollout.Canary.Steps[2].Pause = &Pause{Manual: true} }, "spec.rollout.canary.steps[2].pause", "the last step takes no pause"},
		{"canary pause zero", func(s *ServiceSpec) { s.Rollout.Canary.Steps[0].Pause = &Pause{} }, "spec.rollout.canary.steps[0].pause", "must be greater than 0s (or manual)"},

		// ab
		{"ab header and cookie", func(s *ServiceSpec) {
			abRollout(s, Match{Header: &ValueMatch{Name: "X-Group", Exact: "beta"}, Cookie: &ValueMatch{Name: "v", Exact: "b"}})
		}, "spec.rollout.ab.match[0]", "exactly one of header, cookie"},
		{"ab neither", func(s *ServiceSpec) { abRollout(s, Match{Header: &ValueMatch{Name: "X", Exact: "1"}}, Match{}) }, "spec.rollout.ab.match[1]", "exactly one of header, cookie"},
		{"ab name missing", func(s *ServiceSpec) { abRollout(s, Match{Header: &ValueMatch{Exact: "beta"}}) }, "spec.rollout.ab.match[0].header.name", "required"},
		{"ab header name", func(s *ServiceSpec) { abRollout(s, Match{Header: &ValueMatch{Name: "X Group", Exact: "beta"}}) }, "spec.rollout.ab.match[0].header.name", `invalid header name "X Group"`},
		{"ab cookie name", func(s *ServiceSpec) { abRollout(s, Match{Cookie: &ValueMatch{Name: "a;b", Exact: "x"}}) }, "spec.rollout.ab.match[0].cookie.name", `invalid cookie name "a;b"`},
		{"ab two comparisons", func(s *ServiceSpec) {
			abRollout(s, Match{Header: &ValueMatch{Name: "X-Group", Exact: "beta", Prefix: "b"}})
		}, "spec.rollout.ab.match[0].header", "exactly one of exact, prefix, regex"},
		{"ab no comparison", func(s *ServiceSpec) { abRollout(s, Match{Cookie: &ValueMatch{Name: "variant"}}) }, "spec.rollout.ab.match[0].cookie", "exactly one of exact, prefix, regex"},
		{"ab regex", func(s *ServiceSpec) { abRollout(s, Match{Header: &ValueMatch{Name: "X-Group", Regex: "(beta"}}) }, "spec.rollout.ab.match[0].header.regex", "invalid regular expression"},

		// shadow
		{"shadow percent zero", func(s *ServiceSpec) { shadowRollout(s).Percent = 0 }, "spec.rollout.shadow.percent", "required: the share of requests copied to the new revision, greater than 0% and at most 100%"},
		{"shadow percent high", func(s *ServiceSpec) { shadowRollout(s).Percent = 100.5 }, "spec.rollout.shadow.percent", "got 100.5%"},
		{"shadow ignore header empty", func(s *ServiceSpec) { shadowRollout(s).Compare.IgnoreHeaders = []string{"Date", ""} }, "spec.rollout.shadow.compare.ignoreHeaders[1]", "must not be empty"},
		{"shadow ignore header name", func(s *ServiceSpec) { shadowRollout(s).Compare.IgnoreHeaders = []string{"X Date"} }, "spec.rollout.shadow.compare.ignoreHeaders[0]", "invalid header name"},
		{"shadow ignore JSON field empty", func(s *ServiceSpec) { shadowRollout(s).Compare.IgnoreJSONFields = []string{""} }, "spec.rollout.shadow.compare.ignoreJSONFields[0]", "must not be empty"},
		{"shadow ignore JSON field unreadable", func(s *ServiceSpec) { shadowRollout(s).Compare.IgnoreJSONFields = []string{"time", "items[x].id"} }, "spec.rollout.shadow.compare.ignoreJSONFields[1]", `cannot read "items[x].id": index "x" is neither a number nor *`},
		{"shadow methods empty", func(s *ServiceSpec) { shadowRollout(s).Methods = []string{} }, "spec.rollout.shadow.methods", "at least one method (leave methods out for GET, HEAD, OPTIONS)"},
		{"shadow method lower case", func(s *ServiceSpec) { shadowRollout(s).Methods = []string{"GET", "post"} }, "spec.rollout.shadow.methods[1]", `methods are case-sensitive: write "POST"`},
		{"shadow method twice", func(s *ServiceSpec) { shadowRollout(s).Methods = []string{"GET", "POST", "GET"} }, "spec.rollout.shadow.methods[2]", "GET is listed twice"},
		{"shadow method not a token", func(s *ServiceSpec) { shadowRollout(s).Methods = []string{"GET POST"} }, "spec.rollout.shadow.methods[0]", `invalid method "GET POST"`},
		{"shadow CONNECT", func(s *ServiceSpec) { shadowRollout(s).Methods = []string{"CONNECT"} }, "spec.rollout.shadow.methods[0]", "CONNECT is not proxied"},
		{"shadow baseline high", func(s *ServiceSpec) { shadowRollout(s).Baseline = ptr(Percent(120)) }, "spec.rollout.shadow.baseline", "must be between 0% and 100%, got 120%"},
		{"shadow replicas zero", func(s *ServiceSpec) { shadowRollout(s).Replicas = ptr(0) }, "spec.rollout.shadow.replicas", "must be at least 1, got 0 (leave it out to size by percent)"},
		{"shadow without an HTTP port", func(s *ServiceSpec) {
			shadowRollout(s)
			s.Ports[0].Protocol = ProtocolTCP
		}, "spec.rollout.shadow", "needs a port with protocol http"},

		// analysis
		{"analysis interval", func(s *ServiceSpec) { s.Rollout.Analysis.Interval = 0 }, "spec.rollout.analysis.interval", "must be greater than 0"},
		{"analysis interval too long", func(s *ServiceSpec) { s.Rollout.Analysis.Interval = Duration(5 * time.Minute) }, "spec.rollout.analysis.interval", "must be at most 1m"},
		{"analysis error rate high", func(s *ServiceSpec) { s.Rollout.Analysis.MaxErrorRate = ptr(Percent(101)) }, "spec.rollout.analysis.maxErrorRate", "must be between 0% and 100%, got 101%"},
		{"analysis error rate negative", func(s *ServiceSpec) { s.Rollout.Analysis.MaxErrorRate = ptr(Percent(-1)) }, "spec.rollout.analysis.maxErrorRate", "must be between 0% and 100%"},
		{"analysis latency", func(s *ServiceSpec) { s.Rollout.Analysis.MaxP99Latency = -1 }, "spec.rollout.analysis.maxP99Latency", "must not be negative"},
		{"analysis diff rate", func(s *ServiceSpec) {
			shadowRollout(s)
			s.Rollout.Analysis.MaxDiffRate = ptr(Percent(101))
		}, "spec.rollout.analysis.maxDiffRate", "must be between 0% and 100%"},
		{"analysis failure limit", func(s *ServiceSpec) { s.Rollout.Analysis.FailureLimit = ptr(0) }, "spec.rollout.analysis.failureLimit", "must be at least 1, got 0"},
		{"analysis measures nothing", func(s *ServiceSpec) {
			s.Rollout.Analysis.MaxErrorRate = nil
			s.Rollout.Analysis.MaxP99Latency = 0
		}, "spec.rollout.analysis", "set at least one of maxErrorRate, maxP99Latency, maxDiffRate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := canaryExampleSpec()
			tc.mutate(&s)
			err := s.Validate()
			wantFieldError(t, err, "", tc.field, tc.message)
		})
	}
}

// TestValidateAccepts lists valid specs that a too strict rule would refuse.
func TestValidateAccepts(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
	}{
		{"minimal", minimalDoc},
		{"contract example", canaryExample},
		{"one unnamed port", minimalDoc + "ports: [{port: 8080}]\nprobes: {liveness: {tcp: {port: 8080}}}\n"},
		{"probe by port number", minimalDoc + "probes: {readiness: {http: {port: 9000, path: /ready}}}\n"},
		{"readiness success threshold", minimalDoc + "probes: {readiness: {exec: {command: [/bin/true]}, successThreshold: 3}}\n"},
		{"zero replicas", minimalDoc + "replicas: 0\n"},
		{"autoscale on in-flight requests", minimalDoc + "autoscale: {min: 1, max: 3, metric: inflight, target: 50}\n"},
		{"scale to zero on rps", minimalDoc + "autoscale: {min: 0, max: 3, metric: rps, target: 50}\n"},
		{"scale to zero on in-flight requests", minimalDoc + "autoscale: {min: 0, max: 3, metric: inflight, target: 5, stabilizationWindow: 30s}\n"},
		{"autoscale on cpu", minimalDoc + "autoscale: {min: 1, max: 3, metric: cpu, target: 100}\n"},
		{"autoscale on memory", minimalDoc + "resources: {cpu: 100m, memory: 32Mi}\nautoscale: {min: 1, max: 3, metric: memory, target: 80}\n"},
		{"headless", minimalDoc + "clusterIP: none\n"},
		{"binpack", minimalDoc + "placement: {strategy: binpack, constraints: [\"zone in (a, b)\", \"node.name != n3\"]}\n"},
		{"restart never", minimalDoc + "restart: {policy: never}\n"},
		{"long backoff", minimalDoc + "restart: {backoff: 2m}\n"},
		{"ramped no surge", minimalDoc + "rollout: {strategy: ramped, ramped: {maxSurge: 0, maxUnavailable: 1}}\n"},
		{"ramped percent", minimalDoc + "rollout: {ramped: {maxSurge: 100%, maxUnavailable: 50%, minReady: 5s}}\n"},
		{"blue-green manual", minimalDoc + "rollout: {strategy: blue-green}\n"},
		{"blue-green auto", minimalDoc + "rollout: {strategy: blue-green, blueGreen: {autoPromoteAfter: 60s}, analysis: {maxErrorRate: 0%}}\n"},
		{"canary one step", minimalDoc + "rollout: {strategy: canary, canary: {steps: [{weight: 100}]}}\n"},
		// Where 0 means something, it is accepted as written.
		{"no restart in place", minimalDoc + "restart: {maxRestarts: 0}\n"},
		{"tolerance 0", minimalDoc + "autoscale: {min: 1, max: 3, metric: rps, target: 50, tolerance: 0}\n"},
		{"no stabilization", minimalDoc + "autoscale: {min: 1, max: 3, metric: rps, target: 50, stabilizationWindow: 0s}\n"},
		{"autoscale min left out", minimalDoc + "autoscale: {max: 5, metric: cpu, target: 50}\n"},
		{"blue scaled down at once", minimalDoc + "rollout: {strategy: blue-green, blueGreen: {scaleDownDelay: 0s}}\n"},
		{"one revision kept", minimalDoc + "rollout: {revisionHistory: 1}\n"},
		{"abort at the first failed run", minimalDoc + "rollout: {strategy: canary, canary: {steps: [{weight: 100}]}, analysis: {maxErrorRate: 1%, failureLimit: 1}}\n"},
		{"ab by rules", minimalDoc + "ports: [{name: http, port: 80, protocol: http}]\nrollout: {strategy: ab, ab: {match: [{header: {name: X-Group, exact: beta}}, {cookie: {name: variant, regex: '^b'}}, {header: {name: User-Agent, prefix: curl}}], goal: {path: /checkout, method: POST}}}\n"},
		{"ab by split", minimalDoc + "ports: [{name: http, port: 80, protocol: http}]\nrollout: {strategy: ab, ab: {split: 10%, userHeader: X-User-Id, goal: {header: X-Conversion}, confidence: 99%, minSample: 500, autoPromote: true, interval: 5s}}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			specs, err := DecodeServices("web.yaml", []byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if err := specs[0].Validate(); err != nil {
				t.Fatalf("Validate again: %v", err)
			}
		})
	}
}

// Rules that hold on documents, through decoding and defaults.
func TestValidateDocuments(t *testing.T) {
	for _, tc := range []struct {
		name, doc, field, message string
	}{
		{"kind missing", "name: web\nimage: demo\n", "spec.kind", "required (Service)"},
		{"name missing", "kind: Service\nimage: demo\n", "spec.name", "required"},
		{"replicas outside autoscale", minimalDoc + "replicas: 1\nautoscale: {min: 2, max: 4, metric: rps, target: 10}\n",
			"spec.replicas", "must be between autoscale.min (2) and autoscale.max (4), got 1"},
		{"canary without steps", minimalDoc + "rollout: {strategy: canary}\n", "spec.rollout.canary.steps", "at least one step is required"},
		{"ab without goal", minimalDoc + "rollout: {strategy: ab}\n", "spec.rollout.ab.goal", "required: a request path"},
		{"scale to zero on cpu", minimalDoc + "autoscale: {min: 0, max: 3, metric: cpu, target: 80}\n",
			"spec.autoscale.min", "0 (scale to zero) needs metric inflight or rps"},
		{"forecast season too short", minimalDoc + "autoscale: {min: 1, max: 3, metric: rps, target: 80, forecast: {season: 10s, lookahead: 1s}}\n",
			"spec.autoscale.forecast.season", "must be between 30s and 24h, got 10s"},
		{"forecast season too long", minimalDoc + "autoscale: {min: 1, max: 3, metric: rps, target: 80, forecast: {season: 25h, lookahead: 1m}}\n",
			"spec.autoscale.forecast.season", "must be between 30s and 24h, got 25h"},
		{"forecast season missing", minimalDoc + "autoscale: {min: 1, max: 3, metric: rps, target: 80, forecast: {lookahead: 1m}}\n",
			"spec.autoscale.forecast.season", "must be between 30s and 24h, got 0s"},
		{"forecast lookahead missing", minimalDoc + "autoscale: {min: 1, max: 3, metric: rps, target: 80, forecast: {season: 10m}}\n",
			"spec.autoscale.forecast.lookahead", "must be greater than 0"},
		{"forecast lookahead not within the season", minimalDoc + "autoscale: {min: 1, max: 3, metric: rps, target: 80, forecast: {season: 10m, lookahead: 10m}}\n",
			"spec.autoscale.forecast.lookahead", "must be less than the season (10m), got 10m"},
		{"shadow needs HTTP", minimalDoc + "rollout: {strategy: shadow, shadow: {percent: 100, compare: {status: true, ignoreHeaders: [Date]}}, analysis: {maxDiffRate: 1%}}\n",
			"spec.rollout.shadow", "needs a port with protocol http"},
		{"shadow methods written empty", minimalDoc + "ports: [{name: http, port: 80, protocol: http}]\nrollout: {strategy: shadow, shadow: {percent: 10, methods: []}}\n",
			"spec.rollout.shadow.methods", "at least one method"},
		{"shadow without percent", minimalDoc + "rollout: {strategy: shadow}\n", "spec.rollout.shadow.percent", "required: the share of requests copied"},
		{"shadow percent over 100", minimalDoc + "rollout: {strategy: shadow, shadow: {percent: 120%}}\n", "spec.rollout.shadow.percent", "must be greater than 0% and at most 100%, got 120%"},
		{"analysis must measure", minimalDoc + "rollout: {strategy: canary, canary: {steps: [{weight: 100}]}, analysis: {interval: 5s}}\n",
			"spec.rollout.analysis", "set at least one of"},
		{"ramped deadline after min ready", minimalDoc + "rollout: {ramped: {minReady: 15m}}\n",
			"spec.rollout.ramped.progressDeadline", "must be greater than minReady (15m)"},
		{"readiness port by a wrong name", minimalDoc + "ports: [{name: http, port: 80}]\nprobes: {readiness: {http: {port: htp}}}\n",
			"spec.probes.readiness.http.port", `no port named "htp"`},
		{"canary pause of 0s", minimalDoc + "rollout: {strategy: canary, canary: {steps: [{weight: 50, pause: 0s}, {weight: 100}]}}\n",
			"spec.rollout.canary.steps[0].pause", "must be greater than 0s"},
		// Where 0 means nothing useful, a written 0 is refused, not
		// replaced by the default, and the error says what to write.
		{"revision history 0", minimalDoc + "rollout: {revisionHistory: 0}\n",
			"spec.rollout.revisionHistory", "got 0: the count includes the current revision; 1 keeps no older one"},
		{"progress deadline 0", minimalDoc + "rollout: {ramped: {progressDeadline: 0s}}\n",
			"spec.rollout.ramped.progressDeadline", "to wait without a deadline, write a long one such as 24h"},
		{"rollout progress deadline 0", minimalDoc + "rollout: {strategy: blue-green, progressDeadline: 0s}\n",
			"spec.rollout.progressDeadline", "must be greater than 0, got 0s; to wait without a deadline, write a long one such as 24h"},
		{"rollout progress deadline with ramped", minimalDoc + "rollout: {progressDeadline: 5m}\n",
			"spec.rollout.progressDeadline", "not used by strategy ramped: set spec.rollout.ramped.progressDeadline"},
		{"failure limit 0", minimalDoc + "rollout: {strategy: canary, canary: {steps: [{weight: 100}]}, analysis: {maxErrorRate: 1%, failureLimit: 0}}\n",
			"spec.rollout.analysis.failureLimit", "1 aborts at the first (Argo's failureLimit: 0)"},
		{"ramped surge and unavailable both 0", minimalDoc + "rollout: {ramped: {maxSurge: 0, maxUnavailable: 0}}\n",
			"spec.rollout.ramped.maxSurge", "maxSurge and maxUnavailable cannot both be 0"},
		{"autoscale min 0 on cpu, written", minimalDoc + "autoscale: {min: 0, max: 5, metric: cpu, target: 50}\n",
			"spec.autoscale.min", "0 (scale to zero) needs metric inflight or rps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeServices("web.yaml", []byte(tc.doc))
			wantFieldError(t, err, "web.yaml", tc.field, tc.message)
		})
	}
}

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name    string
		message string // empty: valid
	}{
		{"web", ""},
		{"a", ""},
		{"0", ""},
		{"web-2", ""},
		{strings.Repeat("a", 63), ""},
		{"", "required"},
		{strings.Repeat("a", 64), "must be at most 63 characters"},
		{"Web", "invalid name"},
		{"-web", "invalid name"},
		{"web-", "invalid name"},
		{"web_1", "invalid name"},
		{"web.default", "invalid name"},
		{"wéb", "invalid name"},
	} {
		err := ValidateName("spec.name", tc.name)
		if tc.message == "" {
			if err != nil {
				t.Errorf("ValidateName(%q) = %v, want nil", tc.name, err)
			}
			continue
		}
		wantFieldError(t, err, "", "spec.name", tc.message)
	}
}

func TestNodeRegistrationValidate(t *testing.T) {
	valid := func() NodeRegistration {
		return NodeRegistration{
			Address:  "127.0.0.1:4650",
			Capacity: Resources{CPU: 4000, Memory: 8 << 30},
			Labels:   map[string]string{"zone": "a", "topology.flotilla/rack": "r1"},
		}
	}
	if reg := valid(); reg.Validate("n1") != nil || reg.Validate("node-1.lab") != nil {
		t.Fatalf("valid registration refused: %v", reg.Validate("n1"))
	}
	for _, tc := range []struct {
		name     string
		nodeName string
		mutate   func(r *NodeRegistration)
		field    string
		message  string
	}{
		{"name missing", "", nil, "name", "required"},
		{"name too long", strings.Repeat("n", 64), nil, "name", "at most 63 characters"},
		{"name uppercase", "N1", nil, "name", `invalid node name "N1"`},
		{"name slash", "n/1", nil, "name", "invalid node name"},
		{"cpu", "n1", func(r *NodeRegistration) { r.Capacity.CPU = 0 }, "capacity.cpu", "must be greater than 0"},
		{"memory", "n1", func(r *NodeRegistration) { r.Capacity.Memory = 0 }, "capacity.memory", "must be greater than 0"},
		{"empty label key", "n1", func(r *NodeRegistration) { r.Labels[""] = "x" }, "labels", "a label key must not be empty"},
		{"label key with space", "n1", func(r *NodeRegistration) { r.Labels["my zone"] = "x" }, `labels["my zone"]`, "invalid label key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := valid()
			if tc.mutate != nil {
				tc.mutate(&reg)
			}
			wantFieldError(t, reg.Validate(tc.nodeName), "", tc.field, tc.message)
		})
	}
}

// The issue that raised the cap: nothing in Kubernetes or Nomad refuses a
// service of 100,000 replicas.
func TestAServiceOfAHundredThousandReplicasIsAccepted(t *testing.T) {
	for _, doc := range []string{
		"kind: Service\nname: big\nimage: demo\nreplicas: 100000\n",
		"kind: Service\nname: big\nimage: demo\nautoscale: {min: 1000, max: 100000, metric: cpu, target: 50}\n",
	} {
		if _, err := DecodeServices("big.yaml", []byte(doc)); err != nil {
			t.Errorf("%q refused: %v", doc, err)
		}
	}
}
