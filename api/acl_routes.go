package api

import (
	"net/http"
	"net/url"
	"strings"
)

// The ACL route table: what every route of the API needs when ACLs are on.
// The key is the route's pattern as NewHandler registers it. A route that
// is neither in the table nor under one of the families below is refused
// (fail closed): a new route must say here what it needs.

// aclQuery is one request being authorised.
type aclQuery struct {
	perms   *ACLPermissions
	r       *http.Request
	pattern string
	// seesAll lets a filtered list show every namespace (agents' node
	// write reads what every node needs: endpoints, its allocations).
	seesAll bool
	// filterBody makes the answer a JSON list filtered by the namespaces
	// the token may read (for lists whose handler does not filter).
	filterBody bool
}

// aclCheck is nil when the request may go on, else a *PermissionError.
type aclCheck func(q *aclQuery) error

var (
	// aclFiltered: a list the handler narrows to the namespaces the
	// token may read (nothing for an anonymous request).
	aclFiltered aclCheck = func(*aclQuery) error { return nil }
	// aclObject: the handler checks the namespace of the object it found.
	aclObject aclCheck = func(*aclQuery) error { return nil }
	// aclAgentList is aclFiltered where node write sees every namespace.
	aclAgentList aclCheck = func(q *aclQuery) error {
		q.seesAll = q.perms.AllowNode(LevelWrite)
		return nil
	}
)

func aclNamespace(c string) aclCheck {
	return func(q *aclQuery) error { return q.perms.CheckNamespace(q.pathValue("ns"), c) }
}

// aclNamespaceOrNodeWrite is for what agents read or ask for on any
// namespace: a service's revisions (the spec they run), a wake-up from
// the proxy.
func aclNamespaceOrNodeWrite(c string) aclCheck {
	return func(q *aclQuery) error {
		if q.perms.AllowNode(LevelWrite) {
			return nil
		}
		return q.perms.CheckNamespace(q.pathValue("ns"), c)
	}
}

func aclNode(level string) aclCheck {
	return func(q *aclQuery) error { return q.perms.CheckNode(level) }
}

func aclOperator(level string) aclCheck {
	return func(q *aclQuery) error {
		if q.perms.AllowOperator(level) {
			return nil
		}
		return needsOperator(level)
	}
}

var aclManagement aclCheck = func(q *aclQuery) error {
	if q.perms != nil && q.perms.Management {
		return nil
	}
	return needsManagement()
}

// aclOpenRoutes need no token, ACLs or not: no token is even looked at.
var aclOpenRoutes = map[string]bool{
	// What says who leads, and what the servers ask one another (a
	// follower's consistent read asks the leader for an index, and only
	// an index is answered).
	"GET /v1/status/leader":     true,
	"GET /v1/status/peers":      true,
	"GET /v1/status/read-index": true,
	// The leader's keyring list asks each server which key IDs its
	// keyring file holds: IDs only, never key material.
	"GET /v1/operator/keyring/local": true,
	"GET /metrics":                   true,
	"GET /ui/":                       true,
	"GET /{$}":                       true,
	"/":                              true, // answers 404 and nothing else
	"POST /v1/acl/bootstrap":         true, // once only; refused after
	"GET /v1/operator/ca":            true, // the workload CA's certificate, which clients of replicas trust
	"GET /v1/acl/token/self":         true, // the handler resolves the token: any token (none: the anonymous one) reads itself
}

// aclRoutes is the table. Keep it in the order of NewHandler's routes.
var aclRoutes = map[string]aclCheck{
	// A snapshot holds every namespace and the ACL tables.
	"GET /v1/operator/snapshot":              aclManagement,
	"PUT /v1/operator/snapshot":              aclManagement,
	"DELETE /v1/operator/raft/peers/{id}":    aclOperator(LevelWrite),
	"GET /v1/services":                       aclFiltered,
	"GET /v1/services/{ns}/{name}":           aclNamespace(CapRead),
	"PUT /v1/services/{ns}/{name}":           aclNamespace(CapWrite),
	"DELETE /v1/services/{ns}/{name}":        aclNamespace(CapWrite),
	"GET /v1/services/{ns}/{name}/revisions": aclNamespace(CapRead),
	// Agents fetch the spec of what they run.
	"GET /v1/services/{ns}/{name}/revisions/{revision}": aclNamespaceOrNodeWrite(CapRead),
	"POST /v1/services/{ns}/{name}/scale":               aclNamespace(CapWrite),
	// Proxies wake a service at zero that a request waits for.
	"POST /v1/services/{ns}/{name}/wake":             aclNamespaceOrNodeWrite(CapWrite),
	"GET /v1/services/{ns}/{name}/rollout":           aclNamespace(CapRead),
	"POST /v1/services/{ns}/{name}/rollout/undo":     aclNamespace(CapWrite),
	"POST /v1/services/{ns}/{name}/rollout/{action}": aclNamespace(CapWrite),
	"GET /v1/nodes":                              aclNode(LevelRead),
	"GET /v1/nodes/{name}":                       aclNode(LevelRead),
	"PUT /v1/nodes/{name}":                       aclNode(LevelWrite),
	"POST /v1/nodes/{name}/heartbeat":            aclNode(LevelWrite),
	"POST /v1/nodes/{name}/drain":                aclNode(LevelWrite),
	"POST /v1/nodes/{name}/eligibility":          aclNode(LevelWrite),
	"POST /v1/nodes/{name}/status":               aclNode(LevelWrite),
	"GET /v1/nodes/{name}/allocations":           aclAgentList,
	"GET /v1/allocations":                        aclFiltered,
	"GET /v1/allocations/{id}":                   aclObject,
	"POST /v1/allocations/status":                aclNode(LevelWrite),
	"GET /v1/evaluations":                        aclFiltered,
	"GET /v1/events":                             aclFiltered,
	"GET /v1/endpoints":                          aclAgentList,
	"GET /v1/services/{ns}/{name}/endpoints":     aclNamespace(CapRead),
	"POST /v1/nodes/{name}/traffic":              aclNode(LevelWrite),
	"GET /v1/services/{ns}/{name}/traffic":       aclNamespace(CapRead),
	"GET /v1/services/{ns}/{name}/rollout/diffs": aclNamespace(CapRead),
	"POST /v1/nodes/{name}/usage":                aclNode(LevelWrite),
	"GET /v1/top/allocations":                    aclFiltered,
	// ACLs themselves (handler_acl.go).
	"GET /v1/acl/policies":                        aclManagement,
	"GET /v1/acl/policy/{name}":                   aclManagement,
	"PUT /v1/acl/policy/{name}":                   aclManagement,
	"DELETE /v1/acl/policy/{name}":                aclManagement,
	"GET /v1/acl/tokens":                          aclManagement,
	"POST /v1/acl/token":                          aclManagement,
	"GET /v1/acl/token/{accessor}":                aclManagement,
	"DELETE /v1/acl/token/{accessor}":             aclManagement,
	"GET /v1/nodes/{name}/allocations/{id}/files": aclNode(LevelWrite), // an agent's allocation files (configs, secrets)
	// The workload CA (handler_certs.go): its certificate is public (in
	// aclOpenRoutes), replacing it is an operator's; agents ask for their
	// replicas' certificates.
	"PUT /v1/operator/ca": aclOperator(LevelWrite),
	"POST /v1/nodes/{name}/allocations/{id}/certificates/{cert}": aclNode(LevelWrite),
}

// aclFamilies are the routes other parts add, by path prefix: what they
// need follows from the method and the path, so that their exact patterns
// need no entry. Longer prefixes first.
var aclFamilies = []struct {
	prefix string
	check  aclCheck
}{
	// The gossip keyring's list shows the keys themselves: operator write.
	{"/v1/operator/gossip/keyring", aclOperator(LevelWrite)},
	{"/v1/operator/keyring", aclOperatorReadOrWrite},
	{"/v1/configs", aclObjectsByPath(false)},
	{"/v1/secrets", aclObjectsByPath(true)},
}

// aclOperatorReadOrWrite: a GET (a list) needs operator read, a change
// operator write.
var aclOperatorReadOrWrite aclCheck = func(q *aclQuery) error {
	if q.r.Method == http.MethodGet || q.r.Method == http.MethodHead {
		return aclOperator(LevelRead)(q)
	}
	return aclOperator(LevelWrite)(q)
}

// aclObjectsByPath guards /v1/configs and /v1/secrets, whose paths are
// /v1/KIND and /v1/KIND/{ns}/{name}: a list is filtered by the namespaces
// the token may read; describing one needs namespace read; a change
// needs namespace write. For secrets, reading a value (any GET below the
// object, or one that asks for more than a blocking query's parameters)
// needs namespace write too.
func aclObjectsByPath(secret bool) aclCheck {
	return func(q *aclQuery) error {
		segs := pathSegments(q.r.URL.EscapedPath()) // KIND, ns, name, ...
		if len(segs) < 2 {
			if q.r.Method == http.MethodGet || q.r.Method == http.MethodHead {
				q.filterBody = true
				return nil
			}
			return &PermissionError{Reason: "needs namespace write (the path names no namespace)"}
		}
		ns := segs[1]
		if q.r.Method != http.MethodGet && q.r.Method != http.MethodHead {
			return q.perms.CheckNamespace(ns, CapWrite)
		}
		if secret && (len(segs) > 3 || hasValueQuery(q.r.URL.Query())) {
			return q.perms.CheckNamespace(ns, CapWrite)
		}
		return q.perms.CheckNamespace(ns, CapRead)
	}
}

// hasValueQuery reports whether a query asks for more than a blocking
// read (index, wait, stale).
func hasValueQuery(v url.Values) bool {
	for k := range v {
		if k != "index" && k != "wait" && k != "stale" {
			return true
		}
	}
	return false
}

// aclCheckFor finds what a route needs; nil when nothing says (refused).
func aclCheckFor(pattern string) aclCheck {
	if aclOpenRoutes[pattern] {
		return func(*aclQuery) error { return nil }
	}
	if c, ok := aclRoutes[pattern]; ok {
		return c
	}
	path := pattern
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		path = pattern[i+1:]
	}
	for _, f := range aclFamilies {
		if strings.HasPrefix(path, f.prefix) {
			return f.check
		}
	}
	return nil
}

// pathSegments splits a path after /v1/ into unescaped segments:
// "/v1/services/default/web" is [services default web].
func pathSegments(escaped string) []string {
	escaped = strings.TrimPrefix(escaped, "/v1/")
	var out []string
	for _, s := range strings.Split(escaped, "/") {
		if s == "" {
			continue
		}
		if u, err := url.PathUnescape(s); err == nil {
			s = u
		}
		out = append(out, s)
	}
	return out
}

// pathValue is the segment of the request's path where the route's
// pattern has {name} (the mux sets PathValue only once it serves).
func (q *aclQuery) pathValue(name string) string {
	pattern := q.pattern
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		pattern = pattern[i+1:]
	}
	want := "{" + name + "}"
	pat, got := pathSegments(pattern), pathSegments(q.r.URL.EscapedPath())
	for i, p := range pat {
		if p == want && i < len(got) {
			return got[i]
		}
	}
	return ""
}
