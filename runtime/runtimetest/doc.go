// Package runtimetest is the contract every container runtime passes:
// runtime/sim now, runtime/containerd later, against the demo workload.
// Run(t, Harness) runs one subtest per promise, each named after what it
// proves, on a fresh runtime for the node "test-node".
//
// It owns the definition of the contract as behaviour. It must only check
// what every runtime can provide (no sim internals, no containerd details),
// must not import the agent (it declares the same Runtime interface), and
// never sleeps to synchronise: it polls with deadlines. Every container it
// makes is stopped and removed in the subtest's cleanup, so that it can run
// against a shared containerd.
package runtimetest
