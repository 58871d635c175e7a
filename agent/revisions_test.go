package agent

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"flotilla/api"
)

// slowFetcher answers once released, counting the fetches per revision.
type slowFetcher struct {
	release chan struct{}
	calls   atomic.Int32
	mu      sync.Mutex
	index   uint64 // the CreateIndex revisions are answered with
	fail    error
}

func (f *slowFetcher) fetch(ctx context.Context, ns, name string, rev int) (*api.Revision, error) {
	f.calls.Add(1)
	select {
	case <-f.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	return &api.Revision{Namespace: ns, Name: name, Revision: rev, CreateIndex: f.index, Spec: api.ServiceSpec{Name: name, Image: "demo"}}, nil
}

func TestAThousandAgentsAskingForARevisionShareOneFetch(t *testing.T) {
	f := &slowFetcher{release: make(chan struct{}), index: 7}
	revs := NewRevisions(nil, f.fetch)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const agents = 1000
	got := make(chan *api.Revision, agents)
	errs := make(chan error, agents)
	for range agents {
		go func() {
			r, err := revs.Get(ctx, "default", "web", 1, 7)
			if err != nil {
				errs <- err
				return
			}
			got <- r
		}()
	}
	// One caller giving up does not fail the fetch the others wait on.
	impatient, giveUp := context.WithCancel(ctx)
	giveUp()
	if _, err := revs.Get(impatient, "default", "web", 1, 7); !errors.Is(err, context.Canceled) {
		t.Fatalf("a caller whose context ended: %v", err)
	}
	close(f.release)
	var first *api.Revision
	for range agents {
		select {
		case r := <-got:
			if first == nil {
				first = r
			}
			if r != first {
				t.Fatal("agents got different copies of one revision")
			}
		case err := <-errs:
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatal("not every agent got the revision")
		}
	}
	if n := f.calls.Load(); n != 1 || revs.Fetches() != 1 {
		t.Fatalf("%d fetches for one revision asked for by %d agents, want 1", n, agents)
	}
	// Later callers are answered from the cache; another revision is
	// fetched once more.
	if _, err := revs.Get(ctx, "default", "web", 1, 0); err != nil || f.calls.Load() != 1 {
		t.Fatalf("a later Get fetched again (%d fetches, %v)", f.calls.Load(), err)
	}
	if _, err := revs.Get(ctx, "default", "web", 2, 7); err != nil || f.calls.Load() != 2 {
		t.Fatalf("revision 2: %d fetches, %v", f.calls.Load(), err)
	}
}

func TestARevisionOfAServiceCreatedAgainIsFetchedAgain(t *testing.T) {
	f := &slowFetcher{release: make(chan struct{}), index: 10}
	close(f.release)
	revs := NewRevisions(nil, f.fetch)
	ctx := context.Background()
	if r, _ := revs.Get(ctx, "default", "web", 1, 10); r.CreateIndex != 10 {
		t.Fatalf("got index %d", r.CreateIndex)
	}
	f.mu.Lock()
	f.index = 20 // deleted and created again: revision 1 anew
	f.mu.Unlock()
	if r, _ := revs.Get(ctx, "default", "web", 1, 20); r.CreateIndex != 20 || f.calls.Load() != 2 {
		t.Fatalf("asked for the one created at 20: got %d after %d fetches", r.CreateIndex, f.calls.Load())
	}
	// An allocation of the old service (its own agent has not caught up)
	// gets what the servers have, the newer one, which the agent refuses.
	if r, _ := revs.Get(ctx, "default", "web", 1, 10); r.CreateIndex != 20 || f.calls.Load() != 3 {
		t.Fatalf("asked for the old one: got %d after %d fetches", r.CreateIndex, f.calls.Load())
	}
	// A snapshot restore brings the old service back: asked for it, the
	// cache does not answer with the newer one it holds.
	f.mu.Lock()
	f.index = 10
	f.mu.Unlock()
	if r, _ := revs.Get(ctx, "default", "web", 1, 10); r.CreateIndex != 10 || f.calls.Load() != 4 {
		t.Fatalf("after a restore: got %d after %d fetches", r.CreateIndex, f.calls.Load())
	}
	if r, _ := revs.Get(ctx, "default", "web", 1, 10); r.CreateIndex != 10 || f.calls.Load() != 4 {
		t.Fatalf("asked again: got %d after %d fetches", r.CreateIndex, f.calls.Load())
	}
}

func TestAFailedFetchIsNotKept(t *testing.T) {
	f := &slowFetcher{release: make(chan struct{}), fail: api.ErrNoLeader}
	close(f.release)
	revs := NewRevisions(nil, f.fetch)
	ctx := context.Background()
	if _, err := revs.Get(ctx, "default", "web", 1, 0); !errors.Is(err, api.ErrNoLeader) {
		t.Fatalf("err = %v", err)
	}
	f.mu.Lock()
	f.fail = nil
	f.mu.Unlock()
	if r, err := revs.Get(ctx, "default", "web", 1, 0); err != nil || r == nil || f.calls.Load() != 2 {
		t.Fatalf("after a failure: %v, %v, %d fetches; want a fresh fetch", r, err, f.calls.Load())
	}
}

// Agents of one process given one cache fetch each revision once between
// them.
func TestAgentsSharingRevisionsFetchEachOnce(t *testing.T) {
	servers := newFakeServers()
	servers.setRevision("default", "web", 1, specFor(t, ""))
	shared := NewRevisions(nil, servers.Revision)
	for _, name := range []string{"n1", "n2", "n3"} {
		a, err := New(Config{Name: name, Capacity: api.Resources{CPU: 1000, Memory: 1 << 30}, Revisions: shared}, servers, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := a.containerSpec(context.Background(), desired("a-"+name)); err != nil {
			t.Fatal(err)
		}
	}
	if shared.Fetches() != 1 {
		t.Fatalf("3 agents fetched the revision %d times, want once", shared.Fetches())
	}
}
