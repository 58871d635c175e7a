package api

// KindService is the kind of a service document.
const KindService = "Service"

// ServiceSpec is one service document as users write it (every field is in
// docs/SPEC.md). Decode it with DecodeServices or DecodeServiceJSON, which
// apply defaults and validate; a spec read back from the API is complete and
// can be applied again unchanged.
//
// A setting whose 0 means something (scaleDownDelay: 0 scales blue down at
// once) is a pointer: nil is "left out", which SetDefaults fills, and a
// pointer to 0 is the 0 the user wrote. Consumers read these through their
// OrDefault methods, which also serve a spec SetDefaults has not seen.
type ServiceSpec struct {
	Kind      string            `json:"kind"`
	Name      string            `json:"name"`
	Namespace string            `json:"namespace,omitempty"`
	Image     string            `json:"image"`
	Command   []string          `json:"command,omitempty"`
	Args      []string          `json:"args,omitempty"`
	Replicas  *int              `json:"replicas,omitempty"`
	Resources Resources         `json:"resources"`
	Ports     []Port            `json:"ports,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
	Configs   []ConfigMount     `json:"configs,omitempty"`
	Secrets   []SecretRef       `json:"secrets,omitempty"`
	// Certificates of the workload CA in every replica (certs.go).
	Certificates []CertificateSpec `json:"certificates,omitempty"`
	// ClusterIP is empty (the service gets a virtual IP) or "none" (a
	// headless service: DNS answers the ready endpoints' addresses).
	ClusterIP string `json:"clusterIP,omitempty"`
	// LoadBalancing is how every node's proxy picks among ready replicas:
	// round-robin (default), least-request or p2c (power of two choices).
	LoadBalancing string        `json:"loadBalancing,omitempty"`
	Placement     PlacementSpec `json:"placement"`
	Probes        Probes        `json:"probes,omitempty"`
	Restart       RestartPolicy `json:"restart"`
	Autoscale     *Autoscale    `json:"autoscale,omitempty"`
	Rollout       RolloutSpec   `json:"rollout"`
}

// ReplicaCount is the desired number of replicas once defaults are applied.
func (s *ServiceSpec) ReplicaCount() int {
	if s.Replicas == nil {
		return 0
	}
	return *s.Replicas
}

// Resources is what one replica reserves on its node.
type Resources struct {
	CPU    CPU    `json:"cpu"`
	Memory Memory `json:"memory"`
}

// Add returns r + o.
func (r Resources) Add(o Resources) Resources {
	return Resources{CPU: r.CPU + o.CPU, Memory: r.Memory + o.Memory}
}

// Sub returns r - o.
func (r Resources) Sub(o Resources) Resources {
	return Resources{CPU: r.CPU - o.CPU, Memory: r.Memory - o.Memory}
}

// Fits reports whether r fits within capacity c.
func (r Resources) Fits(c Resources) bool { return r.CPU <= c.CPU && r.Memory <= c.Memory }

// Protocols a port may speak.
const (
	ProtocolHTTP = "http"
	ProtocolTCP  = "tcp"
)

// Port is a port the service listens on. HostPort, when set, reserves that
// port on the node, so two replicas needing it never share a node.
type Port struct {
	Name     string `json:"name"`
	Port     int    `json:"port"`
	Protocol string `json:"protocol,omitempty"`
	HostPort int    `json:"hostPort,omitempty"`
}

// ConfigMount mounts a named config (kind: Config) read-only: each of its
// keys is a file under Path. A change of the config rolls the service
// (a new revision, through its rollout strategy), unless Reload is
// "signal": the files are then rewritten in place and the container sent
// Signal.
type ConfigMount struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Reload string `json:"reload,omitempty"`
	Signal string `json:"signal,omitempty"`
}

// SecretRef exposes a named secret (kind: Secret): each key as a file
// under Path (mode 0400), and Env maps environment variables to keys
// ({DB_PASSWORD: password}). A change of the secret rolls the service.
type SecretRef struct {
	Name string            `json:"name"`
	Path string            `json:"path,omitempty"`
	Env  map[string]string `json:"env,omitempty"`
}

// Placement strategies.
const (
	StrategySpread  = "spread"
	StrategyBinpack = "binpack"
)

// PlacementSpec says how replicas are spread over nodes.
type PlacementSpec struct {
	Strategy    string       `json:"strategy,omitempty"`
	Constraints []Constraint `json:"constraints,omitempty"`
}

// Constraint operators.
const (
	OpEqual    = "=="
	OpNotEqual = "!="
	OpIn       = "in"
	OpNotIn    = "not in"
)

// Constraint is a condition on node labels, written "zone != b" or
// "zone in (a, b)". The key "node.name" matches the node's name.
type Constraint struct {
	Key    string
	Op     string
	Values []string
}

// Probes are the health checks of one replica; startup holds the others off
// until it has succeeded.
type Probes struct {
	Startup   *Probe `json:"startup,omitempty"`
	Readiness *Probe `json:"readiness,omitempty"`
	Liveness  *Probe `json:"liveness,omitempty"`
}

// Probe is one health check; exactly one of HTTP, TCP and Exec is set.
type Probe struct {
	HTTP             *HTTPProbe `json:"http,omitempty"`
	TCP              *TCPProbe  `json:"tcp,omitempty"`
	Exec             *ExecProbe `json:"exec,omitempty"`
	InitialDelay     Duration   `json:"initialDelay,omitempty"`
	Period           Duration   `json:"period,omitempty"`
	Timeout          Duration   `json:"timeout,omitempty"`
	SuccessThreshold int        `json:"successThreshold,omitempty"`
	FailureThreshold int        `json:"failureThreshold,omitempty"`
}

// HTTPProbe succeeds on a status from 200 to 399.
type HTTPProbe struct {
	Path    string            `json:"path,omitempty"`
	Port    PortRef           `json:"port"`
	Headers map[string]string `json:"headers,omitempty"`
}

// TCPProbe succeeds when a connection opens.
type TCPProbe struct {
	Port PortRef `json:"port"`
}

// ExecProbe succeeds when the command exits 0 inside the container.
type ExecProbe struct {
	Command []string `json:"command"`
}

// Restart policies.
const (
	RestartAlways    = "always"
	RestartOnFailure = "on-failure"
	RestartNever     = "never"
)

// RestartPolicy says when a replica that exited is started again on its node
// and when it is given up and replaced elsewhere.
type RestartPolicy struct {
	Policy string `json:"policy,omitempty"`
	// MaxRestarts within Window; past it the allocation fails and is
	// replaced, preferably on another node. 0: the first exit fails it
	// (no restart in place).
	MaxRestarts *int     `json:"maxRestarts,omitempty"`
	Window      Duration `json:"window,omitempty"`
	Backoff     Duration `json:"backoff,omitempty"`
	MaxBackoff  Duration `json:"maxBackoff,omitempty"`
}

// Autoscale metrics.
const (
	MetricCPU      = "cpu"
	MetricMemory   = "memory"
	MetricInflight = "inflight"
	MetricRPS      = "rps"
)

// Autoscale keeps Metric per replica near Target by changing the replica
// count between Min and Max.
type Autoscale struct {
	// Min 0 is scale to zero. A document that leaves min out gets 1 (see
	// UnmarshalJSON); in Go there is no "left out": 0 is 0.
	Min    int     `json:"min"`
	Max    int     `json:"max"`
	Metric string  `json:"metric"`
	Target float64 `json:"target"`
	// Tolerance is how far from Target the ratio may stray before
	// scaling; 0 reacts to any difference.
	Tolerance *Percent `json:"tolerance,omitempty"`
	// StabilizationWindow: scale down to the highest recommendation seen
	// within it, so that a dip does not remove replicas at once; 0 scales
	// down at once.
	StabilizationWindow *Duration `json:"stabilizationWindow,omitempty"`
	// Forecast, when set, also scales on a seasonal forecast of the
	// metric, so that a periodic peak finds its replicas ready.
	Forecast *Forecast `json:"forecast,omitempty"`
}

// Forecast: the load repeats every Season; the autoscaler asks for the
// replicas the load forecast Lookahead ahead needs.
type Forecast struct {
	Season    Duration `json:"season"`
	Lookahead Duration `json:"lookahead"`
}

// Rollout strategies.
const (
	RolloutRamped    = "ramped"
	RolloutBlueGreen = "blue-green"
	RolloutCanary    = "canary"
	RolloutAB        = "ab"
	RolloutShadow    = "shadow"
)

// RolloutSpec says how a new revision replaces the running one. Only the
// block named by Strategy may be set.
type RolloutSpec struct {
	Strategy string `json:"strategy,omitempty"`
	// RevisionHistory counts the kept revisions, the current one included.
	RevisionHistory *int `json:"revisionHistory,omitempty"`
	// ProgressDeadline bounds a blue-green, canary, A/B or shadow
	// rollout's wait for its new revision's replicas to be ready (Argo
	// Rollouts' progressDeadlineSeconds): with no replica more ready for
	// that long it fails, back to the stable revision. Ramped rollouts
	// have their own (RampedRollout.ProgressDeadline).
	ProgressDeadline *Duration       `json:"progressDeadline,omitempty"`
	Ramped           *RampedRollout  `json:"ramped,omitempty"`
	BlueGreen        *BlueGreen      `json:"blueGreen,omitempty"`
	Canary           *CanaryRollout  `json:"canary,omitempty"`
	AB               *ABRollout      `json:"ab,omitempty"`
	Shadow           *ShadowRollout  `json:"shadow,omitempty"`
	Analysis         *AnalysisConfig `json:"analysis,omitempty"`
}

// RampedRollout replaces replicas in waves. MaxSurge and MaxUnavailable
// are pointers so that both written as 0 is refused rather than taken for
// "neither set" (which surges 25%).
type RampedRollout struct {
	MaxSurge         *IntOrPercent `json:"maxSurge,omitempty"`
	MaxUnavailable   *IntOrPercent `json:"maxUnavailable,omitempty"`
	MinReady         Duration      `json:"minReady,omitempty"`
	ProgressDeadline *Duration     `json:"progressDeadline,omitempty"`
	AutoRollback     bool          `json:"autoRollback,omitempty"`
}

// BlueGreen starts a full new set and switches traffic in one step.
type BlueGreen struct {
	// AutoPromoteAfter, when nil, leaves promotion to a person.
	AutoPromoteAfter *Duration `json:"autoPromoteAfter,omitempty"`
	// ScaleDownDelay: how long blue runs on after promotion; 0 stops it
	// at once.
	ScaleDownDelay *Duration `json:"scaleDownDelay,omitempty"`
}

// CanaryRollout shifts traffic weight to the new revision in steps.
type CanaryRollout struct {
	Steps  []CanaryStep `json:"steps"`
	Sticky bool         `json:"sticky,omitempty"`
}

// CanaryStep sends Weight percent of traffic to the new revision, then
// pauses (no pause on the last step).
type CanaryStep struct {
	Weight int    `json:"weight"`
	Pause  *Pause `json:"pause,omitempty"`
}

// ABRollout is in ab.go.

// Match is one request rule: a header or a cookie, compared exactly, by
// prefix or by regular expression (exactly one of the three).
type Match struct {
	Header *ValueMatch `json:"header,omitempty"`
	Cookie *ValueMatch `json:"cookie,omitempty"`
}

// ValueMatch compares a named header or cookie.
type ValueMatch struct {
	Name   string `json:"name"`
	Exact  string `json:"exact,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	Regex  string `json:"regex,omitempty"`
}

// ShadowRollout mirrors a share of live traffic to the new revision.
type ShadowRollout struct {
	Percent Percent `json:"percent"`
	// Methods are the request methods mirrored (default GET, HEAD,
	// OPTIONS: those without side effects).
	Methods []string `json:"methods,omitempty"`
	// Baseline is the share of mirrored requests also sent to a second
	// stable replica, whose differences from the first are learned as
	// noise (default 50%; 0 learns none).
	Baseline *Percent `json:"baseline,omitempty"`
	// Replicas of the new revision while it shadows; nil sizes them by
	// Percent, as a canary's weight does (at least 1).
	Replicas *int          `json:"replicas,omitempty"`
	Compare  ShadowCompare `json:"compare"`
}

// ShadowCompare says which differences between the two answers count.
type ShadowCompare struct {
	Status           bool     `json:"status,omitempty"`
	Body             bool     `json:"body,omitempty"`
	IgnoreHeaders    []string `json:"ignoreHeaders,omitempty"`
	IgnoreJSONFields []string `json:"ignoreJSONFields,omitempty"`
}

// AnalysisConfig is what a canary, blue-green or shadow rollout measures
// before it promotes, and how often failures abort it.
type AnalysisConfig struct {
	Interval      Duration `json:"interval,omitempty"`
	MaxErrorRate  *Percent `json:"maxErrorRate,omitempty"`
	MaxP99Latency Duration `json:"maxP99Latency,omitempty"`
	MaxDiffRate   *Percent `json:"maxDiffRate,omitempty"`
	// FailureLimit is the number of failed runs that aborts.
	FailureLimit *int `json:"failureLimit,omitempty"`
}
