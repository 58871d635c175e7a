package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"flotilla/api"
	"flotilla/internal/atomicfile"
	"flotilla/scheduler/state"
)

// ACLs (api/acl.go says what they are): policies and tokens live in the
// Raft state (scheduler/state/acl.go), every server resolves a request's
// token from its own state, and the leader makes secrets (crypto/rand),
// of which only hashes enter the log.

// The server answers the API's ACL interfaces.
var (
	_ api.ACLResolver = (*Server)(nil)
	_ api.ACLStore    = (*Server)(nil)
)

// aclState is the server's ACL bookkeeping.
type aclState struct {
	// bootstrapSecret is the secret of --acl-bootstrap-token-file: the
	// leader bootstraps with it while the cluster has no bootstrap.
	bootstrapSecret string
	// rules caches policies' decoded rules by name and ModifyIndex.
	mu    sync.Mutex
	rules map[string]cachedRules
}

type cachedRules struct {
	modifyIndex uint64
	rules       api.ACLRules
	err         error
}

// Secrets a file may give: what NewSecret makes, or any 16 to 128
// letters, digits and -_. (a provisioner's own).
const (
	minSecretLength = 16
	maxSecretLength = 128
	// minSecretDistinct is how many different characters it needs at
	// least.
	minSecretDistinct = 8
)

// readBootstrapSecret reads --acl-bootstrap-token-file.
func readBootstrapSecret(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--acl-bootstrap-token-file: %w", err)
	}
	// A management token's secret, as the keyring's keys: readable by
	// this server's user alone.
	if info, err := os.Stat(path); err == nil {
		if err := atomicfile.Private(info, path); err != nil {
			return "", fmt.Errorf("--acl-bootstrap-token-file %s: %w", path, err)
		}
	}
	secret := strings.TrimSpace(string(data))
	if err := checkSecret(secret); err != nil {
		return "", fmt.Errorf("--acl-bootstrap-token-file %s: %w", path, err)
	}
	return secret, nil
}

func checkSecret(secret string) error {
	if len(secret) < minSecretLength || len(secret) > maxSecretLength {
		return fmt.Errorf("a token secret is %d to %d characters, got %d (make one with: flotilla acl token generate)", minSecretLength, maxSecretLength, len(secret))
	}
	distinct := map[rune]bool{}
	for _, r := range secret {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.", r)) {
			return fmt.Errorf("a token secret holds letters, digits and -_. only")
		}
		distinct[r] = true
	}
	// A generated secret of 16 characters has about 14 different ones;
	// fewer than 8 is a typed pattern (aaaa..., 1234123412341234), not a
	// secret.
	if len(distinct) < minSecretDistinct {
		return fmt.Errorf("a token secret of only %d different characters is guessable (make one with: flotilla acl token generate)", len(distinct))
	}
	return nil
}

// ACLEnabled reports whether this server enforces ACLs (--acl).
func (s *Server) ACLEnabled() bool { return s.cfg.ACL }

// ResolveToken finds a secret's token and what it may do.
func (s *Server) ResolveToken(ctx context.Context, secret string) (*api.ACLToken, *api.ACLPermissions, error) {
	snap := s.store.Snapshot()
	if secret == "" {
		t := &api.ACLToken{AccessorID: "anonymous", Name: "anonymous", Type: api.TokenClient, Policies: []string{}}
		perms := &api.ACLPermissions{}
		if p := snap.ACLPolicy(nil, api.AnonymousPolicy); p != nil {
			t.Policies = []string{p.Name}
			perms = api.MergeACLRules(s.policyRules(p))
		}
		return t, perms, nil
	}
	entry := snap.ACLTokenBySecret(secret)
	if entry == nil {
		// Made a moment ago through the leader, not applied here yet?
		err := s.ReadBarrier(ctx)
		if errors.Is(err, api.ErrNoLeader) {
			// Unknown here, and nobody to ask: not "unknown" (a server
			// just started, or cut off, has not seen every token).
			return nil, nil, fmt.Errorf("the token is not known to this server, which cannot ask a leader: %w", err)
		}
		if err == nil {
			entry = s.store.Snapshot().ACLTokenBySecret(secret)
			snap = s.store.Snapshot()
		}
	}
	if entry == nil {
		return nil, nil, &api.PermissionError{Reason: "the token is unknown (mistyped, deleted, or of another cluster)"}
	}
	t := entry.Token
	if t.Expired(s.now()) {
		return nil, nil, &api.PermissionError{Reason: fmt.Sprintf("the token %q expired at %s", t.Name, t.ExpirationTime.UTC().Format(time.RFC3339))}
	}
	if t.Type == api.TokenManagement {
		return &t, api.ManagementPermissions(), nil
	}
	var rules []api.ACLRules
	for _, name := range t.Policies {
		if p := snap.ACLPolicy(nil, name); p != nil {
			rules = append(rules, s.policyRules(p))
		}
	}
	return &t, api.MergeACLRules(rules...), nil
}

// policyRules decodes a policy's rules, once per version of it. Rules are
// checked before they are stored; one that no longer decodes grants
// nothing.
func (s *Server) policyRules(p *api.ACLPolicy) api.ACLRules {
	s.acl.mu.Lock()
	defer s.acl.mu.Unlock()
	if c, ok := s.acl.rules[p.Name]; ok && c.modifyIndex == p.ModifyIndex {
		return c.rules
	}
	rules, err := api.DecodeACLRules("policy "+p.Name, []byte(p.Rules))
	if err != nil {
		s.cfg.Logger.Error("ACL policy does not decode; it grants nothing", "policy", p.Name, "err", err)
	}
	if s.acl.rules == nil {
		s.acl.rules = map[string]cachedRules{}
	}
	s.acl.rules[p.Name] = cachedRules{modifyIndex: p.ModifyIndex, rules: rules, err: err}
	return rules
}

// ACLBootstrap makes the first management token.
func (s *Server) ACLBootstrap(ctx context.Context) (*api.ACLToken, error) {
	return s.bootstrapACL(api.NewACLSecret(), "bootstrap token")
}

func (s *Server) bootstrapACL(secret, name string) (*api.ACLToken, error) {
	t := api.ACLToken{AccessorID: api.NewACLSecret(), Name: name, Type: api.TokenManagement, Policies: []string{}}
	_, index, err := s.apply(state.CmdACLBootstrap, &state.ACLBootstrap{Token: state.ACLTokenEntry{Token: t, SecretHash: state.HashSecret(secret)}, Time: s.now()})
	if err != nil {
		return nil, err // the FSM's refusal says "ACL bootstrap already done"
	}
	return s.tokenAt(t.AccessorID, secret, index)
}

// tokenAt is a token just written, as the state has it, with its secret.
func (s *Server) tokenAt(accessor, secret string, index uint64) (*api.ACLToken, error) {
	e := s.store.Snapshot().ACLToken(nil, accessor)
	if e == nil {
		return nil, fmt.Errorf("ACL token %s written at index %d is not in the state", accessor, index)
	}
	t := e.Token
	t.SecretID = secret
	return &t, nil
}

// bootstrapACLFromFile is the leader's bootstrap with the secret of
// --acl-bootstrap-token-file, while the cluster has none.
func (s *Server) bootstrapACLFromFile(log *slog.Logger) {
	if !s.cfg.ACL || s.acl.bootstrapSecret == "" || s.store.Snapshot().ACLBootstrapIndex() != 0 {
		return
	}
	if t, err := s.bootstrapACL(s.acl.bootstrapSecret, "bootstrap token (from --acl-bootstrap-token-file)"); err != nil {
		var fe *api.FieldError
		if !errors.As(err, &fe) { // a bootstrap done meanwhile is no failure
			log.Warn("ACL bootstrap from --acl-bootstrap-token-file", "err", err)
		}
	} else {
		log.Info("ACL bootstrapped from --acl-bootstrap-token-file", "accessor", t.AccessorID)
	}
}

func (s *Server) UpsertACLPolicy(ctx context.Context, p api.ACLPolicy) (api.WriteResponse, error) {
	_, index, err := s.apply(state.CmdACLUpsertPolicy, &state.ACLUpsertPolicy{Policy: p, Time: s.now(), RequestID: api.RequestIDFrom(ctx)})
	return api.WriteResponse{Index: index}, err
}

func (s *Server) DeleteACLPolicy(ctx context.Context, name string) (api.WriteResponse, error) {
	_, index, err := s.apply(state.CmdACLDeletePolicy, &state.ACLDeletePolicy{Name: name, Time: s.now(), RequestID: api.RequestIDFrom(ctx)})
	return api.WriteResponse{Index: index}, err
}

func (s *Server) ACLPolicies(ctx context.Context, q api.QueryOptions) ([]*api.ACLPolicy, uint64, error) {
	var out []*api.ACLPolicy
	index, err := s.blocking(ctx, q, func(ws state.WatchSet, snap *state.Snapshot) (uint64, error) {
		out = snap.ACLPolicies(ws)
		return snap.ACLIndex(ws), nil
	})
	return out, index, err
}

func (s *Server) ACLPolicy(ctx context.Context, name string, q api.QueryOptions) (*api.ACLPolicy, uint64, error) {
	var out *api.ACLPolicy
	index, err := s.blocking(ctx, q, func(ws state.WatchSet, snap *state.Snapshot) (uint64, error) {
		out = snap.ACLPolicy(ws, name)
		return snap.ACLIndex(ws), nil
	})
	if err == nil && out == nil {
		err = fmt.Errorf("ACL policy %q: %w", name, api.ErrNotFound)
	}
	return out, index, err
}

// CreateACLToken makes a token. It is not sent again under its request ID:
// only the first answer could show the secret (the state keeps a hash).
func (s *Server) CreateACLToken(ctx context.Context, req api.ACLTokenRequest) (*api.ACLToken, error) {
	secret := api.NewACLSecret()
	t := api.ACLToken{AccessorID: api.NewACLSecret(), Name: req.Name, Type: req.Type, Policies: req.Policies}
	if t.Type == "" {
		t.Type = api.TokenClient
	}
	if req.TTL > 0 {
		at := s.now().Add(req.TTL.Std())
		t.ExpirationTime = &at
	}
	_, index, err := s.apply(state.CmdACLCreateToken, &state.ACLCreateToken{Token: state.ACLTokenEntry{Token: t, SecretHash: state.HashSecret(secret)}, Time: s.now()})
	if err != nil {
		return nil, fmt.Errorf("create ACL token %q: %w", req.Name, err)
	}
	return s.tokenAt(t.AccessorID, secret, index)
}

func (s *Server) DeleteACLToken(ctx context.Context, accessor string) (api.WriteResponse, error) {
	_, index, err := s.apply(state.CmdACLDeleteToken, &state.ACLDeleteToken{AccessorID: accessor, Time: s.now(), RequestID: api.RequestIDFrom(ctx)})
	return api.WriteResponse{Index: index}, err
}

func (s *Server) ACLTokens(ctx context.Context, q api.QueryOptions) ([]*api.ACLToken, uint64, error) {
	var out []*api.ACLToken
	index, err := s.blocking(ctx, q, func(ws state.WatchSet, snap *state.Snapshot) (uint64, error) {
		out = out[:0]
		for _, e := range snap.ACLTokens(ws) {
			t := e.Token
			out = append(out, &t)
		}
		return snap.ACLIndex(ws), nil
	})
	return out, index, err
}

func (s *Server) ACLToken(ctx context.Context, accessor string, q api.QueryOptions) (*api.ACLToken, uint64, error) {
	var out *api.ACLToken
	index, err := s.blocking(ctx, q, func(ws state.WatchSet, snap *state.Snapshot) (uint64, error) {
		out = nil
		if e := snap.ACLToken(ws, accessor); e != nil {
			t := e.Token
			out = &t
		}
		return snap.ACLIndex(ws), nil
	})
	if err == nil && out == nil {
		err = fmt.Errorf("ACL token %s: %w", accessor, api.ErrNotFound)
	}
	return out, index, err
}
