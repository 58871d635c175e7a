package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
	yaml "go.yaml.in/yaml/v3"

	"flotilla/internal/text"
)

// Decoding is strict and happens in three steps, so that every mistake is
// reported with the path of the field that holds it:
//
//  1. parse the text (YAML or JSON) into a generic tree that keeps key order
//     and duplicate keys (encoding/json and YAMLToJSON silently keep the
//     last of two equal keys);
//  2. walk the tree against the Go type: unknown or duplicate keys, wrong
//     kinds (object, list, string, number, boolean), fractional integers and
//     values refused by a type's own UnmarshalJSON become a FieldError naming
//     the path ("spec.resources.cpu");
//  3. encode the checked tree as JSON and let encoding/json fill the value.
//
// YAML is read with go.yaml.in/yaml/v3 (YAML 1.2: "yes" and "on" are strings,
// not booleans). Keys are case-sensitive: "Replicas" is an unknown field.

// DecodeServices reads one or more service documents (YAML or JSON; YAML
// documents separated by ---, empty documents skipped), strictly: an unknown
// field is an error naming its path. Each document is defaulted (SetDefaults)
// and validated (Validate). Errors are *FieldError with Source =
// "<source>: document N" (N counts the non-empty documents from 1; when there
// is only one document just "<source>"). A JSON array of service documents,
// or a YAML list of them, counts as one document per element. A document's
// status section (what get prints beside the spec, see ServiceDocument) is
// accepted and ignored.
func DecodeServices(source string, data []byte) ([]ServiceSpec, error) {
	var specs []ServiceSpec
	err := eachDocument(source, data, "no service document found", func(tree any) *FieldError {
		spec, fe := decodeService(tree)
		if fe == nil {
			specs = append(specs, spec)
		}
		return fe
	})
	if err != nil {
		return nil, err
	}
	return specs, nil
}

// eachDocument parses data's documents and hands each to decode. An
// error, a document's parse error or decode's, names the document
// ("<source>: document N", or just "<source>" when there is one only).
func eachDocument(source string, data []byte, none string, decode func(tree any) *FieldError) error {
	docs := parseDocuments(data)
	if len(docs) == 0 {
		return &FieldError{Source: source, Message: none}
	}
	for i, doc := range docs {
		fe := doc.err
		if fe == nil {
			fe = decode(doc.value)
		}
		if fe != nil {
			fe.Source = source
			if len(docs) > 1 {
				fe.Source = fmt.Sprintf("document %d", i+1)
				if source != "" {
					fe.Source = source + ": " + fe.Source
				}
			}
			return fe
		}
	}
	return nil
}

// decodeService reads one service document's tree: strictly, its status
// section ignored, then defaulted and validated.
func decodeService(tree any) (ServiceSpec, *FieldError) {
	value, fe := withoutStatus(tree, "spec")
	var spec ServiceSpec
	if fe == nil {
		fe = decodeTree(value, "spec", &spec)
	}
	if fe != nil {
		return ServiceSpec{}, fe
	}
	spec.SetDefaults()
	if fe := spec.validate(); fe != nil {
		return ServiceSpec{}, fe
	}
	return spec, nil
}

// DecodeStrict decodes one JSON document into v (any of the api request
// types or ServiceSpec), refusing unknown fields and wrong types with a
// *FieldError naming the path, with the given path prefix (e.g. "spec" for
// service specs, "" for request bodies) and source. It neither defaults nor
// validates.
func DecodeStrict(source, prefix string, data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("api.DecodeStrict: want a non-nil pointer, got %T", v)
	}
	tree, fe := parseOneJSON(data)
	if fe == nil {
		fe = decodeTree(tree, prefix, v)
	}
	if fe != nil {
		fe.Source = source
		return fe
	}
	return nil
}

// parseOneJSON reads exactly one JSON document into a tree.
func parseOneJSON(data []byte) (any, *FieldError) {
	data = bytes.TrimPrefix(data, byteOrderMark)
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &FieldError{Message: "empty document"}
	}
	if tree, ok := parseJSONFast(data); ok {
		return tree, nil
	}
	return parseJSONSlow(data)
}

// parseJSONSlow is parseOneJSON with encoding/json's decoder, whose
// errors name what is wrong and where.
func parseJSONSlow(data []byte) (any, *FieldError) {
	dec := newJSONDecoder(data)
	tree, _, fe := readJSONValue(dec, data)
	if fe != nil {
		return nil, fe
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &FieldError{Message: "unexpected data after the JSON document" + lineAt(data, dec.InputOffset())}
	}
	return tree, nil
}

// parseJSONFast builds the tree readJSONValue would from one JSON
// document, with jsontext's decoder: encoding/json's Token decodes every
// scalar as a whole document and builds an error for the data after it,
// which made parsing an agent's status report (ten replicas) about half
// of its 140-170 µs. ok is false for anything it does not take as it is
// (a syntax error, invalid UTF-8, a number out of range, nesting too
// deep, data after the document): the caller then parses with
// encoding/json, so errors read as they always did. FuzzParseJSONFast
// checks that the two parses agree.
func parseJSONFast(data []byte) (tree any, ok bool) {
	dec := jsontext.NewDecoder(bytes.NewReader(data), jsontext.AllowDuplicateNames(true))
	tree, ok = readJSONFast(dec, 0)
	if !ok {
		return nil, false
	}
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		return nil, false
	}
	return tree, true
}

func readJSONFast(dec *jsontext.Decoder, depth int) (any, bool) {
	if depth > maxTreeDepth {
		return nil, false
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return nil, false
	}
	switch tok.Kind() {
	case '{':
		obj := &treeObject{}
		for dec.PeekKind() != '}' {
			key, err := dec.ReadToken()
			if err != nil || key.Kind() != '"' {
				return nil, false
			}
			name := key.String()
			v, ok := readJSONFast(dec, depth+1)
			if !ok {
				return nil, false
			}
			obj.members = append(obj.members, treeMember{key: name, value: v})
		}
		if _, err := dec.ReadToken(); err != nil {
			return nil, false
		}
		return obj, true
	case '[':
		list := []any{}
		for dec.PeekKind() != ']' {
			v, ok := readJSONFast(dec, depth+1)
			if !ok {
				return nil, false
			}
			list = append(list, v)
		}
		if _, err := dec.ReadToken(); err != nil {
			return nil, false
		}
		return list, true
	case '"':
		return tok.String(), true
	case '0':
		n, err := normalizeNumber(tok.String())
		return n, err == nil
	case 't':
		return true, true
	case 'f':
		return false, true
	case 'n':
		return nil, true
	}
	return nil, false
}

// DecodeServiceJSON is what the HTTP server uses on a PUT body: DecodeStrict
// with prefix "spec" (a status section, as get prints, is accepted and
// ignored), then SetDefaults, then Validate.
func DecodeServiceJSON(source string, data []byte) (ServiceSpec, error) {
	tree, fe := parseOneJSON(data)
	if fe == nil {
		tree, fe = withoutStatus(tree, "spec")
	}
	var spec ServiceSpec
	if fe == nil {
		fe = decodeTree(tree, "spec", &spec)
	}
	if fe != nil {
		fe.Source = source
		return ServiceSpec{}, fe
	}
	spec.SetDefaults()
	if fe := spec.validate(); fe != nil {
		fe.Source = source
		return ServiceSpec{}, fe
	}
	return spec, nil
}

// statusKey names the read-only section of a service document as get prints
// it (ServiceDocument.Status).
const statusKey = "status"

// withoutStatus drops a service document's status section: it is the
// cluster's to write, so apply accepts what get printed and ignores it, as
// kubectl does. It must be an object (or null); its contents are not
// checked, so that a status printed by another version still applies.
func withoutStatus(tree any, prefix string) (any, *FieldError) {
	obj, ok := tree.(*treeObject)
	if !ok {
		return tree, nil
	}
	kept := make([]treeMember, 0, len(obj.members))
	found := false
	for _, m := range obj.members {
		if m.key != statusKey {
			kept = append(kept, m)
			continue
		}
		p := fieldPath(prefix, m.key)
		if found {
			return nil, fieldErr(p, "duplicate key")
		}
		found = true
		if _, isObject := m.value.(*treeObject); !isObject && m.value != nil {
			return nil, fieldErr(p, "must be an object (the read-only status get prints, which apply ignores), got %s", describeValue(m.value))
		}
	}
	if !found {
		return tree, nil
	}
	return &treeObject{members: kept}, nil
}

// decodeTree checks tree against the type v points to and then fills v.
func decodeTree(tree any, prefix string, v any) *FieldError {
	t := reflect.TypeOf(v).Elem()
	if tree == nil {
		return fieldErr(prefix, "must be %s, got null", kindName(t))
	}
	if fe := checkValue(tree, t, prefix); fe != nil {
		return fe
	}
	if err := json.Unmarshal(appendJSON(nil, tree), v); err != nil {
		// checkValue accepts only what encoding/json can decode; this is
		// a safety net, not an expected path.
		return fieldErr(prefix, "%v", err)
	}
	return nil
}

// ---- the generic tree ----

// A tree value is one of: *treeObject, []any, string, json.Number, bool, nil.

// treeObject is a JSON object or YAML mapping that keeps its keys in order,
// duplicates included, so that the walk can refuse them.
type treeObject struct {
	members []treeMember
}

type treeMember struct {
	key   string
	value any
}

// Limits that keep a hostile document (deep nesting, alias bombs) from
// exhausting the stack or memory. A service spec is about six levels deep.
const (
	maxTreeDepth = 100
	maxTreeNodes = 100000
)

// appendJSON encodes a checked tree. Null members are dropped, which is
// what "null for an optional field" means: the field is left unset (some of
// our types' UnmarshalJSON would refuse a literal null).
func appendJSON(b []byte, v any) []byte {
	switch v := v.(type) {
	case *treeObject:
		b = append(b, '{')
		first := true
		for _, m := range v.members {
			if m.value == nil {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendJSONString(b, m.key)
			b = append(b, ':')
			b = appendJSON(b, m.value)
		}
		return append(b, '}')
	case []any:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, e)
		}
		return append(b, ']')
	case string:
		return appendJSONString(b, v)
	case json.Number:
		return append(b, v...)
	case bool:
		return strconv.AppendBool(b, v)
	default:
		return append(b, "null"...)
	}
}

func appendJSONString(b []byte, s string) []byte {
	// Invalid UTF-8 becomes U+FFFD, as encoding/json writes it.
	b, _ = jsontext.AppendQuote(b, s)
	return b
}

// normalizeNumber writes numbers the same way whether they came from JSON
// or YAML: integers as they are, other numbers in Go's shortest form, so
// that 2.0 and 1e3 are whole numbers ("2", "1000") and 1.5 is not.
func normalizeNumber(text string) (json.Number, error) {
	if _, err := strconv.ParseInt(text, 10, 64); err == nil {
		return json.Number(text), nil
	}
	if _, err := strconv.ParseUint(text, 10, 64); err == nil {
		return json.Number(text), nil
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return "", fmt.Errorf("invalid number %s", text)
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return "", fmt.Errorf("number %s is out of range", text)
	}
	return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
}

// ---- documents ----

var byteOrderMark = []byte("\ufeff")

// parsedDocument is one parsed service document, or the syntax error that
// stopped its parsing.
type parsedDocument struct {
	value any
	err   *FieldError
}

// parseDocuments splits data into its non-empty documents. Input that looks
// like JSON is read as JSON (YAML parsers refuse some JSON escapes such as
// \/); if that fails it is read as YAML, and if that fails too the JSON
// error is reported.
func parseDocuments(data []byte) []parsedDocument {
	data = bytes.TrimPrefix(data, byteOrderMark)
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		docs, jsonErr := parseJSONDocuments(data)
		if jsonErr == nil {
			return docs
		}
		yamlDocs := parseYAMLDocuments(data)
		for _, d := range yamlDocs {
			if d.err != nil {
				return []parsedDocument{{err: jsonErr}}
			}
		}
		return yamlDocs
	}
	return parseYAMLDocuments(data)
}

// appendDocument adds a top-level value: a list is a list of documents,
// null is an empty document.
func appendDocument(docs []parsedDocument, v any) []parsedDocument {
	if list, ok := v.([]any); ok {
		for _, e := range list {
			if e != nil {
				docs = append(docs, parsedDocument{value: e})
			}
		}
		return docs
	}
	if v == nil {
		return docs
	}
	return append(docs, parsedDocument{value: v})
}

// ---- JSON ----

func newJSONDecoder(data []byte) *json.Decoder {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec
}

// parseJSONDocuments reads a stream of JSON values.
func parseJSONDocuments(data []byte) ([]parsedDocument, *FieldError) {
	dec := newJSONDecoder(data)
	var docs []parsedDocument
	for {
		v, ok, fe := readJSONValue(dec, data)
		if fe != nil {
			return nil, fe
		}
		if !ok {
			return docs, nil
		}
		docs = appendDocument(docs, v)
	}
}

// readJSONValue reads the next value from dec; ok is false at the end of
// the input.
func readJSONValue(dec *json.Decoder, data []byte) (v any, ok bool, fe *FieldError) {
	tok, err := dec.Token()
	if errors.Is(err, io.EOF) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, jsonSyntaxError(err, data, dec)
	}
	v, fe = readJSONFrom(dec, data, tok, 0)
	return v, fe == nil, fe
}

func readJSONFrom(dec *json.Decoder, data []byte, tok json.Token, depth int) (any, *FieldError) {
	if depth > maxTreeDepth {
		return nil, &FieldError{Message: "document nested too deeply"}
	}
	switch tok := tok.(type) {
	case json.Delim:
		switch tok {
		case '{':
			obj := &treeObject{}
			for dec.More() {
				keyTok, err := dec.Token()
				if err != nil {
					return nil, jsonSyntaxError(err, data, dec)
				}
				key, ok := keyTok.(string)
				if !ok {
					return nil, jsonSyntaxError(fmt.Errorf("object key is not a string"), data, dec)
				}
				valTok, err := dec.Token()
				if err != nil {
					return nil, jsonSyntaxError(err, data, dec)
				}
				v, fe := readJSONFrom(dec, data, valTok, depth+1)
				if fe != nil {
					return nil, fe
				}
				obj.members = append(obj.members, treeMember{key: key, value: v})
			}
			if _, err := dec.Token(); err != nil { // '}'
				return nil, jsonSyntaxError(err, data, dec)
			}
			return obj, nil
		case '[':
			list := []any{}
			for dec.More() {
				elemTok, err := dec.Token()
				if err != nil {
					return nil, jsonSyntaxError(err, data, dec)
				}
				v, fe := readJSONFrom(dec, data, elemTok, depth+1)
				if fe != nil {
					return nil, fe
				}
				list = append(list, v)
			}
			if _, err := dec.Token(); err != nil { // ']'
				return nil, jsonSyntaxError(err, data, dec)
			}
			return list, nil
		}
		return nil, jsonSyntaxError(fmt.Errorf("unexpected %q", rune(tok)), data, dec)
	case json.Number:
		n, err := normalizeNumber(string(tok))
		if err != nil {
			return nil, &FieldError{Message: err.Error() + lineAt(data, dec.InputOffset())}
		}
		return n, nil
	case string, bool, nil:
		return tok, nil
	}
	return nil, jsonSyntaxError(fmt.Errorf("unexpected token %v", tok), data, dec)
}

func jsonSyntaxError(err error, data []byte, dec *json.Decoder) *FieldError {
	offset := dec.InputOffset()
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		offset = syntax.Offset
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return &FieldError{Message: "invalid JSON: unexpected end of input"}
	}
	return &FieldError{Message: "invalid JSON" + lineAt(data, offset) + ": " + err.Error()}
}

// lineAt says where a byte offset is, for people: " at line 3".
func lineAt(data []byte, offset int64) string {
	if offset < 0 || offset > int64(len(data)) {
		return ""
	}
	return fmt.Sprintf(" at line %d", bytes.Count(data[:offset], []byte("\n"))+1)
}

// ---- YAML ----

// yamlChunk is the text between two --- lines and the line it starts on.
type yamlChunk struct {
	text []byte
	line int
}

// splitYAML cuts data at lines that are exactly "---", optionally followed
// by a comment. Splitting ourselves (rather than letting the YAML decoder
// stream) keeps one broken document from hiding the others' numbers.
func splitYAML(data []byte) []yamlChunk {
	var chunks []yamlChunk
	start, startLine, line := 0, 1, 1
	for pos := 0; pos < len(data); line++ {
		end := bytes.IndexByte(data[pos:], '\n')
		next := len(data)
		if end >= 0 {
			end += pos
			next = end + 1
		} else {
			end = len(data)
		}
		if isDocumentSeparator(bytes.TrimRight(data[pos:end], "\r")) {
			chunks = append(chunks, yamlChunk{text: data[start:pos], line: startLine})
			start, startLine = next, line+1
		}
		pos = next
	}
	return append(chunks, yamlChunk{text: data[start:], line: startLine})
}

func isDocumentSeparator(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("---"))
	if !ok {
		return false
	}
	if len(rest) == 0 {
		return true
	}
	if rest[0] != ' ' && rest[0] != '\t' {
		return false
	}
	rest = bytes.TrimSpace(rest)
	return len(rest) == 0 || rest[0] == '#'
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

func parseYAMLDocuments(data []byte) []parsedDocument {
	var docs []parsedDocument
	for _, chunk := range splitYAML(data) {
		dec := yaml.NewDecoder(bytes.NewReader(chunk.text))
		for {
			var node yaml.Node
			err := dec.Decode(&node)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				// Line numbers count from the chunk; make them count
				// from the file.
				msg := yamlLineRE.ReplaceAllStringFunc(err.Error(), func(m string) string {
					n, _ := strconv.Atoi(strings.TrimPrefix(m, "line "))
					return "line " + strconv.Itoa(n+chunk.line-1)
				})
				docs = append(docs, parsedDocument{err: &FieldError{Message: msg}})
				break
			}
			conv := &yamlConverter{budget: maxTreeNodes}
			if len(node.Content) == 0 {
				continue
			}
			root := node.Content[0]
			for root.Kind == yaml.AliasNode && root.Alias != nil {
				root = root.Alias
			}
			if root.Kind == yaml.SequenceNode {
				for _, elem := range root.Content {
					v, fe := conv.convert(elem, "spec", 0)
					if fe != nil {
						docs = append(docs, parsedDocument{err: fe})
					} else if v != nil {
						docs = append(docs, parsedDocument{value: v})
					}
				}
				continue
			}
			v, fe := conv.convert(root, "spec", 0)
			if fe != nil {
				docs = append(docs, parsedDocument{err: fe})
			} else if v != nil {
				docs = append(docs, parsedDocument{value: v})
			}
		}
	}
	return docs
}

// yamlConverter turns a yaml.Node into a tree, expanding aliases and merge
// keys (<<) within a node budget.
type yamlConverter struct {
	budget int
}

func (c *yamlConverter) convert(n *yaml.Node, path string, depth int) (any, *FieldError) {
	c.budget--
	if c.budget < 0 {
		return nil, &FieldError{Message: "document too large (too many aliases?)"}
	}
	if depth > maxTreeDepth {
		return nil, fieldErr(path, "document nested too deeply")
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.convert(n.Content[0], path, depth)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, fieldErr(path, "unknown alias %q", n.Value)
		}
		return c.convert(n.Alias, path, depth+1)
	case yaml.SequenceNode:
		list := make([]any, 0, len(n.Content))
		for i, e := range n.Content {
			v, fe := c.convert(e, indexPath(path, i), depth+1)
			if fe != nil {
				return nil, fe
			}
			list = append(list, v)
		}
		return list, nil
	case yaml.MappingNode:
		return c.mapping(n, path, depth)
	case yaml.ScalarNode:
		return scalarValue(n, path)
	}
	return nil, fieldErr(path, "unsupported YAML node (line %d)", n.Line)
}

// mapping converts a mapping. Keys written in the mapping win over merged
// ones, and of several merged mappings the first wins, as YAML specifies.
func (c *yamlConverter) mapping(n *yaml.Node, path string, depth int) (any, *FieldError) {
	obj := &treeObject{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		keyNode, valueNode := n.Content[i], n.Content[i+1]
		for keyNode.Kind == yaml.AliasNode && keyNode.Alias != nil {
			keyNode = keyNode.Alias
		}
		if keyNode.Kind != yaml.ScalarNode {
			return nil, fieldErr(path, "keys must be strings (line %d)", keyNode.Line)
		}
		if keyNode.ShortTag() == "!!merge" {
			merges = append(merges, valueNode)
			continue
		}
		if keyNode.ShortTag() == "!!null" && keyNode.Style == 0 {
			return nil, fieldErr(path, "a key must not be null (line %d)", keyNode.Line)
		}
		key := keyNode.Value
		v, fe := c.convert(valueNode, fieldPath(path, key), depth+1)
		if fe != nil {
			return nil, fe
		}
		obj.members = append(obj.members, treeMember{key: key, value: v})
	}
	if len(merges) == 0 {
		return obj, nil
	}
	seen := make(map[string]bool, len(obj.members))
	for _, m := range obj.members {
		seen[m.key] = true
	}
	for _, mergeNode := range merges {
		v, fe := c.convert(mergeNode, path, depth+1)
		if fe != nil {
			return nil, fe
		}
		sources := []any{v}
		if list, ok := v.([]any); ok {
			sources = list
		}
		for _, src := range sources {
			merged, ok := src.(*treeObject)
			if !ok {
				return nil, fieldErr(path, "<< must merge a mapping or a list of mappings")
			}
			for _, m := range merged.members {
				if !seen[m.key] {
					seen[m.key] = true
					obj.members = append(obj.members, m)
				}
			}
		}
	}
	return obj, nil
}

func scalarValue(n *yaml.Node, path string) (any, *FieldError) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!str", "!!timestamp", "!!binary":
		return n.Value, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, fieldErr(path, "invalid boolean %q", n.Value)
		}
		return b, nil
	case "!!int", "!!float":
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fieldErr(path, "invalid number %q", n.Value)
		}
		var text string
		switch v := v.(type) {
		case int:
			text = strconv.Itoa(v)
		case int64:
			text = strconv.FormatInt(v, 10)
		case uint64:
			text = strconv.FormatUint(v, 10)
		case float64:
			if math.IsInf(v, 0) || math.IsNaN(v) {
				return nil, fieldErr(path, "must be a finite number, got %s", n.Value)
			}
			text = strconv.FormatFloat(v, 'g', -1, 64)
		default:
			return nil, fieldErr(path, "invalid number %q", n.Value)
		}
		num, err := normalizeNumber(text)
		if err != nil {
			return nil, fieldErr(path, "%v", err)
		}
		return num, nil
	}
	return nil, fieldErr(path, "unsupported YAML tag %s", n.Tag)
}

// ---- the walk ----

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	objectType      = reflect.TypeFor[objectDecoder]()
)

// objectDecoder is an object type whose UnmarshalJSON only fills a default
// for a field the document leaves out and then decodes it as usual
// (Autoscale): the walk checks its fields like any object's.
type objectDecoder interface{ decodesAsObject() }

// parsesOwnSyntax reports whether t reads its own syntax ("250m", "30s",
// "zone != b"), so that the walk lets its UnmarshalJSON judge a value.
func parsesOwnSyntax(t reflect.Type) bool {
	if own, ok := ownSyntax.Load(t); ok {
		return own.(bool)
	}
	pt := reflect.PointerTo(t)
	own := pt.Implements(jsonUnmarshaler) && !pt.Implements(objectType)
	ownSyntax.Store(t, own)
	return own
}

// ownSyntax caches parsesOwnSyntax: the walk asks for every value, and
// Implements was 6% of decoding an agent's status report.
var ownSyntax sync.Map // reflect.Type → bool

// checkValue reports the first place where v does not fit type t.
func checkValue(v any, t reflect.Type, path string) *FieldError {
	if t.Kind() == reflect.Pointer {
		if v == nil {
			return nil
		}
		return checkValue(v, t.Elem(), path)
	}
	if parsesOwnSyntax(t) {
		// The type knows its own syntax ("250m", "30s", "zone != b"):
		// let it say what is wrong.
		u := reflect.New(t).Interface().(json.Unmarshaler)
		if err := u.UnmarshalJSON(appendJSON(nil, v)); err != nil {
			return &FieldError{Field: path, Message: err.Error()}
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(*treeObject)
		if !ok {
			return wrongKind(v, t, path)
		}
		fields := structFields(t)
		seen := make(map[string]bool, len(obj.members))
		for _, m := range obj.members {
			p := fieldPath(path, m.key)
			if seen[m.key] {
				return fieldErr(p, "duplicate key")
			}
			seen[m.key] = true
			ft, ok := fields.types[m.key]
			if !ok {
				if s := suggest(m.key, fields.names); s != "" {
					return fieldErr(p, "unknown field (did you mean %q?)", s)
				}
				return fieldErr(p, "unknown field")
			}
			if m.value == nil { // null: the field stays unset
				continue
			}
			if fe := checkValue(m.value, ft, p); fe != nil {
				return fe
			}
		}
		return nil
	case reflect.Map:
		obj, ok := v.(*treeObject)
		if !ok {
			return wrongKind(v, t, path)
		}
		if t.Key().Kind() != reflect.String {
			return fieldErr(path, "cannot decode into %s", t)
		}
		seen := make(map[string]bool, len(obj.members))
		for _, m := range obj.members {
			p := fieldPath(path, m.key)
			if seen[m.key] {
				return fieldErr(p, "duplicate key")
			}
			seen[m.key] = true
			if m.value == nil {
				return fieldErr(p, "must be %s, got null", kindName(t.Elem()))
			}
			if fe := checkValue(m.value, t.Elem(), p); fe != nil {
				return fe
			}
		}
		return nil
	case reflect.Slice, reflect.Array:
		list, ok := v.([]any)
		if !ok {
			return wrongKind(v, t, path)
		}
		if t.Kind() == reflect.Array && len(list) > t.Len() {
			return fieldErr(path, "at most %d elements", t.Len())
		}
		for i, e := range list {
			p := indexPath(path, i)
			if e == nil {
				return fieldErr(p, "must be %s, got null", kindName(t.Elem()))
			}
			if fe := checkValue(e, t.Elem(), p); fe != nil {
				return fe
			}
		}
		return nil
	case reflect.String:
		if _, ok := v.(string); !ok {
			return wrongKind(v, t, path)
		}
		return nil
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return wrongKind(v, t, path)
		}
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			return wrongKind(v, t, path)
		}
		if _, err := strconv.ParseInt(string(n), 10, t.Bits()); err != nil {
			return badInteger(n, path)
		}
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(json.Number)
		if !ok {
			return wrongKind(v, t, path)
		}
		if _, err := strconv.ParseUint(string(n), 10, t.Bits()); err != nil {
			if strings.HasPrefix(string(n), "-") {
				return fieldErr(path, "must not be negative, got %s", n)
			}
			return badInteger(n, path)
		}
		return nil
	case reflect.Float32, reflect.Float64:
		n, ok := v.(json.Number)
		if !ok {
			return wrongKind(v, t, path)
		}
		if _, err := strconv.ParseFloat(string(n), t.Bits()); err != nil {
			return fieldErr(path, "number %s is out of range", n)
		}
		return nil
	case reflect.Interface:
		return nil
	}
	return fieldErr(path, "cannot decode into %s", t)
}

func badInteger(n json.Number, path string) *FieldError {
	if f, err := strconv.ParseFloat(string(n), 64); err == nil && f != math.Trunc(f) {
		return fieldErr(path, "must be a whole number, got %s", n)
	}
	return fieldErr(path, "number %s is out of range", n)
}

func wrongKind(v any, t reflect.Type, path string) *FieldError {
	if t.Kind() == reflect.String {
		switch v := v.(type) {
		case json.Number:
			return fieldErr(path, "must be a string, got a number (quote it: \"%s\")", v)
		case bool:
			return fieldErr(path, "must be a string, got a boolean (quote it: \"%t\")", v)
		}
	}
	return fieldErr(path, "must be %s, got %s", kindName(t), describeValue(v))
}

// kindName says what a Go type looks like in a document.
func kindName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if parsesOwnSyntax(t) {
		return "a value"
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a value"
}

// describeValue names a tree value in an error message.
func describeValue(v any) string {
	switch v := v.(type) {
	case *treeObject:
		return "an object"
	case []any:
		return "a list"
	case string:
		if len(v) > 40 {
			v = v[:37] + "..."
		}
		return fmt.Sprintf("the string %q", v)
	case json.Number:
		return "the number " + string(v)
	case bool:
		return "the boolean " + strconv.FormatBool(v)
	}
	return "null"
}

// fieldPath appends a key: "spec.env.FOO", or `labels["a.b/c"]` for keys
// that are not plain words.
func fieldPath(path, key string) string {
	if !plainKey(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func plainKey(key string) bool {
	if key == "" {
		return false
	}
	for _, r := range key {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func indexPath(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// fieldSet is what the walk needs of a struct: its JSON names and types.
type fieldSet struct {
	types map[string]reflect.Type
	names []string // sorted, for suggestions
}

var fieldSets sync.Map // reflect.Type -> *fieldSet

func structFields(t reflect.Type) *fieldSet {
	if fs, ok := fieldSets.Load(t); ok {
		return fs.(*fieldSet)
	}
	fs := &fieldSet{types: map[string]reflect.Type{}}
	collectFields(t, fs)
	for name := range fs.types {
		fs.names = append(fs.names, name)
	}
	sort.Strings(fs.names)
	actual, _ := fieldSets.LoadOrStore(t, fs)
	return actual.(*fieldSet)
}

// collectFields follows encoding/json's naming: the tag's name, else the
// Go name; untagged embedded structs lend their fields.
func collectFields(t reflect.Type, fs *fieldSet) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				collectFields(ft, fs)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, taken := fs.types[name]; !taken {
			fs.types[name] = f.Type
		}
	}
}

// suggest finds the known field a mistyped key most likely meant: the same
// name in another case, or one at most two edits away.
func suggest(key string, names []string) string {
	best, bestDist := "", 3
	for _, name := range names {
		if strings.EqualFold(name, key) {
			return name
		}
		if d := text.EditDistance(strings.ToLower(key), strings.ToLower(name)); d < bestDist && d < len(name) {
			best, bestDist = name, d
		}
	}
	return best
}
