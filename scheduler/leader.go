package scheduler

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"

	"flotilla/api"
	"flotilla/internal/seeded"
	"flotilla/network/gossip"
	"flotilla/scheduler/state"
)

// Garbage collection of finished work.
const (
	gcInterval = time.Minute
	// gcAge is how long a stopped allocation or finished evaluation stays
	// visible before it is forgotten.
	gcAge = 10 * time.Minute
)

// lead runs the leader's duties until ctx ends: the broker, workers, plan
// applier, heartbeat timers, unblocking, peer reconciliation and GC.
func (s *Server) lead(ctx context.Context) {
	log := s.cfg.Logger.With("server", s.cfg.Name)
	s.broker.SetClock(s.cfg.Clock)
	s.broker.SetEnabled(true)
	defer func() {
		s.leading.Store(false)
		s.broker.SetEnabled(false)
		s.heartbeats.stopAll()
		log.Info("stepped down")
	}()
	// Catch up with everything committed before serving as leader.
	for {
		if err := s.raft.Barrier(10 * time.Second).Error(); err == nil {
			break
		} else if ctx.Err() != nil {
			return
		} else {
			log.Warn("leader barrier", "err", err)
		}
	}
	if s.store.Snapshot().ClusterID() == 0 {
		// The cluster's first leader names it: allocation IDs derive
		// from it, so that two clusters never make the same ones.
		if _, _, err := s.apply(state.CmdSetClusterID, &state.SetClusterID{ID: newClusterID(s.cfg.Seed)}); err != nil {
			log.Warn("set the cluster ID", "err", err)
		}
	}
	s.bootstrapACLFromFile(log)
	snap := s.store.Snapshot()
	var pending []*api.Evaluation
	for _, e := range snap.Evaluations(nil) {
		switch e.Status {
		case api.EvalPending:
			pending = append(pending, e)
		case api.EvalBlocked:
			s.broker.Block(e, snap.Index(state.IndexCapacity))
		}
	}
	s.broker.Enqueue(pending...)
	// Every heartbeating node gets a fresh TTL, twice the usual, before
	// any may be found silent: nodes need time to find the new leader,
	// and whatever they told the old one is gone with it.
	var beating []string
	for _, n := range snap.NodesWithoutUsage(nil) {
		if n.Heartbeat && n.Status != api.NodeDown {
			beating = append(beating, n.Name)
		}
	}
	s.heartbeats.grantAll(beating)
	s.leading.Store(true)
	s.abs.lead(s.cfg.Clock.Now())
	log.Info("leading", "pending_evals", len(pending))

	var wg sync.WaitGroup
	run := func(fn func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); fn(ctx) }()
	}
	plans := newPlanApplier(s)
	s.plansMu.Lock()
	s.plans = plans
	s.plansMu.Unlock()
	defer func() {
		s.plansMu.Lock()
		s.plans = nil
		s.plansMu.Unlock()
	}()
	run(plans.run)
	for i := 0; i < s.cfg.Workers; i++ {
		run(func(ctx context.Context) { s.worker(ctx, plans) })
	}
	run(s.unblockOnCapacity)
	run(s.markSilentNodesDown)
	run(s.watchAgents)
	run(s.reconcilePeers)
	run(s.collectGarbage)
	run(s.rolloutTimers)
	run(s.autoscaler)
	run(s.ensureWorkloadCA) // certs.go
	wg.Wait()
}

// newClusterID is a random non-zero number, or one derived from seed
// when it is not 0.
func newClusterID(seed uint64) uint64 {
	if seed != 0 {
		if id := seeded.Hash("cluster", strconv.FormatUint(seed, 10)); id != 0 {
			return id
		}
	}
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			panic(fmt.Sprintf("crypto/rand: %v", err)) // never fails on Linux
		}
		if id := binary.BigEndian.Uint64(b[:]); id != 0 {
			return id
		}
	}
}

// unblockOnCapacity re-queues blocked evaluations whenever capacity may have
// appeared.
func (s *Server) unblockOnCapacity(ctx context.Context) {
	for {
		ws := memdb.NewWatchSet()
		snap := s.store.Snapshot()
		ws.Add(snap.Abandoned)
		s.broker.CapacityChanged(snap.WatchIndex(ws, state.IndexCapacity))
		if ws.WatchCtx(ctx) != nil {
			return
		}
	}
}

// watchAgents marks a node down as soon as gossip declares its agent dead
// or gone, usually well before its heartbeat TTL would lapse (but not a
// node whose containers outlive its agent). Each death is
// acted on once: an agent that restarts and registers again is ready even
// while some member still remembers its old death.
//
// A death older than this leader's term is acted on only if it still
// stands inheritedDeathGrace into the term: the previous leader may have
// seen it heal already (a partition mended, the member not yet back in
// this server's view: the pool rejoins every couple of seconds).
func (s *Server) watchAgents(ctx context.Context) {
	handled := map[string]uint64{}   // the Change of each member acted on
	inherited := map[string]uint64{} // deaths known when the term began
	for _, m := range s.pool.Members() {
		if m.Meta.Role == gossip.RoleAgent && m.Status != gossip.StatusAlive {
			inherited[m.Name] = m.Change
		}
	}
	termStart := s.now()
	graceOver := s.cfg.Clock.After(inheritedDeathGrace)
	for {
		changed := s.pool.Changed()
		snap := s.store.Snapshot()
		inGrace := s.now().Sub(termStart) < inheritedDeathGrace
		for _, m := range s.pool.Members() {
			if m.Meta.Role != gossip.RoleAgent || handled[m.Name] == m.Change {
				continue
			}
			if change, ok := inherited[m.Name]; ok && inGrace && m.Status != gossip.StatusAlive && change == m.Change {
				continue // looked at again when the grace is over
			}
			n := snap.NodeWithoutUsage(m.Name)
			if m.Status == gossip.StatusAlive {
				// Back: its endpoints return to rotation.
				if n != nil && n.Unreachable {
					s.setReachable(m.Name, true, "gossip: agent alive")
				}
				continue
			}
			handled[m.Name] = m.Change
			if n == nil || n.Status == api.NodeDown || !n.Heartbeat {
				continue
			}
			if m.Status == gossip.StatusDead && s.pool.Answers(m.Name) {
				// A stale verdict (a healed partition's): the member
				// will refute it; its heartbeat TTL still stands guard.
				s.cfg.Logger.Info("gossip says an agent failed but it answers a ping", "node", m.Name)
				continue
			}
			msg := "gossip: agent failed"
			if m.Status == gossip.StatusLeft {
				msg = "gossip: agent left"
			}
			if outlivesAgent(n) {
				// Its containers may outlive it: only its TTL marks it down,
				// but nobody should be routed to it meanwhile.
				if !s.setReachable(m.Name, false, msg) {
					delete(handled, m.Name)
				}
				continue
			}
			if _, _, err := s.apply(state.CmdNodeStatus, &state.NodeStatus{Name: m.Name, Status: api.NodeDown, Message: msg, Time: s.now()}); err != nil {
				s.cfg.Logger.Warn("mark node down", "node", m.Name, "err", err)
				delete(handled, m.Name) // try again at the next change
				continue
			}
			s.heartbeats.stop(m.Name)
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-graceOver:
		case <-s.cfg.Clock.After(5 * time.Second):
		}
	}
}

// inheritedDeathGrace is how long a new leader waits before acting on a
// gossip death that happened before its term (watchAgents).
const inheritedDeathGrace = 5 * time.Second

// setReachable records gossip's verdict on a node; false when the write
// failed.
func (s *Server) setReachable(name string, reachable bool, msg string) bool {
	if _, _, err := s.apply(state.CmdNodeReachability, &state.NodeReachability{Name: name, Reachable: reachable, Message: msg, Time: s.now()}); err != nil {
		s.cfg.Logger.Warn("node reachability", "node", name, "err", err)
		return false
	}
	return true
}

// outlivesAgent reports whether a node's containers keep running when its
// agent stops (containerd), unlike sim containers, which live inside the
// agent. Such a node is marked down only when its heartbeat TTL lapses:
// an agent that restarts (an upgrade, a crash that systemd restarts)
// registers again within the TTL and keeps its containers.
func outlivesAgent(n *api.Node) bool { return n.Runtime == "containerd" }

// reconcilePeers adds servers that gossip knows but Raft does not as
// voters, and removes servers that left gracefully.
func (s *Server) reconcilePeers(ctx context.Context) {
	for {
		changed := s.pool.Changed()
		future := s.raft.GetConfiguration()
		if err := future.Error(); err == nil {
			known := map[raft.ServerID]raft.ServerAddress{}
			for _, srv := range future.Configuration().Servers {
				known[srv.ID] = srv.Address
			}
			for _, m := range s.pool.Members() {
				if m.Meta.Role != gossip.RoleServer || m.Name == s.cfg.Name {
					continue
				}
				id, addr := raft.ServerID(m.Name), raft.ServerAddress(m.Meta.Raft)
				switch m.Status {
				case gossip.StatusAlive:
					if known[id] != addr {
						if err := s.checkRaftPeer(string(addr)); err != nil {
							s.cfg.Logger.Warn("not adding a raft voter: it is not a server of this cluster's CA", "server", m.Name, "addr", addr, "err", err)
						} else if err := s.raft.AddVoter(id, addr, 0, 10*time.Second).Error(); err != nil {
							s.cfg.Logger.Warn("add raft voter", "server", m.Name, "err", err)
						} else {
							s.cfg.Logger.Info("added raft voter", "server", m.Name, "addr", addr)
						}
					}
				case gossip.StatusLeft:
					if _, ok := known[id]; ok {
						if err := s.raft.RemoveServer(id, 0, 10*time.Second).Error(); err == nil {
							s.cfg.Logger.Info("removed raft peer that left", "server", m.Name)
						}
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-s.cfg.Clock.After(10 * time.Second):
		}
	}
}

// collectGarbage forgets allocations stopped, and evaluations finished,
// more than gcAge ago.
func (s *Server) collectGarbage(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.cfg.Clock.After(gcInterval):
		}
		cutoff := s.cfg.Clock.Now().Add(-gcAge)
		snap := s.store.Snapshot()
		var gc state.GC
		for _, a := range snap.Allocations(nil) {
			if a.Terminal() && a.ModifyTime.Before(cutoff) {
				gc.Allocations = append(gc.Allocations, a.ID)
			}
		}
		for _, e := range snap.Evaluations(nil) {
			if e.Terminal() && e.ModifyTime.Before(cutoff) {
				gc.Evaluations = append(gc.Evaluations, e.ID)
			}
		}
		if len(gc.Allocations)+len(gc.Evaluations) == 0 {
			continue
		}
		if _, _, err := s.apply(state.CmdGC, &gc); err != nil {
			s.cfg.Logger.Warn("garbage collection", "err", err)
		}
	}
}
