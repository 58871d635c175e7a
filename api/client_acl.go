package api

import (
	"context"
	"net/http"
	"net/url"
)

// SetToken makes every request of the client carry an ACL token (""
// none); it replaces the default, $FLOTILLA_TOKEN. Call it before the
// client is used.
func (c *Client) SetToken(token string) { c.token = token }

// Token is the ACL token the client sends ("" for none).
func (c *Client) Token() string { return c.token }

// tokenOverrideKey carries, in a request's context, a token to send
// instead of the client's (ACLTokenOf).
type tokenOverrideKey struct{}

func (c *Client) setTokenHeader(req *http.Request) {
	token := c.token
	if t, ok := req.Context().Value(tokenOverrideKey{}).(string); ok {
		token = t
	}
	if token != "" {
		req.Header.Set(TokenHeader, token)
	}
}

// ACLBootstrap makes the cluster's first management token (once).
func (c *Client) ACLBootstrap(ctx context.Context) (*ACLToken, error) {
	var t ACLToken
	if _, err := c.do(ctx, http.MethodPost, "/v1/acl/bootstrap", struct{}{}, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// UpsertACLPolicy creates or replaces a policy.
func (c *Client) UpsertACLPolicy(ctx context.Context, name string, req ACLPolicyRequest) (WriteResponse, error) {
	var w WriteResponse
	_, err := c.do(ctx, http.MethodPut, "/v1/acl/policy/"+url.PathEscape(name), req, &w)
	return w, err
}

// DeleteACLPolicy deletes a policy.
func (c *Client) DeleteACLPolicy(ctx context.Context, name string) (WriteResponse, error) {
	var w WriteResponse
	_, err := c.do(ctx, http.MethodDelete, "/v1/acl/policy/"+url.PathEscape(name), nil, &w)
	return w, err
}

// ACLPolicies lists the policies.
func (c *Client) ACLPolicies(ctx context.Context) ([]*ACLPolicy, error) {
	var p []*ACLPolicy
	_, err := c.do(ctx, http.MethodGet, "/v1/acl/policies", nil, &p)
	return p, err
}

// ACLPolicy reads one policy.
func (c *Client) ACLPolicy(ctx context.Context, name string) (*ACLPolicy, error) {
	var p ACLPolicy
	if _, err := c.do(ctx, http.MethodGet, "/v1/acl/policy/"+url.PathEscape(name), nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// CreateACLToken makes a token; the answer holds its secret.
func (c *Client) CreateACLToken(ctx context.Context, req ACLTokenRequest) (*ACLToken, error) {
	var t ACLToken
	if _, err := c.do(ctx, http.MethodPost, "/v1/acl/token", req, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// DeleteACLToken deletes a token by its accessor ID.
func (c *Client) DeleteACLToken(ctx context.Context, accessor string) (WriteResponse, error) {
	var w WriteResponse
	_, err := c.do(ctx, http.MethodDelete, "/v1/acl/token/"+url.PathEscape(accessor), nil, &w)
	return w, err
}

// ACLTokens lists the tokens (without secrets).
func (c *Client) ACLTokens(ctx context.Context) ([]*ACLToken, error) {
	var t []*ACLToken
	_, err := c.do(ctx, http.MethodGet, "/v1/acl/tokens", nil, &t)
	return t, err
}

// ACLToken reads a token by accessor ID (without its secret).
func (c *Client) ACLToken(ctx context.Context, accessor string) (*ACLToken, error) {
	var t ACLToken
	if _, err := c.do(ctx, http.MethodGet, "/v1/acl/token/"+url.PathEscape(accessor), nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// ACLTokenSelf is the client's own token, with what it may do.
func (c *Client) ACLTokenSelf(ctx context.Context) (*ACLToken, error) {
	return c.ACLTokenOf(ctx, c.token)
}

// ACLTokenOf asks who the holder of secret is ("" for an anonymous
// request): agents check their callers' tokens with it. ErrACLDisabled
// when the cluster has no ACLs.
func (c *Client) ACLTokenOf(ctx context.Context, secret string) (*ACLToken, error) {
	ctx = context.WithValue(ctx, tokenOverrideKey{}, secret)
	var t ACLToken
	if _, err := c.do(ctx, http.MethodGet, "/v1/acl/token/self", nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}
