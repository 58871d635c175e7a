// Package route evaluates a service's route table for one request: which
// revision serves it, which sticky cookie to set, and which revisions get a
// mirrored copy. It is the pure core of the service proxy.
//
// Compile checks a table and compiles its regular expressions once; Pick on
// the compiled table does no compilation and, unless a mirror fires or a
// sticky cookie is set, no allocation. Randomness comes in as a function so
// that a seeded source replays every decision.
//
// It must not do I/O or read the clock: it imports no net, os or time, and
// knows nothing of endpoints, readiness or balancing, which belong to the
// proxy around it.
package route
