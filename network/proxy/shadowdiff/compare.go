package shadowdiff

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"flotilla/api"
)

// Limits that keep a comparison's cost and output bounded.
const (
	// MaxDifferences is the most differences Compare lists for one pair of
	// answers; the walk stops there.
	MaxDifferences = 64
	// MaxValue is the most bytes of a value a Difference keeps.
	MaxValue = 120
)

// Kinds of difference.
const (
	KindChanged = "changed" // both answers have the field, with other values
	KindType    = "type"    // both have it, of different JSON types (or JSON against not)
	KindMissing = "missing" // only the first answer has it
	KindAdded   = "added"   // only the second answer has it
)

// AlwaysIgnored are headers that differ between any two answers or
// describe the connection or the proxy rather than the answer; they are
// never compared.
var AlwaysIgnored = []string{"Date", "Content-Length", "Connection", "Keep-Alive", "Proxy-Connection",
	"Transfer-Encoding", "Te", "Trailer", "Upgrade", "Proxy-Authenticate",
	"X-Flotilla-Revision", "X-Flotilla-Endpoint", "X-Flotilla-Proxy"}

// Answer is one HTTP answer as the proxy captured it.
type Answer struct {
	// Failed: no answer came (refused, reset, timed out); the rest is
	// not looked at.
	Failed bool
	Status int
	Header http.Header
	Body   []byte
	// Truncated: Body is only the start of a longer body. Such bodies are
	// compared as bytes, as far as they go.
	Truncated bool
}

// Difference is one way two answers differ.
type Difference struct {
	// Path is where: "status", "header.X-Foo", "body", or a JSON field
	// such as "body.items[2].price" (keys that are not plain names are
	// quoted: body["a.b"]).
	Path string `json:"path"`
	// Field is Path with array indexes folded, "body.items[*].price":
	// what figures are kept by.
	Field string `json:"field"`
	Kind  string `json:"kind"`
	// A and B are the two values, JSON-encoded (a status as its number, a
	// header as its values joined by ", ", a body as its text), cut at
	// MaxValue bytes; "" for the side that lacks the field.
	A string `json:"a"`
	B string `json:"b"`
}

// Comparer compares answers as one shadow rollout's compare settings say.
// It is safe for concurrent use.
type Comparer struct {
	status, body bool
	ignoreHeader map[string]bool // canonical names
	ignoreNames  []string        // JSON keys ignored wherever they are
	ignorePaths  [][]element     // JSON paths from the top of the body
}

// NewComparer builds a Comparer from compare:
//
//   - Status: compare status codes. A failed answer (no answer at all)
//     against one that came is always a difference, at "status".
//   - Headers are always compared, except AlwaysIgnored and
//     IgnoreHeaders (any case).
//   - Body: compare bodies. When both parse as JSON they are compared
//     field by field (objects by key, arrays by position, numbers by
//     value), else as bytes.
//   - IgnoreJSONFields: a plain name ("time") is ignored wherever it is a
//     key; a path ("meta.time", "items[*].price", "items[0].id",
//     "[*].id" for a top-level array) is matched from the top of the body,
//     with the whole subtree under it. An array the path does not index is
//     looked through: "items.price" ignores the price of every item.
//
// It refuses a path it cannot read, naming it.
func NewComparer(compare api.ShadowCompare) (*Comparer, error) {
	c := &Comparer{status: compare.Status, body: compare.Body, ignoreHeader: map[string]bool{}}
	for _, h := range AlwaysIgnored {
		c.ignoreHeader[textproto.CanonicalMIMEHeaderKey(h)] = true
	}
	for _, h := range compare.IgnoreHeaders {
		c.ignoreHeader[textproto.CanonicalMIMEHeaderKey(h)] = true
	}
	for _, f := range compare.IgnoreJSONFields {
		if f != "" && !strings.ContainsAny(f, ".[]") {
			c.ignoreNames = append(c.ignoreNames, f)
			continue
		}
		p, err := parsePattern(f)
		if err != nil {
			return nil, fmt.Errorf("ignoreJSONFields %q: %w", f, err)
		}
		c.ignorePaths = append(c.ignorePaths, p)
	}
	return c, nil
}

// Compare lists how b differs from a (at most MaxDifferences), in a
// stable order: status, headers by name, body fields in document order
// with object keys sorted.
func (c *Comparer) Compare(a, b Answer) []Difference {
	d := &differ{c: c}
	if a.Failed || b.Failed {
		if a.Failed != b.Failed {
			d.add("status", "status", KindChanged, statusText(a), statusText(b))
		}
		return d.out
	}
	if c.status && a.Status != b.Status {
		d.add("status", "status", KindChanged, statusText(a), statusText(b))
	}
	d.headers(a.Header, b.Header)
	if c.body {
		d.bodies(a, b)
	}
	return d.out
}

func statusText(a Answer) string {
	if a.Failed {
		return "no answer"
	}
	return strconv.Itoa(a.Status)
}

// differ collects one comparison's differences.
type differ struct {
	c   *Comparer
	out []Difference
}

func (d *differ) full() bool { return len(d.out) >= MaxDifferences }

func (d *differ) add(path, field, kind, a, b string) {
	if d.full() {
		return
	}
	d.out = append(d.out, Difference{Path: path, Field: field, Kind: kind, A: cut(a), B: cut(b)})
}

func (d *differ) headers(a, b http.Header) {
	ca, cb := canonical(a), canonical(b)
	names := make([]string, 0, len(ca)+len(cb))
	for k := range ca {
		names = append(names, k)
	}
	for k := range cb {
		if _, ok := ca[k]; !ok {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, k := range names {
		if d.c.ignoreHeader[k] {
			continue
		}
		av, inA := ca[k]
		bv, inB := cb[k]
		path := "header." + k
		switch {
		case !inB:
			d.add(path, path, KindMissing, av, "")
		case !inA:
			d.add(path, path, KindAdded, "", bv)
		case av != bv:
			d.add(path, path, KindChanged, av, bv)
		}
	}
}

// canonical is h with canonical names and each header's values joined.
func canonical(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, vs := range h {
		k = textproto.CanonicalMIMEHeaderKey(k)
		if prev, ok := out[k]; ok {
			out[k] = prev + ", " + strings.Join(vs, ", ")
			continue
		}
		out[k] = strings.Join(vs, ", ")
	}
	return out
}

func (d *differ) bodies(a, b Answer) {
	if !a.Truncated && !b.Truncated {
		va, okA := parseJSON(a.Body)
		vb, okB := parseJSON(b.Body)
		switch {
		case okA && okB:
			d.json(nil, va, vb)
			return
		case okA != okB:
			d.add("body", "body", KindType, string(a.Body), string(b.Body))
			return
		}
	}
	if !bytes.Equal(a.Body, b.Body) || a.Truncated != b.Truncated {
		d.add("body", "body", KindChanged, string(a.Body), string(b.Body))
	}
}

// parseJSON reads body as exactly one JSON document, numbers kept as
// written.
func parseJSON(body []byte) (any, bool) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false // more than one document, or trailing bytes
	}
	return v, true
}

// json compares two JSON values at path.
func (d *differ) json(path []segment, a, b any) {
	if d.full() || d.c.ignored(path) {
		return
	}
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			d.addJSON(path, KindType, a, b)
			return
		}
		keys := make([]string, 0, len(av)+len(bv))
		for k := range av {
			keys = append(keys, k)
		}
		for k := range bv {
			if _, ok := av[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			x, inA := av[k]
			y, inB := bv[k]
			at := append(slices.Clip(path), segment{key: k})
			switch {
			case d.c.ignored(at):
			case !inB:
				d.addJSON(at, KindMissing, x, nil)
			case !inA:
				d.addJSON(at, KindAdded, nil, y)
			default:
				d.json(at, x, y)
			}
		}
	case []any:
		bv, ok := b.([]any)
		if !ok {
			d.addJSON(path, KindType, a, b)
			return
		}
		for i := range max(len(av), len(bv)) {
			at := append(slices.Clip(path), segment{index: i, isIndex: true})
			switch {
			case d.c.ignored(at):
			case i >= len(bv):
				d.addJSON(at, KindMissing, av[i], nil)
			case i >= len(av):
				d.addJSON(at, KindAdded, nil, bv[i])
			default:
				d.json(at, av[i], bv[i])
			}
		}
	case json.Number:
		bv, ok := b.(json.Number)
		if !ok {
			d.addJSON(path, KindType, a, b)
		} else if !sameNumber(av, bv) {
			d.addJSON(path, KindChanged, a, b)
		}
	default: // string, bool, nil
		if typeOf(a) != typeOf(b) {
			d.addJSON(path, KindType, a, b)
		} else if a != b {
			d.addJSON(path, KindChanged, a, b)
		}
	}
}

func typeOf(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case json.Number:
		return "number"
	case string:
		return "string"
	case bool:
		return "boolean"
	}
	return "null"
}

// sameNumber: 1, 1.0 and 1e0 are the same number.
func sameNumber(a, b json.Number) bool {
	if a == b {
		return true
	}
	x, errA := strconv.ParseFloat(string(a), 64)
	y, errB := strconv.ParseFloat(string(b), 64)
	return errA == nil && errB == nil && x == y
}

// addJSON records a difference at a JSON path; a missing side is nil
// with its kind saying which.
func (d *differ) addJSON(path []segment, kind string, a, b any) {
	var av, bv string
	if kind != KindAdded {
		av = encode(a)
	}
	if kind != KindMissing {
		bv = encode(b)
	}
	d.add(formatPath(path, false), formatPath(path, true), kind, av, bv)
}

func encode(v any) string {
	out, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(out)
}

// cut keeps at most MaxValue bytes of s, whole characters only.
func cut(s string) string {
	if len(s) <= MaxValue {
		return s
	}
	s = s[:MaxValue]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// segment is one step of a JSON path: an object key or an array index.
type segment struct {
	key     string
	index   int
	isIndex bool
}

// formatPath writes a path under "body"; folded writes every index as [*].
func formatPath(path []segment, folded bool) string {
	var b strings.Builder
	b.WriteString("body")
	for _, s := range path {
		switch {
		case s.isIndex && folded:
			b.WriteString("[*]")
		case s.isIndex:
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
		case plainKey(s.key):
			b.WriteString("." + s.key)
		default:
			b.WriteString("[" + strconv.Quote(s.key) + "]")
		}
	}
	return b.String()
}

// plainKey reports whether a key can be written after a dot: letters,
// digits, _, - and $, not starting with a digit or -.
func plainKey(k string) bool {
	if k == "" {
		return false
	}
	for i, r := range k {
		switch {
		case r == '_' || r == '$' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
		case i > 0 && (r == '-' || r >= '0' && r <= '9'):
		default:
			return false
		}
	}
	return true
}

// element is one step of an ignore pattern: a key, an index, or any
// index. The API owns the syntax (api.ParseJSONFieldPath), so that a
// pattern is refused when the spec is applied.
type element = api.JSONFieldStep

func parsePattern(s string) ([]element, error) { return api.ParseJSONFieldPath(s) }

// ignored reports whether the JSON field at path (and all under it) is
// left out of the comparison.
func (c *Comparer) ignored(path []segment) bool {
	if len(path) == 0 {
		return false
	}
	if last := path[len(path)-1]; !last.isIndex && slices.Contains(c.ignoreNames, last.key) {
		return true
	}
	for _, p := range c.ignorePaths {
		if matches(p, path) {
			return true
		}
	}
	return false
}

// matches reports whether pattern p covers path: p matches a prefix of
// path, indexes of arrays p does not index skipped.
func matches(p []element, path []segment) bool {
	j := 0
	for _, e := range p {
		for {
			if j == len(path) {
				return false
			}
			s := path[j]
			if e.IsIndex == s.isIndex {
				break
			}
			if e.IsIndex {
				return false // the pattern indexes where the body has a key
			}
			j++ // an array the pattern looks through
		}
		s := path[j]
		switch {
		case e.IsIndex && !e.AnyIndex && e.Index != s.index,
			!e.IsIndex && e.Key != s.key:
			return false
		}
		j++
	}
	return true
}
