package docs

import (
	_ "embed"
	"sync"
)

// Spec is the text of docs/SPEC.md.
//
//go:embed SPEC.md
var Spec string

// reference is Spec parsed once; the test proves it parses.
var reference = sync.OnceValues(func() (*Index, error) { return Parse(Spec) })

// Reference returns the index of the embedded SPEC.md.
func Reference() (*Index, error) { return reference() }
