package containerd

import (
	"archive/tar"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"time"

	"flotilla/runtime/toolbox"
)

// layerTime stamps every entry of the demo layer, so that the same binary
// always gives the same layer digest (and containerd stores it once).
var layerTime = time.Unix(0, 0).UTC()

// layerFile is one regular file of the demo layer: name in the image, and
// the host file its bytes come from.
type layerFile struct {
	name   string // "flotilla", "lib/x86_64-linux-gnu/libc.so.6"
	source string
	mode   int64
}

// demoLayer is what goes into the demo image's one layer.
type demoLayer struct {
	files    []layerFile
	symlinks map[string]string // name -> target
	dirs     []string
}

// planDemoLayer lists the demo layer for binary: /flotilla, /bin/CMD ->
// /flotilla for every toolbox command, /etc and /tmp, and, when the binary
// is dynamically linked, its ELF interpreter and the shared libraries it
// needs, at the paths the dynamic loader searches.
func planDemoLayer(binary string) (demoLayer, error) {
	layer := demoLayer{
		files:    []layerFile{{name: "flotilla", source: binary, mode: 0o755}},
		symlinks: map[string]string{},
		dirs:     []string{"bin", "etc", "tmp"},
	}
	for _, cmd := range toolbox.Commands() {
		layer.symlinks["bin/"+cmd] = "/flotilla"
	}
	deps, err := sharedDeps(binary)
	if err != nil {
		return demoLayer{}, err
	}
	for name, source := range deps {
		layer.files = append(layer.files, layerFile{name: strings.TrimPrefix(name, "/"), source: source, mode: 0o755})
	}
	slices.SortFunc(layer.files, func(a, b layerFile) int { return strings.Compare(a.name, b.name) })
	return layer, nil
}

// libDirs are where needed libraries are looked for, in the order of the
// dynamic loader's default search path on Debian (multiarch first).
func libDirs() []string {
	triplet := map[string]string{
		"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu", "386": "i386-linux-gnu",
		"arm": "arm-linux-gnueabihf", "ppc64le": "powerpc64le-linux-gnu", "s390x": "s390x-linux-gnu",
		"riscv64": "riscv64-linux-gnu",
	}[goruntime.GOARCH]
	var dirs []string
	if triplet != "" {
		dirs = append(dirs, "/lib/"+triplet, "/usr/lib/"+triplet)
	}
	return append(dirs, "/lib64", "/usr/lib64", "/lib", "/usr/lib")
}

// sharedDeps are what a dynamically linked ELF binary needs to run: its
// interpreter (PT_INTERP) and its DT_NEEDED libraries, transitively, each
// as the path in the image -> the host file to copy. A static binary has
// none.
func sharedDeps(binary string) (map[string]string, error) {
	deps := map[string]string{}
	interp, needed, err := elfDeps(binary)
	if err != nil {
		return nil, err
	}
	if interp != "" {
		source, err := filepath.EvalSymlinks(interp)
		if err != nil {
			return nil, fmt.Errorf("demo image: interpreter %s of %s: %w", interp, binary, err)
		}
		deps[interp] = source
	}
	queue := needed
	seen := map[string]bool{}
	for len(queue) > 0 {
		lib := queue[0]
		queue = queue[1:]
		if seen[lib] {
			continue
		}
		seen[lib] = true
		name, source, err := findLibrary(lib)
		if err != nil {
			return nil, fmt.Errorf("demo image: library %s needed by %s: %w", lib, binary, err)
		}
		if name == interp {
			continue // the loader is often DT_NEEDED as well
		}
		deps[name] = source
		_, more, err := elfDeps(source)
		if err != nil {
			return nil, err
		}
		queue = append(queue, more...)
	}
	return deps, nil
}

// elfDeps reads an ELF file's interpreter and DT_NEEDED entries.
func elfDeps(file string) (interp string, needed []string, err error) {
	f, err := elf.Open(file)
	if err != nil {
		return "", nil, fmt.Errorf("demo image: read %s: %w", file, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b, err := io.ReadAll(p.Open())
		if err != nil {
			return "", nil, fmt.Errorf("demo image: interpreter of %s: %w", file, err)
		}
		interp = strings.TrimRight(string(b), "\x00")
	}
	needed, err = f.ImportedLibraries()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return "", nil, fmt.Errorf("demo image: libraries of %s: %w", file, err)
	}
	return interp, needed, nil
}

// findLibrary resolves a DT_NEEDED name (or an absolute path) to where the
// image gets it and the host file behind it (symlinks followed).
func findLibrary(lib string) (name, source string, err error) {
	candidates := []string{lib}
	if !path.IsAbs(lib) {
		candidates = nil
		for _, dir := range libDirs() {
			candidates = append(candidates, path.Join(dir, lib))
		}
	}
	for _, c := range candidates {
		if fi, err := os.Stat(c); err == nil && fi.Mode().IsRegular() {
			source, err := filepath.EvalSymlinks(c)
			if err != nil {
				return "", "", err
			}
			return c, source, nil
		}
	}
	return "", "", fmt.Errorf("not found in %v", libDirs())
}

// writeTar writes the layer as an uncompressed tar, entries in a fixed
// order with fixed times and owners (root), so the digest depends only on
// the contents.
func (l demoLayer) writeTar(w io.Writer) error {
	tw := tar.NewWriter(w)
	dirs := map[string]bool{}
	var addDir func(dir string) error
	addDir = func(dir string) error {
		if dir == "." || dir == "" || dirs[dir] {
			return nil
		}
		if err := addDir(path.Dir(dir)); err != nil {
			return err
		}
		dirs[dir] = true
		mode := int64(0o755)
		if dir == "tmp" {
			mode = 0o1777
		}
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: mode, ModTime: layerTime, Format: tar.FormatPAX})
	}
	for _, d := range l.dirs {
		if err := addDir(d); err != nil {
			return err
		}
	}
	for _, f := range l.files {
		if err := addDir(path.Dir(f.name)); err != nil {
			return err
		}
		if err := writeTarFile(tw, f); err != nil {
			return err
		}
	}
	links := make([]string, 0, len(l.symlinks))
	for name := range l.symlinks {
		links = append(links, name)
	}
	slices.Sort(links)
	for _, name := range links {
		if err := addDir(path.Dir(name)); err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: l.symlinks[name], Mode: 0o777, ModTime: layerTime, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	return tw.Close()
}

func writeTarFile(tw *tar.Writer, f layerFile) error {
	src, err := os.Open(f.source)
	if err != nil {
		return err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Size: fi.Size(), Mode: f.mode, ModTime: layerTime, Format: tar.FormatPAX}); err != nil {
		return err
	}
	// A binary that changes while it is copied would give a tar whose
	// digest is not what was announced; CopyN makes a short file an error.
	if _, err := io.CopyN(tw, src, fi.Size()); err != nil {
		return fmt.Errorf("copy %s into the demo layer: %w", f.source, err)
	}
	return nil
}
