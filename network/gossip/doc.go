// Package gossip wires hashicorp/memberlist for Flotilla: servers and agents
// share one pool, each announcing its role and addresses in its node meta.
// It offers a level-triggered view (Members, Changed) rather than a stream
// of events, so consumers reconcile instead of counting messages. It must
// not know about Raft or the scheduler.
package gossip
