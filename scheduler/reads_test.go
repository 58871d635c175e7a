package scheduler

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReadsShareAReadIndexRequestOnlyIfItLeftAfterThem: reads that arrive
// while a read-index request is on its way wait for the next one (the
// answer in flight may predate writes they must see), and share it.
func TestReadsShareAReadIndexRequestOnlyIfItLeftAfterThem(t *testing.T) {
	var sent atomic.Int32
	first := make(chan struct{})
	leader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := sent.Add(1)
		if n == 1 {
			<-first
		}
		fmt.Fprintf(w, `{"index": %d}`, n)
	}))
	defer leader.Close()
	addr := strings.TrimPrefix(leader.URL, "http://")
	r := &readIndexes{client: leader.Client()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	type answer struct {
		index uint64
		err   error
	}
	early := make(chan answer, 1)
	go func() { i, err := r.get(ctx, addr); early <- answer{i, err} }()
	eventually(t, 5*time.Second, "the first request to be sent", func() bool { return sent.Load() == 1 })

	var wg sync.WaitGroup
	late := make(chan answer, 5)
	for range 5 {
		wg.Go(func() { i, err := r.get(ctx, addr); late <- answer{i, err} })
	}
	eventually(t, 5*time.Second, "the later reads to queue", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.next != nil && r.next.waiters == 5
	})
	close(first)
	if a := <-early; a.err != nil || a.index != 1 {
		t.Fatalf("first read got %+v, want index 1", a)
	}
	wg.Wait()
	close(late)
	for a := range late {
		if a.err != nil || a.index != 2 {
			t.Fatalf("a read that came while request 1 was out got %+v, want the answer of request 2", a)
		}
	}
	if n := sent.Load(); n != 2 {
		t.Fatalf("%d requests sent for 6 reads, want 2", n)
	}
}

func TestAReadIndexFromALeaderThatServesNoneSaysSo(t *testing.T) {
	old := httptest.NewServer(http.NotFoundHandler())
	defer old.Close()
	r := &readIndexes{client: old.Client()}
	if _, err := r.get(context.Background(), strings.TrimPrefix(old.URL, "http://")); !errors.Is(err, errNoReadIndex) {
		t.Fatalf("err = %v, want errNoReadIndex", err)
	}
}
