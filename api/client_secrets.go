package api

import (
	"context"
	"net/http"
	"net/url"
)

func filePath(kind, namespace, name string) string {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	base := "/v1/configs/"
	if kind == KindSecret {
		base = "/v1/secrets/"
	}
	return base + url.PathEscape(namespace) + "/" + url.PathEscape(name)
}

// ApplyFileObject creates or updates a config or a secret (by its kind).
func (c *Client) ApplyFileObject(ctx context.Context, spec FileObjectSpec) (FileWriteResponse, error) {
	var r FileWriteResponse
	_, err := c.do(ctx, http.MethodPut, filePath(spec.Kind, spec.Metadata.Namespace, spec.Metadata.Name), spec, &r)
	return r, err
}

// DeleteFileObject deletes a config or a secret.
func (c *Client) DeleteFileObject(ctx context.Context, kind, namespace, name string) (WriteResponse, error) {
	var r WriteResponse
	_, err := c.do(ctx, http.MethodDelete, filePath(kind, namespace, name), nil, &r)
	return r, err
}

// Configs lists a namespace's configs ("" for all of them).
func (c *Client) Configs(ctx context.Context, namespace string, q QueryOptions) ([]*Config, uint64, error) {
	var out []*Config
	extra := url.Values{}
	if namespace != "" {
		extra.Set("namespace", namespace)
	}
	i, err := c.doWait(ctx, blockingWait(q), http.MethodGet, "/v1/configs"+queryString(q, extra), nil, &out)
	return out, i, err
}

// Config reads one config.
func (c *Client) Config(ctx context.Context, namespace, name string, q QueryOptions) (*Config, uint64, error) {
	var out Config
	i, err := c.doWait(ctx, blockingWait(q), http.MethodGet, filePath(KindConfig, namespace, name)+queryString(q, nil), nil, &out)
	if err != nil {
		return nil, i, err
	}
	return &out, i, nil
}

// Secrets lists a namespace's secrets ("" for all of them), without
// their values.
func (c *Client) Secrets(ctx context.Context, namespace string, q QueryOptions) ([]*Secret, uint64, error) {
	var out []*Secret
	extra := url.Values{}
	if namespace != "" {
		extra.Set("namespace", namespace)
	}
	i, err := c.doWait(ctx, blockingWait(q), http.MethodGet, "/v1/secrets"+queryString(q, extra), nil, &out)
	return out, i, err
}

// Secret reads one secret's keys and sizes, without its values.
func (c *Client) Secret(ctx context.Context, namespace, name string, q QueryOptions) (*Secret, uint64, error) {
	var out Secret
	i, err := c.doWait(ctx, blockingWait(q), http.MethodGet, filePath(KindSecret, namespace, name)+queryString(q, nil), nil, &out)
	if err != nil {
		return nil, i, err
	}
	return &out, i, nil
}

// SecretValues reads a secret's values.
func (c *Client) SecretValues(ctx context.Context, namespace, name string) (*SecretValues, error) {
	var out SecretValues
	if _, err := c.do(ctx, http.MethodGet, filePath(KindSecret, namespace, name)+"/values", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AllocationFiles fetches what a node's agent mounts for one of its
// allocations.
func (c *Client) AllocationFiles(ctx context.Context, node, id string) (*AllocationFiles, error) {
	var out AllocationFiles
	if _, err := c.do(ctx, http.MethodGet, "/v1/nodes/"+url.PathEscape(node)+"/allocations/"+url.PathEscape(id)+"/files", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// KeyringRotate makes a new active key for secrets at rest.
func (c *Client) KeyringRotate(ctx context.Context) (KeyringRotateResponse, error) {
	var out KeyringRotateResponse
	_, err := c.do(ctx, http.MethodPost, "/v1/operator/keyring/rotate", nil, &out)
	return out, err
}

// KeyringStatus lists the cluster's keys and which servers hold them.
func (c *Client) KeyringStatus(ctx context.Context) (*KeyringStatus, error) {
	var out KeyringStatus
	if _, err := c.do(ctx, http.MethodGet, "/v1/operator/keyring", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
