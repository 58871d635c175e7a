package api

import "time"

// Rollout phases.
const (
	PhaseProgressing = "progressing"
	PhasePaused      = "paused"
	PhaseCompleted   = "completed"
	PhaseAborted     = "aborted"
	PhaseFailed      = "failed"
)

// Analysis verdicts.
const (
	VerdictPass         = "pass"
	VerdictFail         = "fail"
	VerdictInconclusive = "inconclusive"
)

// Rollout is the state of a service's newest rollout: which revision is
// being rolled out over which, how far it got, the traffic weights the
// proxies apply and why it is where it is. It lives in Raft, so a new
// leader continues a rollout from the same step.
type Rollout struct {
	Namespace string `json:"namespace"`
	Service   string `json:"service"`
	Strategy  string `json:"strategy"`
	Phase     string `json:"phase"`
	// Revision is the revision being rolled out; StableRevision the one
	// that served before it (the same when the service was created). Once
	// the rollout completes, Revision is the stable one and StableRevision
	// says what it replaced; once it aborts, StableRevision serves.
	Revision       int `json:"revision"`
	StableRevision int `json:"stableRevision"`
	// Step counts the steps taken, of Steps: canary steps; for blue-green
	// 1 once green is up and 2 once promoted; for ramped the new replicas
	// available, of the replica count.
	Step  int `json:"step"`
	Steps int `json:"steps"`
	// Weights is the percentage of the service's traffic each revision
	// gets.
	Weights map[int]int `json:"weights"`
	Reason  string      `json:"reason"`
	// Paused is set by `rollout pause` and cleared by `resume`.
	Paused bool `json:"paused,omitempty"`
	// Promote asks the controller to move past a manual pause (or, with
	// PromoteFull, straight to the end); it clears them once acted on.
	Promote     bool `json:"promote,omitempty"`
	PromoteFull bool `json:"promoteFull,omitempty"`
	// PreviewVIP is the address of SERVICE-preview (blue-green) or
	// SERVICE-canary (canary) while the rollout runs.
	PreviewVIP string `json:"previewVIP,omitempty"`
	// StartTime is when the rollout began, StepTime when the current step
	// took effect (its weight set, its replicas ready), and PromoteTime
	// when blue-green switched traffic.
	StartTime   time.Time `json:"startTime,omitzero"`
	StepTime    time.Time `json:"stepTime,omitzero"`
	PromoteTime time.Time `json:"promoteTime,omitzero"`
	// StartIndex is the Raft index the rollout began at: it tells this
	// rollout's figures from those of an earlier rollout of a revision of
	// the same number (a service deleted and created again).
	StartIndex uint64 `json:"startIndex,omitempty"`
	// ProgressTime is when the rollout last made progress (ramped: a new
	// replica became available; the others: the wait named by Waiting
	// began, or more replicas than ever in it became ready), for the
	// progress deadline.
	ProgressTime time.Time `json:"progressTime,omitzero"`
	// Waiting names what a blue-green, canary, A/B or shadow rollout
	// waits for the new revision's replicas to be ready for ("" when it
	// does not wait), and WaitReady the most of them ready at once since
	// the wait began.
	Waiting   string `json:"waiting,omitempty"`
	WaitReady int    `json:"waitReady,omitempty"`
	// PauseUntil is when a timed pause ends.
	PauseUntil time.Time `json:"pauseUntil,omitzero"`
	// ScaleDownAt is when the old revision stops after a blue-green
	// promotion.
	ScaleDownAt time.Time `json:"scaleDownAt,omitzero"`
	// NextAnalysis is when the next analysis runs; Analysis keeps the most
	// recent ones, newest last; Failures counts failed ones.
	NextAnalysis time.Time     `json:"nextAnalysis,omitzero"`
	Analysis     []AnalysisRun `json:"analysis,omitempty"`
	Failures     int           `json:"failures,omitempty"`
	// Shadow is a shadow rollout's comparison figures as of its last
	// analysis (or refresh); nil for other strategies.
	Shadow *ShadowStatus `json:"shadow,omitempty"`
	// AB is an A/B rollout's experiment (ab.go); nil for other strategies.
	AB *ABState `json:"ab,omitempty"`
	// RecheckAt is when the controller wants to look again (a pause, an
	// analysis, minReady, a deadline); the leader evaluates the service
	// then.
	RecheckAt   time.Time `json:"recheckAt,omitzero"`
	EndTime     time.Time `json:"endTime,omitzero"`
	ModifyTime  time.Time `json:"modifyTime,omitzero"`
	CreateIndex uint64    `json:"createIndex"`
	ModifyIndex uint64    `json:"modifyIndex"`
}

// Active reports whether the rollout still has work to do.
func (r *Rollout) Active() bool {
	return r.Phase == PhaseProgressing || r.Phase == PhasePaused
}

// Ramping reports whether the rollout's replicas move in waves that follow
// their readiness: a ramped rollout, or a promoted shadow one, that has
// neither completed nor come back wholly to its stable revision. An abort
// or a rollback ramps back after the rollout stopped being Active, and
// decides on replicas' health until it is done; any ready replica serves
// meanwhile.
func (r *Rollout) Ramping() bool {
	waves := r.Strategy == RolloutRamped || r.Strategy == RolloutShadow && !r.PromoteTime.IsZero()
	return waves && r.Phase != PhaseCompleted && !(len(r.Weights) == 1 && r.Weights[r.StableRevision] == 100)
}

// AnalysisRun is one analysis of the new revision against the stable one.
type AnalysisRun struct {
	Time    time.Time `json:"time,omitzero"`
	Step    int       `json:"step"`
	Verdict string    `json:"verdict"`
	// Metric names what decided a failure (errorRate, p99Latency,
	// errorsVsStable, latencyVsStable, diffRate) or an inconclusive run
	// (samples).
	Metric  string          `json:"metric,omitempty"`
	Message string          `json:"message"`
	Canary  AnalysisFigures `json:"canary"`
	Stable  AnalysisFigures `json:"stable"`
	// Shadow is the comparison figures a shadow rollout's run judged
	// (counts only: the fields are in Rollout.Shadow).
	Shadow *ShadowStatus `json:"shadow,omitempty"`
}

// AnalysisFigures are one revision's figures over an analysis window.
type AnalysisFigures struct {
	Revision  int     `json:"revision"`
	Requests  uint64  `json:"requests"`
	Errors    uint64  `json:"errors"`
	ErrorRate float64 `json:"errorRate"`
	P50Ms     float64 `json:"p50Ms"`
	P99Ms     float64 `json:"p99Ms"`
}

// Rollout actions, for POST /v1/services/{ns}/{name}/rollout/{action}.
const (
	ActionPromote = "promote"
	ActionPause   = "pause"
	ActionResume  = "resume"
	ActionAbort   = "abort"
	// ActionRetry starts an aborted or failed rollout again from its
	// first step (Argo Rollouts' retry).
	ActionRetry = "retry"
)

// RolloutAction is the body of a rollout action.
type RolloutAction struct {
	// Full promotes all the way (canary: skip the remaining steps).
	Full bool `json:"full,omitempty"`
}

// UndoRequest is the body of POST /v1/services/{ns}/{name}/rollout/undo:
// roll out the spec of ToRevision again (0: the revision before the
// current one), with the service's current rollout strategy.
type UndoRequest struct {
	ToRevision int `json:"toRevision,omitempty"`
}

// Rollout event types; every transition records one with its reason.
const (
	EventRolloutStarted   = "RolloutStarted"
	EventRolloutStep      = "RolloutStep"
	EventRolloutPaused    = "RolloutPaused"
	EventRolloutResumed   = "RolloutResumed"
	EventRolloutPromoted  = "RolloutPromoted"
	EventRolloutCompleted = "RolloutCompleted"
	EventRolloutAborted   = "RolloutAborted"
	EventRolloutFailed    = "RolloutFailed"
	EventAnalysisRun      = "AnalysisRun"
)
