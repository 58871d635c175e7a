package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// WorkloadCerts is what a backend offers for services' certificates
// (certs.go). A backend without it answers 404 on their routes.
type WorkloadCerts interface {
	// WorkloadCA is the workload CA's certificate; ErrNotFound before the
	// first leader made one.
	WorkloadCA(ctx context.Context) (*WorkloadCA, error)
	// SetWorkloadCA replaces the workload CA with an operator's (leader
	// only); a bad certificate or key is a *FieldError.
	SetWorkloadCA(ctx context.Context, req SetWorkloadCARequest) (SetWorkloadCAResponse, error)
	// IssueCertificate signs a certificate for allocation id's
	// certificate cert, for the key of csrPEM, with the names of the
	// allocation's spec; ErrNotFound unless the allocation runs on node
	// and its spec has that certificate; a bad CSR is a *FieldError.
	// Any server holding the keyring signs: it writes nothing to Raft.
	IssueCertificate(ctx context.Context, node, id, cert string, csrPEM []byte) (*IssuedCertificate, error)
}

// registerCerts adds the routes of the workload CA and of replicas'
// certificates.
func (h *handler) registerCerts(mux *http.ServeMux) {
	b, ok := h.b.(WorkloadCerts)
	if !ok {
		none := func(w http.ResponseWriter, r *http.Request) {
			writeError(w, fmt.Errorf("this server keeps no workload CA: %w", ErrNotFound))
		}
		mux.HandleFunc("GET /v1/operator/ca", none)
		mux.HandleFunc("PUT /v1/operator/ca", none)
		mux.HandleFunc("POST /v1/nodes/{name}/allocations/{id}/certificates/{cert}", none)
		return
	}
	c := &certHandlers{h: h, b: b}
	mux.HandleFunc("GET /v1/operator/ca", c.show)
	mux.HandleFunc("PUT /v1/operator/ca", h.write(c.set))
	// Not forwarded: the server asked signs, after a read barrier (its
	// state then holds the allocation the agent was told of).
	mux.HandleFunc("POST /v1/nodes/{name}/allocations/{id}/certificates/{cert}", c.issue)
}

type certHandlers struct {
	h *handler
	b WorkloadCerts
}

func (c *certHandlers) show(w http.ResponseWriter, r *http.Request) {
	read(c.h, w, r, func(ctx context.Context, q QueryOptions) (*WorkloadCA, uint64, error) {
		ca, err := c.b.WorkloadCA(ctx)
		if err != nil {
			return nil, 0, err
		}
		return ca, ca.ModifyIndex, nil
	})
}

func (c *certHandlers) set(w http.ResponseWriter, r *http.Request) {
	var req SetWorkloadCARequest
	if err := body(r, "", &req); err != nil {
		writeError(w, err)
		return
	}
	switch {
	case strings.TrimSpace(req.Certificate) == "":
		writeError(w, fieldErr("certificate", "required: the CA's certificate (PEM)"))
		return
	case strings.TrimSpace(req.Key) == "":
		writeError(w, fieldErr("key", "required: the CA's private key (PEM)"))
		return
	}
	resp, err := c.b.SetWorkloadCA(r.Context(), req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp.Index, resp)
}

func (c *certHandlers) issue(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxCSRBytes)
	var req CertificateRequest
	if err := body(r, "", &req); err != nil {
		writeError(w, err)
		return
	}
	if strings.TrimSpace(req.CSR) == "" {
		writeError(w, fieldErr("csr", "required: a PEM CERTIFICATE REQUEST"))
		return
	}
	if err := c.h.consistent(r.Context(), w, QueryOptions{}, true); err != nil {
		writeError(w, err)
		return
	}
	cert, err := c.b.IssueCertificate(r.Context(), r.PathValue("name"), r.PathValue("id"), r.PathValue("cert"), []byte(req.CSR))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, 0, cert)
}
