// Package rollout holds the rollout strategies as pure state machines.
//
// Decide takes a service (its spec and newest revision), the state of its
// rollout, its allocations with their health, the traffic figures the
// proxies reported and the time, and returns the rollout's next state, the
// replicas each revision should have, the transitions to record as events
// and when to look again. Routes turns a rollout into the route table every
// proxy applies. Nothing here does I/O or reads a clock: the scheduler's
// worker calls Decide and commits what it returns through Raft, together
// with the placements, so that a leader change never repeats or skips a
// step.
//
// Strategies:
//
//	ramped      waves bounded by maxSurge/maxUnavailable, minReady, progressDeadline, autoRollback
//	blue-green  full green set, SERVICE-preview, promote (manual, timed or by analysis), scaleDownDelay
//	canary      traffic-weight steps, timed or manual pauses, analysis against the stable revision
//
// A/B and shadow arrive with their own issue; the API refuses them meanwhile.
package rollout
