package api

import (
	"crypto/tls"
	"net/http"
)

// useForwardTLS makes the handler forward writes to the leader over HTTPS
// with cfg (nil: plain HTTP, as before).
func (h *handler) useForwardTLS(cfg *tls.Config) {
	if cfg == nil {
		return
	}
	t := forwardTransport.Clone()
	if cur, ok := h.forwarder.(*http.Transport); ok {
		t = cur.Clone()
	}
	t.TLSClientConfig = cfg.Clone()
	h.forwarder, h.forwardScheme = t, "https"
}
