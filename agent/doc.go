// Package agent is the node agent: it joins the gossip pool, registers the
// node and heartbeats, long-polls the node's allocations and reconciles
// them, level-triggered, against a Runtime through a de-duplicating work
// queue with backoff; it applies restart policies, reports allocation
// status in batches, and keeps what it runs in local state (bbolt) so that
// a restarted agent knows. It serves logs, exec and metrics.
//
// It declares the Runtime it consumes; it must not know which runtime it
// drives, nor talk to Raft: the servers' HTTP API is its only way in.
package agent
