package api

import (
	"net/http"
	"time"
)

// MaxStreamsPerConnection is how many requests a server serves at once on
// one HTTP/2 connection; a multiplexing client opens another connection
// past it. Go's HTTP/2 server looks for the next frame to send by walking
// the connection's open streams in turn, idle long polls included: with
// 4,096 of them that walk was 6% of a follower's CPU while 10,000 fake
// nodes took 100,000 replicas. At 256, 10,000 long polls are some 40
// connections per server.
const MaxStreamsPerConnection = 256

// ServerProtocols are the protocols servers accept: HTTP/1.1, and HTTP/2
// without TLS (h2c, with prior knowledge) for clients that Multiplex, or
// over TLS when the server has it (UseTLS).
func ServerProtocols() (*http.Protocols, *http.HTTP2Config) {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	p.SetHTTP2(true)
	return &p, &http.HTTP2Config{MaxConcurrentStreams: MaxStreamsPerConnection}
}

// Multiplex makes the client speak HTTP/2 without TLS to the servers
// (which accept it, ServerProtocols): every request becomes a stream on a
// connection shared with the others, so a process running thousands of
// fake nodes, each holding a long poll, keeps a few connections per server
// (one per MaxStreamsPerConnection requests in flight) instead of one or
// two per node. A connection that stops answering is found by pings and
// closed. Servers older than this speak HTTP/1.1 only: do not multiplex
// to them. Call it before the client is used.
func (c *Client) Multiplex() {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Protocols = &p
	t.HTTP2 = &http.HTTP2Config{SendPingTimeout: 15 * time.Second, PingTimeout: 10 * time.Second}
	// A request that finds every connection at the server's stream limit
	// dials one of its own, and the transport keeps the first that comes
	// and drops the others: when 10,000 fake nodes' long polls woke at
	// once, a thousand connections were dialed to a server within two
	// seconds and most closed again. With at most multiplexDials dials
	// in flight per server (for HTTP/2 the limit counts dials, not the
	// connections kept), the others wait for the one being dialed.
	t.MaxConnsPerHost = multiplexDials
	c.setTransport(t)
}

// multiplexDials is how many connections a multiplexing client dials to
// one server at a time.
const multiplexDials = 1

// forwarders are the transports a follower forwards writes to the leader
// over: heartbeats on connections of their own. While 10,000 nodes
// reported a big plan's allocations, each report waiting for its Raft
// entry, every one of a follower's 512 connections for writes was busy
// (`ss` during `bench fake-nodes`), and a heartbeat forwarded then waited
// behind the reports for a connection, though it takes the leader no Raft
// write; early nodes, whose TTL was granted while the cluster was small,
// have little time to lose. A few connections serve all the heartbeats.
type forwarders struct {
	writes, heartbeats *http.Transport
}

// defaultForwarders carry the writes over a bounded pool of kept-alive
// connections: the default transport keeps two idle ones, so each burst
// opened and dropped a connection per request.
var defaultForwarders = forwarders{
	writes:     pooledTransport(256, 512),
	heartbeats: pooledTransport(64, 64),
}

func pooledTransport(idle, most int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = idle
	t.MaxConnsPerHost = most
	return t
}

// with returns copies of both transports, changed by set.
func (f forwarders) with(set func(*http.Transport)) forwarders {
	w, b := f.writes.Clone(), f.heartbeats.Clone()
	set(w)
	set(b)
	return forwarders{writes: w, heartbeats: b}
}
