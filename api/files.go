package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"time"
)

// Configs and secrets: named maps of keys to string values that services
// mount as files (each key a file under the mount's path) or, for
// secrets, read into environment variables. A config is kept as it is; a
// secret's values are encrypted at rest (the servers' keyring) and are
// only ever returned by GET /v1/secrets/{ns}/{name}/values and to the
// agent of a node that runs an allocation using it.

// Kinds of the documents apply takes besides KindService.
const (
	KindConfig = "Config"
	KindSecret = "Secret"
)

// MaxFileObjectBytes bounds one config or secret: its keys and values
// together (as Kubernetes bounds a ConfigMap, smaller: these travel
// through Raft and to every node running a user of them).
const MaxFileObjectBytes = 64 << 10

// maxKeyLength bounds a key, which becomes a file name.
const maxKeyLength = 253

// keyRE is what a key may be: a file name of letters, digits, '.', '_'
// and '-' ("." and ".." excluded), as Kubernetes' ConfigMap keys.
var keyRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// ObjectMeta names a config or secret.
type ObjectMeta struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

// FileObjectSpec is a Config or Secret document as users write it:
//
//	kind: Secret
//	metadata: {name: db, namespace: default}
//	data: {password: s3cret, user: app}
type FileObjectSpec struct {
	Kind     string            `json:"kind"`
	Metadata ObjectMeta        `json:"metadata"`
	Data     map[string]string `json:"data"`
}

// Key is "namespace/name".
func (s *FileObjectSpec) Key() string { return s.Metadata.Namespace + "/" + s.Metadata.Name }

// SetDefaults fills the namespace.
func (s *FileObjectSpec) SetDefaults() {
	if s.Metadata.Namespace == "" {
		s.Metadata.Namespace = DefaultNamespace
	}
	if s.Data == nil {
		s.Data = map[string]string{}
	}
}

// Validate reports the first problem of a defaulted document as a
// *FieldError naming the field. Values are never part of a message.
func (s *FileObjectSpec) Validate() error {
	if fe := s.validate(); fe != nil {
		return fe
	}
	return nil
}

func (s *FileObjectSpec) validate() *FieldError {
	switch s.Kind {
	case KindConfig, KindSecret:
	case "":
		return fieldErr("kind", "required (%s or %s)", KindConfig, KindSecret)
	default:
		return fieldErr("kind", "must be %q or %q, got %q", KindConfig, KindSecret, s.Kind)
	}
	if fe := validateName("metadata.name", s.Metadata.Name); fe != nil {
		return fe
	}
	if fe := validateName("metadata.namespace", s.Metadata.Namespace); fe != nil {
		return fe
	}
	size := 0
	for _, k := range sortedMapKeys(s.Data) {
		if fe := validateFileKey(fieldPath("data", k), k); fe != nil {
			return fe
		}
		size += len(k) + len(s.Data[k])
	}
	if size > MaxFileObjectBytes {
		return fieldErr("data", "%d bytes of keys and values, more than the %d (64 KiB) a %s may hold", size, MaxFileObjectBytes, s.Kind)
	}
	return nil
}

// validateFileKey checks a key that becomes a file name.
func validateFileKey(field, k string) *FieldError {
	switch {
	case k == "":
		return fieldErr(field, "a key must not be empty")
	case len(k) > maxKeyLength:
		return fieldErr(field, "must be at most %d characters, got %d", maxKeyLength, len(k))
	case k == "." || k == ".." || !keyRE.MatchString(k):
		return fieldErr(field, "invalid key %q: a file name of letters, digits, '.', '_' and '-' (not . or ..)", k)
	}
	return nil
}

// ContentHash is a config's version of its content: the first 16 hex
// digits of the SHA-256 of its data as canonical JSON (keys sorted).
// Secrets' hashes are keyed instead (see the servers' keyring), so that a
// hash tells nothing of a secret's value.
func ContentHash(data map[string]string) string {
	b, _ := json.Marshal(data) // a map of strings always encodes, keys sorted
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// Config is a config as the cluster keeps it. ModifyIndex is its version.
type Config struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Data      map[string]string `json:"data"`
	// Hash is ContentHash(Data).
	Hash        string    `json:"hash"`
	CreateTime  time.Time `json:"createTime"`
	ModifyTime  time.Time `json:"modifyTime"`
	CreateIndex uint64    `json:"createIndex"`
	ModifyIndex uint64    `json:"modifyIndex"`
}

// Key is "namespace/name".
func (c *Config) Key() string { return c.Namespace + "/" + c.Name }

// SecretKey is one key of a secret, its value left out.
type SecretKey struct {
	Name string `json:"name"`
	// Size is the value's length in bytes.
	Size int `json:"size"`
}

// Secret is a secret as lists and describe show it: its keys and their
// sizes, never its values. ModifyIndex is its version; Hash a keyed hash
// of its content that changes when the content does; KeyID the keyring
// key its values are encrypted under.
type Secret struct {
	Name        string      `json:"name"`
	Namespace   string      `json:"namespace"`
	Keys        []SecretKey `json:"keys"`
	Hash        string      `json:"hash"`
	KeyID       string      `json:"keyID"`
	CreateTime  time.Time   `json:"createTime"`
	ModifyTime  time.Time   `json:"modifyTime"`
	CreateIndex uint64      `json:"createIndex"`
	ModifyIndex uint64      `json:"modifyIndex"`
}

// Key is "namespace/name".
func (s *Secret) Key() string { return s.Namespace + "/" + s.Name }

// SecretKeysOf lists a secret's keys, sorted, with their sizes.
func SecretKeysOf(data map[string]string) []SecretKey {
	keys := make([]SecretKey, 0, len(data))
	for _, k := range sortedMapKeys(data) {
		keys = append(keys, SecretKey{Name: k, Size: len(data[k])})
	}
	return keys
}

// SecretValues answers GET /v1/secrets/{ns}/{name}/values: the one read
// of a secret's values for people (flotilla secret get NAME --show).
type SecretValues struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace"`
	Data        map[string]string `json:"data"`
	Hash        string            `json:"hash"`
	ModifyIndex uint64            `json:"modifyIndex"`
}

// FileWriteResponse answers a config's or secret's PUT.
type FileWriteResponse struct {
	Index uint64 `json:"index"`
	// Version is the object's ModifyIndex after the write; Hash its
	// content's hash. Created: it is new; Changed: its content differed
	// (an unchanged object writes nothing and keeps its version).
	Version uint64 `json:"version"`
	Hash    string `json:"hash"`
	Created bool   `json:"created"`
	Changed bool   `json:"changed"`
	// Revisions are the services this write gave a new revision (their
	// rollouts then replace their replicas), as "namespace/name@N".
	Revisions []string `json:"revisions,omitempty"`
}

// FileVersion is the version of a config or secret a revision of a
// service was made with: a revision records the configs and secrets its
// replicas read, so that a change of one is a new revision rolled out as
// any other (a config reloaded by signal is left out: its change rolls
// nothing). Version 0 and Hash "" stand for one missing when the revision
// was made: its replicas wait for it.
type FileVersion struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Version uint64 `json:"version"`
	Hash    string `json:"hash"`
}

// FileObject is one config's or secret's content as an agent gets it to
// mount for an allocation.
type FileObject struct {
	Kind        string            `json:"kind"`
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace"`
	ModifyIndex uint64            `json:"modifyIndex"`
	Hash        string            `json:"hash"`
	Data        map[string]string `json:"data"`
}

// AllocationFiles answers GET /v1/nodes/{name}/allocations/{id}/files:
// the configs and secrets one allocation's revision uses, decrypted by
// the server, for the agent of the node it is placed on only. Missing
// names those that do not exist (yet): the allocation waits for them.
type AllocationFiles struct {
	Allocation string       `json:"allocation"`
	Objects    []FileObject `json:"objects"`
	Missing    []string     `json:"missing,omitempty"`
}

// Object returns the object of a kind and name, or nil.
func (f *AllocationFiles) Object(kind, name string) *FileObject {
	i := slices.IndexFunc(f.Objects, func(o FileObject) bool { return o.Kind == kind && o.Name == name })
	if i < 0 {
		return nil
	}
	return &f.Objects[i]
}

// KeyringRotateResponse answers POST /v1/operator/keyring/rotate.
type KeyringRotateResponse struct {
	Index uint64 `json:"index"`
	// KeyID is the new active key; Previous the one it replaced.
	KeyID    string `json:"keyID"`
	Previous string `json:"previous"`
	// Reencrypted counts the secrets sealed again under the new key.
	Reencrypted int `json:"reencrypted"`
}

// KeyringKey is one key of the cluster's keyring as operators see it:
// never its material.
type KeyringKey struct {
	ID     string `json:"id"`
	Active bool   `json:"active"`
	// Secrets counts the secrets encrypted under it.
	Secrets int `json:"secrets"`
	// Servers lists the servers whose keyring holds it; Missing those
	// that answered without it.
	Servers []string `json:"servers"`
	Missing []string `json:"missing,omitempty"`
}

// KeyringStatus answers GET /v1/operator/keyring.
type KeyringStatus struct {
	Active string       `json:"active"`
	Keys   []KeyringKey `json:"keys"`
	// Unreachable are servers that did not say which keys they hold.
	Unreachable []string `json:"unreachable,omitempty"`
}

// KeyringLocal answers GET /v1/operator/keyring/local: the key IDs one
// server's keyring file holds (the route is open, so nothing more: not
// even where the file is).
type KeyringLocal struct {
	Server string   `json:"server"`
	Active string   `json:"active"`
	Keys   []string `json:"keys"`
}

// Event types of configs and secrets (their messages name keys and
// versions, never values).
const (
	EventConfigChanged = "ConfigChanged"
	EventSecretChanged = "SecretChanged"
	// EventConfigReloaded: an agent rewrote a config reloaded by signal
	// in a running container and signalled it.
	EventConfigReloaded = "ConfigReloaded"
)

// Config reload modes (ConfigMount.Reload).
const (
	ReloadRestart = "restart"
	ReloadSignal  = "signal"
)

// reloadSignals are the signals a config change may send.
var reloadSignals = []string{"SIGHUP", "SIGUSR1", "SIGUSR2", "SIGINT", "SIGTERM", "SIGQUIT", "SIGWINCH"}

// ReloadSignals lists the signals ConfigMount.Signal may name.
func ReloadSignals() []string { return slices.Clone(reloadSignals) }

// FileObjectName is how messages name a config or secret:
// "secret default/db".
func FileObjectName(kind, namespace, name string) string {
	k := "config"
	if kind == KindSecret {
		k = "secret"
	}
	return fmt.Sprintf("%s %s/%s", k, namespace, name)
}
