package api

import (
	"fmt"
	"net/http"
)

// registerGossip serves the gossip keyring (docs/REAL-CLUSTERS.md, "Gossip
// encryption"): any server answers, without the leader, since the pool is
// not Raft's.
func (h *handler) registerGossip(mux *http.ServeMux) {
	keyring, _ := h.b.(GossipKeyring)
	mux.HandleFunc("GET /v1/operator/gossip/keyring", func(w http.ResponseWriter, r *http.Request) {
		if keyring == nil {
			writeError(w, fmt.Errorf("this server has no gossip keyring: %w", ErrNotFound))
			return
		}
		resp, err := keyring.ListGossipKeys(r.Context())
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, 0, resp)
	})
	mux.HandleFunc("POST /v1/operator/gossip/keyring", func(w http.ResponseWriter, r *http.Request) {
		if keyring == nil {
			writeError(w, fmt.Errorf("this server has no gossip keyring: %w", ErrNotFound))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		var req GossipKeyringRequest
		if err := body(r, "", &req); err != nil {
			writeError(w, err)
			return
		}
		key, err := req.Validate()
		if err != nil {
			writeError(w, err)
			return
		}
		var resp *GossipKeyringResponse
		switch req.Op {
		case GossipKeyInstall:
			resp, err = keyring.InstallGossipKey(r.Context(), key)
		case GossipKeyUse:
			resp, err = keyring.UseGossipKey(r.Context(), key)
		case GossipKeyRemove:
			resp, err = keyring.RemoveGossipKey(r.Context(), key)
		}
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, 0, resp)
	})
}
