package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
)

// The agent's own API (logs, exec, what it runs) checks its callers'
// tokens the servers' way: it asks the servers who a token is (GET
// /v1/acl/token/self with the caller's token) and keeps the answer a
// little while. Servers without ACLs say so, and everything is allowed.

// TokenResolver asks the servers who holds a token; *api.Client provides
// it. Servers that are not one (fakes in tests) check nothing.
type TokenResolver interface {
	ACLTokenOf(ctx context.Context, secret string) (*api.ACLToken, error)
}

// callerCacheTTL is how long an answer about a token is kept: a deleted
// token or a changed policy takes this long to reach the agent's API.
const callerCacheTTL = 10 * time.Second

// maxCachedCallers bounds the cache; past it the cache starts over.
const maxCachedCallers = 1024

type callerACL struct {
	resolver TokenResolver
	clock    clock.Clock

	mu    sync.Mutex
	cache map[string]callerAnswer
	// disabledUntil: the servers said they have no ACLs; every caller is
	// allowed without asking again until then. aclsOff is what their last
	// answer said, so that servers that cannot answer (no quorum) do not
	// lock a cluster without ACLs out of its agents' logs and exec.
	disabledUntil time.Time
	aclsOff       bool
}

// callerCheckTimeout bounds the question to the servers.
const callerCheckTimeout = 5 * time.Second

// callerAnswer is what the servers said of a token.
type callerAnswer struct {
	perms  *api.ACLPermissions
	denied error // the token is unknown or expired
	until  time.Time
}

func newCallerACL(servers Servers, c clock.Clock) *callerACL {
	r, _ := servers.(TokenResolver)
	return &callerACL{resolver: r, clock: c, cache: map[string]callerAnswer{}}
}

// errNoACLAnswer: the servers could not say who a token is.
var errNoACLAnswer = errors.New("cannot check the token with the servers")

// permissions is what the caller of r may do; nil when the servers have no
// ACLs (everything is allowed).
func (c *callerACL) permissions(r *http.Request) (*api.ACLPermissions, error) {
	if c.resolver == nil {
		return nil, nil
	}
	token := api.TokenFromRequest(r)
	now := c.clock.Now()
	c.mu.Lock()
	a, ok := c.cache[token]
	disabled := now.Before(c.disabledUntil)
	c.mu.Unlock()
	if disabled {
		return nil, nil
	}
	if !ok || now.After(a.until) {
		ctx, cancel := clock.WithTimeout(r.Context(), c.clock, callerCheckTimeout)
		t, err := c.resolver.ACLTokenOf(ctx, token)
		cancel()
		a = callerAnswer{until: now.Add(callerCacheTTL)}
		switch {
		case errors.Is(err, api.ErrACLDisabled):
			c.mu.Lock()
			c.disabledUntil, c.aclsOff = a.until, true
			c.mu.Unlock()
			return nil, nil
		case errors.Is(err, api.ErrPermissionDenied):
			a.denied = err
		case err != nil:
			c.mu.Lock()
			off := c.aclsOff
			c.mu.Unlock()
			if off {
				return nil, nil
			}
			return nil, fmt.Errorf("%w: %v", errNoACLAnswer, err)
		case t.Permissions == nil:
			a.perms = &api.ACLPermissions{}
		default:
			a.perms = t.Permissions
		}
		c.mu.Lock()
		c.aclsOff = false
		if len(c.cache) >= maxCachedCallers {
			clear(c.cache)
		}
		c.cache[token] = a
		c.mu.Unlock()
	}
	if a.denied != nil {
		return nil, a.denied
	}
	return a.perms, nil
}

// aclError answers a refused or unchecked request.
func aclError(w http.ResponseWriter, err error) {
	status := http.StatusForbidden
	if errors.Is(err, errNoACLAnswer) {
		status = http.StatusServiceUnavailable
	}
	agentError(w, status, err)
}

// allocationNamespace is the namespace of an allocation on this node.
func (a *Agent) allocationNamespace(id string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if l := a.local[id]; l != nil {
		return l.Namespace, true
	}
	if d := a.desired[id]; d != nil {
		return d.Namespace, true
	}
	return "", false
}

// allowAllocation checks that the caller has capability c on the
// namespace of allocation id; it answers the request and returns false
// when not.
func (a *Agent) allowAllocation(w http.ResponseWriter, r *http.Request, id, c string) bool {
	perms, err := a.callers.permissions(r)
	if err != nil {
		aclError(w, err)
		return false
	}
	if perms == nil {
		return true
	}
	ns, ok := a.allocationNamespace(id)
	if !ok {
		agentError(w, http.StatusNotFound, fmt.Errorf("allocation %s is not on node %s", id, a.cfg.Name))
		return false
	}
	if err := perms.CheckNamespace(ns, c); err != nil {
		aclError(w, err)
		return false
	}
	return true
}

// allowNode checks that the caller may read the node's state.
func (a *Agent) allowNode(w http.ResponseWriter, r *http.Request) bool {
	perms, err := a.callers.permissions(r)
	if err == nil && perms != nil {
		err = perms.CheckNode(api.LevelRead)
	}
	if err != nil {
		aclError(w, err)
		return false
	}
	return true
}
