// Package state owns the control plane's replicated state: the Raft FSM
// (one-byte command type + JSON body, one apply function per command), the
// indexed in-memory store built on hashicorp/go-memdb with watch channels
// for blocking queries, and snapshot/restore of every table.
//
// Applying must be deterministic: IDs derive from the log index, times come
// from the command, iteration orders are sorted. It must not do I/O beyond
// the snapshot stream, nor call time.Now.
package state
