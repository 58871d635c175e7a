package containerd

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/containerd/v2/pkg/cio"
)

// logDriverScript is what the shim runs as a container's log driver
// ("binary" logging): /bin/sh log-driver.sh LOGFILE, with the container's
// stdout on fd 3 and stderr on fd 4; the shim waits until fd 5 is closed.
//
// Why not the shim's own file logging (cio.LogFile): containerd 1.6's shim
// writes both streams through one descriptor and closes it when stdout
// ends, so what a process writes to stderr just before it exits (the
// workload's "stopped", a crash's last words) is lost ("error copying
// stderr" in containerd's log). Here each stream has a cat of its own that
// appends to the file; lines keep their order within a stream, and a pipe
// write of up to 4 KiB is never split.
//
// The driver is a child of the shim, not of the agent: logs go on being
// written while the agent is down.
//
// The driver says it is ready (fd 5 closed) before it starts its cats: the
// shim's NewTask waits for that, and the pipes hold what the process
// writes until the cats read it.
const logDriverScript = `# flotilla container log driver, run by containerd's shim (see
# runtime/containerd/logdriver.go): stdout on fd 3, stderr on fd 4,
# ready once fd 5 is closed.
log=$1
[ -n "$log" ] || exit 2
exec 5>&-
/bin/cat <&3 >>"$log" 4<&- &
/bin/cat <&4 >>"$log" 3<&- &
exec 3<&- 4<&-
wait
`

// logWriters is how many processes append to a log file for one task:
// the two cats, each closing the file at the end of its stream.
const logWriters = 2

func (r *Runtime) logDriverPath() string {
	return filepath.Join(r.cfg.StateDir, "log-driver.sh")
}

// writeLogDriver puts the script in the state directory (replaced only when
// it changed: running drivers keep reading theirs). It is run by /bin/sh,
// so the directory may be mounted noexec.
func (r *Runtime) writeLogDriver() error {
	path := r.logDriverPath()
	if b, err := os.ReadFile(path); err == nil && bytes.Equal(b, []byte(logDriverScript)) {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(logDriverScript), 0o644); err != nil {
		return fmt.Errorf("write the log driver: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write the log driver: %w", err)
	}
	return nil
}

// taskIO sends a task's output to its log file through the log driver.
func (r *Runtime) taskIO(id string) cio.Creator {
	// One query key, so that the shim passes the arguments in this order.
	return cio.BinaryIO("/bin/sh", map[string]string{r.logDriverPath(): r.logPath(id)})
}
