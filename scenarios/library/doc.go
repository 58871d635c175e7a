// Package library is the scenarios that ship in the binary: one YAML file
// each (the format is scenarios/scenario's), embedded, listed and loaded
// by name. Every one of them passes live in a sim lab (library_test.go),
// so a change of behaviour that breaks what one teaches fails the build.
//
// It owns the files only; running them is scenarios/scenario's.
package library
