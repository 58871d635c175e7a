package sim

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

// filesFS is a container's mounted files (configs and secrets) as a
// read-only file system, with the directories their paths imply, all
// modified when the container was created.
type filesFS struct {
	files   map[string][]byte   // fs names ("etc/web/config.yaml")
	secret  map[string]bool     // fs names of secret files (mode 0400)
	dirs    map[string][]string // fs name -> sorted child names; "." is the root
	modTime time.Time
}

// newFilesFS checks that every path is absolute and builds the tree;
// secret names the paths of files of mode 0400 (nil for none).
func newFilesFS(files map[string][]byte, secret map[string]bool, modTime time.Time) (*filesFS, error) {
	f := &filesFS{files: map[string][]byte{}, secret: map[string]bool{}, dirs: map[string][]string{".": nil}, modTime: modTime}
	for p, data := range files {
		if secret[p] {
			f.secret[strings.TrimPrefix(path.Clean(p), "/")] = true
		}
		if !strings.HasPrefix(p, "/") || path.Clean(p) == "/" {
			return nil, fmt.Errorf("file %q: want an absolute path to a file", p)
		}
		name := strings.TrimPrefix(path.Clean(p), "/")
		if _, isDir := f.dirs[name]; isDir {
			return nil, fmt.Errorf("file %q: a directory of another file", p)
		}
		f.files[name] = data
		for child := name; child != "."; {
			parent := path.Dir(child)
			if _, isFile := f.files[parent]; isFile {
				return nil, fmt.Errorf("file %q: %s is a file", p, "/"+parent)
			}
			kids := f.dirs[parent]
			if !slices.Contains(kids, path.Base(child)) {
				f.dirs[parent] = append(kids, path.Base(child))
			}
			child = parent
		}
	}
	for _, kids := range f.dirs {
		slices.Sort(kids)
	}
	return f, nil
}

func (f *filesFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if data, ok := f.files[name]; ok {
		return &memFile{info: memInfo{name: path.Base(name), size: int64(len(data)), mod: f.modTime, secret: f.secret[name]}, r: strings.NewReader(string(data))}, nil
	}
	if kids, ok := f.dirs[name]; ok {
		d := &memDir{info: memInfo{name: path.Base(name), dir: true, mod: f.modTime}}
		for _, kid := range kids {
			child := path.Join(name, kid)
			_, isDir := f.dirs[child]
			d.entries = append(d.entries, fs.FileInfoToDirEntry(memInfo{name: kid, dir: isDir, size: int64(len(f.files[child])), mod: f.modTime, secret: f.secret[child]}))
		}
		return d, nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

type memInfo struct {
	name   string
	size   int64
	dir    bool
	mod    time.Time
	secret bool
}

func (i memInfo) Name() string { return i.name }
func (i memInfo) Size() int64  { return i.size }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o555
	}
	if i.secret {
		return 0o400
	}
	return 0o444
}
func (i memInfo) ModTime() time.Time { return i.mod }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }

type memFile struct {
	info memInfo
	r    *strings.Reader
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *memFile) Read(p []byte) (int, error) { return f.r.Read(p) }
func (f *memFile) Close() error               { return nil }

type memDir struct {
	info    memInfo
	entries []fs.DirEntry
	next    int
}

func (d *memDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *memDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: fs.ErrInvalid}
}
func (d *memDir) Close() error { return nil }

// ReadDir follows fs.ReadDirFile: n <= 0 reads all that is left.
func (d *memDir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.next:]
	if n <= 0 {
		d.next = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.next += n
	return rest[:n], nil
}
