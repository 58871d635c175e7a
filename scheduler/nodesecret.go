package scheduler

import (
	"context"
	"fmt"

	"flotilla/api"
	"flotilla/scheduler/state"
)

// nodeSecretError is nil when ctx carries the node secret node name was
// registered with, or when the node is unknown here or was registered
// without one; else a permission error. What only a node's own agent may
// do calls it: the agents share a token, not their secrets (api's
// NodeSecretHeader).
func nodeSecretError(ctx context.Context, snap *state.Snapshot, name string) error {
	n := snap.NodeWithoutUsage(name)
	if n == nil || n.SecretHash == "" || api.NodeSecretMatches(n.SecretHash, api.NodeSecretFrom(ctx)) {
		return nil
	}
	what := "wrong"
	if api.NodeSecretFrom(ctx) == "" {
		what = "missing"
	}
	return &api.PermissionError{Reason: fmt.Sprintf("node secret of %s %s: only the node's own agent may do this (%s)", name, what, api.NodeSecretHeader)}
}
