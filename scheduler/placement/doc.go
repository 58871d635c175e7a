// Package placement decides on which node each replica of a service goes.
//
// It owns the two steps of that decision and nothing else:
//
//   - feasibility: can this node take one more replica? (node status,
//     eligibility, the service's label constraints, free cpu and memory,
//     free host ports). Check answers it for one node, with the first
//     reason it cannot, and the plan applier calls it again against the
//     newest state before committing a placement.
//   - ranking: of the feasible nodes, which is best? Spread (the default)
//     prefers the node with the fewest replicas of the service, then the
//     least utilised one; binpack prefers the most utilised one.
//
// A Placer places the replicas of one evaluation one at a time. On small
// clusters it scores every node; on large ones it walks a seeded shuffle of
// the nodes and scores only the first few feasible ones it meets, as Nomad
// does, so that a placement costs microseconds at 10,000 nodes. When nothing
// fits, Failure says why, node by node.
//
// The package is pure: it imports only flotilla/api and the standard
// library, does no I/O, keeps no global state and never reads the clock.
// Randomness comes only from the seed the caller passes (derived from the
// evaluation ID), so the same inputs always give the same placements. It
// does not read the state store, build plans or decide how many replicas
// to run: the scheduler worker builds the Nodes from a snapshot and asks.
package placement
