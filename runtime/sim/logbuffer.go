package sim

import (
	"bytes"
	"sort"
	"sync"
	"time"
)

// DefaultLogLimit is how much of a container's output the runtime keeps.
const DefaultLogLimit = 1 << 20

// logBuffer keeps the tail of a container's output, across restarts, with
// the time each line began, and wakes followers on every write. Offsets
// are absolute (bytes ever written), so a follower that fell behind the
// kept tail skips to it.
type logBuffer struct {
	mu    sync.Mutex
	limit int
	now   func() time.Time
	data  []byte
	start int64 // offset of data[0]
	// lines are where the kept lines begin, oldest first; the first may be
	// before start (a line cut in half by trimming: its time stays).
	lines       []lineStart
	atLineStart bool
	more        chan struct{} // closed and replaced on every write
}

// lineStart is the offset of a line's first byte and when it was written.
type lineStart struct {
	offset int64
	at     time.Time
}

func newLogBuffer(limit int, now func() time.Time) *logBuffer {
	return &logBuffer{limit: limit, now: now, atLineStart: true, more: make(chan struct{})}
}

func (b *logBuffer) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	at := b.now()
	base := b.start + int64(len(b.data))
	for i := 0; i < len(p); {
		if b.atLineStart {
			b.lines = append(b.lines, lineStart{offset: base + int64(i), at: at})
			b.atLineStart = false
		}
		nl := bytes.IndexByte(p[i:], '\n')
		if nl < 0 {
			break
		}
		i += nl + 1
		b.atLineStart = true
	}
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
		// Keep the line that holds start (if cut in half) and those after.
		first := sort.Search(len(b.lines), func(i int) bool { return b.lines[i].offset > b.start }) - 1
		b.lines = append(b.lines[:0:0], b.lines[max(first, 0):]...)
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

// selectFrom is the offset to copy from for the last tail lines (every
// kept line when tail < 0; none when 0) written at or after since (every
// line when since is zero). A last line without its newline counts.
func (b *logBuffer) selectFrom(tail int, since time.Time) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	from := b.start
	end := b.start + int64(len(b.data))
	if tail == 0 {
		return end
	}
	if tail > 0 && tail < len(b.lines) {
		from = max(from, b.lines[len(b.lines)-tail].offset)
	}
	if !since.IsZero() {
		i := sort.Search(len(b.lines), func(i int) bool { return !b.lines[i].at.Before(since) })
		if i == len(b.lines) {
			return end
		}
		from = max(from, b.lines[i].offset)
	}
	return from
}
