//go:build linux

package netlab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetnsDir is where named network namespaces are pinned, as by `ip netns add`.
const NetnsDir = "/run/netns"

// netnsMu serialises creation and deletion within this process, so two
// goroutines creating the same name do not stack two bind mounts.
var netnsMu sync.Mutex

// NetnsPath returns the path a named network namespace is pinned at.
func NetnsPath(name string) string { return filepath.Join(NetnsDir, name) }

// CreateNetns creates a persistent network namespace pinned at
// /run/netns/NAME, like `ip netns add NAME`. An existing namespace of that
// name is reused; a stale file left without its mount is replaced. The
// calling goroutine's namespace is never changed.
func CreateNetns(name string) error {
	if err := ValidateNetnsName(name); err != nil {
		return fmt.Errorf("create netns: %w", err)
	}
	netnsMu.Lock()
	defer netnsMu.Unlock()

	path := NetnsPath(name)
	pinned, err := isPinnedNetns(path)
	if err != nil {
		return fmt.Errorf("create netns %s: %w", name, err)
	}
	if pinned {
		return nil
	}
	// A plain file (a crash between create and mount) is removed first.
	if err := removeNetnsFile(path); err != nil {
		return fmt.Errorf("create netns %s: remove stale %s: %w", name, path, err)
	}
	if err := ensureNetnsDir(); err != nil {
		return fmt.Errorf("create netns %s: %w", name, err)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("create netns %s: create mount point: %w", name, err)
	}
	f.Close()

	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked: once it has left the process's
		// namespace the runtime must throw it away when this goroutine ends.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("bind mount %s on %s: %w", src, path, err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("create netns %s: %w", name, err)
	}
	return nil
}

// DeleteNetns unpins a named network namespace, like `ip netns del NAME`.
// The namespace itself disappears with its last user. An absent namespace
// is success.
func DeleteNetns(name string) error {
	if err := ValidateNetnsName(name); err != nil {
		return fmt.Errorf("delete netns: %w", err)
	}
	netnsMu.Lock()
	defer netnsMu.Unlock()
	if err := removeNetnsFile(NetnsPath(name)); err != nil {
		return fmt.Errorf("delete netns %s: %w", name, err)
	}
	return nil
}

// ListNetns returns the names of the pinned namespaces starting with
// prefix, sorted.
func ListNetns(prefix string) ([]string, error) {
	entries, err := os.ReadDir(NetnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list netns: %w", err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// NetnsExists reports whether a namespace of that name is pinned.
func NetnsExists(name string) (bool, error) {
	if err := ValidateNetnsName(name); err != nil {
		return false, err
	}
	ok, err := isPinnedNetns(NetnsPath(name))
	if err != nil {
		return false, fmt.Errorf("look up netns %s: %w", name, err)
	}
	return ok, nil
}

// Do runs fn on a locked OS thread inside the named namespace. Sockets fn
// creates belong to that namespace and keep working after Do returns;
// goroutines fn starts do not run in it. The thread is switched back
// afterwards, or discarded if that fails.
func Do(name string, fn func() error) error {
	if err := ValidateNetnsName(name); err != nil {
		return fmt.Errorf("enter netns: %w", err)
	}
	target, err := netns.GetFromPath(NetnsPath(name))
	if err != nil {
		return fmt.Errorf("enter netns %s: %w", name, err)
	}
	defer target.Close()

	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter netns %s: get current netns: %w", name, err)
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter netns %s: %w", name, err)
			return
		}
		fnErr := fn()
		if err := netns.Set(orig); err != nil {
			// Stay locked: the runtime discards the thread when we return.
			errc <- errors.Join(fnErr, fmt.Errorf("leave netns %s: %w", name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- fnErr
	}()
	return <-errc
}

// isPinnedNetns reports whether path is an nsfs bind mount.
func isPinnedNetns(path string) (bool, error) {
	var st unix.Statfs_t
	err := unix.Statfs(path, &st)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("statfs %s: %w", path, err)
	}
	return st.Type == unix.NSFS_MAGIC, nil
}

// removeNetnsFile detaches every mount on path and removes the file.
func removeNetnsFile(path string) error {
	for i := 0; i < 8; i++ {
		err := unix.Unmount(path, unix.MNT_DETACH)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			break // not (or no longer) a mount point
		}
		if err != nil {
			return fmt.Errorf("unmount %s: %w", path, err)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

// ensureNetnsDir makes /run/netns a shared mount, as iproute2 does, so that
// namespaces pinned later propagate to mount namespaces made from this one.
func ensureNetnsDir() error {
	if err := os.MkdirAll(NetnsDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", NetnsDir, err)
	}
	err := unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) {
		// Not a mount point yet: bind it onto itself, then share it.
		if err := unix.Mount(NetnsDir, NetnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind mount %s on itself: %w", NetnsDir, err)
		}
		err = unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	}
	if err != nil {
		return fmt.Errorf("make %s a shared mount: %w", NetnsDir, err)
	}
	return nil
}
