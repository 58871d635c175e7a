package api

import (
	"encoding/json"
	"time"
)

// Defaults, in one place. A field left out of a document gets the value
// below. Where 0 means something (a tolerance of 0, no scale-down delay)
// the field is a pointer, so that a written 0 is kept as 0; where it does
// not (a probe period, a restart window), a written 0 is also "left out",
// as in Kubernetes. SetDefaults is idempotent, and a defaulted spec written
// as JSON and decoded again is equal to itself, so a spec read back from the
// API can be applied again unchanged.
const (
	// defaultReplicas when replicas is omitted and there is no autoscale
	// block (with one, replicas starts at autoscale.min).
	defaultReplicas = 1
	// defaultCPU and defaultMemory are what a replica reserves when
	// resources leave them out.
	defaultCPU    CPU    = 100
	defaultMemory Memory = 64 << 20

	// Probe timing, as Kubernetes has it.
	defaultProbePeriod           = Duration(10 * time.Second)
	defaultProbeTimeout          = Duration(time.Second)
	defaultProbeFailureThreshold = 3
	defaultProbeSuccessThreshold = 1
	defaultProbeHTTPPath         = "/"

	defaultMaxRestarts    = 5
	defaultRestartWindow  = Duration(5 * time.Minute)
	defaultRestartBackoff = Duration(time.Second)
	defaultMaxBackoff     = Duration(time.Minute)

	// defaultAutoscaleMin is HPA's minReplicas default; min: 0, written,
	// is scale to zero.
	defaultAutoscaleMin                = 1
	defaultAutoscaleTolerance  Percent = 10
	defaultStabilizationWindow         = Duration(5 * time.Minute)

	defaultRevisionHistory  = 10
	defaultProgressDeadline = Duration(10 * time.Minute)
	defaultScaleDownDelay   = Duration(30 * time.Second)

	defaultAnalysisInterval     = Duration(10 * time.Second)
	defaultAnalysisFailureLimit = 2

	defaultShadowBaseline Percent = 50
)

// defaultMaxSurge is the ramped rollout's surge when neither maxSurge nor
// maxUnavailable is set.
var defaultMaxSurge = IntOrPercent{Value: 25, Percent: true}

// SetDefaults fills what the document left out. It is the one place
// defaults are applied; decoding calls it before Validate.
func (s *ServiceSpec) SetDefaults() {
	// kind stays as written: a missing kind is an error, not a default.
	if s.Namespace == "" {
		s.Namespace = DefaultNamespace
	}
	if s.Replicas == nil {
		n := defaultReplicas
		if s.Autoscale != nil {
			n = s.Autoscale.Min
		}
		s.Replicas = &n
	}
	if s.Resources.CPU == 0 {
		s.Resources.CPU = defaultCPU
	}
	if s.Resources.Memory == 0 {
		s.Resources.Memory = defaultMemory
	}
	for i := range s.Ports {
		if s.Ports[i].Protocol == "" {
			s.Ports[i].Protocol = ProtocolTCP
		}
	}
	// configs: reload restart; reload signal: SIGHUP.
	for i := range s.Configs {
		c := &s.Configs[i]
		if c.Reload == "" {
			c.Reload = ReloadRestart
		}
		if c.Reload == ReloadSignal && c.Signal == "" {
			c.Signal = "SIGHUP"
		}
	}
	if s.Placement.Strategy == "" {
		s.Placement.Strategy = StrategySpread
	}
	// loadBalancing: round-robin.
	if s.LoadBalancing == "" {
		s.LoadBalancing = BalanceRoundRobin
	}
	for _, p := range []*Probe{s.Probes.Startup, s.Probes.Readiness, s.Probes.Liveness} {
		if p != nil {
			p.setDefaults()
		}
	}
	s.Restart.setDefaults()
	if a := s.Autoscale; a != nil {
		fillUnset(&a.Tolerance, defaultAutoscaleTolerance)
		fillUnset(&a.StabilizationWindow, defaultStabilizationWindow)
	}
	s.Rollout.setDefaults()
	s.setCertificateDefaults() // certs.go
	s.dropEmpty()
}

// setDefaults: period 10s, timeout 1s, failureThreshold 3,
// successThreshold 1, initialDelay 0, HTTP path "/".
func (p *Probe) setDefaults() {
	if p.Period == 0 {
		p.Period = defaultProbePeriod
	}
	if p.Timeout == 0 {
		p.Timeout = defaultProbeTimeout
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = defaultProbeFailureThreshold
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = defaultProbeSuccessThreshold
	}
	if p.HTTP != nil && p.HTTP.Path == "" {
		p.HTTP.Path = defaultProbeHTTPPath
	}
	if p.HTTP != nil && len(p.HTTP.Headers) == 0 {
		p.HTTP.Headers = nil
	}
}

// setDefaults: policy always, maxRestarts 5 (a written 0 stays: the first
// exit fails the replica), window 5m, backoff 1s, maxBackoff 1m or the
// backoff when that is longer, so that a long backoff alone is not an
// error.
func (r *RestartPolicy) setDefaults() {
	if r.Policy == "" {
		r.Policy = RestartAlways
	}
	fillUnset(&r.MaxRestarts, defaultMaxRestarts)
	if r.Window == 0 {
		r.Window = defaultRestartWindow
	}
	if r.Backoff == 0 {
		r.Backoff = defaultRestartBackoff
	}
	if r.MaxBackoff == 0 {
		r.MaxBackoff = max(defaultMaxBackoff, r.Backoff)
	}
}

// setDefaults: strategy ramped, revisionHistory 10; the chosen strategy's
// block is created when absent and filled; blocks of other strategies are
// left alone for Validate to refuse.
func (r *RolloutSpec) setDefaults() {
	if r.Strategy == "" {
		r.Strategy = RolloutRamped
	}
	fillUnset(&r.RevisionHistory, defaultRevisionHistory)
	// rollout.progressDeadline stays unset (ProgressDeadlineOrDefault):
	// filled, it would change the specs stored before it existed, and a
	// re-apply of one would make a new revision.
	switch r.Strategy {
	case RolloutRamped:
		if r.Ramped == nil {
			r.Ramped = &RampedRollout{}
		}
		// maxSurge 25% and maxUnavailable 0 when neither is set. When
		// one is set the other is 0, so "maxSurge: 0, maxUnavailable: 1"
		// means what it says, and both written as 0 stay 0 for Validate
		// to refuse.
		if r.Ramped.MaxSurge == nil && r.Ramped.MaxUnavailable == nil {
			r.Ramped.MaxSurge = new(defaultMaxSurge)
		}
		fillUnset(&r.Ramped.MaxSurge, IntOrPercent{})
		fillUnset(&r.Ramped.MaxUnavailable, IntOrPercent{})
		fillUnset(&r.Ramped.ProgressDeadline, defaultProgressDeadline)
	case RolloutBlueGreen:
		if r.BlueGreen == nil {
			r.BlueGreen = &BlueGreen{}
		}
		// scaleDownDelay 30s; autoPromoteAfter stays unset (promotion by
		// a person).
		fillUnset(&r.BlueGreen.ScaleDownDelay, defaultScaleDownDelay)
	case RolloutCanary:
		// Steps have no default: Validate asks for them.
		if r.Canary == nil {
			r.Canary = &CanaryRollout{}
		}
	case RolloutAB:
		if r.AB == nil {
			r.AB = &ABRollout{}
		}
		r.AB.setDefaults()
	case RolloutShadow:
		// methods GET, HEAD, OPTIONS; baseline 50%; replicas stay unset
		// (sized by percent, which depends on the replica count).
		if r.Shadow == nil {
			r.Shadow = &ShadowRollout{}
		}
		if r.Shadow.Methods == nil {
			r.Shadow.Methods = append([]string(nil), DefaultShadowMethods...)
		}
		fillUnset(&r.Shadow.Baseline, defaultShadowBaseline)
	}
	// analysis (when present): interval 10s, failureLimit 2.
	if a := r.Analysis; a != nil {
		if a.Interval == 0 {
			a.Interval = defaultAnalysisInterval
		}
		fillUnset(&a.FailureLimit, defaultAnalysisFailureLimit)
	}
}

// fillUnset points *field at def when the document left the field out.
func fillUnset[T any](field **T, def T) {
	if *field == nil {
		*field = &def
	}
}

// valueOr is *field, or def when it is unset.
func valueOr[T any](field *T, def T) T {
	if field == nil {
		return def
	}
	return *field
}

// The OrDefault methods read a pointer setting as the cluster uses it: the
// value written, or the default when it was left out (SetDefaults fills
// these, so only a spec built in Go without it sees the default here).

// MaxRestartsOrDefault is restart.maxRestarts (default 5).
func (r RestartPolicy) MaxRestartsOrDefault() int {
	return valueOr(r.MaxRestarts, defaultMaxRestarts)
}

// ToleranceOrDefault is autoscale.tolerance (default 10%).
func (a Autoscale) ToleranceOrDefault() Percent {
	return valueOr(a.Tolerance, defaultAutoscaleTolerance)
}

// StabilizationWindowOrDefault is autoscale.stabilizationWindow (default 5m).
func (a Autoscale) StabilizationWindowOrDefault() Duration {
	return valueOr(a.StabilizationWindow, defaultStabilizationWindow)
}

// RevisionHistoryOrDefault is rollout.revisionHistory (default 10).
func (r RolloutSpec) RevisionHistoryOrDefault() int {
	return valueOr(r.RevisionHistory, defaultRevisionHistory)
}

// MaxSurgeOrDefault is rollout.ramped.maxSurge (default 25% when
// maxUnavailable is not set either, else 0).
func (r *RampedRollout) MaxSurgeOrDefault() IntOrPercent {
	if r.MaxSurge == nil && r.MaxUnavailable == nil {
		return defaultMaxSurge
	}
	return valueOr(r.MaxSurge, IntOrPercent{})
}

// MaxUnavailableOrDefault is rollout.ramped.maxUnavailable (default 0).
func (r *RampedRollout) MaxUnavailableOrDefault() IntOrPercent {
	return valueOr(r.MaxUnavailable, IntOrPercent{})
}

// ProgressDeadlineOrDefault is rollout.progressDeadline (default 10m), for
// strategies other than ramped.
func (r *RolloutSpec) ProgressDeadlineOrDefault() Duration {
	return valueOr(r.ProgressDeadline, defaultProgressDeadline)
}

// ProgressDeadlineOrDefault is rollout.ramped.progressDeadline (default 10m).
func (r *RampedRollout) ProgressDeadlineOrDefault() Duration {
	return valueOr(r.ProgressDeadline, defaultProgressDeadline)
}

// ScaleDownDelayOrDefault is rollout.blueGreen.scaleDownDelay (default 30s).
func (b *BlueGreen) ScaleDownDelayOrDefault() Duration {
	return valueOr(b.ScaleDownDelay, defaultScaleDownDelay)
}

// BaselineOrDefault is rollout.shadow.baseline (default 50%).
func (s *ShadowRollout) BaselineOrDefault() Percent {
	return valueOr(s.Baseline, defaultShadowBaseline)
}

// FailureLimitOrDefault is rollout.analysis.failureLimit (default 2).
func (a *AnalysisConfig) FailureLimitOrDefault() int {
	return valueOr(a.FailureLimit, defaultAnalysisFailureLimit)
}

// UnmarshalJSON reads an autoscale block whose min is 1 when the document
// leaves it out (HPA's minReplicas default), and 0 only when written: min
// 0 is scale to zero. Min is the one default applied while decoding rather
// than by SetDefaults: it stays a plain int, read in many places, so it
// cannot record that it was left out. Every spec the cluster wrote has min,
// so this changes no stored spec.
func (a *Autoscale) UnmarshalJSON(data []byte) error {
	type fields Autoscale // the same fields, without this method
	f := fields{Min: defaultAutoscaleMin}
	if err := json.Unmarshal(data, &f); err != nil {
		return err
	}
	*a = Autoscale(f)
	return nil
}

// decodesAsObject: the strict decoder checks autoscale field by field like
// any object; its UnmarshalJSON only fills min first.
func (*Autoscale) decodesAsObject() {}

// dropEmpty turns empty lists and maps into nil: JSON leaves them out
// (omitempty), so this keeps a spec equal to itself after a round trip.
func (s *ServiceSpec) dropEmpty() {
	if len(s.Command) == 0 {
		s.Command = nil
	}
	if len(s.Args) == 0 {
		s.Args = nil
	}
	if len(s.Ports) == 0 {
		s.Ports = nil
	}
	if len(s.Env) == 0 {
		s.Env = nil
	}
	if len(s.Configs) == 0 {
		s.Configs = nil
	}
	if len(s.Secrets) == 0 {
		s.Secrets = nil
	}
	if len(s.Placement.Constraints) == 0 {
		s.Placement.Constraints = nil
	}
	if sh := s.Rollout.Shadow; sh != nil {
		if len(sh.Compare.IgnoreHeaders) == 0 {
			sh.Compare.IgnoreHeaders = nil
		}
		if len(sh.Compare.IgnoreJSONFields) == 0 {
			sh.Compare.IgnoreJSONFields = nil
		}
	}
}
