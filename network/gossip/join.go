package gossip

import (
	"context"
	"log/slog"
	"time"
)

// JoinUntilAnswered says it cannot join once it has failed for
// joinQuietFor, then again every joinComplaintEvery.
const (
	joinQuietFor       = 5 * time.Second
	joinComplaintEvery = 30 * time.Second
)

// JoinUntilAnswered joins addrs (those that are not the pool's own),
// trying again every second on the pool's clock until one answers or
// ctx ends. It logs the join, and failures (after joinQuietFor, then
// every joinComplaintEvery), with what memberlist said: a member with another
// gossip key, or none, otherwise waits silently outside the pool.
func (p *Pool) JoinUntilAnswered(ctx context.Context, addrs []string, logger *slog.Logger) {
	var others []string
	for _, a := range addrs {
		if a != p.Addr() {
			others = append(others, a)
		}
	}
	if len(others) == 0 {
		return
	}
	start := p.clock.Now()
	var complained time.Time
	for {
		n, err := p.Join(others)
		if n > 0 {
			logger.Info("joined gossip pool", "contacted", n)
			return
		}
		// Members started together miss each other for a moment.
		now := p.clock.Now()
		if now.Sub(start) >= joinQuietFor && (complained.IsZero() || now.Sub(complained) >= joinComplaintEvery) {
			complained = now
			logger.Warn("cannot join the gossip pool yet (another gossip key? check --gossip-key-file and the keyring file in the data directory)",
				"join", others, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-p.clock.After(time.Second):
		}
	}
}
