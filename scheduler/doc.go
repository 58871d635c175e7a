// Package scheduler is the control-plane server: Raft wiring (hashicorp/raft
// on bbolt), cluster formation over gossip, the leader's evaluation broker,
// scheduler workers, the plan applier, node heartbeats and garbage
// collection, and the api.Backend the HTTP handlers call.
//
// The pipeline (see README.md):
//
//	write ──Raft──▶ FSM ──eval──▶ Broker ──▶ worker: computePlan(snapshot)
//	                  ▲                              │ plan
//	                  └──Raft── plan applier ◀───────┘ (re-checks against the newest state)
//
// Placement decisions live in scheduler/placement (pure); this package only
// gathers their inputs and commits their results.
package scheduler
