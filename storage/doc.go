// Package storage owns everything Flotilla keeps on disk: the bbolt-backed
// Raft log and stable store and the Raft snapshot store of a server (under
// its data dir), the agent's local state, and the keyring that encrypts
// secrets at rest (keyring.go: AES-256-GCM keys in a 0600 file, sealing,
// wrapping keys for other servers). It knows nothing of the schema:
// callers hand it bytes. fsync stays on.
package storage
