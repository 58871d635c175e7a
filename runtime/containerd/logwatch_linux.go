//go:build linux

package containerd

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// logWatch tells when a log file grows and when its writers have closed
// it. The log driver's writers close the file only after they have copied
// the last output of an exited task, which the shim reports as exited
// before that: the closes are how a follower knows it has everything.
type logWatch struct {
	inotify *os.File
	grew    chan struct{} // one pending wake-up at most
	closed  chan struct{} // closed once writers closes have been seen
	writers int
	once    sync.Once
	done    chan struct{}
}

// watchLog watches path, which must exist, for writers closes.
func watchLog(path string, writers int) (*logWatch, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, path, unix.IN_MODIFY|unix.IN_CLOSE_WRITE); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	w := &logWatch{
		// A non-blocking descriptor goes through the runtime's poller, so
		// Close ends a Read that waits.
		inotify: os.NewFile(uintptr(fd), "inotify"),
		grew:    make(chan struct{}, 1),
		closed:  make(chan struct{}),
		writers: writers,
		done:    make(chan struct{}),
	}
	go w.read()
	return w, nil
}

func (w *logWatch) read() {
	defer close(w.done)
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	closes := 0
	for {
		n, err := w.inotify.Read(buf)
		if err != nil {
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			mask := binary.NativeEndian.Uint32(buf[off+4:])
			nameLen := binary.NativeEndian.Uint32(buf[off+12:])
			off += unix.SizeofInotifyEvent + int(nameLen)
			if mask&unix.IN_MODIFY != 0 {
				select {
				case w.grew <- struct{}{}:
				default:
				}
			}
			if mask&unix.IN_CLOSE_WRITE != 0 {
				if closes++; closes >= w.writers {
					w.once.Do(func() { close(w.closed) })
				}
			}
		}
	}
}

// Close stops watching and waits for the reader.
func (w *logWatch) Close() error {
	err := w.inotify.Close()
	<-w.done
	return err
}
