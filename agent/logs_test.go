package agent

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestLastLinesKeepsTheTail(t *testing.T) {
	for _, tc := range []struct {
		n      int
		writes []string
		want   string
	}{
		{2, []string{"a\nb\nc\n"}, "b\nc\n"},
		{2, []string{"a\n", "b\n", "c\n", "d\n"}, "c\nd\n"},
		{2, []string{"a\nb\nc"}, "b\nc"},
		{2, []string{"a\nb", "c\nd", "e"}, "bc\nde"},
		{1, []string{"a\nb\n"}, "b\n"},
		{0, []string{"a\nb\n"}, ""},
		{5, []string{"a\nb\n"}, "a\nb\n"},
		{3, nil, ""},
	} {
		l := &lastLines{n: tc.n}
		total := 0
		for _, w := range tc.writes {
			l.Write([]byte(w))
			total += len(w)
		}
		if got := string(l.bytes()); got != tc.want || l.total != int64(total) {
			t.Errorf("last %d of %q: %q (%d bytes seen), want %q (%d)", tc.n, tc.writes, got, l.total, tc.want, total)
		}
	}
}

func TestSkipWriterDropsTheFirstBytes(t *testing.T) {
	var out bytes.Buffer
	s := &skipWriter{skip: 5, w: &out}
	for _, w := range []string{"abc", "defg", "hi"} {
		if n, err := s.Write([]byte(w)); n != len(w) || err != nil {
			t.Fatalf("write %q: %d %v", w, n, err)
		}
	}
	if out.String() != "fghi" {
		t.Errorf("got %q, want fghi", out.String())
	}
}

// grownLogs is a runtime without line times whose output grows between
// a read and a follow, as a containerd log file does.
type grownLogs struct {
	*NullRuntime
	before, after string
}

func (g *grownLogs) Logs(ctx context.Context, id string, follow bool, w io.Writer) error {
	if !follow {
		_, err := io.WriteString(w, g.before)
		return err
	}
	for _, chunk := range []string{g.after[:3], g.after[3:]} { // not at line ends
		if _, err := io.WriteString(w, chunk); err != nil {
			return err
		}
	}
	return nil
}

func TestCopyLogsTailsARuntimeWithoutLineTimes(t *testing.T) {
	rt := &grownLogs{NullRuntime: NewNullRuntime(), before: "one\ntwo\nthree\n", after: "one\ntwo\nthree\nfour\n"}
	a := &Agent{rt: rt, cfg: Config{Runtime: "containerd"}}
	for _, tc := range []struct {
		q    logQuery
		want string
	}{
		{logQuery{tail: -1}, "one\ntwo\nthree\n"},
		{logQuery{tail: 2}, "two\nthree\n"},
		{logQuery{tail: 2, follow: true}, "two\nthree\nfour\n"},
		{logQuery{tail: 0, follow: true}, "four\n"},
	} {
		var out bytes.Buffer
		if err := a.copyLogs(context.Background(), "c1", tc.q, &out); err != nil || out.String() != tc.want {
			t.Errorf("%+v: %q %v, want %q", tc.q, out.String(), err, tc.want)
		}
	}
	err := a.copyLogs(context.Background(), "c1", logQuery{tail: -1, since: time.Now()}, io.Discard)
	if !errors.Is(err, errNoLineTimes) || !strings.Contains(err.Error(), "the containerd runtime keeps no time") {
		t.Errorf("since on a runtime without line times: %v", err)
	}
}

func TestParseLogQuery(t *testing.T) {
	q, err := parseLogQuery(httptest.NewRequest("GET", "/v1/agent/allocations/a/logs?follow=true&tail=10&since=2026-01-02T03:04:05.5Z", nil))
	if err != nil || !q.follow || q.tail != 10 || !q.since.Equal(time.Date(2026, 1, 2, 3, 4, 5, 5e8, time.UTC)) {
		t.Errorf("got %+v %v", q, err)
	}
	if q, err := parseLogQuery(httptest.NewRequest("GET", "/logs", nil)); err != nil || q.tail != -1 || q.follow || !q.since.IsZero() {
		t.Errorf("no parameters: %+v %v", q, err)
	}
	for _, bad := range []string{"tail=-1", "tail=x", "since=yesterday", "since=10m"} {
		if _, err := parseLogQuery(httptest.NewRequest("GET", "/logs?"+bad, nil)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
