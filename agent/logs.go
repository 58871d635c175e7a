package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"flotilla/api"
)

// selectingLogs is a runtime that picks log lines itself: the last tail
// (all when tail < 0) of those written at or after since (all when zero).
// The sim runtime keeps each line's time; for a runtime without it the
// agent takes the tail itself and refuses since.
type selectingLogs interface {
	SelectLogs(ctx context.Context, id string, follow bool, tail int, since time.Time, w io.Writer) error
}

// logQuery is what GET /v1/agent/allocations/{id}/logs asks for:
// ?follow=true, ?tail=N (the last N lines first), ?since=RFC3339 time.
type logQuery struct {
	follow bool
	tail   int // -1: every line
	since  time.Time
}

func parseLogQuery(r *http.Request) (logQuery, error) {
	q := logQuery{follow: r.URL.Query().Get("follow") == "true", tail: -1}
	if s := r.URL.Query().Get("tail"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return q, &api.FieldError{Field: "tail", Message: fmt.Sprintf("want a number of lines, 0 or more; got %q", s)}
		}
		q.tail = n
	}
	if s := r.URL.Query().Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return q, &api.FieldError{Field: "since", Message: fmt.Sprintf("want an RFC 3339 time; got %q", s)}
		}
		q.since = t
	}
	return q, nil
}

// errNoLineTimes: the runtime cannot answer ?since.
var errNoLineTimes = errors.New("keeps no time for its log lines")

// copyLogs copies what q selects of a container's output to w.
func (a *Agent) copyLogs(ctx context.Context, id string, q logQuery, w io.Writer) error {
	if sel, ok := a.rt.(selectingLogs); ok {
		return sel.SelectLogs(ctx, id, q.follow, q.tail, q.since, w)
	}
	if !q.since.IsZero() {
		return fmt.Errorf("since: the %s runtime %w", a.cfg.Runtime, errNoLineTimes)
	}
	if q.tail < 0 {
		return a.rt.Logs(ctx, id, q.follow, w)
	}
	// The tail of what is there, then (following) what comes after it:
	// the runtime's output only grows, so the second copy skips as many
	// bytes as the first one read.
	last := &lastLines{n: q.tail}
	if err := a.rt.Logs(ctx, id, false, last); err != nil {
		return err
	}
	if _, err := w.Write(last.bytes()); err != nil || !q.follow {
		return err
	}
	return a.rt.Logs(ctx, id, true, &skipWriter{skip: last.total, w: w})
}

// lastLines keeps the last n lines written to it (a last line without
// its newline counts) and how many bytes it was given.
type lastLines struct {
	n     int
	buf   []byte
	lines int // newlines in buf
	total int64
}

func (l *lastLines) Write(p []byte) (int, error) {
	l.total += int64(len(p))
	if l.n == 0 {
		return len(p), nil
	}
	l.buf = append(l.buf, p...)
	l.lines += bytes.Count(p, []byte{'\n'})
	// Lines to drop: every complete one beyond n (beyond n-1 when a
	// partial line follows, which counts too).
	keep := l.n
	if len(l.buf) > 0 && l.buf[len(l.buf)-1] != '\n' {
		keep--
	}
	for l.lines > keep {
		nl := bytes.IndexByte(l.buf, '\n')
		l.buf = l.buf[nl+1:]
		l.lines--
	}
	return len(p), nil
}

func (l *lastLines) bytes() []byte { return l.buf }

// skipWriter drops the first skip bytes written to it.
type skipWriter struct {
	skip int64
	w    io.Writer
}

func (s *skipWriter) Write(p []byte) (int, error) {
	n := len(p)
	if s.skip >= int64(n) {
		s.skip -= int64(n)
		return n, nil
	}
	p = p[s.skip:]
	s.skip = 0
	if _, err := s.w.Write(p); err != nil {
		return 0, err
	}
	return n, nil
}
