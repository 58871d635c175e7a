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
	h.fwd = h.fwd.with(func(t *http.Transport) { t.TLSClientConfig = cfg.Clone() })
	h.forwardScheme = "https"
}
