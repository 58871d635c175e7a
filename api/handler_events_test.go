package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"flotilla/api"
)

// eventLog is a scripted event store: Events answers the events after
// q.Index at once, or blocks until one is appended or ctx ends, as a
// blocking query does.
type eventLog struct {
	mu      sync.Mutex
	events  []*api.Event
	changed chan struct{}
}

func newEventLog(events ...*api.Event) *eventLog {
	return &eventLog{events: events, changed: make(chan struct{})}
}

func (l *eventLog) Append(e *api.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *eventLog) Events(ctx context.Context, f api.EventFilter, q api.QueryOptions) ([]*api.Event, uint64, error) {
	for {
		l.mu.Lock()
		var out []*api.Event
		index := q.Index
		for _, e := range l.events {
			if e.ID > q.Index {
				out = append(out, e)
				index = e.ID
			}
		}
		changed := l.changed
		l.mu.Unlock()
		if len(out) > 0 || q.Index == 0 {
			return out, index, nil
		}
		select {
		case <-ctx.Done():
			return nil, q.Index, nil // the newest answer stands
		case <-changed:
		}
	}
}

func testEvent(id uint64, typ, msg string) *api.Event {
	return &api.Event{ID: id, Index: 100 + id, Time: time.Date(2025, 1, 2, 3, 4, int(id), 0, time.UTC), Type: typ, Service: "web", Namespace: "default", Message: msg}
}

// sseEvent is one server-sent event as read off the wire.
type sseEvent struct {
	id, event, data string
}

// readSSE reads the next event, skipping comments (keep-alives).
func readSSE(r *bufio.Reader) (sseEvent, error) {
	var e sseEvent
	seen := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return e, err
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if seen {
				return e, nil
			}
		case strings.HasPrefix(line, ":"):
		default:
			name, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			seen = true
			switch name {
			case "id":
				e.id = value
			case "event":
				e.event = value
			case "data":
				e.data = value
			}
		}
	}
}

// openStream GETs /v1/events as an event-stream client; cancel ends it.
func openStream(t *testing.T, ctx context.Context, url string, header ...string) (*bufio.Reader, *http.Response) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", url, resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q, want text/event-stream", ct)
	}
	return bufio.NewReader(resp.Body), resp
}

// expectEvents reads len(want) events and checks each against want, in order.
func expectEvents(t *testing.T, r *bufio.Reader, want ...*api.Event) {
	t.Helper()
	for _, w := range want {
		got, err := readSSE(r)
		if err != nil {
			t.Fatalf("reading event %d: %v", w.ID, err)
		}
		if got.id != jsonNumber(w.ID) || got.event != w.Type {
			t.Fatalf("got event id %q type %q, want id %d type %s", got.id, got.event, w.ID, w.Type)
		}
		var e api.Event
		if err := json.Unmarshal([]byte(got.data), &e); err != nil {
			t.Fatalf("event %s data %q: %v", got.id, got.data, err)
		}
		if !reflect.DeepEqual(&e, w) {
			t.Errorf("event %s data = %+v, want %+v", got.id, e, *w)
		}
	}
}

func jsonNumber(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestEventStreamSendsEventsInOrderAndFollows(t *testing.T) {
	e1 := testEvent(1, api.EventServiceRegistered, "service default/web registered")
	e2 := testEvent(2, api.EventAllocationsPlaced, "placed 3 allocations")
	e3 := testEvent(3, api.EventServiceScaled, "scaled to 4")
	e4 := testEvent(4, api.EventServiceUpdated, "revision 2")
	log := newEventLog(e1, e2, e3)
	b := &fakeBackend{EventsFn: log.Events}
	srv := newTestServer(t, b, api.HandlerOptions{})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, _ := openStream(t, ctx, srv.URL+"/v1/events?service=web")
	expectEvents(t, r, e1, e2, e3)
	// The stream follows: an event that happens now arrives next.
	log.Append(e4)
	expectEvents(t, r, e4)
	cancel()

	calls := b.CallsTo("Events")
	if len(calls) < 2 {
		t.Fatalf("Events called %d times, want the first read and a blocking one", len(calls))
	}
	wantFilter := api.EventFilter{Namespace: "default", Service: "web"}
	for i, c := range calls {
		if c.Args[0] != wantFilter {
			t.Errorf("call %d: filter %+v, want %+v", i, c.Args[0], wantFilter)
		}
	}
	if q := calls[0].Args[1].(api.QueryOptions); q.Index != 0 {
		t.Errorf("first call asked after %d, want 0", q.Index)
	}
	if q := calls[1].Args[1].(api.QueryOptions); q.Index != 3 || q.Wait <= 0 {
		t.Errorf("second call %+v, want a blocking query after 3", q)
	}
}

func TestEventStreamResumesAfterLastEventID(t *testing.T) {
	e1 := testEvent(1, api.EventServiceRegistered, "one")
	e2 := testEvent(2, api.EventAllocationsPlaced, "two")
	e3 := testEvent(3, api.EventServiceScaled, "three")
	e4 := testEvent(4, api.EventNodeRegistered, "four")
	for _, tc := range []struct {
		name   string
		query  string
		header []string
	}{
		{"Last-Event-ID", "", []string{"Last-Event-ID", "2"}},
		{"index", "?index=2", nil},
		{"Last-Event-ID wins over index", "?index=1", []string{"Last-Event-ID", "2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := newEventLog(e1, e2, e3)
			b := &fakeBackend{EventsFn: log.Events}
			srv := newTestServer(t, b, api.HandlerOptions{})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			r, _ := openStream(t, ctx, srv.URL+"/v1/events"+tc.query, tc.header...)
			expectEvents(t, r, e3)
			log.Append(e4)
			expectEvents(t, r, e4)
			cancel()
			if q := b.CallsTo("Events")[0].Args[1].(api.QueryOptions); q.Index != 2 {
				t.Errorf("first call asked after %d, want 2", q.Index)
			}
		})
	}
}

func TestEventStreamReportsABackendError(t *testing.T) {
	b := &fakeBackend{EventsFn: func(ctx context.Context, f api.EventFilter, q api.QueryOptions) ([]*api.Event, uint64, error) {
		return nil, 0, errors.New("state store closed")
	}}
	srv := newTestServer(t, b, api.HandlerOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, _ := openStream(t, ctx, srv.URL+"/v1/events")
	got, err := readSSE(r)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if got.event != "error" || !strings.Contains(got.data, "state store closed") {
		t.Errorf("got %+v, want an error event saying why", got)
	}
}

func TestEventStreamRefusesABadIndex(t *testing.T) {
	b := &fakeBackend{}
	srv := newTestServer(t, b, api.HandlerOptions{})
	resp := send(t, srv.URL, "GET", "/v1/events?index=x", "")
	if resp.status != http.StatusBadRequest {
		t.Errorf("status %d, want 400", resp.status)
	}
	if e := resp.errorBody(t); e.Field != "index" {
		t.Errorf("field %q, want index", e.Field)
	}
}

func TestEventsAsJSONList(t *testing.T) {
	e1 := testEvent(1, api.EventServiceRegistered, "one")
	e2 := testEvent(2, api.EventServiceScaled, "two")
	log := newEventLog(e1, e2)
	b := &fakeBackend{EventsFn: log.Events}
	srv := newTestServer(t, b, api.HandlerOptions{})

	resp := send(t, srv.URL, "GET", "/v1/events?index=1&wait=1s", "", "Accept", "application/json")
	if resp.status != http.StatusOK {
		t.Fatalf("status %d, body %s", resp.status, resp.body)
	}
	if ct := resp.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var got []*api.Event
	if err := json.Unmarshal(resp.body, &got); err != nil {
		t.Fatalf("body %s: %v", resp.body, err)
	}
	if !reflect.DeepEqual(got, []*api.Event{e2}) {
		t.Errorf("events = %s, want only event 2", resp.body)
	}
	if h := resp.header.Get(api.IndexHeader); h != "2" {
		t.Errorf("%s = %q, want 2", api.IndexHeader, h)
	}
	if q := b.CallsTo("Events")[0].Args[1].(api.QueryOptions); q != (api.QueryOptions{Index: 1, Wait: time.Second}) {
		t.Errorf("backend got %+v, want index 1 wait 1s", q)
	}
}
