// Package docs is the service spec reference, SPEC.md, built into the
// binary so that `flotilla explain` always prints what the repository says.
//
// It owns SPEC.md's format (one "### `path`" heading per field, followed by
// its Type, Default, Limits and Example lines and a description) and the
// index parsed from it: entries by field path, their subfields, and the
// nearest paths to one that does not exist. The coverage test (spec_test.go)
// walks the Go types that `flotilla apply` decodes and fails when a field
// and its entry disagree, in either direction.
//
// It must not import the rest of flotilla (the api package is only imported
// by its tests): it is text and its index, nothing that runs.
package docs
