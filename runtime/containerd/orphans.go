package containerd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// An orphaned shim is a containerd-shim-runc-v2 of a node's namespace whose
// container containerd no longer has: a namespace purged while a task was
// being made, a Create or Start cut short by a killed agent. It lives on
// with its bundle (the rootfs mounted, the task's process running), and
// every later NewTask of the same ID fails with "already exists", because
// the daemon refuses a second bundle or shim socket for it. The daemon
// cannot be asked to end it (its task API looks the container up first),
// so it is found by its command line and ended from outside
// (orphans_linux.go): the shim and its processes killed, the daemon given
// the time to clean up after a shim it still knew, then whatever is left
// (the rootfs mount, runc's state, the bundle) removed.

// shimProcess is a runc v2 shim found by its command line.
type shimProcess struct {
	pid       int
	namespace string
	id        string
	address   string // the daemon's socket it reports to
}

// shimValueFlags are the shim's flags that take a value.
var shimValueFlags = map[string]bool{
	"namespace": true, "id": true, "address": true, "publish-binary": true, "bundle": true, "socket": true,
}

// parseShimCmdline reads a shim's arguments (NUL-separated, as in
// /proc/PID/cmdline). ok is false for any other program, and for the
// shim's short-lived "start" and "delete" commands, which end by
// themselves.
func parseShimCmdline(cmdline []byte) (s shimProcess, ok bool) {
	args := strings.Split(string(bytes.TrimRight(cmdline, "\x00")), "\x00")
	if len(args) == 0 || !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") {
		return shimProcess{}, false
	}
	for i := 1; i < len(args); i++ {
		arg := args[i]
		if !strings.HasPrefix(arg, "-") {
			return shimProcess{}, false // a command: start, delete
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if !hasValue && shimValueFlags[name] && i+1 < len(args) {
			i++
			value = args[i]
		}
		switch name {
		case "namespace":
			s.namespace = value
		case "id":
			s.id = value
		case "address":
			s.address = value
		}
	}
	return s, s.namespace != "" && s.id != ""
}

// sameSocket reports whether two paths name the same daemon socket.
func sameSocket(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// reapOrphans ends the orphaned shims of container id. There are none
// unless something was cut short; looking for them is a walk over /proc.
func (r *Runtime) reapOrphans(ctx context.Context, id string) error {
	shims, err := findShims(r.cfg.Address, r.namespace, id)
	if err != nil || len(shims) == 0 {
		return err
	}
	if err := reapShims(ctx, r.client, r.namespace, shims, nil, r.log); err != nil {
		return fmt.Errorf("reap the orphaned shim of %s: %w", id, err)
	}
	return nil
}
