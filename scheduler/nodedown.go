package scheduler

import (
	"context"
	"math"
	"time"

	"flotilla/api"
	"flotilla/scheduler/state"
)

// Marking silent nodes down. A node whose heartbeat TTL lapsed waits among
// the silent nodes (heartbeat.go); the leader marks them down in batches,
// one Raft entry each, within two limits, so that a leader that stalled or
// was starved of CPU (and so heard no heartbeats) never marks thousands of
// nodes down at once: those that are alive heartbeat meanwhile and leave
// the silent nodes before their turn comes.
//
//   - a rate: at most MaxNodesDownPerSecond, in a bucket of one second's
//     worth;
//   - a share: within any window of one TTL, at most MaxNodesDownFraction
//     of the heartbeating nodes (but always minNodesDownPerWindow).
//
// Longest silent go first.

// Default down-marking limits.
const (
	DefaultMaxNodesDownPerSecond = 10
	DefaultMaxNodesDownFraction  = 0.1
	// minNodesDownPerWindow lets a small cluster lose all its nodes
	// within one TTL whatever the fraction.
	minNodesDownPerWindow = 10
)

// downLimiter is the pure part: how many nodes may be marked down at now.
type downLimiter struct {
	perSecond float64
	fraction  float64
	minWindow int

	tokens float64
	last   time.Time
	// marks are the times nodes were marked down, oldest first, kept for
	// the longest window asked about.
	marks []time.Time
}

func newDownLimiter(perSecond, fraction float64) *downLimiter {
	return &downLimiter{perSecond: perSecond, fraction: fraction, minWindow: minNodesDownPerWindow, tokens: max(1, perSecond)}
}

// allow says how many of the wanted nodes to mark down at now, with nodes
// nodes still heartbeating (the silent ones included) and a window of one
// TTL. While the
// rate holds nodes back it waits for a whole batch (a second's worth)
// rather than trickling one node per entry; when it allows none, retry is
// when it may.
func (l *downLimiter) allow(now time.Time, wanted, nodes int, window time.Duration) (n int, retry time.Time) {
	burst := max(1, l.perSecond)
	if !l.last.IsZero() {
		l.tokens = min(burst, l.tokens+now.Sub(l.last).Seconds()*l.perSecond)
	}
	l.last = now
	cut := 0
	for cut < len(l.marks) && !l.marks[cut].After(now.Add(-window)) {
		cut++
	}
	l.marks = l.marks[cut:]
	// The share is of the cluster as it was when the window began: the
	// nodes still heartbeating and those marked down within it.
	share := max(l.minWindow, int(math.Floor(l.fraction*float64(nodes+len(l.marks)))))
	windowLeft := share - len(l.marks)
	if windowLeft <= 0 {
		// The oldest mark leaving the window frees a place.
		return 0, l.marks[0].Add(window)
	}
	batch := min(wanted, windowLeft, int(burst))
	if l.tokens < float64(batch) {
		return 0, now.Add(time.Duration((float64(batch) - l.tokens) / l.perSecond * float64(time.Second)))
	}
	return batch, time.Time{}
}

// took records n nodes marked down at now.
func (l *downLimiter) took(now time.Time, n int) {
	l.tokens -= float64(n)
	for range n {
		l.marks = append(l.marks, now)
	}
}

// markSilentNodesDown runs on the leader for its term: it marks silent
// nodes down in rate-limited batches, one Raft entry per batch.
func (s *Server) markSilentNodesDown(ctx context.Context) {
	h := s.heartbeats
	limiter := newDownLimiter(s.cfg.MaxNodesDownPerSecond, s.cfg.MaxNodesDownFraction)
	var wait <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.kick:
		case <-wait:
		}
		wait = nil
		for ctx.Err() == nil {
			waiting := h.silentCount()
			if waiting == 0 {
				break
			}
			now := s.cfg.Clock.Now()
			h.mu.Lock()
			nodes := h.countLocked()
			h.mu.Unlock()
			ttl, _ := heartbeatTiming(nodes, s.cfg.HeartbeatTTL, s.cfg.MaxHeartbeatsPerSecond)
			n, retry := limiter.allow(now, waiting, nodes, ttl)
			if n == 0 {
				wait = s.cfg.Clock.After(retry.Sub(now))
				break
			}
			batch := h.takeSilent(n)
			marked, err := s.markDown(batch)
			if err != nil {
				s.cfg.Logger.Warn("mark silent nodes down; retrying", "nodes", len(batch), "err", err)
				h.returnSilent(batch)
				wait = s.cfg.Clock.After(time.Second)
				break
			}
			limiter.took(now, marked)
		}
	}
}

// markDown marks silent nodes down in one Raft entry and says how many it
// marked; nodes that went down otherwise, stopped heartbeating (registered
// again without) or are gone are left alone.
func (s *Server) markDown(batch []silentNode) (int, error) {
	snap := s.store.Snapshot()
	var statuses []state.NodeStatus
	for _, sn := range batch {
		n := snap.NodeWithoutUsage(sn.name)
		if n == nil || n.Status == api.NodeDown || !n.Heartbeat {
			continue
		}
		statuses = append(statuses, state.NodeStatus{Name: sn.name, Status: api.NodeDown, Message: noHeartbeatFor(sn.ttl)})
	}
	if len(statuses) == 0 {
		return 0, nil
	}
	res, _, err := s.apply(state.CmdNodeStatusBatch, &state.NodeStatusBatch{Statuses: statuses, Time: s.now()})
	if err != nil {
		return 0, err
	}
	changed, _ := res.([]string)
	s.metrics.nodesMarkedDown.Add(float64(len(changed)))
	s.cfg.Logger.Warn("marked silent nodes down", "nodes", len(changed), "first", statuses[0].Name, "silent_left", s.heartbeats.silentCount())
	return len(changed), nil
}
