package docs

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"flotilla/internal/text"
)

// Entry is the reference of one field: a "### `path`" heading and what
// follows it, up to the next heading of level 1 to 3.
type Entry struct {
	// Pattern is the path as the heading writes it; braces stand for
	// alternatives: "service.probes.{startup,readiness,liveness}.period".
	Pattern string
	// Paths are the field paths the pattern stands for, in its order.
	Paths []string
	// Section is the "## " heading the entry is under.
	Section string
	// Type, Default, Limits and Example are the values of the entry's
	// first four lines ("- **Type:** integer").
	Type, Default, Limits, Example string
	// Description is the rest of the entry, as written.
	Description string
	// Line is the heading's line in SPEC.md, from 1.
	Line int
}

// Summary is the description's first sentence, on one line.
func (e *Entry) Summary() string {
	paragraph, _, _ := strings.Cut(e.Description, "\n\n")
	text := strings.Join(strings.Fields(paragraph), " ")
	// A sentence ends at ". " before a capital or a code span, so that
	// "e.g. 30s" does not end one.
	for i := 0; i+2 < len(text); i++ {
		if text[i] == '.' && text[i+1] == ' ' && (text[i+2] >= 'A' && text[i+2] <= 'Z' || text[i+2] == '`') {
			return text[:i+1]
		}
	}
	return text
}

// Child is a direct subfield of a path.
type Child struct {
	Name  string // the last segment: "steps"
	Path  string
	Entry *Entry
}

// Index is SPEC.md's entries by path.
type Index struct {
	entries []*Entry
	byPath  map[string]*Entry
	paths   []string // every path, in document order
}

// Entries returns every entry, in document order.
func (x *Index) Entries() []*Entry { return x.entries }

// Paths returns every documented path, in document order.
func (x *Index) Paths() []string { return x.paths }

// Lookup returns the entry of an exact path.
func (x *Index) Lookup(path string) (*Entry, bool) {
	e, ok := x.byPath[path]
	return e, ok
}

// Children returns the documented direct subfields of path, in document
// order: "service.rollout.canary" has "steps" and "sticky", and
// "service.ports" has the fields of its elements ("service.ports[].name").
func (x *Index) Children(path string) []Child {
	var out []Child
	for _, p := range x.paths {
		if Parent(p) == path {
			out = append(out, Child{Name: lastSegment(p), Path: p, Entry: x.byPath[p]})
		}
	}
	return out
}

// Parent is the path of the field that holds p: "service.ports" for
// "service.ports[].name", "service.env" for "service.env.*.x", "" for a
// root ("service").
func Parent(p string) string {
	i := strings.LastIndexByte(p, '.')
	if i < 0 {
		return ""
	}
	parent := p[:i]
	for strings.HasSuffix(parent, "[]") {
		parent = strings.TrimSuffix(parent, "[]")
	}
	return strings.TrimSuffix(parent, ".*")
}

func lastSegment(p string) string {
	p = strings.TrimRight(p, "[]")
	return p[strings.LastIndexByte(p, '.')+1:]
}

// Find resolves what a person typed to a documented path and its entry. It
// accepts the paths error messages print ("spec.ports[0].port" is
// "service.ports[].port"), a path without its kind ("rollout.canary"), and
// a key of a map ("service.env.DEBUG" is "service.env"). An unknown path is
// an error naming the closest known ones.
func (x *Index) Find(query string) (string, *Entry, error) {
	q := normalize(query)
	candidates := []string{q}
	for _, p := range x.paths {
		if Parent(p) == "" && !strings.HasPrefix(q, p+".") && q != p {
			candidates = append(candidates, p+"."+q)
		}
	}
	for _, c := range candidates {
		if e, ok := x.byPath[c]; ok {
			return c, e, nil
		}
	}
	for _, c := range candidates {
		// "service.env.DEBUG": the longest documented prefix that is a map.
		for p := Parent(c); p != ""; p = Parent(p) {
			if e, ok := x.byPath[p]; ok && strings.HasPrefix(e.Type, "map") {
				return p, e, nil
			}
		}
	}
	return "", nil, fmt.Errorf("unknown field %q (closest: %s)", strings.TrimSpace(query), strings.Join(x.Closest(q, 3), ", "))
}

var (
	indexRE     = regexp.MustCompile(`\[[0-9]*\]`)
	quotedKeyRE = regexp.MustCompile(`\["(?:[^"\\]|\\.)*"\]`)
)

// normalize turns an error message's path into a reference path:
// spec.ports[0].port -> service.ports[].port, spec.env["A.B"] ->
// service.env.*; a trailing [] goes.
func normalize(query string) string {
	q := strings.Trim(strings.TrimSpace(query), ".")
	if q == "spec" || strings.HasPrefix(q, "spec.") || strings.HasPrefix(q, "spec[") {
		q = "service" + strings.TrimPrefix(q, "spec")
	}
	q = quotedKeyRE.ReplaceAllString(q, ".*")
	q = indexRE.ReplaceAllString(q, "[]")
	for strings.HasSuffix(q, "[]") {
		q = strings.TrimSuffix(q, "[]")
	}
	return q
}

// Closest returns up to n documented paths nearest to q, the nearest
// first (ties in document order), leaving out those much farther than the
// nearest. Nearness is the edit distance over the whole path, written with
// or without its kind; a query of one segment is also compared with every
// path's last one, so that "maxSurge" finds "service.rollout.ramped.maxSurge".
func (x *Index) Closest(q string, n int) []string {
	q = strings.ToLower(normalize(q))
	forms := []string{q}
	for _, p := range x.paths {
		if Parent(p) == "" {
			forms = append(forms, strings.ToLower(p)+"."+q)
		}
	}
	oneSegment := !strings.Contains(q, ".")
	type scored struct {
		path  string
		score int
	}
	all := make([]scored, 0, len(x.paths))
	for _, p := range x.paths {
		lp := strings.ToLower(p)
		score := len(q) + len(lp)
		if oneSegment {
			score = text.EditDistance(q, strings.ToLower(lastSegment(p))) + 1
		}
		for _, f := range forms {
			score = min(score, text.EditDistance(f, lp))
		}
		all = append(all, scored{p, score})
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].score < all[j].score })
	var out []string
	for _, s := range all {
		if len(out) == n || len(out) > 0 && s.score > all[0].score+2 {
			break
		}
		out = append(out, s.path)
	}
	return out
}

// ---- parsing ----

var (
	headingRE = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*$`)
	entryRE   = regexp.MustCompile("^`([^`]+)`$")
	// A path: segments of a JSON name or * (a map's values), each
	// optionally followed by [] (a list's elements).
	pathRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*(\[\])*(\.([A-Za-z][A-Za-z0-9_-]*|\*)(\[\])*)*$`)
)

// entryFields are the lines every entry starts with, in this order.
var entryFields = []string{"Type", "Default", "Limits", "Example"}

// Parse reads a reference in SPEC.md's format. An entry is a level-3
// heading holding one path in backticks; its body starts with the lines
// "- **Type:** ...", "- **Default:** ...", "- **Limits:** ...",
// "- **Example:** ..." and goes on with a description, up to the next
// heading of level 1 to 3 (headings inside code fences do not count).
func Parse(text string) (*Index, error) {
	x := &Index{byPath: map[string]*Entry{}}
	var (
		section string
		current *Entry
		body    []string
		fenced  bool
	)
	finish := func() error {
		if current == nil {
			return nil
		}
		if err := current.parseBody(body); err != nil {
			return fmt.Errorf("SPEC.md line %d (`%s`): %w", current.Line, current.Pattern, err)
		}
		current, body = nil, nil
		return nil
	}
	for i, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
		}
		m := headingRE.FindStringSubmatch(line)
		if fenced || m == nil || len(m[1]) > 3 {
			if current != nil {
				body = append(body, line)
			}
			continue
		}
		if err := finish(); err != nil {
			return nil, err
		}
		level, title := len(m[1]), m[2]
		if level == 2 {
			section = title
		}
		if level != 3 || !strings.HasPrefix(title, "`") {
			continue
		}
		em := entryRE.FindStringSubmatch(title)
		if em == nil {
			return nil, fmt.Errorf("SPEC.md line %d: an entry's heading is one path in backticks, got %q", i+1, title)
		}
		paths, err := expand(em[1])
		if err != nil {
			return nil, fmt.Errorf("SPEC.md line %d: %w", i+1, err)
		}
		current = &Entry{Pattern: em[1], Paths: paths, Section: section, Line: i + 1}
		for _, p := range paths {
			if !pathRE.MatchString(p) {
				return nil, fmt.Errorf("SPEC.md line %d: %q is not a field path (name.name[].name)", i+1, p)
			}
			if other, dup := x.byPath[p]; dup {
				return nil, fmt.Errorf("SPEC.md line %d: %s is documented twice (also line %d)", i+1, p, other.Line)
			}
			x.byPath[p] = current
			x.paths = append(x.paths, p)
		}
		x.entries = append(x.entries, current)
	}
	if err := finish(); err != nil {
		return nil, err
	}
	if fenced {
		return nil, fmt.Errorf("SPEC.md: a code fence is not closed")
	}
	return x, nil
}

// parseBody reads the entry's four lines and its description.
func (e *Entry) parseBody(lines []string) error {
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	values := make([]string, len(entryFields))
	for i, name := range entryFields {
		prefix := "- **" + name + ":**"
		if len(lines) == 0 || !strings.HasPrefix(lines[0], prefix) {
			return fmt.Errorf("line %d of the entry must start with %q", i+1, prefix)
		}
		values[i] = strings.TrimSpace(strings.TrimPrefix(lines[0], prefix))
		if values[i] == "" {
			return fmt.Errorf("%s is empty", name)
		}
		lines = lines[1:]
	}
	e.Type, e.Default, e.Limits, e.Example = values[0], values[1], values[2], values[3]
	e.Description = strings.TrimSpace(strings.Join(lines, "\n"))
	if e.Description == "" {
		return fmt.Errorf("no description after the %s line", entryFields[len(entryFields)-1])
	}
	return nil
}

// expand turns "a.{b,c}.d" into "a.b.d" and "a.c.d"; several brace groups
// multiply.
func expand(pattern string) ([]string, error) {
	open := strings.IndexByte(pattern, '{')
	if open < 0 {
		if strings.ContainsAny(pattern, "}, ") {
			return nil, fmt.Errorf("bad path pattern %q", pattern)
		}
		return []string{pattern}, nil
	}
	end := strings.IndexByte(pattern[open:], '}')
	if end < 0 {
		return nil, fmt.Errorf("unclosed { in %q", pattern)
	}
	end += open
	inner := pattern[open+1 : end]
	if strings.ContainsRune(inner, '{') {
		return nil, fmt.Errorf("nested braces in %q", pattern)
	}
	var out []string
	for _, alt := range strings.Split(inner, ",") {
		if alt == "" {
			return nil, fmt.Errorf("empty alternative in %q", pattern)
		}
		rest, err := expand(pattern[:open] + alt + pattern[end+1:])
		if err != nil {
			return nil, err
		}
		out = append(out, rest...)
	}
	return out, nil
}
