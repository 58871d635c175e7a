package scheduler

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"flotilla/api"
)

// leaderWatch records, on the server's clock, since when this server has
// known no leader: a server cut off from its majority (or left alone by
// it) says so with its 503s (api.NoLeaderError), and clients stop trying
// rather than retrying until their deadline.
type leaderWatch struct {
	obs *raft.Observer
	ch  chan raft.Observation
}

// watchLeaderChanges registers for Raft's leader changes; a server
// starts without a leader, since New.
func (s *Server) watchLeaderChanges() {
	s.leaderless.Store(s.cfg.Clock.Now().UnixNano())
	s.leaderWatch.ch = make(chan raft.Observation, 16)
	s.leaderWatch.obs = raft.NewObserver(s.leaderWatch.ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	s.raft.RegisterObserver(s.leaderWatch.obs)
}

// watchLeader keeps s.leaderless until ctx ends. Observations dropped
// when the channel is full leave the last one's verdict until the next,
// and the current leader is asked on each one, so none is misread.
func (s *Server) watchLeader(ctx context.Context) {
	defer s.raft.DeregisterObserver(s.leaderWatch.obs)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.leaderWatch.ch:
			if _, id := s.raft.LeaderWithID(); id != "" {
				s.leaderless.Store(0)
			} else if s.leaderless.Load() == 0 {
				s.leaderless.Store(s.cfg.Clock.Now().UnixNano())
			}
		}
	}
}

// noLeader is the error of a request that waited noLeaderWait for a
// leader in vain, saying how long this server has known none (at least
// that wait); or, when Raft knows the leader but gossip never told this
// server the leader's API address, that (a server outside the gossip
// pool: another key, or no --join), which clients do not take for a lost
// majority.
func (s *Server) noLeader() error {
	if _, id := s.raft.LeaderWithID(); id != "" && string(id) != s.cfg.Name {
		return fmt.Errorf("server %s: the leader is %s, but gossip never told this server its API address (is this server in the gossip pool? check its gossip key and --join): %w",
			s.cfg.Name, id, api.ErrNoLeader)
	}
	d := noLeaderWait
	if since := s.leaderless.Load(); since != 0 {
		d = max(d, s.cfg.Clock.Now().Sub(time.Unix(0, since)))
	}
	return &api.NoLeaderError{Server: s.cfg.Name, For: d}
}
