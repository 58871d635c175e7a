// Package sketch counts distinct things in bounded memory: a HyperLogLog
// of 2^14 one-byte registers (16 KiB at most) whose merge is a
// register-wise maximum, so sketches from many places, sent again and
// again, combine into the sketch of their union without counting anything
// twice.
//
// The A/B strategy counts its visitors with it: every proxy keeps one
// sketch of user-key hashes per variant and reports it whole; the leader
// merges what it receives and keeps the merged sketches in the rollout
// state at each analysis.
//
// It is pure: no I/O, no clock, no locks (callers serialise).
package sketch
