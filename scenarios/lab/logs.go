package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
)

// logPoll is how often a followed log file is looked at: the processes
// that write it are not ours to be told by.
const logPoll = 100 * time.Millisecond

// Logs copies a lab process's log to w: the last tail lines (all when
// tail < 0). With follow it goes on, across restarts (they append) and a
// new lab up (which starts the file again), until ctx ends.
func (l *Lab) Logs(ctx context.Context, name string, follow bool, tail int, w io.Writer) error {
	p, err := l.Process(name)
	if err != nil {
		return err
	}
	f, err := os.Open(p.Log)
	if errors.Is(err, fs.ErrNotExist) && !follow {
		return fmt.Errorf("%s has no log yet (%s)", name, p.Log)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var offset int64
	if f != nil {
		data, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			return err
		}
		offset = int64(len(data))
		if _, err := w.Write(lastLines(data, tail)); err != nil {
			return err
		}
	}
	if !follow {
		return nil
	}
	tick := time.NewTicker(logPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if offset, err = copyFrom(p.Log, offset, w); err != nil {
			return err
		}
	}
}

// copyFrom copies what the file holds past offset and returns the new
// end; a file shorter than offset was started again and is copied whole.
func copyFrom(path string, offset int64, w io.Writer) (int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return offset, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return offset, err
	}
	if info.Size() < offset {
		offset = 0
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return offset, err
	}
	n, err := io.Copy(w, f)
	return offset + n, err
}

// lastLines is the last n lines of data (all when n < 0); a last line
// without its newline counts.
func lastLines(data []byte, n int) []byte {
	if n < 0 {
		return data
	}
	end := len(data)
	if end > 0 && data[end-1] == '\n' {
		end--
	}
	start := end + 1
	for range n {
		i := bytes.LastIndexByte(data[:max(start-1, 0)], '\n')
		start = i + 1
		if i < 0 {
			return data
		}
	}
	if n == 0 {
		return nil
	}
	return data[start:]
}

// logTail is the last lines of a process's log, for an error message.
func (l *Lab) logTail(p *Process, lines int) string {
	data, err := os.ReadFile(p.Log)
	if err != nil || len(data) == 0 {
		return ""
	}
	tail := strings.TrimRight(string(lastLines(data, lines)), "\n")
	return fmt.Sprintf("\n--- %s (%s):\n%s", p.Name, p.Log, tail)
}
