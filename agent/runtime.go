package agent

import (
	"context"
	"io"
	"time"

	"flotilla/runtime"
)

// Runtime is what the agent needs from a container runtime (runtime/sim,
// runtime/containerd). Every call takes ctx; IDs are allocation IDs.
type Runtime interface {
	// Create prepares a container; runtime.ErrExists if the ID is taken.
	Create(ctx context.Context, spec runtime.ContainerSpec) error
	// Start runs a created (or exited) container.
	Start(ctx context.Context, id string) error
	// Stop asks the container to exit, waits up to grace, then kills it.
	// Stopping an exited container is not an error.
	Stop(ctx context.Context, id string, grace time.Duration) error
	// Remove deletes a stopped container; runtime.ErrNotFound is success
	// for a caller that wanted it gone.
	Remove(ctx context.Context, id string) error
	// List reports every container this runtime holds for the node.
	List(ctx context.Context) ([]runtime.Status, error)
	Status(ctx context.Context, id string) (runtime.Status, error)
	// Wait blocks until the container has exited (or ctx ends).
	Wait(ctx context.Context, id string) (runtime.Status, error)
	Stats(ctx context.Context, id string) (runtime.Stats, error)
	// Exec runs a command inside the container and returns its exit code.
	Exec(ctx context.Context, id string, cmd []string, stdout, stderr io.Writer) (int, error)
	// Logs copies the container's output to w; with follow it keeps
	// copying until ctx ends or the container exits.
	Logs(ctx context.Context, id string, follow bool, w io.Writer) error
}
