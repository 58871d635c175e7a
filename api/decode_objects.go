package api

import "strings"

// Document is one document apply takes: a service, or a config or secret
// (exactly one of the two is set).
type Document struct {
	Service *ServiceSpec
	File    *FileObjectSpec
}

// DecodeDocuments reads documents of every kind apply takes (kind:
// Service, Config, Secret), as DecodeServices reads services: strictly,
// each defaulted and validated, errors naming the document and field. A
// config's or secret's fields are named from the document's root
// ("metadata.name", "data.password"); its values never appear in an
// error.
func DecodeDocuments(source string, data []byte) ([]Document, error) {
	var out []Document
	err := eachDocument(source, data, "no document found", func(tree any) *FieldError {
		switch documentKind(tree) {
		case KindConfig, KindSecret:
			f, fe := decodeFileObject(tree)
			if fe != nil {
				return fe
			}
			out = append(out, Document{File: &f})
		case "":
			if hasMembers(tree, "keyID", "keys") {
				// What `get secrets -o yaml|json` prints: no values.
				return fieldErr("kind", "required: this looks like a secret as get prints it, which holds no values and cannot be applied back (write kind: Secret with data, or use flotilla secret create)")
			}
			fallthrough
		default:
			spec, fe := decodeService(tree)
			if fe != nil {
				return fe
			}
			out = append(out, Document{Service: &spec})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DecodeFileObjectJSON is what the HTTP server uses on a config's or
// secret's PUT body: strict decoding, defaults, validation.
func DecodeFileObjectJSON(source string, data []byte) (FileObjectSpec, error) {
	tree, fe := parseOneJSON(data)
	var f FileObjectSpec
	if fe == nil {
		f, fe = decodeFileObject(tree)
	}
	if fe != nil {
		fe.Source = source
		return FileObjectSpec{}, fe
	}
	return f, nil
}

func decodeFileObject(tree any) (FileObjectSpec, *FieldError) {
	value, fe := withoutStatus(tree, "")
	var f FileObjectSpec
	if fe == nil {
		fe = decodeTree(value, "", &f)
	}
	if fe != nil {
		return FileObjectSpec{}, withoutValue(fe)
	}
	f.SetDefaults()
	if fe := f.validate(); fe != nil {
		return FileObjectSpec{}, fe
	}
	return f, nil
}

// withoutValue keeps a decoding error from quoting a value of data (a
// secret's): under data, only the field is named.
func withoutValue(fe *FieldError) *FieldError {
	if !strings.Contains(fe.Message, "got ") {
		return fe // "duplicate key", "unknown field": no value in them
	}
	switch {
	case fe.Field == "data":
		return &FieldError{Field: fe.Field, Message: "must be an object of keys to string values"}
	case strings.HasPrefix(fe.Field, "data.") || strings.HasPrefix(fe.Field, "data["):
		return &FieldError{Field: fe.Field, Message: "must be a string (quote numbers and booleans)"}
	}
	return fe
}

// hasMembers reports whether a parsed document has every one of keys at
// its root.
func hasMembers(tree any, keys ...string) bool {
	obj, ok := tree.(*treeObject)
	if !ok {
		return false
	}
	for _, k := range keys {
		found := false
		for _, m := range obj.members {
			found = found || m.key == k
		}
		if !found {
			return false
		}
	}
	return true
}

// documentKind is a parsed document's kind, "" when it has none (or not
// a string one).
func documentKind(tree any) string {
	obj, ok := tree.(*treeObject)
	if !ok {
		return ""
	}
	for _, m := range obj.members {
		if m.key == "kind" {
			if s, ok := m.value.(string); ok {
				return s
			}
		}
	}
	return ""
}
