package state

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"flotilla/api"
)

const readonlyRules = "namespaces: {default: [read]}\n"

// aclToken is a client token entry with the given secret.
func aclToken(accessor, secret string, policies ...string) ACLTokenEntry {
	return ACLTokenEntry{Token: api.ACLToken{AccessorID: accessor, Name: "t-" + accessor, Type: api.TokenClient, Policies: policies},
		SecretHash: HashSecret(secret)}
}

// buildACLState adds a policy, a management and a client token.
func buildACLState(h *harness) {
	h.t.Helper()
	h.ok(CmdACLBootstrap, &ACLBootstrap{Token: ACLTokenEntry{Token: api.ACLToken{AccessorID: "boot", Name: "bootstrap", Type: api.TokenManagement},
		SecretHash: HashSecret("boot-secret-0123456789")}, Time: h.next()})
	h.ok(CmdACLUpsertPolicy, &ACLUpsertPolicy{Policy: api.ACLPolicy{Name: "readonly", Description: "read default", Rules: readonlyRules}, Time: h.next()})
	h.ok(CmdACLCreateToken, &ACLCreateToken{Token: aclToken("alice", "alice-secret-0123456789", "readonly"), Time: h.next()})
}

func TestACLPoliciesAndTokensLiveInTheState(t *testing.T) {
	h := newHarness(t)
	buildACLState(h)
	snap := h.snap()

	p := snap.ACLPolicy(nil, "readonly")
	if p == nil || p.Rules != readonlyRules || p.Description != "read default" || p.CreateIndex != 2 || p.ModifyIndex != 2 {
		t.Fatalf("policy readonly = %+v", p)
	}
	alice := snap.ACLTokenBySecret("alice-secret-0123456789")
	if alice == nil || alice.Token.AccessorID != "alice" || alice.Token.CreateIndex != 3 || !alice.Token.CreateTime.Equal(entryTime(3)) {
		t.Fatalf("alice by her secret = %+v", alice)
	}
	if snap.ACLTokenBySecret("alice-secret-012345678") != nil {
		t.Error("a wrong secret found a token")
	}
	if got := snap.ACLBootstrapIndex(); got != 1 {
		t.Errorf("bootstrap index %d, want 1", got)
	}
	if boot := snap.ACLToken(nil, "boot"); boot == nil || boot.Token.Type != api.TokenManagement {
		t.Errorf("bootstrap token = %+v", boot)
	}

	// An update keeps the create index.
	h.ok(CmdACLUpsertPolicy, &ACLUpsertPolicy{Policy: api.ACLPolicy{Name: "readonly", Rules: "node: read\n"}, Time: h.next()})
	if p := h.snap().ACLPolicy(nil, "readonly"); p.CreateIndex != 2 || p.ModifyIndex != 4 || p.Rules != "node: read\n" {
		t.Errorf("updated policy = %+v", p)
	}
	if got := h.snap().ACLIndex(nil); got != 4 {
		t.Errorf("ACL index %d, want 4", got)
	}
}

func TestStateKeepsNoTokenSecret(t *testing.T) {
	h := newHarness(t)
	entry := aclToken("bob", "bob-secret-0123456789")
	entry.Token.Policies = nil
	h.ok(CmdACLUpsertPolicy, &ACLUpsertPolicy{Policy: api.ACLPolicy{Name: "p", Rules: readonlyRules}, Time: h.next()})
	entry.Token.Policies = []string{"p"}
	entry.Token.SecretID = "bob-secret-0123456789" // even if a command carried it
	h.ok(CmdACLCreateToken, &ACLCreateToken{Token: entry, Time: h.next()})
	if tok := h.snap().ACLToken(nil, "bob"); tok.Token.SecretID != "" {
		t.Errorf("the state keeps the secret: %+v", tok.Token)
	}
	if data := h.writeSnapshot(); bytes.Contains(data, []byte("bob-secret")) {
		t.Errorf("the snapshot holds the secret:\n%s", data)
	}
}

func TestACLRefusalsChangeNothing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		t     CommandType
		cmd   func(h *harness) any
		check func(error) bool
		want  string
	}{
		{"a second bootstrap", CmdACLBootstrap, func(h *harness) any {
			return &ACLBootstrap{Token: ACLTokenEntry{Token: api.ACLToken{AccessorID: "boot2", Type: api.TokenManagement}, SecretHash: HashSecret("another-secret-0123456")}, Time: h.next()}
		}, isFieldError, "ACL bootstrap already done (at index 1)"},
		{"a token naming a missing policy", CmdACLCreateToken, func(h *harness) any {
			return &ACLCreateToken{Token: aclToken("carol", "carol-secret-0123456789", "readonly", "nope"), Time: h.next()}
		}, isFieldError, `policies[1]: no policy named "nope"`},
		{"a token whose accessor exists", CmdACLCreateToken, func(h *harness) any {
			return &ACLCreateToken{Token: aclToken("alice", "other-secret-0123456789", "readonly"), Time: h.next()}
		}, isConflict, "accessor alice exists"},
		{"a token whose secret exists", CmdACLCreateToken, func(h *harness) any {
			return &ACLCreateToken{Token: aclToken("dave", "alice-secret-0123456789", "readonly"), Time: h.next()}
		}, isConflict, "secret exists"},
		{"deleting a missing policy", CmdACLDeletePolicy, func(h *harness) any {
			return &ACLDeletePolicy{Name: "nope", Time: h.next()}
		}, isNotFound, `policy "nope"`},
		{"deleting a missing token", CmdACLDeleteToken, func(h *harness) any {
			return &ACLDeleteToken{AccessorID: "nope", Time: h.next()}
		}, isNotFound, "token nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			buildACLState(h)
			before := h.writeSnapshot()
			err := h.fails(tc.t, tc.cmd(h))
			if !tc.check(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v (%T), want one containing %q", err, err, tc.want)
			}
			if after := h.writeSnapshot(); !bytes.Equal(after, before) {
				t.Error("a refused command changed the state")
			}
		})
	}
}

func isFieldError(err error) bool {
	var fe *api.FieldError
	return errors.As(err, &fe)
}
func isConflict(err error) bool { return errors.Is(err, api.ErrConflict) }
func isNotFound(err error) bool { return errors.Is(err, api.ErrNotFound) }

func TestACLDeletesAndReplays(t *testing.T) {
	h := newHarness(t)
	buildACLState(h)
	h.ok(CmdACLDeleteToken, &ACLDeleteToken{AccessorID: "alice", Time: h.next(), RequestID: "del-alice"})
	if h.snap().ACLTokenBySecret("alice-secret-0123456789") != nil {
		t.Fatal("a deleted token still resolves")
	}
	// The same request again (a client's retry) answers the first result
	// instead of a 404.
	res := h.apply(CmdACLDeleteToken, &ACLDeleteToken{AccessorID: "alice", Time: h.next(), RequestID: "del-alice"})
	if r, ok := res.(*Replayed); !ok || r.Index != 4 {
		t.Fatalf("replayed delete answered %#v, want the first result at index 4", res)
	}
	h.ok(CmdACLDeletePolicy, &ACLDeletePolicy{Name: "readonly", Time: h.next()})
	if h.snap().ACLPolicy(nil, "readonly") != nil || len(h.snap().ACLPolicies(nil)) != 0 {
		t.Error("a deleted policy is still listed")
	}
}

func TestACLTablesSurviveASnapshot(t *testing.T) {
	h := newHarness(t)
	buildACLState(h)
	want := tables(t, h.snap())
	data := h.writeSnapshot()
	restored := newHarness(t)
	if err := restored.fsm.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatalf("restore: %v", err)
	}
	checkTablesEqual(t, tables(t, restored.snap()), want)
	snap := restored.snap()
	if len(want[tableACLPolicies]) != 1 || len(want[tableACLTokens]) != 2 {
		t.Fatalf("the state to restore has %d policies and %d tokens", len(want[tableACLPolicies]), len(want[tableACLTokens]))
	}
	if snap.ACLTokenBySecret("alice-secret-0123456789") == nil {
		t.Error("a restored token is not found by its secret")
	}
	if snap.ACLBootstrapIndex() != 1 {
		t.Error("the restored state forgot the bootstrap: a second one would be accepted")
	}
	restored.index = h.index
	if err := restored.fails(CmdACLBootstrap, &ACLBootstrap{Token: ACLTokenEntry{Token: api.ACLToken{AccessorID: "b2", Type: api.TokenManagement}, SecretHash: HashSecret("x-0123456789abcdef")}, Time: restored.next()}); !isFieldError(err) {
		t.Errorf("a bootstrap after restore: %v, want refused", err)
	}
}

func TestACLCommandsHaveNamesAndTheUnknownFlag(t *testing.T) {
	for _, c := range []CommandType{CmdACLUpsertPolicy, CmdACLDeletePolicy, CmdACLCreateToken, CmdACLDeleteToken, CmdACLBootstrap} {
		if c&IgnoreUnknownTypeFlag == 0 || strings.HasPrefix(c.String(), "command-") || byte(c&^IgnoreUnknownTypeFlag) < 40 || byte(c&^IgnoreUnknownTypeFlag) > 49 {
			t.Errorf("command %d (%s): want IgnoreUnknownTypeFlag|40..49 with a name", byte(c), c)
		}
	}
}

// The last valid management token cannot be deleted: bootstrap is done
// once, so nobody could manage ACLs again. With another one, it can.
func TestTheLastManagementTokenIsNotDeleted(t *testing.T) {
	h := newHarness(t)
	buildACLState(h)
	err := h.fails(CmdACLDeleteToken, &ACLDeleteToken{AccessorID: "boot", Time: h.next()})
	var fe *api.FieldError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "token boot is the cluster's last management token") {
		t.Fatalf("deleting the last management token: %v", err)
	}
	if h.snap().ACLTokenBySecret("boot-secret-0123456789") == nil {
		t.Fatal("the refused delete removed the token")
	}
	second := aclToken("ops", "ops-secret-0123456789")
	second.Token.Type = api.TokenManagement
	h.ok(CmdACLCreateToken, &ACLCreateToken{Token: second, Time: h.next()})
	h.ok(CmdACLDeleteToken, &ACLDeleteToken{AccessorID: "boot", Time: h.next()})
	if err := h.fails(CmdACLDeleteToken, &ACLDeleteToken{AccessorID: "ops", Time: h.next()}); err == nil {
		t.Fatal("the new last management token was deleted")
	}
}
