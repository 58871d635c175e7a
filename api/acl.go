package api

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// ACLs, as Nomad has them: a token names policies; a policy's rules grant
// capabilities on namespaces, the nodes and the operator's functions; a
// management token may do everything. With ACLs off (the default) every
// request is allowed, as before.

// TokenHeader carries a request's ACL token; "Authorization: Bearer TOKEN"
// is read too. TokenEnv is where the CLI and agents find one by default.
const (
	TokenHeader = "X-Flotilla-Token"
	TokenEnv    = "FLOTILLA_TOKEN"
)

// TokenFromRequest is the token a request carries ("" for none).
func TokenFromRequest(r *http.Request) string {
	if t := strings.TrimSpace(r.Header.Get(TokenHeader)); t != "" {
		return t
	}
	if auth := r.Header.Get("Authorization"); len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		return strings.TrimSpace(auth[7:])
	}
	return ""
}

// Token types.
const (
	TokenClient     = "client"
	TokenManagement = "management"
)

// Namespace capabilities: admin implies the others, write implies read.
const (
	CapRead  = "read"
	CapWrite = "write"
	CapExec  = "exec"
	CapAdmin = "admin"
)

// Levels of the node and operator rules.
const (
	LevelRead  = "read"
	LevelWrite = "write"
)

// AnonymousPolicy is the policy a request without a token gets, when one
// of that name exists (none does by default: anonymous requests may do
// nothing but what is open to all).
const AnonymousPolicy = "anonymous"

// ACLPolicy is a named set of rules.
type ACLPolicy struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Rules is the rules' text (YAML or JSON) as it was given, decoded by
	// DecodeACLRules.
	Rules       string `json:"rules"`
	CreateIndex uint64 `json:"createIndex"`
	ModifyIndex uint64 `json:"modifyIndex"`
}

// ACLToken is a token. Its SecretID is shown only when it is made (create,
// bootstrap) and to its own holder (token self); lists and reads by
// accessor leave it out, and the servers keep only a hash of it.
type ACLToken struct {
	AccessorID string   `json:"accessorID"`
	SecretID   string   `json:"secretID,omitempty"`
	Name       string   `json:"name"`
	Type       string   `json:"type"`
	Policies   []string `json:"policies"`
	// CreateTime is the leader's time when the token was made;
	// ExpirationTime, when set, is when it stops being accepted.
	CreateTime     time.Time  `json:"createTime"`
	ExpirationTime *time.Time `json:"expirationTime,omitempty"`
	CreateIndex    uint64     `json:"createIndex"`
	ModifyIndex    uint64     `json:"modifyIndex"`
	// Permissions is what the token may do, its policies merged: only
	// token self answers it (agents ask it to check a caller's token).
	Permissions *ACLPermissions `json:"permissions,omitempty"`
}

// Expired reports whether the token has expired at now.
func (t *ACLToken) Expired(now time.Time) bool {
	return t.ExpirationTime != nil && !now.Before(*t.ExpirationTime)
}

// ACLPolicyRequest is the body of PUT /v1/acl/policy/{name}.
type ACLPolicyRequest struct {
	Description string `json:"description,omitempty"`
	Rules       string `json:"rules"`
}

// ACLTokenRequest is the body of POST /v1/acl/token.
type ACLTokenRequest struct {
	Name     string   `json:"name"`
	Type     string   `json:"type,omitempty"` // client (default) or management
	Policies []string `json:"policies,omitempty"`
	// TTL, when set, makes the token expire that long after it is made.
	TTL Duration `json:"ttl,omitempty"`
}

// ACLRules is what a policy's rules say:
//
//	namespaces: {"default": [read, write, exec, admin], "*": [read]}
//	node: read|write
//	operator: read|write
//
// A namespace's own entry wins over "*".
type ACLRules struct {
	Namespaces map[string][]string `json:"namespaces,omitempty"`
	Node       string              `json:"node,omitempty"`
	Operator   string              `json:"operator,omitempty"`
}

// Limits of ACL objects.
const (
	maxACLNameLength        = 128
	maxACLDescriptionLength = 256
	maxACLRulesBytes        = 64 << 10
	maxTokenPolicies        = 32
)

var aclNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// ValidateACLName checks a policy name (and a token's policy references):
// letters, digits and -_. , starting with a letter or digit, at most 128.
func ValidateACLName(field, name string) error {
	switch {
	case name == "":
		return fieldErr(field, "required")
	case len(name) > maxACLNameLength:
		return fieldErr(field, "must be at most %d characters, got %d", maxACLNameLength, len(name))
	case !aclNameRE.MatchString(name):
		return fieldErr(field, "invalid name %q: use letters, digits and -_. starting with a letter or digit", name)
	}
	return nil
}

// DecodeACLRules reads a policy's rules (YAML or JSON), strictly: unknown
// fields, unknown capabilities and levels are errors naming the field.
func DecodeACLRules(source string, data []byte) (ACLRules, error) {
	var rules ACLRules
	if len(data) > maxACLRulesBytes {
		return rules, &FieldError{Source: source, Message: fmt.Sprintf("rules larger than %d bytes", maxACLRulesBytes)}
	}
	docs := parseDocuments(data)
	switch {
	case len(docs) == 0:
		return rules, &FieldError{Source: source, Message: "no rules found (want e.g. namespaces: {default: [read]})"}
	case len(docs) > 1:
		return rules, &FieldError{Source: source, Message: "rules are one document, got several"}
	case docs[0].err != nil:
		docs[0].err.Source = source
		return rules, docs[0].err
	}
	if fe := decodeTree(docs[0].value, "", &rules); fe != nil {
		fe.Source = source
		return ACLRules{}, fe
	}
	if fe := rules.validate(); fe != nil {
		fe.Source = source
		return ACLRules{}, fe
	}
	return rules, nil
}

func (r *ACLRules) validate() *FieldError {
	for _, ns := range sortedNamespaceKeys(r.Namespaces) {
		field := "namespaces." + ns
		if ns != "*" {
			if fe := validateName(field, ns); fe != nil {
				fe.Message = "namespace: " + fe.Message + " (or \"*\" for every namespace)"
				return fe
			}
		}
		if len(r.Namespaces[ns]) == 0 {
			return fieldErr(field, "list at least one capability: read, write, exec or admin")
		}
		for i, c := range r.Namespaces[ns] {
			switch c {
			case CapRead, CapWrite, CapExec, CapAdmin:
			default:
				return fieldErr(indexPath(field, i), "unknown capability %q: want read, write, exec or admin", c)
			}
		}
	}
	for field, level := range map[string]string{"node": r.Node, "operator": r.Operator} {
		if level != "" && level != LevelRead && level != LevelWrite {
			return fieldErr(field, "unknown level %q: want read or write", level)
		}
	}
	if len(r.Namespaces) == 0 && r.Node == "" && r.Operator == "" {
		return fieldErr("", "the rules grant nothing: give namespaces, node or operator")
	}
	return nil
}

func sortedNamespaceKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ACLPermissions is what a token may do: its policies' rules merged, each
// namespace's capabilities expanded (admin lists them all, write adds
// read). The zero value may do nothing.
type ACLPermissions struct {
	Management bool                `json:"management,omitempty"`
	Namespaces map[string][]string `json:"namespaces,omitempty"`
	Node       string              `json:"node,omitempty"`
	Operator   string              `json:"operator,omitempty"`
}

// ManagementPermissions may do everything.
func ManagementPermissions() *ACLPermissions { return &ACLPermissions{Management: true} }

// MergeACLRules merges policies' rules into what they allow together.
func MergeACLRules(rules ...ACLRules) *ACLPermissions {
	p := &ACLPermissions{}
	for _, r := range rules {
		for ns, caps := range r.Namespaces {
			if p.Namespaces == nil {
				p.Namespaces = map[string][]string{}
			}
			p.Namespaces[ns] = expandCapabilities(append(p.Namespaces[ns], caps...))
		}
		p.Node = higherLevel(p.Node, r.Node)
		p.Operator = higherLevel(p.Operator, r.Operator)
	}
	return p
}

func expandCapabilities(caps []string) []string {
	set := map[string]bool{}
	for _, c := range caps {
		set[c] = true
		switch c {
		case CapAdmin:
			set[CapRead], set[CapWrite], set[CapExec] = true, true, true
		case CapWrite:
			set[CapRead] = true
		}
	}
	out := make([]string, 0, len(set))
	for _, c := range []string{CapRead, CapWrite, CapExec, CapAdmin} {
		if set[c] {
			out = append(out, c)
		}
	}
	return out
}

func higherLevel(a, b string) string {
	if a == LevelWrite || b == LevelWrite {
		return LevelWrite
	}
	if a == LevelRead || b == LevelRead {
		return LevelRead
	}
	return ""
}

// AllowNamespace reports whether capability c is granted on namespace ns:
// by the namespace's own entry when the rules have one, else by "*".
func (p *ACLPermissions) AllowNamespace(ns, c string) bool {
	if p == nil {
		return false
	}
	if p.Management {
		return true
	}
	caps, ok := p.Namespaces[ns]
	if !ok {
		caps = p.Namespaces["*"]
	}
	return slices.Contains(caps, c)
}

// AllowNode reports whether the node rules grant level (read or write).
func (p *ACLPermissions) AllowNode(level string) bool {
	return p != nil && (p.Management || allowLevel(p.Node, level))
}

// AllowOperator reports whether the operator rules grant level.
func (p *ACLPermissions) AllowOperator(level string) bool {
	return p != nil && (p.Management || allowLevel(p.Operator, level))
}

func allowLevel(have, want string) bool {
	return have == LevelWrite || (have == LevelRead && want == LevelRead)
}

// ErrPermissionDenied: the request's token may not do this (403).
// ErrACLDisabled: an ACL route on a cluster without ACLs (501).
var (
	ErrPermissionDenied = errors.New("permission denied")
	ErrACLDisabled      = errors.New("ACLs are disabled on this cluster (start the servers with --acl)")
)

// PermissionError says why a request was refused, usually the permission
// it lacked: "permission denied: needs namespace "default" write".
type PermissionError struct {
	Reason string
}

func (e *PermissionError) Error() string { return "permission denied: " + e.Reason }

// Unwrap lets errors.Is(err, ErrPermissionDenied) match.
func (e *PermissionError) Unwrap() error { return ErrPermissionDenied }

// needsNamespace is the error of a missing namespace capability.
func needsNamespace(ns, c string) error {
	return &PermissionError{Reason: fmt.Sprintf("needs namespace %q %s", ns, c)}
}

func needsNode(level string) error { return &PermissionError{Reason: "needs node " + level} }

func needsOperator(level string) error { return &PermissionError{Reason: "needs operator " + level} }

func needsManagement() error { return &PermissionError{Reason: "needs a management token"} }

// CheckNamespace is nil when p grants capability c on ns, else the
// permission error that names it (agents check exec and logs with it).
func (p *ACLPermissions) CheckNamespace(ns, c string) error {
	if p.AllowNamespace(ns, c) {
		return nil
	}
	return needsNamespace(ns, c)
}

// CheckNode is nil when p grants the node level, else the error naming it.
func (p *ACLPermissions) CheckNode(level string) error {
	if p.AllowNode(level) {
		return nil
	}
	return needsNode(level)
}

// NewACLSecret is a random token secret (or accessor ID): a version 4
// UUID from crypto/rand.
func NewACLSecret() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand: " + err.Error()) // never fails on supported systems
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
