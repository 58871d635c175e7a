package containerd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
)

// Purge deletes everything of a node's containerd namespace (ns, e.g.
// flotilla-n1, or a lab's flotilla-LAB-n1): it kills and deletes every
// task, deletes every container, image, lease, snapshot and blob, then the
// namespace itself, and the namespace's empty cgroup directories. It also
// kills the namespace's orphaned shims (orphans.go), which the daemon's
// API does not show, with their tasks' processes, and removes their mounts
// and bundles, namespace or not: a shim outlives the purge of its
// namespace. It is `lab down`: the containers do not outlive it. An absent
// namespace is success. It touches nothing outside ns, and neither
// networks nor state directories, which belong to their owners.
func Purge(ctx context.Context, address, ns string) error {
	if ns == "" {
		return errors.New("purge: namespace is required")
	}
	if address == "" {
		address = DefaultAddress
	}
	c, err := connect(ctx, address, ns)
	if err != nil {
		return fmt.Errorf("purge namespace %s: %w", ns, err)
	}
	defer c.Close()
	all, err := c.NamespaceService().List(ctx)
	if err != nil {
		return fmt.Errorf("purge namespace %s: list namespaces: %w", ns, err)
	}
	present := slices.Contains(all, ns)
	if present {
		if err := purgeContainers(ctx, c); err != nil {
			return fmt.Errorf("purge namespace %s: containers: %w", ns, err)
		}
	}
	// What is left is orphans: their containers are gone. Reaped before
	// the snapshots, whose file systems they have mounted.
	shims, err := findShims(address, ns, "")
	if err != nil {
		return fmt.Errorf("purge namespace %s: %w", ns, err)
	}
	if err := reapShims(ctx, c, ns, shims, nil, nil); err != nil {
		return fmt.Errorf("purge namespace %s: %w", ns, err)
	}
	if !present {
		removeLeftDirs(ns)
		return nil
	}
	steps := []struct {
		what string
		fn   func(context.Context, *client.Client) error
	}{
		{"images", purgeImages},
		{"leases", purgeLeases},
		{"snapshots", purgeSnapshots},
		{"content", purgeContent},
	}
	for _, s := range steps {
		if err := s.fn(ctx, c); err != nil {
			return fmt.Errorf("purge namespace %s: %s: %w", ns, s.what, err)
		}
	}
	if err := deleteNamespace(ctx, c, ns); err != nil {
		return fmt.Errorf("purge namespace %s: %w", ns, err)
	}
	removeLeftDirs(ns)
	return nil
}

// Ping checks that a containerd answers at address within timeout: that
// something listens on the socket, and that it tells its version. A socket
// file whose daemon is gone fails at once.
func Ping(ctx context.Context, address string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", address)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			return fmt.Errorf("nothing listens on its socket: %w", op.Err)
		}
		return err
	}
	conn.Close()
	c, err := connect(ctx, address, NamespacePrefix+"ping")
	if err != nil {
		return err
	}
	return c.Close()
}

// purgeContainers deletes every task and container record. A task that
// cannot be deleted (its shim broken) does not stop the purge: its record
// goes all the same, and its shim is reaped with the orphans.
func purgeContainers(ctx context.Context, c *client.Client) error {
	list, err := c.Containers(ctx)
	if err != nil {
		return err
	}
	for _, ctr := range list {
		if task, err := ctr.Task(ctx, nil); err == nil {
			_, _ = task.Delete(ctx, client.WithProcessKill) // a failure leaves its shim, reaped below
		} else if !errdefs.IsNotFound(err) {
			return fmt.Errorf("load task %s: %w", ctr.ID(), err)
		}
		// Through the service: the client's Delete refuses while there is
		// a task. The snapshots go with the others.
		if err := c.ContainerService().Delete(ctx, ctr.ID()); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete container %s: %w", ctr.ID(), err)
		}
	}
	return nil
}

func purgeImages(ctx context.Context, c *client.Client) error {
	list, err := c.ImageService().List(ctx)
	if err != nil {
		return err
	}
	for i, img := range list {
		var opts []images.DeleteOpt
		if i == len(list)-1 {
			opts = append(opts, images.SynchronousDelete()) // collect the garbage now
		}
		if err := c.ImageService().Delete(ctx, img.Name, opts...); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete image %s: %w", img.Name, err)
		}
	}
	return nil
}

func purgeLeases(ctx context.Context, c *client.Client) error {
	list, err := c.LeasesService().List(ctx)
	if err != nil {
		return err
	}
	for _, l := range list {
		if err := c.LeasesService().Delete(ctx, l, leases.SynchronousDelete); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete lease %s: %w", l.ID, err)
		}
	}
	return nil
}

// purgeSnapshots removes the snapshots children first (a parent cannot go
// while a child refers to it).
func purgeSnapshots(ctx context.Context, c *client.Client) error {
	sn := c.SnapshotService(snapshotter)
	for {
		var infos []snapshots.Info
		if err := sn.Walk(ctx, func(_ context.Context, info snapshots.Info) error {
			infos = append(infos, info)
			return nil
		}); err != nil {
			return err
		}
		if len(infos) == 0 {
			return nil
		}
		parents := map[string]bool{}
		for _, info := range infos {
			parents[info.Parent] = true
		}
		removed := 0
		for _, info := range infos {
			if parents[info.Name] {
				continue
			}
			if err := sn.Remove(ctx, info.Name); err != nil && !errdefs.IsNotFound(err) {
				return fmt.Errorf("remove snapshot %s: %w", info.Name, err)
			}
			removed++
		}
		if removed == 0 {
			return fmt.Errorf("%d snapshots left that refer to each other", len(infos))
		}
	}
}

func purgeContent(ctx context.Context, c *client.Client) error {
	cs := c.ContentStore()
	statuses, err := cs.ListStatuses(ctx)
	if err != nil {
		return err
	}
	for _, st := range statuses {
		if err := cs.Abort(ctx, st.Ref); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("abort ingest %s: %w", st.Ref, err)
		}
	}
	var blobs []content.Info
	if err := cs.Walk(ctx, func(info content.Info) error {
		blobs = append(blobs, info)
		return nil
	}); err != nil {
		return err
	}
	for _, b := range blobs {
		if err := cs.Delete(ctx, b.Digest); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete blob %s: %w", b.Digest, err)
		}
	}
	return nil
}

// deleteNamespace deletes the (now empty) namespace; the daemon's garbage
// collection of what was deleted may lag a moment, so a "not empty" is
// retried for a few seconds.
func deleteNamespace(ctx context.Context, c *client.Client, ns string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := c.NamespaceService().Delete(ctx, ns)
		if err == nil || errdefs.IsNotFound(err) {
			return nil
		}
		if !errdefs.IsFailedPrecondition(err) || time.Now().After(deadline) {
			return fmt.Errorf("delete namespace: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("delete namespace: %w (%w)", err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// removeLeftDirs removes the namespace's parent cgroups, which runc
// leaves behind (/sys/fs/cgroup/CONTROLLER/NS on v1, /sys/fs/cgroup/NS on
// v2), and the runc shim's state directory of the namespace. Best effort:
// only empty directories go.
func removeLeftDirs(ns string) {
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", ns))
	dirs = append(dirs, filepath.Join("/sys/fs/cgroup", ns), filepath.Join("/run/containerd/runc", ns))
	for _, d := range dirs {
		os.Remove(d)
	}
}
