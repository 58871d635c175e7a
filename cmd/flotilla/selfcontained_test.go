package main

import (
	"bytes"
	"errors"
	"go/scanner"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// outsideReferences are what only a reader of the workspace around the
// repository could follow: its sibling folder of internal notes and the
// two notes in it. The repository's documentation stands on its own.
var outsideReferences = []string{"../" + "shared", "/work/" + "shared", "DESIGN" + ".md", "STYLE" + ".md"}

// moduleRoot is the directory of go.mod above this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// repositoryFiles lists the files of the repository relative to root: what
// git tracks plus new files it does not ignore, or, without git, every
// file but .git's.
func repositoryFiles(t *testing.T, root string) []string {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		var files []string
		for _, f := range strings.Split(string(out), "\x00") {
			if f != "" {
				files = append(files, f)
			}
		}
		return files
	}
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// textLine is one line of what a file says to its reader.
type textLine struct {
	n    int
	text string
}

// readableLines are a file's lines, or for a Go file the lines of its
// comments, where its documentation lives: string literals (tests that
// look for these very names) are not references.
func readableLines(name string, src []byte) []textLine {
	var out []textLine
	if !strings.HasSuffix(name, ".go") {
		for i, line := range strings.Split(string(src), "\n") {
			out = append(out, textLine{i + 1, line})
		}
		return out
	}
	var s scanner.Scanner
	fset := token.NewFileSet()
	file := fset.AddFile(name, -1, len(src))
	s.Init(file, src, nil, scanner.ScanComments)
	for {
		pos, tok, lit := s.Scan()
		if tok == token.EOF {
			return out
		}
		if tok == token.COMMENT {
			first := fset.Position(pos).Line
			for i, line := range strings.Split(lit, "\n") {
				out = append(out, textLine{first + i, line})
			}
		}
	}
}

// TestRepositoryPointsNowhereOutsideItself: no README, document, example
// or Go comment of the repository sends its reader to notes that live
// outside it.
func TestRepositoryPointsNowhereOutsideItself(t *testing.T) {
	root := moduleRoot(t)
	checked := 0
	for _, rel := range repositoryFiles(t, root) {
		data, err := os.ReadFile(filepath.Join(root, rel))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the work tree, not yet in the index
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.IndexByte(data[:min(len(data), 8000)], 0) >= 0 {
			continue // binary
		}
		checked++
		for _, line := range readableLines(rel, data) {
			for _, ref := range outsideReferences {
				if strings.Contains(line.text, ref) {
					t.Errorf("%s:%d mentions %s, which is outside the repository: %s", rel, line.n, ref, strings.TrimSpace(line.text))
				}
			}
		}
	}
	if checked < 50 {
		t.Fatalf("only %d text files found under %s: the listing is broken", checked, root)
	}
}
