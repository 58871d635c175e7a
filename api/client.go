package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"flotilla/internal/clock"
	"flotilla/internal/vnet"
)

// DefaultAddress is where clients look when neither --address nor
// FLOTILLA_ADDR says otherwise.
const DefaultAddress = "http://127.0.0.1:4646"

// AddressEnv names the environment variable with the cluster's address(es).
const AddressEnv = "FLOTILLA_ADDR"

// Client talks to a cluster's HTTP API. It may know several servers: when
// one does not answer, or answers that there is no leader, it tries the
// next, for up to RetryFor.
type Client struct {
	addrs []string
	http  *http.Client
	// Stale makes every read a stale one (?stale): any server answers from
	// its own state, which may be behind the leader's, even when no
	// leader is elected (a majority of the servers down).
	Stale bool
	// RetryFor bounds how long a request keeps trying other servers and
	// waiting out an election (default 10s).
	RetryFor time.Duration
	// AttemptTimeout, when set, bounds each attempt (plus the wait of a
	// blocking query), so that a server that hangs is given up on and
	// another tried; 0 leaves attempts to the caller's context.
	AttemptTimeout time.Duration
	// Clock times the retries: RetryFor, AttemptTimeout and the pauses
	// between rounds of servers (nil: the wall clock).
	Clock clock.Clock
	// net, when set by UseNet, is what every transport dials through.
	net vnet.Net
	// tls, when set by UseTLS, is every transport's TLS (tls.go).
	tls *tls.Config
	// token is the ACL token every request carries (SetToken; default
	// $FLOTILLA_TOKEN).
	token string

	mu      sync.Mutex
	current int
}

// NewClient accepts one address or several separated by commas; "" means
// FLOTILLA_ADDR, then DefaultAddress.
func NewClient(address string) (*Client, error) {
	if address == "" {
		address = os.Getenv(AddressEnv)
	}
	if address == "" {
		address = DefaultAddress
	}
	var addrs []string
	for _, a := range strings.Split(address, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if !strings.Contains(a, "://") {
			a = "http://" + a
		}
		u, err := url.Parse(a)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("bad server address %q (want e.g. http://127.0.0.1:4646)", a)
		}
		addrs = append(addrs, strings.TrimRight(u.String(), "/"))
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("no server address given")
	}
	return &Client{addrs: addrs, http: &http.Client{}, RetryFor: 10 * time.Second, token: os.Getenv(TokenEnv)}, nil
}

// KeepAlivePerHost lets the client keep up to n idle connections to each
// server: one process running many fake nodes holds many long polls. Call
// it before the client is used.
func (c *Client) KeepAlivePerHost(n int) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = n
	t.MaxIdleConns = 0
	c.setTransport(t)
}

// UseNet makes the client dial the servers through n (nil or vnet.Host:
// the host's network, as by default), keeping its other transport
// settings; KeepAlivePerHost and Multiplex, before or after, keep it too.
// Call it before the client is used.
func (c *Client) UseNet(n vnet.Net) {
	c.net = n
	t := http.DefaultTransport.(*http.Transport)
	if cur, ok := c.http.Transport.(*http.Transport); ok {
		t = cur
	}
	t = t.Clone()
	t.DialContext = http.DefaultTransport.(*http.Transport).DialContext
	c.setTransport(t)
}

// setTransport makes t the client's transport, dialing through the
// client's Net when it is not the host's.
func (c *Client) setTransport(t *http.Transport) {
	if !vnet.IsHost(c.net) {
		t.DialContext = c.net.DialContext
	}
	c.applyTLS(t)
	c.http = &http.Client{Transport: t}
}

// StartAt makes the client try the servers from the i-th (modulo their
// number) rather than the first: processes holding many nodes spread them
// over the servers (each server then serves its share of the long polls
// and reports, rather than the first one all of them).
func (c *Client) StartAt(i int) {
	c.mu.Lock()
	c.current = i % len(c.addrs)
	c.mu.Unlock()
}

// Addresses are the servers this client knows.
func (c *Client) Addresses() []string { return append([]string(nil), c.addrs...) }

// Error is an error the API answered.
type Error struct {
	Status  int
	Message string
	Field   string
	// NoLeaderFor is how long the server had known no leader, for a 503
	// that says (NoLeaderForHeader).
	NoLeaderFor time.Duration
}

func (e *Error) Error() string { return e.Message }

// Unwrap lets errors.Is match the API's sentinel errors.
func (e *Error) Unwrap() error {
	switch e.Status {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusConflict:
		return ErrConflict
	case http.StatusServiceUnavailable:
		return ErrNoLeader
	case http.StatusForbidden:
		return ErrPermissionDenied
	case http.StatusNotImplemented:
		return ErrACLDisabled
	}
	return nil
}

// retryable reports whether another server (or a later try) may succeed.
// Reads, and writes that carry a request ID, are sent again after any
// failure of the connection, a timeout included: the servers apply a
// request ID once, so a write that did reach the leader before its answer
// was lost answers its first result instead of applying twice (a delete
// that succeeded does not turn into a 404). A write without an ID is sent
// again only when it surely did not reach a server (the connection was
// refused) or a server said it was not done (503).
func retryable(repeatable bool, err error) bool {
	var apiErr *Error
	if errors.As(err, &apiErr) {
		return apiErr.Status == http.StatusServiceUnavailable || apiErr.Status == http.StatusBadGateway
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" || notEstablished(err) {
		return true
	}
	if !repeatable {
		return false
	}
	var netErr net.Error
	return errors.As(err, &opErr) || errors.As(err, &netErr) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, context.DeadlineExceeded)
}

// notEstablished reports the error of HTTP/2's transport for a request
// that was to be the first on a connection the server had closed before
// (one the client dialed and had not used yet): nothing was sent, so any
// request may be sent again. The transport exports no value for it, only
// its message.
func notEstablished(err error) bool {
	return err != nil && strings.Contains(err.Error(), "http2: client conn could not be established")
}

// NewRequestID is a fresh ID for one logical write.
func NewRequestID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand: " + err.Error()) // never fails on supported systems
	}
	return hex.EncodeToString(b[:])
}

// rawBody is a request or answer body sent or kept as it is (a snapshot),
// not as JSON.
type rawBody []byte

// do sends a request and decodes the answer into out; it returns the index
// header. Failed connections and 503s move on to the next server.
func (c *Client) do(ctx context.Context, method, path string, in, out any) (uint64, error) {
	return c.doWait(ctx, 0, method, path, in, out)
}

// doWait is do for a blocking query that may take wait to answer.
func (c *Client) doWait(ctx context.Context, wait time.Duration, method, path string, in, out any) (uint64, error) {
	var body []byte
	contentType := "application/json"
	if raw, ok := in.(rawBody); ok {
		body, contentType = raw, "application/octet-stream"
	} else if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return 0, err
		}
	}
	if c.Stale && method == http.MethodGet && !strings.Contains(path, "stale=") {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "stale="
	}
	// One ID for the logical write, the same on every attempt.
	requestID := ""
	if method != http.MethodGet {
		requestID = NewRequestID()
	}
	clk := c.Clock
	if clk == nil {
		clk = clock.Real{}
	}
	deadline := clk.Now().Add(c.RetryFor)
	backoff := 50 * time.Millisecond
	// unreachable counts consecutive failures to connect at all: when every
	// server refused twice in a row, nobody is there, and waiting for an
	// election would only delay the error.
	unreachable := 0
	// answered is the newest error a server answered with (a 503: no
	// leader): what a request that runs out of time says, rather than how
	// the last server it tried failed to answer, with the servers whose
	// last attempt got no answer (quiet).
	var answered error
	quiet := map[string]bool{}
	// leaderless are the servers whose last answer was that they had
	// known no leader for LeaderlessGiveUp: when they and the quiet ones
	// are all the servers, no majority answers, and trying until the
	// deadline would only delay the error.
	leaderless := map[string]bool{}
	giveUp := func(err error) error {
		if answered != nil && !errors.As(err, new(*Error)) {
			err = answered
		}
		if !errors.As(err, new(*Error)) || len(quiet) == 0 {
			return err
		}
		return fmt.Errorf("%w (no answer from %s)", err, strings.Join(slices.Sorted(maps.Keys(quiet)), ", "))
	}
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		base := c.addrs[c.current%len(c.addrs)]
		c.mu.Unlock()
		try := ctx
		var cancel context.CancelFunc = func() {}
		if c.AttemptTimeout > 0 {
			try, cancel = clock.WithTimeout(ctx, clk, c.AttemptTimeout+wait)
		}
		index, err := c.once(try, method, base+path, body, contentType, requestID, out)
		cancel()
		var apiErr *Error
		if err != nil && !errors.As(err, &apiErr) {
			// The server did not answer (refused, reset, or hung until ctx
			// ran out): the next request, whoever makes it, tries another.
			c.moveOn(base)
			quiet[base] = true
			delete(leaderless, base)
		}
		if err == nil || !retryable(method == http.MethodGet || requestID != "", err) {
			return index, err
		}
		if ctx.Err() != nil {
			return index, giveUp(err)
		}
		if apiErr != nil {
			c.moveOn(base) // it answered, but cannot serve this now
			answered = err
			delete(quiet, base)
			if apiErr.NoLeaderFor >= LeaderlessGiveUp {
				leaderless[base] = true
			} else {
				delete(leaderless, base)
			}
			if len(leaderless) > 0 && len(leaderless)+len(quiet) >= len(c.addrs) {
				return 0, giveUp(err)
			}
		}
		switch {
		case apiErr != nil: // set above
			unreachable = 0
		case notEstablished(err):
			// The server was there: it had closed a connection the client
			// had not used yet.
		default:
			if unreachable++; unreachable >= 2*len(c.addrs) {
				return 0, c.noServer(err)
			}
		}
		if clk.Now().After(deadline) {
			return 0, giveUp(err)
		}
		// Every server was tried once: wait before the next round, but not
		// past the deadline.
		if (attempt+1)%len(c.addrs) == 0 {
			pause := min(backoff, deadline.Sub(clk.Now()))
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-clk.After(pause):
			}
			if backoff < time.Second {
				backoff *= 2
			}
		}
	}
}

// noServer is the error of a request that no server answered: every
// address the client knows, and how the last attempt failed.
func (c *Client) noServer(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL is one of those named
	}
	return fmt.Errorf("no server answered at %s: %w", strings.Join(c.addrs, ", "), err)
}

// moveOn makes the server after base current, unless another request
// has moved on from base already.
func (c *Client) moveOn(base string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.addrs[c.current%len(c.addrs)] == base {
		c.current++
	}
}

func (c *Client) once(ctx context.Context, method, url string, body []byte, contentType, requestID string, out any) (uint64, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if requestID != "" {
		req.Header.Set(RequestIDHeader, requestID)
	}
	if secret := NodeSecretFrom(ctx); secret != "" {
		req.Header.Set(NodeSecretHeader, secret)
	}
	req.Header.Set("Accept", "application/json")
	c.setTokenHeader(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode >= 300 {
		var e ErrorResponse
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("%s %s: %s%s", method, url, resp.Status, httpsOnlyHint(data))
		}
		apiErr := &Error{Status: resp.StatusCode, Message: e.Error, Field: e.Field}
		if ms, err := strconv.ParseInt(resp.Header.Get(NoLeaderForHeader), 10, 64); err == nil && ms > 0 {
			apiErr.NoLeaderFor = time.Duration(ms) * time.Millisecond
		}
		return 0, apiErr
	}
	index, _ := strconv.ParseUint(resp.Header.Get(IndexHeader), 10, 64)
	if raw, ok := out.(*rawBody); ok {
		*raw = data
		return index, nil
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return index, fmt.Errorf("decode answer of %s %s: %w", method, url, err)
		}
	}
	return index, nil
}

// blockingWait is how long a server may hold a query before it answers.
func blockingWait(q QueryOptions) time.Duration {
	if q.Index == 0 && q.Wait == 0 {
		return 0
	}
	if q.Wait == 0 {
		return DefaultWait
	}
	return q.Wait
}

func queryString(q QueryOptions, extra url.Values) string {
	v := url.Values{}
	for k, vals := range extra {
		for _, s := range vals {
			if s != "" {
				v.Add(k, s)
			}
		}
	}
	if q.Index > 0 {
		v.Set("index", strconv.FormatUint(q.Index, 10))
	}
	if q.Wait > 0 {
		v.Set("wait", Duration(q.Wait).String())
	}
	if q.Stale || q.Index > 0 {
		v.Set("stale", "")
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

func servicePath(namespace, name string) string {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	return "/v1/services/" + url.PathEscape(namespace) + "/" + url.PathEscape(name)
}

// Leader asks who leads.
func (c *Client) Leader(ctx context.Context) (Leader, error) {
	var l Leader
	_, err := c.do(ctx, http.MethodGet, "/v1/status/leader", nil, &l)
	return l, err
}

// Peers lists the Raft voters.
func (c *Client) Peers(ctx context.Context) ([]Peer, error) {
	var p []Peer
	_, err := c.do(ctx, http.MethodGet, "/v1/status/peers", nil, &p)
	return p, err
}

// ApplyService creates or updates a service.
func (c *Client) ApplyService(ctx context.Context, spec ServiceSpec) (ApplyResponse, error) {
	var r ApplyResponse
	_, err := c.do(ctx, http.MethodPut, servicePath(spec.Namespace, spec.Name), spec, &r)
	return r, err
}

// Services lists services.
func (c *Client) Services(ctx context.Context, q QueryOptions) ([]*Service, uint64, error) {
	var s []*Service
	i, err := c.doWait(ctx, blockingWait(q), http.MethodGet, "/v1/services"+queryString(q, nil), nil, &s)
	return s, i, err
}

// Service reads one service.
func (c *Client) Service(ctx context.Context, namespace, name string, q QueryOptions) (*Service, uint64, error) {
	var s Service
	i, err := c.doWait(ctx, blockingWait(q), http.MethodGet, servicePath(namespace, name)+queryString(q, nil), nil, &s)
	if err != nil {
		return nil, i, err
	}
	return &s, i, nil
}

// Revisions lists a service's stored revisions.
func (c *Client) Revisions(ctx context.Context, namespace, name string) ([]*Revision, error) {
	var r []*Revision
	_, err := c.do(ctx, http.MethodGet, servicePath(namespace, name)+"/revisions", nil, &r)
	return r, err
}

// Revision reads one stored revision of a service.
func (c *Client) Revision(ctx context.Context, namespace, name string, revision int) (*Revision, error) {
	var r Revision
	if _, err := c.do(ctx, http.MethodGet, servicePath(namespace, name)+"/revisions/"+strconv.Itoa(revision), nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// DeleteService deletes a service.
func (c *Client) DeleteService(ctx context.Context, namespace, name string) (WriteResponse, error) {
	var r WriteResponse
	_, err := c.do(ctx, http.MethodDelete, servicePath(namespace, name), nil, &r)
	return r, err
}

// ScaleService sets a service's replica count.
func (c *Client) ScaleService(ctx context.Context, namespace, name string, replicas int) (WriteResponse, error) {
	var r WriteResponse
	_, err := c.do(ctx, http.MethodPost, servicePath(namespace, name)+"/scale", ScaleRequest{Replicas: replicas}, &r)
	return r, err
}

// WakeService asks the cluster to give a service at zero replicas one
// again (see Writer.WakeService).
func (c *Client) WakeService(ctx context.Context, namespace, name string) (WriteResponse, error) {
	var r WriteResponse
	_, err := c.do(ctx, http.MethodPost, servicePath(namespace, name)+"/wake", nil, &r)
	return r, err
}

// Rollout is the state of a service's newest rollout; with q.Index set it
// waits for a change past it.
func (c *Client) Rollout(ctx context.Context, namespace, name string, q QueryOptions) (*Rollout, uint64, error) {
	var r Rollout
	i, err := c.doWait(ctx, blockingWait(q), http.MethodGet, servicePath(namespace, name)+"/rollout"+queryString(q, nil), nil, &r)
	if err != nil {
		return nil, i, err
	}
	return &r, i, nil
}

// RolloutDiffs is the comparison figures of a service's shadow rollout,
// merged over the proxies.
func (c *Client) RolloutDiffs(ctx context.Context, namespace, name string) (*RolloutDiffs, error) {
	var d RolloutDiffs
	if _, err := c.do(ctx, http.MethodGet, servicePath(namespace, name)+"/rollout/diffs", nil, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// RolloutAction promotes, pauses, resumes or aborts a service's rollout.
func (c *Client) RolloutAction(ctx context.Context, namespace, name, action string, body RolloutAction) (WriteResponse, error) {
	var r WriteResponse
	_, err := c.do(ctx, http.MethodPost, servicePath(namespace, name)+"/rollout/"+url.PathEscape(action), body, &r)
	return r, err
}

// UndoRollout rolls an older revision of a service out again.
func (c *Client) UndoRollout(ctx context.Context, namespace, name string, req UndoRequest) (ApplyResponse, error) {
	var r ApplyResponse
	_, err := c.do(ctx, http.MethodPost, servicePath(namespace, name)+"/rollout/undo", req, &r)
	return r, err
}

// Nodes lists nodes.
func (c *Client) Nodes(ctx context.Context, q QueryOptions) ([]*Node, uint64, error) {
	var n []*Node
	i, err := c.doWait(ctx, blockingWait(q), http.MethodGet, "/v1/nodes"+queryString(q, nil), nil, &n)
	return n, i, err
}

// Node reads one node.
func (c *Client) Node(ctx context.Context, name string) (*Node, error) {
	var n Node
	if _, err := c.do(ctx, http.MethodGet, "/v1/nodes/"+url.PathEscape(name), nil, &n); err != nil {
		return nil, err
	}
	return &n, nil
}

// WatchNode reads one node as a blocking query: with q.Index, the answer
// waits (up to q.Wait) for a change to the node or to its allocations.
func (c *Client) WatchNode(ctx context.Context, name string, q QueryOptions) (*Node, uint64, error) {
	var n Node
	i, err := c.doWait(ctx, blockingWait(q), http.MethodGet, "/v1/nodes/"+url.PathEscape(name)+queryString(q, nil), nil, &n)
	if err != nil {
		return nil, i, err
	}
	return &n, i, nil
}

// RegisterNode registers or updates a node.
func (c *Client) RegisterNode(ctx context.Context, name string, r NodeRegistration) (WriteResponse, error) {
	var w WriteResponse
	_, err := c.do(ctx, http.MethodPut, "/v1/nodes/"+url.PathEscape(name), r, &w)
	return w, err
}

// Heartbeat tells the leader the node is alive.
func (c *Client) Heartbeat(ctx context.Context, name string) (HeartbeatResponse, error) {
	var h HeartbeatResponse
	_, err := c.do(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(name)+"/heartbeat", struct{}{}, &h)
	return h, err
}

// DrainNode starts or cancels a drain.
func (c *Client) DrainNode(ctx context.Context, name string, enable bool) (WriteResponse, error) {
	var w WriteResponse
	_, err := c.do(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(name)+"/drain", DrainRequest{Enable: enable}, &w)
	return w, err
}

// SetEligibility makes a node eligible for new allocations or not.
func (c *Client) SetEligibility(ctx context.Context, name string, eligible bool) (WriteResponse, error) {
	var w WriteResponse
	_, err := c.do(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(name)+"/eligibility", EligibilityRequest{Eligible: eligible}, &w)
	return w, err
}

// SetNodeStatus marks a node ready or down.
func (c *Client) SetNodeStatus(ctx context.Context, name, status, message string) (WriteResponse, error) {
	var w WriteResponse
	_, err := c.do(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(name)+"/status", NodeStatusRequest{Status: status, Message: message}, &w)
	return w, err
}

// Allocations lists allocations.
func (c *Client) Allocations(ctx context.Context, f AllocFilter, q QueryOptions) ([]*Allocation, uint64, error) {
	var a []*Allocation
	path := "/v1/allocations" + queryString(q, url.Values{"namespace": {f.Namespace}, "service": {f.Service}, "node": {f.Node}})
	i, err := c.doWait(ctx, blockingWait(q), http.MethodGet, path, nil, &a)
	return a, i, err
}

// NodeAllocations is a node's allocations, as agents watch them.
func (c *Client) NodeAllocations(ctx context.Context, node string, q QueryOptions) ([]*Allocation, uint64, error) {
	var a []*Allocation
	i, err := c.doWait(ctx, blockingWait(q), http.MethodGet, "/v1/nodes/"+url.PathEscape(node)+"/allocations"+queryString(q, nil), nil, &a)
	return a, i, err
}

// Allocation reads one allocation by ID or unique prefix.
func (c *Client) Allocation(ctx context.Context, id string) (*Allocation, error) {
	var a Allocation
	if _, err := c.do(ctx, http.MethodGet, "/v1/allocations/"+url.PathEscape(id), nil, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// UpdateAllocations sends an agent's batch of status reports.
func (c *Client) UpdateAllocations(ctx context.Context, batch AllocStatusBatch) (WriteResponse, error) {
	var w WriteResponse
	_, err := c.do(ctx, http.MethodPost, "/v1/allocations/status", batch, &w)
	return w, err
}

// Evaluations lists evaluations, optionally of one service.
func (c *Client) Evaluations(ctx context.Context, namespace, service string, q QueryOptions) ([]*Evaluation, uint64, error) {
	var e []*Evaluation
	i, err := c.doWait(ctx, blockingWait(q), http.MethodGet, "/v1/evaluations"+queryString(q, url.Values{"namespace": {namespace}, "service": {service}}), nil, &e)
	return e, i, err
}

// Events lists events after q.Index (a blocking query when q.Index > 0).
func (c *Client) Events(ctx context.Context, f EventFilter, q QueryOptions) ([]*Event, uint64, error) {
	var e []*Event
	path := "/v1/events" + queryString(q, url.Values{"namespace": {f.Namespace}, "service": {f.Service}, "node": {f.Node}})
	i, err := c.doWait(ctx, blockingWait(q), http.MethodGet, path, nil, &e)
	return e, i, err
}

// Endpoints is every service's VIP, ports, endpoints and routes (a
// blocking query when q.Index > 0), as agents watch them.
func (c *Client) Endpoints(ctx context.Context, q QueryOptions) ([]*ServiceEndpoints, uint64, error) {
	var e []*ServiceEndpoints
	i, err := c.doWait(ctx, blockingWait(q), http.MethodGet, "/v1/endpoints"+queryString(q, nil), nil, &e)
	return e, i, err
}

// ServiceEndpoints is one service's endpoints.
func (c *Client) ServiceEndpoints(ctx context.Context, namespace, name string) (*ServiceEndpoints, error) {
	var e ServiceEndpoints
	if _, err := c.do(ctx, http.MethodGet, servicePath(namespace, name)+"/endpoints", nil, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// ReportTraffic sends a node's proxy figures.
func (c *Client) ReportTraffic(ctx context.Context, node string, reports []TrafficReport) error {
	_, err := c.do(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(node)+"/traffic", TrafficBatch{Reports: reports}, nil)
	return err
}

// Traffic is a service's traffic per revision over a few windows (10s and
// 1m), summed over the nodes.
func (c *Client) Traffic(ctx context.Context, namespace, name string) (*ServiceTraffic, error) {
	var t ServiceTraffic
	if _, err := c.do(ctx, http.MethodGet, servicePath(namespace, name)+"/traffic", nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// ReportUsage sends what a node's runtime measured of its allocations.
func (c *Client) ReportUsage(ctx context.Context, node string, reports []AllocUsage) error {
	_, err := c.do(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(node)+"/usage", UsageBatch{Reports: reports}, nil)
	return err
}

// TopAllocations is the leader's book of the allocations' CPU and memory.
func (c *Client) TopAllocations(ctx context.Context) (*TopAllocations, error) {
	var t TopAllocations
	if _, err := c.do(ctx, http.MethodGet, "/v1/top/allocations", nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// SnapshotSave fetches an archive of the cluster's state (a consistent one
// unless q.Stale) and the index it reflects.
func (c *Client) SnapshotSave(ctx context.Context, q QueryOptions) ([]byte, uint64, error) {
	var raw rawBody
	i, err := c.do(ctx, http.MethodGet, "/v1/operator/snapshot"+queryString(q, nil), nil, &raw)
	return raw, i, err
}

// SnapshotRestore replaces the cluster's state with an archive that
// SnapshotSave made; force restores another cluster's, or one whose
// secrets' keys this cluster lacks.
func (c *Client) SnapshotRestore(ctx context.Context, archive []byte, force bool) (WriteResponse, error) {
	var w WriteResponse
	path := "/v1/operator/snapshot"
	if force {
		path += "?force=true"
	}
	_, err := c.do(ctx, http.MethodPut, path, rawBody(archive), &w)
	return w, err
}

// RemovePeer removes a server from the Raft voters.
func (c *Client) RemovePeer(ctx context.Context, id string) (WriteResponse, error) {
	var w WriteResponse
	_, err := c.do(ctx, http.MethodDelete, "/v1/operator/raft/peers/"+url.PathEscape(id), nil, &w)
	return w, err
}
