package api

import (
	"fmt"
	"strings"
)

// FieldError is a bad input: where it came from, the field path and what is
// wrong. The HTTP API answers it as {"error": Error(), "field": Field}.
type FieldError struct {
	// Source names the input: a file name, "web.yaml: document 2", a request.
	Source string
	// Field is the path of the offending field, e.g. "spec.ports[0].port";
	// empty when the input as a whole is wrong (a syntax error).
	Field   string
	Message string
}

// Error reads "web.yaml: document 2: spec.ports[0].port: must be between 1
// and 65535"; empty parts are left out.
func (e *FieldError) Error() string {
	parts := make([]string, 0, 3)
	for _, p := range []string{e.Source, e.Field, e.Message} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ": ")
}

// fieldErr builds a FieldError without a source; the decoder fills it in.
func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}
