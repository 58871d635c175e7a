package agent

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
)

// RevisionFetcher fetches one revision of a service; *api.Client and
// Servers provide it.
type RevisionFetcher func(ctx context.Context, namespace, name string, revision int) (*api.Revision, error)

// maxCachedRevisions bounds a Revisions cache; the least recently used
// go first.
const maxCachedRevisions = 4096

// fetchTimeout bounds one shared fetch: it outlives the caller that
// started it, so that the others waiting on it are not failed by that
// caller giving up.
const fetchTimeout = 10 * time.Second

// Revisions fetches each revision once per process and keeps it: a
// revision never changes (a new spec makes a new revision), so every agent
// of a process (thousands of fake nodes) shares one fetch, and callers
// asking while it is under way wait for it (single flight). A service
// deleted and created again starts its revisions at 1 again: the creation
// index an allocation names tells the two apart, and a cached revision of
// another creation index than the one asked for is fetched again, older
// ones too (a snapshot restore brings an older state back, and
// the servers answer its revision). Failures are not kept.
//
// The revisions returned are shared: callers must not modify them.
type Revisions struct {
	fetch RevisionFetcher
	clock clock.Clock // times fetches out

	mu      sync.Mutex
	entries map[revisionKey]*revisionEntry
	uses    uint64 // counts uses, for eviction

	fetches atomic.Int64
}

type revisionKey struct {
	namespace, name string
	revision        int
}

type revisionEntry struct {
	done chan struct{} // closed once rev and err are set
	rev  *api.Revision
	err  error
	used uint64
}

// NewRevisions returns an empty cache that fetches with fetch, each fetch
// bounded by fetchTimeout on c (nil: the wall clock).
func NewRevisions(c clock.Clock, fetch RevisionFetcher) *Revisions {
	if c == nil {
		c = clock.Real{}
	}
	return &Revisions{fetch: fetch, clock: c, entries: map[revisionKey]*revisionEntry{}}
}

// Fetches is how many fetches the cache made.
func (r *Revisions) Fetches() int64 { return r.fetches.Load() }

// Get returns a revision, created at createIndex when that is not 0.
func (r *Revisions) Get(ctx context.Context, namespace, name string, revision int, createIndex uint64) (*api.Revision, error) {
	key := revisionKey{namespace, name, revision}
	r.mu.Lock()
	r.uses++
	e := r.entries[key]
	if e != nil && !r.usable(e, createIndex) {
		e = nil
	}
	if e == nil {
		e = &revisionEntry{done: make(chan struct{})}
		r.entries[key] = e
		r.evictLocked()
		go r.load(context.WithoutCancel(ctx), key, e)
	}
	e.used = r.uses
	r.mu.Unlock()
	select {
	case <-e.done:
		return e.rev, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// usable reports whether an entry answers a request for createIndex: one
// under way does (its answer is the servers' current one), a failed one
// does not, nor one of another creation index.
func (r *Revisions) usable(e *revisionEntry, createIndex uint64) bool {
	select {
	case <-e.done:
	default:
		return true
	}
	return e.err == nil && (createIndex == 0 || e.rev.CreateIndex == createIndex)
}

func (r *Revisions) load(ctx context.Context, key revisionKey, e *revisionEntry) {
	ctx, cancel := clock.WithTimeout(ctx, r.clock, fetchTimeout)
	defer cancel()
	r.fetches.Add(1)
	e.rev, e.err = r.fetch(ctx, key.namespace, key.name, key.revision)
	close(e.done)
	if e.err != nil {
		r.mu.Lock()
		if r.entries[key] == e {
			delete(r.entries, key)
		}
		r.mu.Unlock()
	}
}

// evictLocked drops the least recently used finished entry once the
// cache is over its bound.
func (r *Revisions) evictLocked() {
	if len(r.entries) <= maxCachedRevisions {
		return
	}
	var oldest revisionKey
	var found *revisionEntry
	for k, e := range r.entries {
		select {
		case <-e.done:
		default:
			continue
		}
		if found == nil || e.used < found.used {
			oldest, found = k, e
		}
	}
	if found != nil {
		delete(r.entries, oldest)
	}
}
