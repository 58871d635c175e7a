// Package autoscale decides replica counts from load: the ratio formula
// with a tolerance, minimum and maximum, a scale-down stabilisation window,
// rate limits on scaling up, and a panic mode for sudden load (Knative's
// autoscaler: a short window next to the stable one; when the short window
// asks for at least twice the current count, scale up at once and do not
// scale down until the panic ends), and scaling to zero for min 0 after an
// idle window (zero.go). With a forecast block, an additive Holt-Winters
// model of the metric (forecast.go) adds replicas ahead of a periodic peak.
//
// It is pure: the leader feeds it the service's figures and the time, keeps
// its State between calls, and writes what it decides through Raft. It does
// no I/O and reads no clock.
package autoscale
