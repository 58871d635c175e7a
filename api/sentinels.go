package api

import (
	"errors"
	"fmt"
	"time"
)

// Errors every layer returns with %w and the HTTP layer maps to statuses.
var (
	// ErrNotFound: the named object does not exist (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request contradicts the current state (409).
	ErrConflict = errors.New("conflict")
	// ErrNoLeader: no leader is elected right now; try again (503).
	ErrNoLeader = errors.New("no cluster leader")
)

// NoLeaderError is ErrNoLeader from a server that has known no leader for
// a while (For): its cluster has no majority it can reach, or an election
// is taking that long. Clients stop trying when every server they know
// says so for long enough (LeaderlessGiveUp) or does not answer.
type NoLeaderError struct {
	Server string
	For    time.Duration
}

func (e *NoLeaderError) Error() string {
	return fmt.Sprintf("server %s: no known leader for %s", e.Server, e.For.Round(time.Second))
}

func (e *NoLeaderError) Unwrap() error { return ErrNoLeader }

// LeaderlessGiveUp is how long a server must have known no leader for a
// client to stop trying it before its RetryFor: an election among a
// majority takes a few seconds at most, so a server without a leader for
// longer is cut off from its majority, or the majority is down.
const LeaderlessGiveUp = 5 * time.Second

// NoLeaderForHeader carries a NoLeaderError's For, in milliseconds, with
// its 503.
const NoLeaderForHeader = "X-Flotilla-No-Leader-For"
