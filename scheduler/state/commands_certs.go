package state

import "time"

// Commands of the workload CA (fsm_certs.go), which signs services'
// certificates. Its private key arrives in them already sealed by the
// leader under a keyring key (AES-256-GCM, as secrets are), so that the
// Raft log, its snapshots and every server's state hold ciphertext only.
// Certificates themselves are signed by any server and never written to
// Raft.
const (
	CmdSetWorkloadCA    = IgnoreUnknownTypeFlag | 56
	CmdResealWorkloadCA = IgnoreUnknownTypeFlag | 57
)

// SetWorkloadCA stores the workload CA: its certificate (PEM) and its key
// sealed under keyring key KeyID. IfMissing (the leader making the first
// one) stores it only when there is none, so that two leaders in a row
// never replace each other's.
type SetWorkloadCA struct {
	CertPEM     string
	Fingerprint string
	Subject     string
	NotAfter    time.Time
	KeyID       string
	SealedKey   []byte
	Source      string
	IfMissing   bool
	Time        time.Time
	RequestID   string `json:",omitempty"`
}

// ResealWorkloadCA replaces the sealed key of the CA at ModifyIndex with
// the same key sealed under keyring key KeyID (a keyring rotation); a CA
// replaced meanwhile is left alone.
type ResealWorkloadCA struct {
	ModifyIndex uint64
	KeyID       string
	SealedKey   []byte
	Time        time.Time
}
