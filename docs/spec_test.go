package docs

import (
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"flotilla/api"
)

// The coverage test: SPEC.md documents exactly the fields `flotilla apply`
// reads, each with the type its Go field has.
//
// The fields come from the Go types, by reflection, with encoding/json's
// naming (tag names, untagged embedded structs lending their fields, "-"
// and unexported fields left out). Whether apply reads a field is asked of
// the decoder apply itself uses, api.DecodeServices, so that the test
// cannot drift from it: a valid document gets a wrong value at the field
// (a boolean, or a string for a boolean field), and
//
//   - an error naming that field means apply reads it: it must have an entry;
//   - an "unknown field" error means apply does not take it at all;
//   - no error means apply accepts the field and ignores what it holds: it
//     is read-only, written by the cluster (the status section `get` prints
//     beside the spec).
//
// The last two are skipped, with everything under them, and must not have
// an entry.

// documentKinds are the documents apply takes, by the root of their paths
// in SPEC.md. apply decodes every document with api.DecodeServices, whose
// document type (what `get -o yaml` prints and apply takes back) is
// api.ServiceDocument.
var documentKinds = []struct {
	root string
	typ  reflect.Type
	// base is a minimal valid document, which each probe changes in one
	// field.
	base func() map[string]any
}{
	{"service", reflect.TypeFor[api.ServiceDocument](), func() map[string]any {
		return map[string]any{"kind": api.KindService, "name": "probe", "image": "probe"}
	}},
}

// valueTypes are the names SPEC.md gives the types that parse their own
// syntax (they implement json.Unmarshaler); the "Value types" table
// describes each.
var valueTypes = map[reflect.Type]string{
	reflect.TypeFor[api.CPU]():          "cpu quantity",
	reflect.TypeFor[api.Memory]():       "memory quantity",
	reflect.TypeFor[api.Duration]():     "duration",
	reflect.TypeFor[api.Percent]():      "percentage",
	reflect.TypeFor[api.IntOrPercent](): "integer or percentage",
	reflect.TypeFor[api.PortRef]():      "port name or number",
	reflect.TypeFor[api.Pause]():        "pause",
	reflect.TypeFor[api.Constraint]():   "constraint",
}

var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

// objectTypes implement json.Unmarshaler only to fill a default before
// decoding as any object does (api.Autoscale: min left out is 1); the
// decoder checks them field by field, and so does the walk.
var objectTypes = map[reflect.Type]bool{
	reflect.TypeFor[api.Autoscale](): true,
}

// schemaField is one field apply reads.
type schemaField struct {
	path     string // service.ports[].name
	typeName string // what its entry's Type must start with
}

// schema is what the walk found.
type schema struct {
	fields   []schemaField
	readOnly map[string]string // path -> why it is skipped
}

func (s *schema) has(path string) bool {
	for _, f := range s.fields {
		if f.path == path {
			return true
		}
	}
	return false
}

// walkSchema walks every document kind's Go type.
func walkSchema(t *testing.T) *schema {
	t.Helper()
	s := &schema{readOnly: map[string]string{}}
	for _, k := range documentKinds {
		w := &walker{t: t, s: s, root: k.root, base: k.base}
		s.fields = append(s.fields, schemaField{path: k.root, typeName: "object"})
		w.object(k.typ, k.root, nil)
	}
	return s
}

type walker struct {
	t    *testing.T
	s    *schema
	root string
	base func() map[string]any
}

// segment is one step of a path, as the probe builds it: a key, and how
// many list levels follow it.
type segment struct {
	key   string // "*" for any key of a map
	lists int
}

// object walks the fields of struct type typ found at path.
func (w *walker) object(typ reflect.Type, path string, segs []segment) {
	for _, f := range jsonFields(typ) {
		w.field(path+"."+f.name, append(segs[:len(segs):len(segs)], segment{key: f.name}), f.typ)
	}
}

// field records one field, unless apply does not read it, and walks what
// it holds.
func (w *walker) field(path string, segs []segment, typ reflect.Type) {
	w.t.Helper()
	if why, skip := w.probe(path, segs, typ); skip {
		w.s.readOnly[path] = why
		return
	}
	typ = deref(typ)
	if name, ok := w.leafName(path, typ); ok {
		w.s.fields = append(w.s.fields, schemaField{path, name})
		return
	}
	switch typ.Kind() {
	case reflect.Struct:
		w.s.fields = append(w.s.fields, schemaField{path, "object"})
		w.object(typ, path, segs)
	case reflect.Slice, reflect.Array:
		elem := deref(typ.Elem())
		if name, ok := w.leafName(path, elem); ok {
			w.s.fields = append(w.s.fields, schemaField{path, "list of " + plural(name)})
			return
		}
		if elem.Kind() != reflect.Struct {
			w.t.Errorf("%s: a list of %s: teach the coverage test this shape", path, elem)
			return
		}
		w.s.fields = append(w.s.fields, schemaField{path, "list of objects"})
		inner := append([]segment(nil), segs...)
		inner[len(inner)-1].lists++ // the probe writes [{...}]
		w.object(elem, path+"[]", inner)
	case reflect.Map:
		elem := deref(typ.Elem())
		if typ.Key().Kind() != reflect.String {
			w.t.Errorf("%s: a map keyed by %s: documents have string keys", path, typ.Key())
			return
		}
		if name, ok := w.leafName(path, elem); ok {
			w.s.fields = append(w.s.fields, schemaField{path, "map of " + plural(name)})
			return
		}
		if elem.Kind() != reflect.Struct {
			w.t.Errorf("%s: a map of %s: teach the coverage test this shape", path, elem)
			return
		}
		w.s.fields = append(w.s.fields, schemaField{path, "map of objects"})
		w.object(elem, path+".*", append(segs[:len(segs):len(segs)], segment{key: "*"}))
	default:
		w.t.Errorf("%s: a %s: teach the coverage test this type", path, typ)
	}
}

// leafName names a type that holds no fields: a scalar, or a type that
// parses its own syntax.
func (w *walker) leafName(path string, typ reflect.Type) (string, bool) {
	if reflect.PointerTo(typ).Implements(jsonUnmarshaler) && !objectTypes[typ] {
		name, ok := valueTypes[typ]
		if !ok {
			w.t.Errorf("%s: %s parses its own syntax: name it in valueTypes and describe it in SPEC.md's Value types", path, typ)
			return "value", true
		}
		return name, true
	}
	switch typ.Kind() {
	case reflect.String:
		return "string", true
	case reflect.Bool:
		return "boolean", true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer", true
	case reflect.Float32, reflect.Float64:
		return "number", true
	}
	return "", false
}

// probe asks apply's decoder whether it reads the field at path: see the
// comment at the top of the file.
func (w *walker) probe(path string, segs []segment, typ reflect.Type) (why string, skip bool) {
	w.t.Helper()
	var wrong any = true
	if deref(typ).Kind() == reflect.Bool {
		wrong = "not a boolean"
	}
	doc := w.base()
	parent, field := doc, "spec"
	for i, sg := range segs {
		key := sg.key
		if key == "*" {
			key = "k"
		}
		field += "." + key + strings.Repeat("[0]", sg.lists)
		var v any = wrong
		var next map[string]any
		if i < len(segs)-1 {
			next, _ = parent[key].(map[string]any) // keep the base document's object
			if next == nil || sg.lists > 0 {
				next = map[string]any{}
			}
			v = next
		}
		for range sg.lists {
			v = []any{v}
		}
		parent[key] = v
		parent = next
	}
	data, err := json.Marshal(doc)
	if err != nil {
		w.t.Fatal(err)
	}
	_, err = api.DecodeServices("probe", data)
	var fe *api.FieldError
	switch {
	case err == nil:
		return "apply accepts it and ignores what it holds (read-only)", true
	case !errors.As(err, &fe):
		w.t.Errorf("%s: probe %s: %v", path, data, err)
	case fe.Field == field && strings.HasPrefix(fe.Message, "unknown field"):
		return "apply refuses it as an unknown field", true
	case fe.Field != field:
		w.t.Errorf("%s: the probe %s failed at %s, not at %s: %v", path, data, fe.Field, field, err)
	}
	return "", false
}

type jsonField struct {
	name string
	typ  reflect.Type
}

// jsonFields lists a struct's fields by JSON name, as encoding/json (and
// so the decoder) names them: the tag's name, else the Go name; untagged
// embedded structs lend their fields; "-" and unexported fields are left
// out; of two fields with one name the first wins.
func jsonFields(typ reflect.Type) []jsonField {
	var out []jsonField
	seen := map[string]bool{}
	var collect func(reflect.Type)
	collect = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" && deref(f.Type).Kind() == reflect.Struct {
				collect(deref(f.Type))
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if !seen[name] {
				seen[name] = true
				out = append(out, jsonField{name, f.Type})
			}
		}
	}
	collect(typ)
	return out
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

func plural(name string) string { return name + "s" }

func specIndex(t *testing.T) *Index {
	t.Helper()
	x, err := Reference()
	if err != nil {
		t.Fatalf("SPEC.md does not parse: %v", err)
	}
	return x
}

func TestEveryFieldApplyReadsIsDocumented(t *testing.T) {
	x := specIndex(t)
	s := walkSchema(t)
	for _, f := range s.fields {
		if _, ok := x.Lookup(f.path); !ok {
			t.Errorf("%s (%s) has no entry in docs/SPEC.md: add a \"### `%s`\" heading with its Type, Default, Limits, Example and what it does", f.path, f.typeName, f.path)
		}
	}
}

func TestEveryDocumentedFieldExists(t *testing.T) {
	x := specIndex(t)
	s := walkSchema(t)
	for _, p := range x.Paths() {
		e, _ := x.Lookup(p)
		switch why, readOnly := s.readOnly[p]; {
		case readOnly:
			t.Errorf("docs/SPEC.md line %d documents %s, which apply does not read (%s): remove the entry", e.Line, p, why)
		case !s.has(p):
			t.Errorf("docs/SPEC.md line %d documents %s, which is not a field of the spec (renamed or removed?)", e.Line, p)
		}
	}
}

// An entry's Type starts with the name of its Go type ("list of objects",
// "duration"), and may go on ("string (`http` or `tcp`)").
func TestDocumentedTypesMatchTheGoTypes(t *testing.T) {
	x := specIndex(t)
	for _, f := range walkSchema(t).fields {
		e, ok := x.Lookup(f.path)
		if !ok {
			continue // reported by TestEveryFieldApplyReadsIsDocumented
		}
		rest, ok := strings.CutPrefix(e.Type, f.typeName)
		if !ok || rest != "" && !strings.ContainsRune(" ,;(", rune(rest[0])) {
			t.Errorf("docs/SPEC.md line %d: %s is a %s, its entry says %q", e.Line, f.path, f.typeName, e.Type)
		}
	}
}

// Every type name an entry may use has a row in the "Value types" table.
func TestEveryValueTypeIsDescribed(t *testing.T) {
	names := []string{"string", "integer", "number", "boolean", "object", "map of strings"}
	for _, name := range valueTypes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !regexp.MustCompile(`(?m)^\| ` + regexp.QuoteMeta(name) + ` \|`).MatchString(Spec) {
			t.Errorf("docs/SPEC.md's Value types table has no row for %q", name)
		}
	}
}

// The probe tells the three cases apart: read, refused, ignored.
func TestProbeTellsReadFromReadOnlyFields(t *testing.T) {
	s := walkSchema(t)
	for _, c := range []struct {
		path string
		want bool // read by apply
	}{
		{"service.image", true},
		{"service.rollout.canary.steps[].weight", true},
		{"service.status", true},                // accepted as a section...
		{"service.status.revision", false},      // ...whose contents are ignored
		{"service.status.readyReplicas", false}, // (the cluster writes them)
	} {
		_, readOnly := s.readOnly[c.path]
		if got := s.has(c.path); got != c.want || readOnly == c.want {
			t.Errorf("%s: read by apply = %t, read-only = %t; want read = %t", c.path, got, readOnly, c.want)
		}
	}
}

// The entries are well formed: one path per heading, every path once, the
// four lines, a description (Parse checks these); and a pattern's paths
// are what its braces say.
func TestSpecParses(t *testing.T) {
	x := specIndex(t)
	if len(x.Entries()) == 0 {
		t.Fatal("no entries")
	}
	e, ok := x.Lookup("service.probes.liveness.period")
	if !ok || e.Pattern != "service.probes.{startup,readiness,liveness}.period" {
		t.Fatalf("service.probes.liveness.period: got %+v", e)
	}
	for _, e := range x.Entries() {
		if e.Section == "" {
			t.Errorf("line %d: %s is under no section", e.Line, e.Pattern)
		}
		if strings.Contains(e.Description, "DESIGN.md") || strings.Contains(e.Description, "../") {
			t.Errorf("line %d: %s points outside the repository", e.Line, e.Pattern)
		}
	}
	if strings.Contains(Spec, "DESIGN.md") {
		t.Error("SPEC.md mentions DESIGN.md, which is not in the repository")
	}
}
