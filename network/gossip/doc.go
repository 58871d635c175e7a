// Package gossip wires hashicorp/memberlist for Flotilla: servers and agents
// share one pool, each announcing its role and addresses in its node meta.
// It offers a level-triggered view (Members, Changed) rather than a stream
// of events, so consumers reconcile instead of counting messages. A member
// that failed keeps the meta it last announced, and the pool keeps joining
// the addresses it was given and the members it lost, so that it heals
// after a partition. It must not know about Raft or the scheduler.
//
// With a key the pool's gossip is encrypted (memberlist's AES-GCM keyring)
// and nothing in the clear or under another key is accepted. The keyring
// is kept in a file (keyring.go) and changed across the whole pool by
// Keyring (keyring_ops.go): the asking member sends each alive member a
// request through the encrypted gossip itself and matches their answers
// to it by ID.
package gossip
