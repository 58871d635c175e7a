package state

import (
	"time"

	"flotilla/api"
)

// Commands of configs, secrets and the keyring that encrypts secrets at
// rest (fsm_secrets.go). Secret values arrive in them already sealed by
// the leader (AES-256-GCM under the active keyring key), so the Raft log,
// its snapshots and every server's state hold ciphertext only; keys travel
// wrapped under the key that was active before them.
const (
	CmdUpsertConfig     = IgnoreUnknownTypeFlag | 50
	CmdDeleteConfig     = IgnoreUnknownTypeFlag | 51
	CmdUpsertSecret     = IgnoreUnknownTypeFlag | 52
	CmdDeleteSecret     = IgnoreUnknownTypeFlag | 53
	CmdKeyringAdd       = IgnoreUnknownTypeFlag | 54
	CmdReencryptSecrets = IgnoreUnknownTypeFlag | 55
)

// UpsertConfig creates a config or replaces its data.
type UpsertConfig struct {
	Namespace, Name string
	Data            map[string]string
	// VIPPool is the leader's VIP pool: a service the change rolls may
	// start a blue-green rollout, whose preview needs an address.
	VIPPool   string
	Time      time.Time
	RequestID string `json:",omitempty"`
}

// DeleteFileObject removes a config (CmdDeleteConfig) or a secret
// (CmdDeleteSecret). Services that use it keep running; new replicas
// wait for it.
type DeleteFileObject struct {
	Namespace, Name string
	Time            time.Time
	RequestID       string `json:",omitempty"`
}

// UpsertSecret creates a secret or replaces its values, sealed under
// keyring key KeyID with the secret's "namespace/name" as additional data.
// Keys and Hash (a keyed hash of the content) are what may be shown.
type UpsertSecret struct {
	Namespace, Name string
	Keys            []api.SecretKey
	Hash            string
	KeyID           string
	Sealed          []byte
	VIPPool         string
	Time            time.Time
	RequestID       string `json:",omitempty"`
}

// KeyringAdd hands every server a new keyring key, wrapped (sealed) under
// key WrappedBy, which they hold; Activate makes it the key new secrets
// are sealed under.
type KeyringAdd struct {
	ID        string
	Wrapped   []byte
	WrappedBy string
	Activate  bool
	Time      time.Time
}

// ReencryptSecrets replaces secrets' sealed values with the same content
// sealed under another key. One whose ModifyIndex moved since the leader
// read it (written meanwhile, under the active key) is left alone; their
// versions and hashes stay: the content did not change.
type ReencryptSecrets struct {
	Secrets []ReencryptedSecret
	Time    time.Time
}

// ReencryptedSecret is one secret sealed again.
type ReencryptedSecret struct {
	Namespace, Name string
	ModifyIndex     uint64
	KeyID           string
	Sealed          []byte
}

// FileUpsertResult says what a config's or secret's write did.
type FileUpsertResult struct {
	Created, Changed bool
	Version          uint64
	Hash             string
	// Revisions are the services given a new revision, "ns/name@N".
	Revisions []string `json:",omitempty"`
}
