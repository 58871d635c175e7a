package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
	"flotilla/network/gossip"
)

// GossipKeyringTimeout bounds how long a keyring operation waits for the
// members' answers: a member that has not answered by then is listed as
// failed (it may still apply the change).
const GossipKeyringTimeout = 5 * time.Second

var _ api.GossipKeyring = (*Server)(nil)

// ListGossipKeys asks every alive member of the gossip pool for its keys.
func (s *Server) ListGossipKeys(ctx context.Context) (*api.GossipKeyringResponse, error) {
	return s.gossipKeyring(ctx, gossip.KeyList, nil)
}

// InstallGossipKey adds a key to every alive member's keyring: they then
// accept messages encrypted with it.
func (s *Server) InstallGossipKey(ctx context.Context, key []byte) (*api.GossipKeyringResponse, error) {
	return s.gossipKeyring(ctx, gossip.KeyInstall, key)
}

// UseGossipKey makes an installed key the one every alive member encrypts
// with.
func (s *Server) UseGossipKey(ctx context.Context, key []byte) (*api.GossipKeyringResponse, error) {
	return s.gossipKeyring(ctx, gossip.KeyUse, key)
}

// RemoveGossipKey removes a key (not the one in use) from every alive
// member's keyring.
func (s *Server) RemoveGossipKey(ctx context.Context, key []byte) (*api.GossipKeyringResponse, error) {
	return s.gossipKeyring(ctx, gossip.KeyRemove, key)
}

func (s *Server) gossipKeyring(ctx context.Context, op gossip.KeyOp, key []byte) (*api.GossipKeyringResponse, error) {
	ctx, cancel := clock.WithTimeout(ctx, s.cfg.Clock, GossipKeyringTimeout)
	defer cancel()
	res, err := s.pool.Keyring(ctx, op, key)
	switch {
	case errors.Is(err, gossip.ErrNotEncrypted), errors.Is(err, gossip.ErrMembersNotReady):
		return nil, fmt.Errorf("server %s: %v: %w", s.cfg.Name, err, api.ErrConflict)
	case errors.Is(err, gossip.ErrKeyNotInstalled), errors.Is(err, gossip.ErrPrimaryKey):
		return nil, &api.FieldError{Field: "key", Message: err.Error()}
	case err != nil:
		return nil, fmt.Errorf("gossip keyring %s: %w", op, err)
	}
	s.cfg.Logger.Info("gossip keyring", "op", string(op), "members", res.Members, "succeeded", res.Succeeded(), "failed", len(res.Failed))
	return &api.GossipKeyringResponse{Op: string(op), Members: res.Members, Succeeded: res.Succeeded(), Failed: res.Failed,
		Keys: res.Keys, PrimaryKeys: res.Primary}, nil
}
