package api

import (
	"context"
	"net/http"
	"net/url"
)

// WorkloadCA reads the workload CA's certificate (flotilla operator ca show).
func (c *Client) WorkloadCA(ctx context.Context) (*WorkloadCA, error) {
	var out WorkloadCA
	if _, err := c.do(ctx, http.MethodGet, "/v1/operator/ca", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetWorkloadCA replaces the workload CA with an operator's own.
func (c *Client) SetWorkloadCA(ctx context.Context, req SetWorkloadCARequest) (SetWorkloadCAResponse, error) {
	var out SetWorkloadCAResponse
	_, err := c.do(ctx, http.MethodPut, "/v1/operator/ca", req, &out)
	return out, err
}

// IssueCertificate asks for a certificate of one of a node's allocations,
// for the key of a CSR the agent made.
func (c *Client) IssueCertificate(ctx context.Context, node, id, cert string, csrPEM []byte) (*IssuedCertificate, error) {
	var out IssuedCertificate
	path := "/v1/nodes/" + url.PathEscape(node) + "/allocations/" + url.PathEscape(id) + "/certificates/" + url.PathEscape(cert)
	if _, err := c.do(ctx, http.MethodPost, path, CertificateRequest{CSR: string(csrPEM)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
