// Package scenario reads teaching scenarios and runs them live.
//
// A scenario is a YAML file: a title, what it teaches, the lab it needs
// and a list of steps (say, apply, delete, wait, expect, load, fault,
// rollout, scale, drain, sleep). Parse decodes it strictly (an unknown
// field is an error naming the step and field, as apply's are) and checks
// every step before anything runs (format.go, validate.go). What it
// refuses, besides unknown fields, each in one line naming the step and
// field:
//
//   - a second YAML document (a scenario is one), and a number that is not
//     finite or out of range;
//   - what a step needs that the steps before it do not give, in either
//     mode a run may play (live, or --virtual: a step marked only: live
//     is left out of a virtual run): a stop of a load not running, last
//     without a node fault, heal without a partition;
//   - a node the lab does not have, wherever a step names one;
//   - an apply file that is not relative to the scenario's directory and
//     inside it;
//   - settings that would do nothing (a load's period or minRate without
//     a profile), a load's rate above MaxLoadRate, and a maxErrorRate that
//     is not a percentage from 0% to 100% (a bare 0.5 is refused: a
//     fault's errorRate reads it as 50%).
//
// The Runner plays the steps against a cluster: it applies specs through
// the API, waits for conditions by polling the API (condition.go), follows
// the cluster's events to narrate them and to wait for them (events.go),
// runs background load with network/loadgen (load.go), and injects faults
// through a lab (kill, pause, resume, restart a node) or the demo app's
// admin endpoints (crash, readiness, liveness, latency, errors; fault.go).
// Every step is reported as it happens (report.go: colour, plain lines or
// JSON lines). StartLab (lab.go) starts a throwaway sim lab for a run.
//
// It talks to the cluster only through the public API and the lab package,
// and must not know the servers' or agents' insides. Time is the wall
// clock: a live run is real time; virtual time is not implemented yet.
package scenario
