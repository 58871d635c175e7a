package api

import (
	"math"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// MaxReplicas is the most replicas one service may ask for: a bound on
// typing mistakes, not on clusters (what the nodes cannot hold stays
// unplaced and the evaluation blocked). One allocation costs about
// 1.9 KB of every server's memory, and a plan carries 60 bytes a
// placement in one Raft entry (docs/BENCHMARKS.md).
const MaxReplicas = 1_000_000

// Limits on what one service may ask for.
const (
	maxCPU       CPU    = 1000 * 1000 // 1000 cores
	maxMemory    Memory = 16 << 40    // 16Ti
	maxDNSLabel         = 63
	maxRevisions        = 100
)

// Validate reports the first problem of a defaulted spec (see SetDefaults)
// as a *FieldError naming the field ("spec.ports[0].port"); its Source is
// empty, the decoder fills it in. Zero values that SetDefaults would have
// filled are reported as problems; unset pointer settings are checked as
// their defaults, which is how the cluster reads them.
func (s *ServiceSpec) Validate() error {
	if fe := s.validate(); fe != nil {
		return fe
	}
	return nil
}

func (s *ServiceSpec) validate() *FieldError {
	for _, check := range []func() *FieldError{
		s.validateMeta,
		s.validateResources,
		s.validatePorts,
		s.validateEnv,
		s.validateFiles,
		s.validateCertificates, // certs.go
		s.validatePlacement,
		s.validateProbes,
		s.validateRestart,
		s.validateAutoscale,
		s.validateRollout,
	} {
		if fe := check(); fe != nil {
			return fe
		}
	}
	return nil
}

// ValidateName checks a DNS label: 1 to 63 of [a-z0-9-], starting and
// ending with a letter or digit. Service and namespace names are DNS labels
// because they become DNS names (web.default.svc.flotilla).
func ValidateName(field, name string) error {
	if fe := validateName(field, name); fe != nil {
		return fe
	}
	return nil
}

func validateName(field, name string) *FieldError {
	switch {
	case name == "":
		return fieldErr(field, "required")
	case len(name) > maxDNSLabel:
		return fieldErr(field, "must be at most %d characters, got %d", maxDNSLabel, len(name))
	case !dnsLabelRE.MatchString(name):
		return fieldErr(field, "invalid name %q: use lowercase letters, digits and '-', starting and ending with a letter or digit", name)
	}
	return nil
}

var (
	dnsLabelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	nodeNameRE = regexp.MustCompile(`^[a-z0-9.-]+$`)
	envNameRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Validate checks a node registration for the node called name.
func (r *NodeRegistration) Validate(name string) error {
	switch {
	case name == "":
		return fieldErr("name", "required")
	case len(name) > maxDNSLabel:
		return fieldErr("name", "must be at most %d characters, got %d", maxDNSLabel, len(name))
	case !nodeNameRE.MatchString(name):
		return fieldErr("name", "invalid node name %q: use lowercase letters, digits, '.' and '-'", name)
	}
	if r.Capacity.CPU <= 0 {
		return fieldErr("capacity.cpu", "must be greater than 0")
	}
	if r.Capacity.Memory <= 0 {
		return fieldErr("capacity.memory", "must be greater than 0")
	}
	for _, key := range sortedMapKeys(r.Labels) {
		if key == "" {
			return fieldErr("labels", "a label key must not be empty")
		}
		// Constraints could never name such a key.
		if strings.ContainsAny(key, " \t()=!,") {
			return fieldErr(fieldPath("labels", key), "invalid label key %q: no spaces or ()=!,", key)
		}
	}
	return nil
}

func (s *ServiceSpec) validateMeta() *FieldError {
	switch s.Kind {
	case KindService:
	case "":
		return fieldErr("spec.kind", "required (%s)", KindService)
	default:
		return fieldErr("spec.kind", "must be %q, got %q", KindService, s.Kind)
	}
	if fe := validateName("spec.name", s.Name); fe != nil {
		return fe
	}
	if fe := validateName("spec.namespace", s.Namespace); fe != nil {
		return fe
	}
	if s.Image == "" {
		return fieldErr("spec.image", "required")
	}
	if strings.ContainsAny(s.Image, " \t\r\n") {
		return fieldErr("spec.image", "must not contain spaces")
	}
	if s.Replicas != nil && (*s.Replicas < 0 || *s.Replicas > MaxReplicas) {
		return fieldErr("spec.replicas", "must be between 0 and %d", MaxReplicas)
	}
	return nil
}

func (s *ServiceSpec) validateResources() *FieldError {
	switch {
	case s.Resources.CPU <= 0:
		return fieldErr("spec.resources.cpu", "must be greater than 0")
	case s.Resources.CPU > maxCPU:
		return fieldErr("spec.resources.cpu", "must be at most 1000 cores, got %s", s.Resources.CPU)
	case s.Resources.Memory <= 0:
		return fieldErr("spec.resources.memory", "must be greater than 0")
	case s.Resources.Memory > maxMemory:
		return fieldErr("spec.resources.memory", "must be at most %s, got %s", maxMemory, s.Resources.Memory)
	}
	return nil
}

func (s *ServiceSpec) validatePorts() *FieldError {
	names := map[string]bool{}
	ports := map[int]bool{}
	hostPorts := map[int]bool{}
	for i, p := range s.Ports {
		f := indexPath("spec.ports", i)
		// As in Kubernetes, a lone port may go unnamed.
		if p.Name != "" || len(s.Ports) > 1 {
			if p.Name == "" {
				return fieldErr(f+".name", "required when there is more than one port")
			}
			if fe := validateName(f+".name", p.Name); fe != nil {
				return fe
			}
			if names[p.Name] {
				return fieldErr(f+".name", "duplicate port name %q", p.Name)
			}
			names[p.Name] = true
		}
		if p.Port < 1 || p.Port > 65535 {
			return fieldErr(f+".port", "must be between 1 and 65535")
		}
		if ports[p.Port] {
			return fieldErr(f+".port", "duplicate port %d", p.Port)
		}
		ports[p.Port] = true
		if p.Protocol != ProtocolHTTP && p.Protocol != ProtocolTCP {
			return fieldErr(f+".protocol", "must be http or tcp, got %q", p.Protocol)
		}
		if p.HostPort != 0 {
			if p.HostPort < 1 || p.HostPort > 65535 {
				return fieldErr(f+".hostPort", "must be between 1 and 65535 (or left out)")
			}
			if hostPorts[p.HostPort] {
				return fieldErr(f+".hostPort", "duplicate hostPort %d", p.HostPort)
			}
			hostPorts[p.HostPort] = true
		}
	}
	return nil
}

func (s *ServiceSpec) validateEnv() *FieldError {
	for _, key := range sortedMapKeys(s.Env) {
		if !envNameRE.MatchString(key) {
			return fieldErr(fieldPath("spec.env", key), "invalid variable name %q: use letters, digits and _, not starting with a digit", key)
		}
	}
	return nil
}

// validateReload checks a mount's reload (restart or signal, listed as
// choices in its error) and signal: one of reloadSignals with signal,
// none with restart (restartNote says what restart does instead).
func validateReload(f, reload, signal, choices, restartNote string) *FieldError {
	switch reload {
	case ReloadRestart:
		if signal != "" {
			return fieldErr(f+".signal", "only with reload: signal%s", restartNote)
		}
	case ReloadSignal:
		if !slices.Contains(reloadSignals, signal) {
			return fieldErr(f+".signal", "must be one of %s, got %q", strings.Join(reloadSignals, ", "), signal)
		}
	default:
		return fieldErr(f+".reload", "must be %s, got %q", choices, reload)
	}
	return nil
}

// validateFiles checks configs and secrets, which share the container's
// file system and (for secrets) its environment. Each mounts a directory
// (a file per key); no directory may hold another's.
func (s *ServiceSpec) validateFiles() *FieldError {
	var paths []string
	checkPath := func(field, p string) *FieldError {
		if !strings.HasPrefix(p, "/") || p == "/" || path.Clean(p) != p {
			return fieldErr(field, "must be an absolute directory path such as /etc/app, got %q", p)
		}
		for _, q := range paths {
			if q == p || strings.HasPrefix(p, q+"/") || strings.HasPrefix(q, p+"/") {
				return fieldErr(field, "%q overlaps %q, mounted already", p, q)
			}
		}
		paths = append(paths, p)
		return nil
	}
	configs := map[string]bool{}
	for i, c := range s.Configs {
		f := indexPath("spec.configs", i)
		if fe := validateName(f+".name", c.Name); fe != nil {
			return fe
		}
		if configs[c.Name] {
			return fieldErr(f+".name", "config %q is mounted twice", c.Name)
		}
		configs[c.Name] = true
		if c.Path == "" {
			return fieldErr(f+".path", "required")
		}
		if fe := checkPath(f+".path", c.Path); fe != nil {
			return fe
		}
		if fe := validateReload(f, c.Reload, c.Signal, "restart or signal", " (a config reloaded by restart rolls the service)"); fe != nil {
			return fe
		}
	}
	envs := map[string]bool{}
	secrets := map[string]bool{}
	for i, sec := range s.Secrets {
		f := indexPath("spec.secrets", i)
		if fe := validateName(f+".name", sec.Name); fe != nil {
			return fe
		}
		if secrets[sec.Name] {
			return fieldErr(f+".name", "secret %q is named twice: give one entry both path and env", sec.Name)
		}
		secrets[sec.Name] = true
		if sec.Path == "" && len(sec.Env) == 0 {
			return fieldErr(f, "at least one of path, env")
		}
		if sec.Path != "" {
			if fe := checkPath(f+".path", sec.Path); fe != nil {
				return fe
			}
		}
		for _, v := range sortedMapKeys(sec.Env) {
			vf := fieldPath(f+".env", v)
			switch {
			case !envNameRE.MatchString(v):
				return fieldErr(vf, "invalid variable name %q: use letters, digits and _, not starting with a digit", v)
			case envs[v]:
				return fieldErr(vf, "duplicate variable %q", v)
			}
			if _, ok := s.Env[v]; ok {
				return fieldErr(vf, "%q is also set in env", v)
			}
			if fe := validateFileKey(vf, sec.Env[v]); fe != nil {
				return fe
			}
			envs[v] = true
		}
	}
	return nil
}

func (s *ServiceSpec) validatePlacement() *FieldError {
	if s.ClusterIP != "" && s.ClusterIP != "none" {
		return fieldErr("spec.clusterIP", `must be "none" (a headless service) or left out, got %q`, s.ClusterIP)
	}
	switch s.LoadBalancing {
	case BalanceRoundRobin, BalanceLeastRequest, BalanceP2C:
	default:
		return fieldErr("spec.loadBalancing", "must be round-robin, least-request or p2c, got %q", s.LoadBalancing)
	}
	if s.Placement.Strategy != StrategySpread && s.Placement.Strategy != StrategyBinpack {
		return fieldErr("spec.placement.strategy", "must be spread or binpack, got %q", s.Placement.Strategy)
	}
	// Decoded constraints are already parsed; these catch ones built in Go.
	for i, c := range s.Placement.Constraints {
		f := indexPath("spec.placement.constraints", i)
		switch c.Op {
		case OpEqual, OpNotEqual:
			if len(c.Values) != 1 {
				return fieldErr(f, "%s takes exactly one value", c.Op)
			}
		case OpIn, OpNotIn:
			if len(c.Values) == 0 {
				return fieldErr(f, "%s takes at least one value", c.Op)
			}
		default:
			return fieldErr(f, "unknown operator %q", c.Op)
		}
		if err := c.check(c.String()); err != nil {
			return fieldErr(f, "%v", err)
		}
	}
	return nil
}

func (s *ServiceSpec) validateProbes() *FieldError {
	for _, probe := range []struct {
		name  string
		probe *Probe
	}{
		{"startup", s.Probes.Startup},
		{"readiness", s.Probes.Readiness},
		{"liveness", s.Probes.Liveness},
	} {
		if probe.probe != nil {
			if fe := s.validateProbe("spec.probes."+probe.name, probe.name, probe.probe); fe != nil {
				return fe
			}
		}
	}
	return nil
}

func (s *ServiceSpec) validateProbe(f, kind string, p *Probe) *FieldError {
	handlers := 0
	for _, set := range []bool{p.HTTP != nil, p.TCP != nil, p.Exec != nil} {
		if set {
			handlers++
		}
	}
	if handlers != 1 {
		return fieldErr(f, "exactly one of http, tcp, exec")
	}
	switch {
	case p.HTTP != nil:
		if fe := s.validatePortRef(f+".http.port", p.HTTP.Port); fe != nil {
			return fe
		}
		if !strings.HasPrefix(p.HTTP.Path, "/") {
			return fieldErr(f+".http.path", "must start with \"/\", got %q", p.HTTP.Path)
		}
		for _, name := range sortedMapKeys(p.HTTP.Headers) {
			if !isHTTPToken(name) {
				return fieldErr(fieldPath(f+".http.headers", name), "invalid header name %q", name)
			}
		}
	case p.TCP != nil:
		if fe := s.validatePortRef(f+".tcp.port", p.TCP.Port); fe != nil {
			return fe
		}
	case p.Exec != nil:
		if len(p.Exec.Command) == 0 || p.Exec.Command[0] == "" {
			return fieldErr(f+".exec.command", "required: the program and its arguments")
		}
	}
	switch {
	case p.InitialDelay < 0:
		return fieldErr(f+".initialDelay", "must not be negative")
	case p.Period <= 0:
		return fieldErr(f+".period", "must be greater than 0")
	case p.Timeout <= 0:
		return fieldErr(f+".timeout", "must be greater than 0")
	case p.SuccessThreshold < 1:
		return fieldErr(f+".successThreshold", "must be at least 1")
	case p.FailureThreshold < 1:
		return fieldErr(f+".failureThreshold", "must be at least 1")
	case kind != "readiness" && p.SuccessThreshold != 1:
		// Kubernetes' rule: one success is enough to count as alive or
		// started; only readiness may ask for more.
		return fieldErr(f+".successThreshold", "must be 1 for a %s probe", kind)
	}
	return nil
}

// validatePortRef accepts the name of one of the service's ports or a
// port number.
func (s *ServiceSpec) validatePortRef(f string, ref PortRef) *FieldError {
	if ref.Name == "" {
		if ref.Number == 0 {
			return fieldErr(f, "required: a port name or number")
		}
		if ref.Number < 1 || ref.Number > 65535 {
			return fieldErr(f, "must be between 1 and 65535")
		}
		return nil
	}
	var names []string
	for _, p := range s.Ports {
		if p.Name == ref.Name {
			return nil
		}
		if p.Name != "" {
			names = append(names, p.Name)
		}
	}
	if len(names) == 0 {
		return fieldErr(f, "no port named %q (the service has no named ports)", ref.Name)
	}
	return fieldErr(f, "no port named %q (ports: %s)", ref.Name, strings.Join(names, ", "))
}

func (s *ServiceSpec) validateRestart() *FieldError {
	r := s.Restart
	switch {
	case r.Policy != RestartAlways && r.Policy != RestartOnFailure && r.Policy != RestartNever:
		return fieldErr("spec.restart.policy", "must be always, on-failure or never, got %q", r.Policy)
	case r.MaxRestartsOrDefault() < 0:
		return fieldErr("spec.restart.maxRestarts", "must not be negative (0: the first exit fails the replica, which is replaced)")
	case r.Window <= 0:
		return fieldErr("spec.restart.window", "must be greater than 0")
	case r.Backoff <= 0:
		return fieldErr("spec.restart.backoff", "must be greater than 0")
	case r.MaxBackoff < r.Backoff:
		return fieldErr("spec.restart.maxBackoff", "must be at least backoff (%s)", r.Backoff)
	}
	return nil
}

// validateAutoscale: for the cpu and memory metrics the target is a
// percentage of what one replica reserves (resources.cpu, resources.memory),
// so it lies in (0, 100]; for inflight and rps it is requests per replica.
func (s *ServiceSpec) validateAutoscale() *FieldError {
	a := s.Autoscale
	if a == nil {
		return nil
	}
	switch {
	case a.Min < 0 || a.Min > MaxReplicas:
		return fieldErr("spec.autoscale.min", "must be between 0 and %d", MaxReplicas)
	case a.Max < 1 || a.Max > MaxReplicas:
		return fieldErr("spec.autoscale.max", "must be between 1 and %d", MaxReplicas)
	case a.Max < a.Min:
		return fieldErr("spec.autoscale.max", "must be at least min (%d)", a.Min)
	}
	switch a.Metric {
	case MetricCPU, MetricMemory, MetricInflight, MetricRPS:
	default:
		return fieldErr("spec.autoscale.metric", "must be cpu, memory, inflight or rps, got %q", a.Metric)
	}
	switch {
	case !(a.Target > 0) || math.IsInf(a.Target, 0):
		return fieldErr("spec.autoscale.target", "must be greater than 0")
	case (a.Metric == MetricCPU || a.Metric == MetricMemory) && a.Target > 100:
		return fieldErr("spec.autoscale.target", "must be at most 100 (percent of the %s each replica reserves)", a.Metric)
	case !(a.ToleranceOrDefault() >= 0 && a.ToleranceOrDefault() <= 100):
		return fieldErr("spec.autoscale.tolerance", "must be between 0%% and 100%%, got %s", a.ToleranceOrDefault())
	case a.StabilizationWindowOrDefault() < 0:
		return fieldErr("spec.autoscale.stabilizationWindow", "must not be negative")
	case s.Replicas != nil && (*s.Replicas < a.Min || *s.Replicas > a.Max):
		return fieldErr("spec.replicas", "must be between autoscale.min (%d) and autoscale.max (%d), got %d", a.Min, a.Max, *s.Replicas)
	}
	// Validated in full above; refused while nothing executes them.
	switch {
	case a.Min == 0 && a.Metric != MetricInflight && a.Metric != MetricRPS:
		return fieldErr("spec.autoscale.min", "0 (scale to zero) needs metric inflight or rps: only the proxy can hold requests while a replica starts")
	}
	if f := a.Forecast; f != nil {
		switch {
		case f.Season < Duration(MinForecastSeason) || f.Season > Duration(MaxForecastSeason):
			return fieldErr("spec.autoscale.forecast.season", "must be between %s and %s, got %s", Duration(MinForecastSeason), Duration(MaxForecastSeason), f.Season)
		case f.Lookahead <= 0:
			return fieldErr("spec.autoscale.forecast.lookahead", "must be greater than 0")
		case f.Lookahead >= f.Season:
			return fieldErr("spec.autoscale.forecast.lookahead", "must be less than the season (%s), got %s", f.Season, f.Lookahead)
		}
	}
	return nil
}

// Bounds of autoscale.forecast.season: the model samples a season in 60
// steps and needs a whole season before it forecasts.
const (
	MinForecastSeason = 30 * time.Second
	MaxForecastSeason = 24 * time.Hour
)

// rolloutBlocks lists the strategy blocks in document order.
func (r *RolloutSpec) rolloutBlocks() []struct {
	field, strategy string
	set             bool
} {
	return []struct {
		field, strategy string
		set             bool
	}{
		{"ramped", RolloutRamped, r.Ramped != nil},
		{"blueGreen", RolloutBlueGreen, r.BlueGreen != nil},
		{"canary", RolloutCanary, r.Canary != nil},
		{"ab", RolloutAB, r.AB != nil},
		{"shadow", RolloutShadow, r.Shadow != nil},
	}
}

func (s *ServiceSpec) validateRollout() *FieldError {
	r := &s.Rollout
	const f = "spec.rollout"
	switch r.Strategy {
	case RolloutRamped, RolloutBlueGreen, RolloutCanary, RolloutAB, RolloutShadow:
	default:
		return fieldErr(f+".strategy", "must be ramped, blue-green, canary, ab or shadow, got %q", r.Strategy)
	}
	// The count includes the current revision, so 0 would keep nothing;
	// Kubernetes' revisionHistoryLimit: 0 (no old revision) is 1 here.
	switch n := r.RevisionHistoryOrDefault(); {
	case n == 0:
		return fieldErr(f+".revisionHistory", "must be between 1 and %d, got 0: the count includes the current revision; 1 keeps no older one (rollout undo then has nothing to go back to)", maxRevisions)
	case n < 1 || n > maxRevisions:
		return fieldErr(f+".revisionHistory", "must be between 1 and %d, got %d", maxRevisions, n)
	}
	if r.ProgressDeadline != nil {
		switch {
		case r.Strategy == RolloutRamped:
			return fieldErr(f+".progressDeadline", "not used by strategy ramped: set spec.rollout.ramped.progressDeadline (with ramped.autoRollback, it also says what a failure does)")
		case *r.ProgressDeadline <= 0:
			// 0 is not "no deadline", as for ramped.
			return fieldErr(f+".progressDeadline", "must be greater than 0, got %s; to wait without a deadline, write a long one such as 24h", *r.ProgressDeadline)
		}
	}
	// A spec carries only its strategy's block, so it never holds settings
	// that do nothing.
	for _, b := range r.rolloutBlocks() {
		bf := f + "." + b.field
		if b.strategy != r.Strategy {
			if b.set {
				return fieldErr(bf, "only used by strategy %s (strategy is %s)", b.strategy, r.Strategy)
			}
			continue
		}
		if !b.set {
			return fieldErr(bf, "required for strategy %s", r.Strategy)
		}
		var fe *FieldError
		switch r.Strategy {
		case RolloutRamped:
			fe = validateRamped(bf, r.Ramped)
		case RolloutBlueGreen:
			fe = validateBlueGreen(bf, r.BlueGreen)
		case RolloutCanary:
			fe = validateCanary(bf, r.Canary)
		case RolloutAB:
			fe = validateAB(bf, r.AB, s.Ports)
		case RolloutShadow:
			fe = validateShadow(bf, r.Shadow, s.Ports)
		}
		if fe != nil {
			return fe
		}
	}
	if r.Analysis != nil {
		if fe := validateAnalysis(f+".analysis", r.Strategy, r.Analysis); fe != nil {
			return fe
		}
	}
	return nil
}

func validateRamped(f string, r *RampedRollout) *FieldError {
	surge, unavailable := r.MaxSurgeOrDefault(), r.MaxUnavailableOrDefault()
	for _, v := range []struct {
		name  string
		value IntOrPercent
	}{{"maxSurge", surge}, {"maxUnavailable", unavailable}} {
		switch {
		case v.value.Value < 0:
			return fieldErr(f+"."+v.name, "must not be negative")
		case v.value.Percent && v.value.Value > 100:
			return fieldErr(f+"."+v.name, "must be at most 100%%")
		}
	}
	deadline := r.ProgressDeadlineOrDefault()
	switch {
	case surge.Value == 0 && unavailable.Value == 0:
		return fieldErr(f+".maxSurge", "maxSurge and maxUnavailable cannot both be 0 (the rollout could never start)")
	case r.MinReady < 0:
		return fieldErr(f+".minReady", "must not be negative")
	case deadline <= 0:
		// As in Kubernetes and Argo Rollouts, where the deadline must
		// exceed minReadySeconds: 0 is not "no deadline".
		return fieldErr(f+".progressDeadline", "must be greater than minReady (%s), got %s; to wait without a deadline, write a long one such as 24h", r.MinReady, deadline)
	case deadline <= r.MinReady:
		return fieldErr(f+".progressDeadline", "must be greater than minReady (%s)", r.MinReady)
	}
	return nil
}

func validateBlueGreen(f string, b *BlueGreen) *FieldError {
	if b.AutoPromoteAfter != nil && *b.AutoPromoteAfter <= 0 {
		return fieldErr(f+".autoPromoteAfter", "must be greater than 0 (leave it out to promote by hand)")
	}
	if b.ScaleDownDelayOrDefault() < 0 {
		return fieldErr(f+".scaleDownDelay", "must not be negative (0 stops blue at once on promotion)")
	}
	return nil
}

func validateCanary(f string, c *CanaryRollout) *FieldError {
	if len(c.Steps) == 0 {
		return fieldErr(f+".steps", "at least one step is required")
	}
	previous := 0
	for i, step := range c.Steps {
		sf := indexPath(f+".steps", i)
		switch {
		case step.Weight < 1 || step.Weight > 100:
			return fieldErr(sf+".weight", "must be between 1 and 100")
		case step.Weight <= previous:
			return fieldErr(sf+".weight", "must be greater than the previous step's weight (%d)", previous)
		}
		previous = step.Weight
		if step.Pause == nil {
			continue
		}
		if i == len(c.Steps)-1 {
			return fieldErr(sf+".pause", "the last step takes no pause (the rollout completes after it)")
		}
		if !step.Pause.Manual && step.Pause.Duration <= 0 {
			return fieldErr(sf+".pause", "must be greater than 0s (or manual)")
		}
	}
	return nil
}

// validateAB is in ab.go.

func validateShadow(f string, sh *ShadowRollout, ports []Port) *FieldError {
	if sh.Percent == 0 {
		return fieldErr(f+".percent", "required: the share of requests copied to the new revision, greater than 0%% and at most 100%%")
	}
	if !(sh.Percent > 0 && sh.Percent <= 100) {
		return fieldErr(f+".percent", "must be greater than 0%% and at most 100%%, got %s", sh.Percent)
	}
	if !slices.ContainsFunc(ports, func(p Port) bool { return p.Protocol == ProtocolHTTP }) {
		// Only the proxy's HTTP path copies requests.
		return fieldErr(f, "needs a port with protocol http: only HTTP requests are mirrored")
	}
	if sh.Methods != nil && len(sh.Methods) == 0 {
		return fieldErr(f+".methods", "at least one method (leave methods out for GET, HEAD, OPTIONS)")
	}
	for i, m := range sh.Methods {
		mf := indexPath(f+".methods", i)
		switch {
		case !isHTTPToken(m):
			return fieldErr(mf, "invalid method %q", m)
		case m != strings.ToUpper(m):
			return fieldErr(mf, "methods are case-sensitive: write %q, as clients send it", strings.ToUpper(m))
		case m == "CONNECT":
			return fieldErr(mf, "CONNECT is not proxied, so it cannot be mirrored")
		case slices.Contains(sh.Methods[:i], m):
			return fieldErr(mf, "%s is listed twice", m)
		}
	}
	if b := sh.BaselineOrDefault(); !(b >= 0 && b <= 100) {
		return fieldErr(f+".baseline", "must be between 0%% and 100%%, got %s", b)
	}
	if sh.Replicas != nil && *sh.Replicas < 1 {
		return fieldErr(f+".replicas", "must be at least 1, got %d (leave it out to size by percent)", *sh.Replicas)
	}
	for i, h := range sh.Compare.IgnoreHeaders {
		switch {
		case h == "":
			return fieldErr(indexPath(f+".compare.ignoreHeaders", i), "must not be empty")
		case !isHTTPToken(h):
			return fieldErr(indexPath(f+".compare.ignoreHeaders", i), "invalid header name %q", h)
		}
	}
	for i, field := range sh.Compare.IgnoreJSONFields {
		if field == "" {
			return fieldErr(indexPath(f+".compare.ignoreJSONFields", i), "must not be empty")
		}
		if _, err := ParseJSONFieldPath(field); err != nil {
			return fieldErr(indexPath(f+".compare.ignoreJSONFields", i), "cannot read %q: %v (write e.g. time, meta.time, items[*].price)", field, err)
		}
	}
	return nil
}

func validateAnalysis(f, strategy string, a *AnalysisConfig) *FieldError {
	switch strategy {
	case RolloutCanary, RolloutBlueGreen, RolloutShadow:
	default:
		return fieldErr(f, "only used by strategies canary, blue-green and shadow (strategy is %s)", strategy)
	}
	percentOK := func(p *Percent) bool { return p == nil || (*p >= 0 && *p <= 100) }
	switch {
	case a.Interval <= 0:
		return fieldErr(f+".interval", "must be greater than 0")
	case a.Interval > Duration(time.Minute):
		// The leader keeps a minute of traffic figures.
		return fieldErr(f+".interval", "must be at most 1m (the traffic figures cover the last minute)")
	case !percentOK(a.MaxErrorRate):
		return fieldErr(f+".maxErrorRate", "must be between 0%% and 100%%, got %s", *a.MaxErrorRate)
	case a.MaxP99Latency < 0:
		return fieldErr(f+".maxP99Latency", "must not be negative")
	case a.MaxDiffRate != nil && strategy != RolloutShadow:
		// Only a shadow rollout compares two answers to one request.
		return fieldErr(f+".maxDiffRate", "only used by strategy shadow (strategy is %s)", strategy)
	case !percentOK(a.MaxDiffRate):
		return fieldErr(f+".maxDiffRate", "must be between 0%% and 100%%, got %s", *a.MaxDiffRate)
	case a.FailureLimitOrDefault() < 1:
		// The failed runs that abort, not Argo's failures tolerated.
		return fieldErr(f+".failureLimit", "must be at least 1, got %d: it counts the failed runs that abort the rollout; 1 aborts at the first (Argo's failureLimit: 0)", a.FailureLimitOrDefault())
	case a.MaxErrorRate == nil && a.MaxP99Latency == 0 && a.MaxDiffRate == nil:
		return fieldErr(f, "set at least one of maxErrorRate, maxP99Latency, maxDiffRate")
	}
	return nil
}

// isHTTPToken reports whether s is an HTTP token (RFC 9110), as header and
// cookie names must be.
func isHTTPToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func sortedMapKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
