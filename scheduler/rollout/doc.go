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
//	shadow      the new revision answers mirrored copies only; analysis of the proxies' merged
//	            response diffs (maxDiffRate, after noise) and its own errors and p99; promote
//	            ramps it up, abort discards it (shadow.go)
//	ab          users split between stable (A) and new (B) by rule or salted user-key hash;
//	            analysis of the proxies' merged visitor sketches (AnalyzeAB, three planned
//	            looks); autoPromote or a person acts on the verdict (ab.go, abtest.go)
package rollout
