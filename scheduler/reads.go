package scheduler

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"flotilla/api"
	"flotilla/internal/clock"
)

// Consistent reads, as Consul and Nomad make them: a server answers a read
// only once its state holds every write committed before the read began.
// The leader confirms with a quorum that it still leads (raft's
// VerifyLeader) and its own state then has every acknowledged write; a
// follower asks the leader for that index (GET /v1/status/read-index) and
// waits until it has applied up to it. A server just restarted, still
// replaying the log, therefore waits (or answers 503 and the client tries
// another) instead of answering "not found" for what exists.

// readBarrierTimeout bounds how long a read waits for a leader and for this
// server to catch up before it answers 503.
const readBarrierTimeout = 5 * time.Second

// noLeaderWait is how long a read or a write waits for an election while
// this server knows no leader at all, before it answers 503: less than a
// client's attempt (the CLI's 5 s), so that a client hears "no cluster
// leader" from a server without one (a majority of the servers down)
// rather than taking it for a dead server. Clients try again.
const noLeaderWait = 2 * time.Second

var errNoKnownLeader = errors.New("no known leader")

// The server answers api.ReadConsistency.
var _ api.ReadConsistency = (*Server)(nil)

// ReadBarrier returns once this server's state holds every write committed
// before the call.
func (s *Server) ReadBarrier(ctx context.Context) error {
	ctx, cancel := clock.WithTimeout(ctx, s.cfg.Clock, readBarrierTimeout)
	defer cancel()
	var last error
	var noLeaderSince time.Time
	for {
		var err error
		if s.IsLeader() {
			if _, err = s.ReadIndex(ctx); err == nil {
				return nil
			}
		} else if name, _, addr := s.leaderHTTP(); name != "" && name != s.cfg.Name && addr != "" {
			var index uint64
			index, err = s.readIndexes.get(ctx, addr)
			if errors.Is(err, errNoReadIndex) {
				// A leader older than read indexes (a rolling upgrade in
				// progress): read from this server's state, as it did.
				return nil
			}
			if err == nil {
				if err = s.fsm.WaitForIndex(ctx, index); err == nil {
					return nil
				}
				err = fmt.Errorf("catch up with index %d of leader %s: %w", index, name, err)
			}
		} else {
			err = errNoKnownLeader
		}
		switch now := s.cfg.Clock.Now(); {
		case err != errNoKnownLeader:
			noLeaderSince = time.Time{}
		case noLeaderSince.IsZero():
			noLeaderSince = now
		case now.Sub(noLeaderSince) >= noLeaderWait:
			return fmt.Errorf("consistent read: %w", s.noLeader())
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("server %s: consistent read: %v: %w", s.cfg.Name, last, api.ErrNoLeader)
		case <-s.cfg.Clock.After(25 * time.Millisecond):
		}
	}
}

// ReadIndex confirms that this server still leads and answers the index of
// the newest write its state holds: a follower that reaches it has every
// write acknowledged before.
func (s *Server) ReadIndex(ctx context.Context) (uint64, error) {
	if !s.IsLeader() {
		return 0, fmt.Errorf("server %s does not lead: %w", s.cfg.Name, api.ErrNoLeader)
	}
	// The index is read before the confirmation: every write acknowledged
	// so far was applied here, and if another server had been elected
	// meanwhile the confirmation fails.
	index := s.store.Snapshot().LatestIndex()
	verified := make(chan error, 1)
	go func() { verified <- s.raft.VerifyLeader().Error() }()
	select {
	case err := <-verified:
		if err != nil {
			return 0, fmt.Errorf("server %s: confirm leadership: %v: %w", s.cfg.Name, err, api.ErrNoLeader)
		}
		return index, nil
	case <-ctx.Done():
		return 0, fmt.Errorf("server %s: confirm leadership: %w", s.cfg.Name, ctx.Err())
	}
}

// WaitForIndex returns once this server's state reflects index.
func (s *Server) WaitForIndex(ctx context.Context, index uint64) error {
	return s.fsm.WaitForIndex(ctx, index)
}

// QueryMeta says whether this server knows a leader and when it last heard
// from it.
func (s *Server) QueryMeta() api.QueryMeta {
	if s.raft.State() == raft.Leader {
		return api.QueryMeta{KnownLeader: s.IsLeader()}
	}
	_, id := s.raft.LeaderWithID()
	m := api.QueryMeta{KnownLeader: id != "", LastContact: -1}
	m.LeaderAPIUnknown = id != "" && string(id) != s.cfg.Name && s.serverHTTP(string(id)) == ""
	if last := s.raft.LastContact(); !last.IsZero() {
		m.LastContact = time.Since(last)
	}
	return m
}

// readIndexes asks the leader for read indexes, sharing one request among
// the reads that arrive while it is not sent yet: a read may use an answer
// only when the request left after the read began, so readers that come
// while one is in flight wait for the next.
type readIndexes struct {
	client *http.Client
	scheme string      // http (also when empty), or https with TLS
	clock  clock.Clock // times each request out; nil: the wall clock

	mu      sync.Mutex
	next    *readIndexCall // the request the next readers join
	sending bool
}

type readIndexCall struct {
	addr    string
	waiters int // reads that joined it
	done    chan struct{}
	index   uint64
	err     error
}

func (r *readIndexes) get(ctx context.Context, addr string) (uint64, error) {
	r.mu.Lock()
	if r.next == nil {
		r.next = &readIndexCall{addr: addr, done: make(chan struct{})}
	}
	r.next.addr = addr // not sent yet: ask whoever leads now
	r.next.waiters++
	call := r.next
	if !r.sending {
		r.send()
	}
	r.mu.Unlock()
	select {
	case <-call.done:
		return call.index, call.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// send starts the pending request; r.mu is held.
func (r *readIndexes) send() {
	call := r.next
	r.next, r.sending = nil, true
	go func() {
		call.index, call.err = r.fetch(call.addr)
		close(call.done)
		r.mu.Lock()
		r.sending = false
		if r.next != nil {
			r.send()
		}
		r.mu.Unlock()
	}()
}

// errNoReadIndex is a leader's answer when it serves no read indexes.
var errNoReadIndex = errors.New("the leader serves no read index (an older version)")

func (r *readIndexes) fetch(addr string) (uint64, error) {
	ctx, cancel := clock.WithTimeout(context.Background(), cmp.Or[clock.Clock](r.clock, clock.Real{}), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cmp.Or(r.scheme, "http")+"://"+addr+"/v1/status/read-index", nil)
	if err != nil {
		return 0, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("ask leader at %s for a read index: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return 0, fmt.Errorf("leader at %s: %w", addr, errNoReadIndex)
	}
	if resp.StatusCode != http.StatusOK {
		var e api.ErrorResponse
		_ = json.NewDecoder(resp.Body).Decode(&e) // the status says enough without it
		return 0, fmt.Errorf("ask leader at %s for a read index: %s %s", addr, resp.Status, e.Error)
	}
	var out api.ReadIndexResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, fmt.Errorf("ask leader at %s for a read index: %w", addr, err)
	}
	return out.Index, nil
}
