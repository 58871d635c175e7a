package scheduler

import (
	"context"
	"fmt"

	"flotilla/api"
)

// nodeSecretError is nil when ctx carries the node secret node n was
// registered with, or when n is nil (unknown here) or was registered
// without one; else a permission error. What only a node's own agent may
// do calls it, with the node it already looked up: the agents share a
// token, not their secrets (api's NodeSecretHeader).
func nodeSecretError(ctx context.Context, n *api.Node) error {
	if n == nil || n.SecretHash == "" || api.NodeSecretMatches(n.SecretHash, api.NodeSecretFrom(ctx)) {
		return nil
	}
	what := "wrong"
	if api.NodeSecretFrom(ctx) == "" {
		what = "missing"
	}
	return &api.PermissionError{Reason: fmt.Sprintf("node secret of %s %s: only the node's own agent may do this (%s)", n.Name, what, api.NodeSecretHeader)}
}
