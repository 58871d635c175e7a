package scheduler

import (
	"sync"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
	"flotilla/scheduler/state"
)

// heartbeats keeps one TTL timer per heartbeating node, on the leader only
// (heartbeats never go through Raft: only the status change they cause does).
type heartbeats struct {
	clock    clock.Clock
	onExpire func(node string)

	mu     sync.Mutex
	timers map[string]*ttlTimer
}

// ttlTimer is one arming of a node's timer. A timer that fired while a
// heartbeat re-armed the node finds another entry in the map and does
// nothing: only the newest arming may expire the node.
type ttlTimer struct {
	timer clock.Timer
}

func newHeartbeats(c clock.Clock, onExpire func(string)) *heartbeats {
	return &heartbeats{clock: c, onExpire: onExpire, timers: map[string]*ttlTimer{}}
}

// reset (re)arms a node's timer.
func (h *heartbeats) reset(node string, ttl time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if old, ok := h.timers[node]; ok {
		old.timer.Stop()
	}
	entry := &ttlTimer{}
	h.timers[node] = entry
	entry.timer = h.clock.AfterFunc(ttl, func() {
		h.mu.Lock()
		current := h.timers[node] == entry
		if current {
			delete(h.timers, node)
		}
		h.mu.Unlock()
		if current {
			h.onExpire(node)
		}
	})
}

func (h *heartbeats) stop(node string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t, ok := h.timers[node]; ok {
		t.timer.Stop()
		delete(h.timers, node)
	}
}

func (h *heartbeats) stopAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for node, t := range h.timers {
		t.timer.Stop()
		delete(h.timers, node)
	}
}

// armed reports how many nodes have a live timer.
func (h *heartbeats) armed() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.timers)
}

// heartbeatExpired marks a silent node down.
func (s *Server) heartbeatExpired(node string) {
	if !s.IsLeader() {
		return
	}
	n := s.store.Snapshot().Node(nil, node)
	if n == nil || n.Status == api.NodeDown || !n.Heartbeat {
		return
	}
	msg := "no heartbeat for " + api.Duration(s.cfg.HeartbeatTTL).String()
	if _, _, err := s.apply(state.CmdNodeStatus, &state.NodeStatus{Name: node, Status: api.NodeDown, Message: msg, Time: s.now()}); err != nil {
		s.cfg.Logger.Warn("mark node down", "node", node, "err", err)
		// Try again: the node must not stay ready for ever.
		s.heartbeats.reset(node, time.Second)
	}
}
