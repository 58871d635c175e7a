// Package proxy is the service proxy every agent runs: it owns each
// service's VIP:port and sends every HTTP request (protocol http) or TCP
// connection (protocol tcp, the default) to a ready endpoint.
//
//	client ──► VIP:port listener ──► route table (package route): revision,
//	           sticky cookie, mirrors ──► balancer over the revision's ready,
//	           non-ejected endpoints ──► endpoint IP:port (retry on connect
//	           failure) ──► answer + X-Flotilla-Revision/-Endpoint headers
//	                                └─► mirrors: copy (and a baseline copy),
//	                                    compare, discard
//
// HTTP is its own lean HTTP/1.1, not net/http's Server, ReverseProxy and
// Transport, whose goroutine hand-offs cost more than the proxying: one
// goroutine per client connection reads a request (message.go), picks an
// endpoint, takes a kept-alive connection from that endpoint's pool
// (upstream.go), writes the request, reads the answer and streams it back
// (http.go), then reads the next request (server.go). Only a request body
// that streams gets a goroutine of its own. On Linux the reads and writes
// of both sides are raw system calls on the non-blocking sockets, which
// the scheduler does not hand off, and a request is written so that the
// wait for its answer needs no read that finds nothing (sockio_linux.go).
//
//	client conn ─► read request ─► route, balance ─► pool: idle conn or dial
//	     ▲                                               │ write request
//	     └── next request ◄── stream answer back ◄── read answer
//	                          (conn back to the pool when read whole)
//
// The pool to each endpoint port is sized by demand: it keeps every
// connection that comes back (up to Config.MaxIdlePerEndpoint) and closes
// those idle for 90s, so a steady load opens no new connections however
// many requests it has in flight.
//
// It owns: the listeners (SO_REUSEPORT by default, so several agents on one
// host share a VIP:port), the keep-alive pool to endpoints, balancing
// (round-robin, least-request, p2c), retries on connect failure, passive
// outlier ejection, sticky cookies, A/B user keys and visitor sketches
// (ab.go), mirroring (shadow rollouts: copies by method, a noise
// baseline on a second replica, comparisons by network/proxy/shadowdiff,
// one Aggregator per service and candidate revision; mirror.go), and the
// traffic figures per service revision (Traffic for the agent's reports,
// Collectors for Prometheus).
//
// Update is level-triggered: it takes the full list of services and
// reconciles. Endpoints that leave or turn unready get no new requests and
// their requests in flight finish. Nothing here decides which revisions get
// what share: the rollout controller computes route tables, the proxy
// evaluates them.
//
// A service that scales to zero (ScaleToZero) and has no ready endpoint
// gets its requests and connections held (wake.go: bounded per service, with
// a timeout) while Config.Wake, the agent's callback, asks the cluster
// once per burst for a replica; they go when an Update brings one.
//
// It must not talk to the servers (but through Config.Wake), Raft or the
// runtime, nor configure addresses or interfaces (the agent and
// network/netlab put VIPs in place), and it never dials anything but the
// endpoints it is given.
package proxy
