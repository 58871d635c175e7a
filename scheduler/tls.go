package scheduler

import (
	"crypto/tls"

	"flotilla/api"
)

// Mutual TLS of a server (Config.TLS): its API listener requires a client
// certificate of the CA (agents', users', other servers'); Raft requires
// a server's (raftnet_tls.go); and what it asks of other servers (writes
// forwarded to the leader, read indexes, status probes) goes over HTTPS
// with its own certificate, to servers only.

// peerTLS is the client TLS for other servers' APIs (nil without TLS):
// the server's certificate, and theirs must be servers'.
func (c *Config) peerTLS() *tls.Config {
	if c.TLS == nil {
		return nil
	}
	return c.TLS.ClientConfig(api.ServerTLSName)
}

// scheme is the scheme of other servers' API addresses (gossip announces
// host:port only): https when the cluster has TLS.
func (c *Config) scheme() string {
	if c.TLS == nil {
		return "http"
	}
	return "https"
}
