package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
)

// A node secret ties a node's name to its agent, as Nomad's node secret
// ID does. The agent makes it once, keeps it in its data directory and
// sends it with each of its requests; the leader keeps its hash from the
// node's first registration. What only that node's agent may do (register
// it again while it is up, heartbeat, report its allocations' status,
// traffic and usage, fetch its allocations' configs and secrets, have
// their certificates signed) is refused without it, whatever the token:
// the agents' node-write token is shared, the secret is not.

// NodeSecretHeader carries the node secret of the agent making a request.
const NodeSecretHeader = "X-Flotilla-Node-Secret"

// maxNodeSecret bounds the header's value.
const maxNodeSecret = 256

type nodeSecretKey struct{}

// WithNodeSecret returns ctx carrying a node secret: a Client sends it
// with every request made under ctx, and a server's handler puts the
// secret a request carried into the context the backend gets.
func WithNodeSecret(ctx context.Context, secret string) context.Context {
	if secret == "" {
		return ctx
	}
	return context.WithValue(ctx, nodeSecretKey{}, secret)
}

// NodeSecretFrom is the node secret ctx carries, or "".
func NodeSecretFrom(ctx context.Context) string {
	s, _ := ctx.Value(nodeSecretKey{}).(string)
	return s
}

// HashNodeSecret is what servers keep of a node secret: its SHA-256, in
// hex ("" for no secret).
func HashNodeSecret(secret string) string {
	if secret == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// NodeSecretMatches reports whether secret is the one hash was made of, in
// constant time.
func NodeSecretMatches(hash, secret string) bool {
	return subtle.ConstantTimeCompare([]byte(hash), []byte(HashNodeSecret(secret))) == 1
}

// withNodeSecrets puts the node secret a request carries into its context.
func withNodeSecrets(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := r.Header.Get(NodeSecretHeader)
		if s == "" {
			next.ServeHTTP(w, r)
			return
		}
		if len(s) > maxNodeSecret {
			writeError(w, &FieldError{Field: NodeSecretHeader, Message: fmt.Sprintf("longer than %d bytes", maxNodeSecret)})
			return
		}
		next.ServeHTTP(w, r.WithContext(WithNodeSecret(r.Context(), s)))
	})
}
