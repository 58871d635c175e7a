//go:build !linux

package containerd

import (
	"context"
	"log/slog"

	"github.com/containerd/containerd/v2/client"
)

// Shims are found through /proc: elsewhere there are none to find.
func findShims(address, ns, id string) ([]shimProcess, error) { return nil, nil }

func reapShims(ctx context.Context, c *client.Client, ns string, shims []shimProcess, leftBundles []string, log *slog.Logger) error {
	return nil
}

func bundleInError(err error, ns, id string) string { return "" }
