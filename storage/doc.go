// Package storage owns everything Flotilla keeps on disk: the bbolt-backed
// Raft log and stable store and the Raft snapshot store of a server (under
// its data dir), and later the agent's local state. It knows nothing of the
// schema: callers hand it bytes. fsync stays on.
package storage
