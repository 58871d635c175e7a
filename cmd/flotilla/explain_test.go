package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"flotilla/docs"
)

// runExplain runs `flotilla explain` in this process against an address
// where nothing listens: explain must not need a cluster.
func runExplain(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRoot()
	root.SetArgs(append([]string{"--address", "http://127.0.0.1:1", "explain"}, args...))
	root.SetOut(&out)
	root.SetErr(&errOut)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

func builtInReference(t *testing.T) *docs.Index {
	t.Helper()
	ref, err := docs.Reference()
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestExplainPrintsAFieldAndListsItsSubfields(t *testing.T) {
	out, err := runExplain(t, "service.rollout.canary")
	if err != nil {
		t.Fatal(err)
	}
	e, _ := builtInReference(t).Lookup("service.rollout.canary")
	steps, _ := builtInReference(t).Lookup("service.rollout.canary.steps")
	for _, want := range []string{
		"FIELD:    service.rollout.canary\n",
		"TYPE:     object\n",
		"LIMITS:   " + e.Limits + "\n",
		"DESCRIPTION:\n  Moves traffic to the new revision",
		"FIELDS:\n",
		"EXAMPLE:  canary: {steps: ",
		"  steps  <list of objects>\n    " + steps.Summary() + "\n\n  sticky  <boolean>\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain service.rollout.canary: no %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "**") {
		t.Errorf("markdown emphasis left in:\n%s", out)
	}
}

// An apply error names "spec.ports[0].port"; explain takes it as it is.
func TestExplainTakesThePathAnApplyErrorNames(t *testing.T) {
	out, err := runExplain(t, "spec.probes.readiness.http.port")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "FIELD:    service.probes.readiness.http.port\nTYPE:     port name or number\n") {
		t.Errorf("explain spec.probes.readiness.http.port:\n%s", out)
	}
	if strings.Contains(out, "FIELDS:") {
		t.Errorf("a leaf lists fields:\n%s", out)
	}
}

func TestExplainOfAnUnknownPathNamesTheClosestOnOneLine(t *testing.T) {
	_, err := runExplain(t, "service.rollout.canry")
	if err == nil {
		t.Fatal("explain of an unknown path succeeded")
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, `unknown field "service.rollout.canry"`) || !strings.Contains(msg, "service.rollout.canary") {
		t.Errorf("error %q: want one line naming service.rollout.canary", msg)
	}
}

// Every documented path explains, with its own entry's type.
func TestExplainEveryDocumentedField(t *testing.T) {
	ref := builtInReference(t)
	for _, p := range ref.Paths() {
		out, err := runExplain(t, p)
		if err != nil {
			t.Errorf("explain %s: %v", p, err)
			continue
		}
		e, _ := ref.Lookup(p)
		if !strings.HasPrefix(out, "FIELD:    "+p+"\nTYPE:     "+plainText(e.Type)+"\n") {
			t.Errorf("explain %s:\n%s", p, out)
		}
	}
}

func TestExplainNeedsAPath(t *testing.T) {
	if _, err := runExplain(t); err == nil {
		t.Error("explain without a path succeeded")
	}
}
