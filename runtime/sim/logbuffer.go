package sim

import (
	"bytes"
	"sync"
)

// DefaultLogLimit is how much of a container's output the runtime keeps.
const DefaultLogLimit = 1 << 20

// logBuffer keeps the tail of a container's output, across restarts, and
// wakes followers on every write. Offsets are absolute (bytes ever
// written), so a follower that fell behind the kept tail skips to it.
type logBuffer struct {
	mu    sync.Mutex
	limit int
	data  []byte
	start int64         // offset of data[0]
	more  chan struct{} // closed and replaced on every write
}

func newLogBuffer(limit int) *logBuffer {
	return &logBuffer{limit: limit, more: make(chan struct{})}
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.data = append(b.data, p...)
	if len(b.data) > b.limit {
		// Drop to three quarters of the limit, at a line boundary, so that
		// trimming is rare and no line is kept in halves.
		cut := len(b.data) - b.limit*3/4
		if nl := bytes.IndexByte(b.data[cut:], '\n'); nl >= 0 {
			cut += nl + 1
		}
		b.data = append(b.data[:0:0], b.data[cut:]...)
		b.start += int64(cut)
	}
	close(b.more)
	b.more = make(chan struct{})
	return len(p), nil
}

// readFrom returns what was written from offset on, the offset after it, and
// a channel closed by the next write.
func (b *logBuffer) readFrom(offset int64) ([]byte, int64, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	offset = max(offset, b.start)
	end := b.start + int64(len(b.data))
	if offset >= end {
		return nil, end, b.more
	}
	return bytes.Clone(b.data[offset-b.start:]), end, b.more
}
