package scheduler

import (
	"log/slog"
	"sync"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
)

// Heartbeats, as Nomad does them: the leader keeps one TTL timer per
// heartbeating node in memory, and a heartbeat only re-arms it. Raft hears
// of a node only when its status changes. The TTL grows with the number of
// heartbeating nodes, so that the leader takes at most MaxHeartbeatsPerSecond
// however large the cluster; small clusters keep the configured TTL.
//
//	nodes heartbeating  ──►  interval = max(HeartbeatTTL/3, nodes / MaxHeartbeatsPerSecond)
//	                         TTL      = 3 × interval
//
// The heartbeat's answer carries both: the agent heartbeats at the
// interval, with jitter, so it may miss two heartbeats before its TTL
// lapses. A node granted its TTL while the cluster was smaller is held to
// the TTL the cluster grants now, from its last heartbeat, like every
// other node. A node whose timer lapses is not marked down on the spot: it
// joins the silent nodes, which the leader marks down in batches at a
// bounded rate (nodedown.go), and a heartbeat arriving meanwhile takes it
// out again.

// DefaultMaxHeartbeatsPerSecond is how many heartbeats a second the leader
// asks of the whole cluster, Nomad's default.
const DefaultMaxHeartbeatsPerSecond = 50

// heartbeatsPerTTL is how many heartbeats an agent sends within one TTL.
const heartbeatsPerTTL = 3

// heartbeatTiming is the TTL the leader grants, and the interval it asks
// for, in a cluster of n heartbeating nodes: the configured minimum TTL
// until the nodes would heartbeat more often than maxPerSecond in all, then
// whatever keeps them at maxPerSecond.
func heartbeatTiming(n int, minTTL time.Duration, maxPerSecond float64) (ttl, interval time.Duration) {
	ttl = minTTL
	if maxPerSecond > 0 {
		scaled := time.Duration(float64(n) * heartbeatsPerTTL / maxPerSecond * float64(time.Second))
		ttl = max(ttl, scaled)
	}
	return ttl, ttl / heartbeatsPerTTL
}

// heartbeats keeps one TTL timer per heartbeating node, on the leader only
// (heartbeats never go through Raft: only the status change they cause
// does), and the nodes whose timer lapsed until they are marked down.
type heartbeats struct {
	clock        clock.Clock
	minTTL       time.Duration
	maxPerSecond float64
	logger       *slog.Logger

	mu     sync.Mutex
	timers map[string]*ttlTimer
	// silent are the nodes whose TTL lapsed, not yet marked down; order
	// is the order they fell silent in (it may still name nodes heard
	// from since, which silent no longer holds).
	silent map[string]silentNode
	order  []string
	// kick wakes the down-marker when a node falls silent.
	kick chan struct{}
}

// ttlTimer is one arming of a node's timer. A timer that fired while a
// heartbeat re-armed the node finds another entry in the map and does
// nothing: only the newest arming may expire the node.
type ttlTimer struct {
	timer    clock.Timer
	ttl      time.Duration
	deadline time.Time
	// regranted is set on a timer armed again because the last one fired
	// late (the leader stalled): a second late firing counts.
	regranted bool
}

// silentNode is a node whose TTL lapsed.
type silentNode struct {
	name string
	ttl  time.Duration
	// since is when its TTL lapsed.
	since time.Time
}

func newHeartbeats(c clock.Clock, minTTL time.Duration, maxPerSecond float64, logger *slog.Logger) *heartbeats {
	return &heartbeats{clock: c, minTTL: minTTL, maxPerSecond: maxPerSecond, logger: logger,
		timers: map[string]*ttlTimer{}, silent: map[string]silentNode{}, kick: make(chan struct{}, 1)}
}

// timing is the TTL and interval for the cluster as it is now.
func (h *heartbeats) timing() (ttl, interval time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return heartbeatTiming(h.countLocked(), h.minTTL, h.maxPerSecond)
}

// countLocked is the number of heartbeating nodes: those with a timer and
// those silent but not yet marked down.
func (h *heartbeats) countLocked() int { return len(h.timers) + len(h.silent) }

// grant (re)arms a node's timer with the TTL for the cluster's size, the
// node counted, and returns that TTL and the interval to heartbeat at.
func (h *heartbeats) grant(node string) (ttl, interval time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.countLocked()
	if _, armed := h.timers[node]; !armed {
		if _, silent := h.silent[node]; !silent {
			n++
		}
	}
	ttl, interval = heartbeatTiming(n, h.minTTL, h.maxPerSecond)
	h.armLocked(node, ttl, false)
	return ttl, interval
}

// grantAll arms every heartbeating node's timer afresh, for a new leader:
// twice the TTL for the cluster's size, so that every node has time to
// find the new leader and heartbeat before any is found silent.
func (h *heartbeats) grantAll(nodes []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ttl, _ := heartbeatTiming(len(nodes), h.minTTL, h.maxPerSecond)
	for _, node := range nodes {
		h.armLocked(node, 2*ttl, false)
	}
}

// reset (re)arms a node's timer with a given TTL.
func (h *heartbeats) reset(node string, ttl time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.armLocked(node, ttl, false)
}

func (h *heartbeats) armLocked(node string, ttl time.Duration, regranted bool) {
	now := h.clock.Now()
	h.armUntilLocked(node, ttl, now.Add(ttl), now, regranted)
}

// armUntilLocked arms a node's timer to fire at deadline.
func (h *heartbeats) armUntilLocked(node string, ttl time.Duration, deadline, now time.Time, regranted bool) {
	if old, ok := h.timers[node]; ok {
		old.timer.Stop()
	}
	delete(h.silent, node)
	entry := &ttlTimer{ttl: ttl, deadline: deadline, regranted: regranted}
	h.timers[node] = entry
	entry.timer = h.clock.AfterFunc(deadline.Sub(now), func() { h.expire(node, entry) })
}

// lateFiring is how late a timer may fire before the leader takes it that
// it was not running (stopped, starved of CPU, paused by a debugger) and
// so could not have heard the node either.
func lateFiring(ttl time.Duration) time.Duration { return max(2*time.Second, ttl/4) }

// expire moves a node whose TTL lapsed to the silent nodes, unless a newer
// heartbeat re-armed it, the cluster has grown since and grants a longer
// TTL (the node is then held to that, from the same heartbeat), or the
// timer fired so late that the silence may be the leader's own: then the
// node gets one fresh TTL.
//
// Without the second, the nodes that registered first, granted the TTL of
// a small cluster, were the ones marked down when a big apply on a
// growing cluster delayed their next heartbeat or two (`bench
// fake-nodes`: fake nodes 595–688 of 10,000, with TTLs of 36–41 s while
// the rest had 600 s).
func (h *heartbeats) expire(node string, entry *ttlTimer) {
	h.mu.Lock()
	if h.timers[node] != entry {
		h.mu.Unlock()
		return
	}
	delete(h.timers, node)
	now := h.clock.Now()
	ttl, deadline := entry.ttl, entry.deadline
	if granted, _ := heartbeatTiming(h.countLocked()+1, h.minTTL, h.maxPerSecond); granted > ttl {
		ttl, deadline = granted, deadline.Add(granted-ttl)
		if deadline.After(now) {
			h.armUntilLocked(node, ttl, deadline, now, entry.regranted)
			h.mu.Unlock()
			return
		}
	}
	if late := now.Sub(deadline); late > lateFiring(ttl) && !entry.regranted {
		h.armLocked(node, ttl, true)
		h.mu.Unlock()
		h.logger.Warn("heartbeat timer fired late: the leader stalled; granting a fresh TTL", "node", node, "late", late.Round(time.Millisecond))
		return
	}
	h.silent[node] = silentNode{name: node, ttl: ttl, since: deadline}
	h.order = append(h.order, node)
	h.mu.Unlock()
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// takeSilent removes and returns up to n silent nodes, longest silent
// first.
func (h *heartbeats) takeSilent(n int) []silentNode {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []silentNode
	for len(out) < n && len(h.order) > 0 {
		name := h.order[0]
		h.order = h.order[1:]
		if s, ok := h.silent[name]; ok {
			out = append(out, s)
			delete(h.silent, name)
		}
	}
	if len(h.silent) == 0 {
		h.order = nil // let go of the backing array
	}
	return out
}

// returnSilent puts back nodes whose marking failed, at the front, unless
// a heartbeat re-armed them meanwhile.
func (h *heartbeats) returnSilent(nodes []silentNode) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var names []string
	for _, s := range nodes {
		if _, armed := h.timers[s.name]; armed {
			continue
		}
		h.silent[s.name] = s
		names = append(names, s.name)
	}
	h.order = append(names, h.order...)
}

// silentCount is the number of nodes waiting to be marked down.
func (h *heartbeats) silentCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.silent)
}

func (h *heartbeats) stop(node string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t, ok := h.timers[node]; ok {
		t.timer.Stop()
		delete(h.timers, node)
	}
	delete(h.silent, node)
}

func (h *heartbeats) stopAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for node, t := range h.timers {
		t.timer.Stop()
		delete(h.timers, node)
	}
	h.silent, h.order = map[string]silentNode{}, nil
}

// armed reports how many nodes have a live timer.
func (h *heartbeats) armed() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.timers)
}

// noHeartbeatFor is the reason recorded on a node marked down.
func noHeartbeatFor(ttl time.Duration) string {
	return "no heartbeat for " + api.Duration(ttl).String()
}
