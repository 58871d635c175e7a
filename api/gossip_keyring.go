package api

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
)

// GossipKeyring is what a server offers for the gossip pool's encryption
// keys (optional: a backend without it answers 404). Every call asks every
// alive member of the pool, servers and agents, and answers how many
// applied it; key is the decoded key (16, 24 or 32 bytes).
type GossipKeyring interface {
	ListGossipKeys(ctx context.Context) (*GossipKeyringResponse, error)
	InstallGossipKey(ctx context.Context, key []byte) (*GossipKeyringResponse, error)
	UseGossipKey(ctx context.Context, key []byte) (*GossipKeyringResponse, error)
	RemoveGossipKey(ctx context.Context, key []byte) (*GossipKeyringResponse, error)
}

// Gossip keyring operations (GossipKeyringRequest.Op).
const (
	GossipKeyInstall = "install"
	GossipKeyUse     = "use"
	GossipKeyRemove  = "remove"
)

// GossipKeyringRequest is the body of POST /v1/operator/gossip/keyring.
type GossipKeyringRequest struct {
	// Op is install (every member decrypts with the key too), use (every
	// member encrypts with it) or remove (no member accepts it any more;
	// the key in use cannot be removed).
	Op string `json:"op"`
	// Key is the base64 of 16, 24 or 32 bytes (32: AES-256).
	Key string `json:"key"`
}

// Validate checks the request and decodes its key.
func (r GossipKeyringRequest) Validate() ([]byte, error) {
	switch r.Op {
	case GossipKeyInstall, GossipKeyUse, GossipKeyRemove:
	case "":
		return nil, &FieldError{Field: "op", Message: "required: install, use or remove"}
	default:
		return nil, &FieldError{Field: "op", Message: fmt.Sprintf("%q: want install, use or remove", r.Op)}
	}
	key, err := ParseGossipKey(r.Key)
	if err != nil {
		return nil, &FieldError{Field: "key", Message: err.Error()}
	}
	return key, nil
}

// ParseGossipKey decodes a base64 gossip key of 16, 24 or 32 bytes.
func ParseGossipKey(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, fmt.Errorf("required: the base64 of 32 random bytes (flotilla operator gossip keyring generate)")
	}
	key, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return nil, fmt.Errorf("not base64: want the base64 of 32 random bytes (flotilla operator gossip keyring generate)")
	}
	if n := len(key); n != 16 && n != 24 && n != 32 {
		return nil, fmt.Errorf("%d bytes once decoded: want 16, 24 or 32 (32 is AES-256)", n)
	}
	return key, nil
}

// GossipKeyringResponse answers GET and POST /v1/operator/gossip/keyring:
// what the members of the pool answered.
type GossipKeyringResponse struct {
	// Op is list, install, use or remove.
	Op string `json:"op"`
	// Members is how many members were asked: every member alive in the
	// answering server's view, itself included. Succeeded applied the
	// operation; Failed says why each other one did not (or that it did
	// not answer).
	Members   int               `json:"members"`
	Succeeded int               `json:"succeeded"`
	Failed    map[string]string `json:"failed,omitempty"`
	// Keys counts, for each key, the members that hold it (after the
	// operation); PrimaryKeys those that encrypt with it.
	Keys        map[string]int `json:"keys"`
	PrimaryKeys map[string]int `json:"primaryKeys"`
}
