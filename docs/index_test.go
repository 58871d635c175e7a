package docs

import (
	"reflect"
	"strings"
	"testing"
)

// entry writes one well-formed entry.
func entry(pattern, typ string) string {
	return "### `" + pattern + "`\n\n- **Type:** " + typ + "\n- **Default:** none\n- **Limits:** none\n- **Example:** `x: 1`\n\nWhat it does. More.\n\n"
}

func TestParseRefusesMalformedEntries(t *testing.T) {
	for _, c := range []struct {
		name, text, want string
	}{
		{"two paths in a heading", "## S\n\n### `a.b` and `a.c`\n", "one path in backticks"},
		{"not a path", "## S\n\n### `a b`\n", "bad path pattern"},
		{"a missing line", "## S\n\n### `a`\n\n- **Type:** object\n- **Limits:** none\n", `must start with "- **Default:**"`},
		{"an empty value", "## S\n\n### `a`\n\n- **Type:**\n", "Type is empty"},
		{"no description", "## S\n\n### `a`\n\n- **Type:** object\n- **Default:** none\n- **Limits:** none\n- **Example:** `a: {}`\n", "no description"},
		{"twice", "## S\n\n" + entry("a", "object") + entry("a.{b,b}", "string"), "documented twice"},
		{"an open fence", "## S\n\n" + entry("a", "object") + "```yaml\n# x\n", "not closed"},
		{"unclosed brace", "## S\n\n### `a.{b,c`\n", "unclosed"},
	} {
		_, err := Parse(c.text)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}
}

// Headings inside code fences are YAML comments, not entries; a level-4
// heading belongs to the entry; any level 1 to 3 heading ends it.
func TestParseEndsEntriesAtHeadingsOutsideFences(t *testing.T) {
	text := "## S\n\n" + entry("a", "object") +
		"```yaml\n### `not.an.entry`\n# a comment\n```\n\n#### A detail\n\nStill a.\n\n## T\n\n" +
		entry("a.{b,c}[].d", "string") + "### Not an entry\n\nProse.\n"
	x, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := x.Paths(), []string{"a", "a.b[].d", "a.c[].d"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("paths %v, want %v", got, want)
	}
	a, _ := x.Lookup("a")
	if !strings.Contains(a.Description, "Still a.") || !strings.Contains(a.Description, "not.an.entry") {
		t.Errorf("a's description lost its fenced block or detail: %q", a.Description)
	}
	d, _ := x.Lookup("a.c[].d")
	if d.Section != "T" || d.Pattern != "a.{b,c}[].d" || strings.Contains(d.Description, "Prose") {
		t.Errorf("a.c[].d: %+v", d)
	}
	if got := x.Children("a.c"); len(got) != 1 || got[0].Name != "d" {
		t.Errorf("children of a.c: %+v", got)
	}
}

func TestSummaryIsTheFirstSentence(t *testing.T) {
	for _, c := range []struct{ description, want string }{
		{"One. Two.", "One."},
		{"Waits, e.g. 30s, then\ngoes on. Then more.", "Waits, e.g. 30s, then goes on."},
		{"Ends with `x`. `y` follows.", "Ends with `x`."},
		{"One paragraph\n\nAnother.", "One paragraph"},
	} {
		if got := (&Entry{Description: c.description}).Summary(); got != c.want {
			t.Errorf("Summary(%q) = %q, want %q", c.description, got, c.want)
		}
	}
}

func TestParentOfAPath(t *testing.T) {
	for p, want := range map[string]string{
		"service":                               "",
		"service.ports":                         "service",
		"service.ports[].name":                  "service.ports",
		"service.rollout.canary.steps[].weight": "service.rollout.canary.steps",
		"service.x.*.y":                         "service.x",
	} {
		if got := Parent(p); got != want {
			t.Errorf("Parent(%q) = %q, want %q", p, got, want)
		}
	}
}

// Find takes what people type: reference paths, error paths, paths without
// the kind, map keys.
func TestFindResolvesWhatPeopleType(t *testing.T) {
	x := specIndex(t)
	for query, want := range map[string]string{
		"service.rollout.canary":                    "service.rollout.canary",
		"  service.ports[].port ":                   "service.ports[].port",
		"spec.ports[0].port":                        "service.ports[].port",
		"spec.probes.readiness.http.port":           "service.probes.readiness.http.port",
		"spec":                                      "service",
		"rollout.canary.steps[2].weight":            "service.rollout.canary.steps[].weight",
		"service.ports[]":                           "service.ports",
		"service.env.DEBUG":                         "service.env",
		`spec.env["A.B"]`:                           "service.env",
		"spec.probes.liveness.http.headers.X-Token": "service.probes.liveness.http.headers",
	} {
		got, e, err := x.Find(query)
		if err != nil || got != want || e == nil {
			t.Errorf("Find(%q) = %q, %v; want %q", query, got, err, want)
		}
	}
}

func TestFindNamesTheClosestPathsOfAnUnknownOne(t *testing.T) {
	x := specIndex(t)
	for query, want := range map[string]string{
		"service.rollout.canry":                    "service.rollout.canary",
		"service.rollout.canary.steps[].setWeight": "service.rollout.canary.steps[].weight",
		"maxSurge":     "service.rollout.ramped.maxSurge",
		"spec.replica": "service.replicas",
	} {
		_, _, err := x.Find(query)
		if err == nil {
			t.Errorf("Find(%q) found something", query)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "unknown field") || strings.Contains(msg, "\n") {
			t.Errorf("Find(%q): %q is not a one-line unknown field error", query, msg)
		}
		if closest := x.Closest(query, 3); len(closest) == 0 || closest[0] != want {
			t.Errorf("Closest(%q) = %v, want %s first", query, closest, want)
		}
		if !strings.Contains(msg, want) {
			t.Errorf("Find(%q): %q does not name %s", query, msg, want)
		}
	}
}
