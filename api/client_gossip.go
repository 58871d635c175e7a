package api

import (
	"context"
	"net/http"
)

// GossipKeys lists the gossip pool's keys: for each, how many members hold
// it and how many encrypt with it.
func (c *Client) GossipKeys(ctx context.Context) (*GossipKeyringResponse, error) {
	var resp GossipKeyringResponse
	if _, err := c.do(ctx, http.MethodGet, "/v1/operator/gossip/keyring", nil, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// GossipKeyring installs, uses or removes a gossip key (base64) on every
// alive member of the pool (op: GossipKeyInstall, GossipKeyUse,
// GossipKeyRemove).
func (c *Client) GossipKeyring(ctx context.Context, op, key string) (*GossipKeyringResponse, error) {
	var resp GossipKeyringResponse
	if _, err := c.do(ctx, http.MethodPost, "/v1/operator/gossip/keyring", GossipKeyringRequest{Op: op, Key: key}, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}
