package api

import "net/http"

// NewHandlerForwardingOver is NewHandler with at most conns connections
// to the leader for forwarded writes other than heartbeats.
func NewHandlerForwardingOver(b Backend, opts HandlerOptions, conns int) http.Handler {
	return newHandler(b, opts, forwarders{writes: pooledTransport(conns, conns), heartbeats: defaultForwarders.heartbeats})
}
