// Package loadgen is Flotilla's built-in HTTP load generator, the engine of
// `flotilla load` and of the scenarios' load steps.
//
// It is open-loop: request i is due at start + i/Rate (with a rate profile,
// when the integral of the rate reaches i: profile.go) whatever happened to
// the requests before it, as wrk2 and vegeta do, so a slow target cannot
// slow the generator down and hide its own slowness. Latency is measured
// from the moment a request was due, not from the moment it went out, so
// time a request spent waiting behind a late scheduler counts against the
// target (no coordinated omission):
//
//	due = start + i/Rate ──► sent (≥ due) ──► headers ──► body read ──► latency = end − due
//
// A request that is due while Concurrency requests are already in flight is
// not sent: it counts as an error of kind "dropped" ("dropped: concurrency
// limit"). Delaying it instead would quietly turn the generator into a
// closed loop whose rate is set by the target; dropping keeps the schedule
// and makes the overload visible in the summary.
//
// Connections are kept alive (one pool sized to Concurrency); redirects are
// not followed (a 3xx is a status like any other); environment proxies are
// ignored, so requests go exactly where the URL says. At most 64 KiB of
// each body is kept, to read the demo workload's version from its JSON; the
// rest is read and discarded so that the connection can be reused.
//
// With Config.Users the requests become visits by N simulated visitors
// (visitors.go): each keeps its own cookie jar (so a proxy's sticky cookie
// sticks), may send its id in a header, browses and sometimes checks out;
// the summary counts visitors, visits, checkouts and conversions (the
// X-Conversion answer header the demo workload sets), by version, for A/B
// labs.
//
// Latency quantiles come from a log-bucketed histogram (histogram.go):
// fixed memory (about 60 KiB) however long the run, within 0.4% of the true
// value.
//
// The package owns the schedule, the HTTP client and the tallies. It must
// not know about services, VIPs or DNS: `flotilla load` resolves a service
// to a URL before it calls Run.
package loadgen
