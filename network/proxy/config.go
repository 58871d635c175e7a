package proxy

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"flotilla/internal/clock"
)

// Config configures a Proxy. The zero value of every field has a default.
type Config struct {
	// Node names the agent the proxy belongs to; it is logged and sent back
	// in the X-Flotilla-Proxy response header.
	Node   string
	Logger *slog.Logger
	// Listen opens a listener on a VIP:port. The default, ListenReusePort,
	// binds with SO_REUSEPORT so that several agents on one host (a sim lab
	// shares loopback) can all own the same VIP:port: the kernel spreads
	// connections over them, and when one agent dies the others keep serving.
	Listen func(network, addr string) (net.Listener, error)
	// Dial connects to an endpoint; nil uses a net.Dialer (TCP keep-alive
	// every 30s). A simulated network (vnet.Memory) sets it, and Listen.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// DialTimeout bounds connecting to an endpoint (default 1s).
	DialTimeout time.Duration
	// MaxIdlePerEndpoint caps the idle kept-alive connections to one
	// endpoint port. Below it the pool is sized by demand: it keeps every
	// connection that was in use at once and closes those idle for 90s
	// (default 1024; negative keeps none, a new connection per request).
	MaxIdlePerEndpoint int
	// ResponseTimeout bounds the wait for an endpoint's answer to begin
	// once the request is sent (default 15s, Envoy's route timeout): an
	// endpoint cut off by a partition on a kept-alive connection would
	// otherwise hold the request for the client's whole timeout. A request
	// without effects (GET, HEAD, OPTIONS) then goes to another endpoint;
	// otherwise the client gets 504.
	ResponseTimeout time.Duration
	// Rand drives weighted splits, mirrors and p2c. It is used under a lock;
	// nil uses the runtime's randomly seeded generator, which needs none.
	Rand rand.Source
	// Clock times requests, latency windows and ejections (default: the
	// wall clock).
	Clock clock.Clock
	// Outlier configures passive outlier ejection.
	Outlier OutlierConfig
	// LatencyWindow is the span of Traffic's p50/p99: quantiles cover the
	// last one to two windows (default 10s).
	LatencyWindow time.Duration
	// ShutdownTimeout bounds how long Close, and Update closing a listener,
	// let requests and connections in flight finish (default 5s).
	ShutdownTimeout time.Duration
	// MirrorTimeout bounds one mirrored request, waiting for the primary
	// included (default 30s).
	MirrorTimeout time.Duration
	// MaxMirrorsInFlight bounds concurrent mirrored requests; past it
	// requests are not mirrored (default 256).
	MaxMirrorsInFlight int
	// Wake asks the cluster to start a replica of a service that scaled
	// to zero (the agent calls POST /v1/services/NS/NAME/wake). The proxy
	// calls it once for a burst of requests held for the service. Nil:
	// held requests still wait for an endpoint that something else starts.
	Wake func(ctx context.Context, namespace, name string) error
	// WakeTimeout bounds how long a request for a service at zero is held
	// waiting for a ready endpoint before it gets 503 (default 30s).
	WakeTimeout time.Duration
	// MaxHeld bounds the requests (HTTP) and connections (TCP) held per
	// service; past it they get 503 (or are closed) at once (default 1000).
	MaxHeld int
}

// OutlierConfig says when an endpoint that keeps failing stops getting
// requests. A failure is a 5xx answer or a failed connection; any other
// answer resets the count.
type OutlierConfig struct {
	// Consecutive failures that eject an endpoint (default 5; negative
	// disables ejection).
	Consecutive int
	// BaseEjection is the first ejection's length (default 10s); it doubles
	// with every repeat ejection up to MaxEjection (default 5m). An endpoint
	// that stays in for MaxEjection starts again from BaseEjection.
	BaseEjection time.Duration
	MaxEjection  time.Duration
	// MaxEjectedPercent caps the share of a revision's ready endpoints
	// that may be ejected at once (default 50): a revision keeps its share
	// of the traffic on the rest.
	MaxEjectedPercent int
}

const (
	// maxRetries is how many other endpoints a request tries after a
	// failed connection.
	maxRetries = 2
	// maxRefusedRetries is how many refused connections a request may meet
	// on top of maxRetries: a refusal is immediate and means the endpoint
	// has gone (its removal not here yet), not that the request is bad.
	maxRefusedRetries = 8
	// maxMirrorBody is the largest request body that is mirrored, and the
	// most of a response body kept for comparing JSON.
	maxMirrorBody = 1 << 20
)

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Listen == nil {
		c.Listen = ListenReusePort
	}
	switch {
	case c.MaxIdlePerEndpoint == 0:
		c.MaxIdlePerEndpoint = defaultMaxIdlePerEndpoint
	case c.MaxIdlePerEndpoint < 0:
		c.MaxIdlePerEndpoint = 0
	}
	if c.ResponseTimeout <= 0 {
		c.ResponseTimeout = 15 * time.Second
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = time.Second
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.Outlier.Consecutive == 0 {
		c.Outlier.Consecutive = 5
	}
	if c.Outlier.BaseEjection <= 0 {
		c.Outlier.BaseEjection = 10 * time.Second
	}
	if c.Outlier.MaxEjection <= 0 {
		c.Outlier.MaxEjection = 5 * time.Minute
	}
	if c.Outlier.MaxEjection < c.Outlier.BaseEjection {
		c.Outlier.MaxEjection = c.Outlier.BaseEjection
	}
	if c.Outlier.MaxEjectedPercent <= 0 {
		c.Outlier.MaxEjectedPercent = 50
	}
	if c.LatencyWindow <= 0 {
		c.LatencyWindow = 10 * time.Second
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 5 * time.Second
	}
	if c.MirrorTimeout <= 0 {
		c.MirrorTimeout = 30 * time.Second
	}
	if c.MaxMirrorsInFlight <= 0 {
		c.MaxMirrorsInFlight = 256
	}
	if c.WakeTimeout <= 0 {
		c.WakeTimeout = 30 * time.Second
	}
	if c.MaxHeld <= 0 {
		c.MaxHeld = 1000
	}
	return c
}

// randFunc turns the configured source into a goroutine-safe generator of
// uniform numbers in [0, 1).
func randFunc(src rand.Source) func() float64 {
	if src == nil {
		return rand.Float64
	}
	var mu sync.Mutex
	r := rand.New(src)
	return func() float64 {
		mu.Lock()
		defer mu.Unlock()
		return r.Float64()
	}
}
