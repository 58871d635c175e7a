package api

import "errors"

// Errors every layer returns with %w and the HTTP layer maps to statuses.
var (
	// ErrNotFound: the named object does not exist (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request contradicts the current state (409).
	ErrConflict = errors.New("conflict")
	// ErrNoLeader: no leader is elected right now; try again (503).
	ErrNoLeader = errors.New("no cluster leader")
)
