// Package scenario reads teaching scenarios and runs them live.
//
// A scenario is a YAML file: a title, what it teaches, the lab it needs
// and a list of steps (say, apply, delete, wait, expect, load, fault,
// rollout, scale, drain, sleep). Parse decodes it strictly (an unknown
// field is an error naming the step and field, as apply's are) and checks
// every step before anything runs (format.go, validate.go).
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
