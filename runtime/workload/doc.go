// Package workload is the demo HTTP app that every Flotilla runtime runs: in
// process under runtime/sim, as `flotilla workload` in the demo image under
// runtime/containerd. It is a teaching tool: its flags (ParseArgs, the one
// flag set both share) and its admin endpoints make it slow, flaky,
// unready, dead or crashing on purpose, so that probes, restarts, rollouts,
// canary analysis and autoscaling have something to react to. POST
// /checkout converts with --conversion-rate (marked by the X-Conversion
// header) so that an A/B rollout has a goal to measure, and GET / carries
// the app's time as well as its hostname and allocation, the noisy fields a
// shadow rollout's diffing has to learn to ignore.
//
// It owns its HTTP endpoints, its fault model, its own Prometheus registry
// and its CPU/memory model (Stats). It must not know about the orchestrator:
// it reads its node, allocation and hostname from the environment like any
// container would, and imports nothing of ours but api (for quantities) and
// internal/clock.
//
// Every timer (startup and shutdown delays, fault timers, latency) goes
// through Config.Clock, so that tests and virtual scenarios step time with a
// fake clock instead of sleeping. Only the real CPU burn of
// --cpu-per-request (when not Simulated) uses the wall clock.
package workload
