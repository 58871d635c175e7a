package toolbox

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
)

const lsUsage = "usage: ls [-1aAdhl] [PATH...]"

type lsOptions struct {
	all       bool // -a: . and .. and names starting with a dot
	almostAll bool // -A: names starting with a dot
	dirs      bool // -d: a directory itself, not its entries
	human     bool // -h: sizes as 1.5K, 12M
	long      bool // -l: mode, size, time, name (and a link's target)
}

// lsEntry is one line of a listing.
type lsEntry struct {
	name string // as printed
	path string // fs name, for a link's target
	info fs.FileInfo
}

// ls [-1aAdhl] [PATH...]: names in a directory, one per line (hidden ones
// with -a or -A); a file is printed as given. Without PATH it lists /. -l
// prints mode, size, modification time and name (no owners: a sim
// container's files have none).
func runLs(inv *invocation) int {
	var opts lsOptions
	var paths []string
	for i, a := range inv.args {
		if a == "--" {
			paths = append(paths, inv.args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			paths = append(paths, a)
			continue
		}
		for _, c := range a[1:] {
			switch c {
			case '1':
			case 'a':
				opts.all = true
			case 'A':
				opts.almostAll = true
			case 'd':
				opts.dirs = true
			case 'h':
				opts.human = true
			case 'l':
				opts.long = true
			default:
				return inv.errorf(ExitUsage, "unknown option -%c (%s)", c, lsUsage)
			}
		}
	}
	if inv.files == nil {
		return inv.errorf(ExitFailure, "no file system")
	}
	if len(paths) == 0 {
		paths = []string{"/"}
	}
	code := ExitOK
	for i, p := range paths {
		entries, listed, err := lsList(inv.files, p, opts)
		if err != nil {
			code = inv.errorf(ExitFailure, "%s: %s", p, describe(err))
			continue
		}
		if listed && len(paths) > 1 {
			if i > 0 {
				io.WriteString(inv.stdout, "\n")
			}
			io.WriteString(inv.stdout, p+":\n")
		}
		lsPrint(inv.stdout, inv.files, entries, opts, time.Now())
	}
	return code
}

// lsList is what ls prints for p: its entries when it is a directory
// listed (listed is true), else p itself.
func lsList(files fs.FS, p string, opts lsOptions) (entries []lsEntry, listed bool, err error) {
	name := fsPath(p)
	info, err := fs.Lstat(files, name)
	if err != nil {
		return nil, false, err
	}
	if info.Mode()&fs.ModeSymlink != 0 && !opts.long {
		// A link to a directory is listed as the directory, as ls does
		// without -l.
		if target, err := fs.Stat(files, name); err == nil {
			info = target
		}
	}
	if !info.IsDir() || opts.dirs {
		return []lsEntry{{name: p, path: name, info: info}}, false, nil
	}
	dir, err := fs.ReadDir(files, name)
	if err != nil {
		return nil, false, err
	}
	if opts.all {
		entries = append(entries, lsEntry{name: ".", path: name, info: info})
		parent := path.Dir(name)
		if parentInfo, err := fs.Stat(files, parent); err == nil {
			entries = append(entries, lsEntry{name: "..", path: parent, info: parentInfo})
		}
	}
	for _, e := range dir {
		if strings.HasPrefix(e.Name(), ".") && !opts.all && !opts.almostAll {
			continue
		}
		entryInfo, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		entries = append(entries, lsEntry{name: e.Name(), path: path.Join(name, e.Name()), info: entryInfo})
	}
	return entries, true, nil
}

func lsPrint(w io.Writer, files fs.FS, entries []lsEntry, opts lsOptions, now time.Time) {
	var b strings.Builder
	if !opts.long {
		for _, e := range entries {
			b.WriteString(e.name + "\n")
		}
		io.WriteString(w, b.String())
		return
	}
	sizes := make([]string, len(entries))
	width := 0
	for i, e := range entries {
		sizes[i] = strconv.FormatInt(e.info.Size(), 10)
		if opts.human {
			sizes[i] = humanSize(e.info.Size())
		}
		width = max(width, len(sizes[i]))
	}
	for i, e := range entries {
		name := e.name
		if e.info.Mode()&fs.ModeSymlink != 0 {
			if target, err := fs.ReadLink(files, e.path); err == nil {
				name += " -> " + target
			}
		}
		fmt.Fprintf(&b, "%s %*s %s %s\n", modeString(e.info.Mode()), width, sizes[i], lsTime(e.info.ModTime(), now), name)
	}
	io.WriteString(w, b.String())
}

// modeString is the mode as ls writes it: drwxr-xr-x, lrwxrwxrwx, -rw-r--r--.
func modeString(m fs.FileMode) string {
	kind := byte('-')
	switch {
	case m.IsDir():
		kind = 'd'
	case m&fs.ModeSymlink != 0:
		kind = 'l'
	case m&fs.ModeNamedPipe != 0:
		kind = 'p'
	case m&fs.ModeSocket != 0:
		kind = 's'
	case m&fs.ModeCharDevice != 0:
		kind = 'c'
	case m&fs.ModeDevice != 0:
		kind = 'b'
	}
	return string(kind) + m.Perm().String()[1:]
}

// lsTime is "Jan _2 15:04" for the last six months, else "Jan _2  2006".
func lsTime(t, now time.Time) string {
	if t.After(now.AddDate(0, -6, 0)) && !t.After(now.Add(time.Hour)) {
		return t.Format("Jan _2 15:04")
	}
	return t.Format("Jan _2  2006")
}

// humanSize is a size in K, M, G... with one decimal under 10, as ls -h.
func humanSize(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10)
	}
	f := float64(n)
	unit := ""
	for _, u := range []string{"K", "M", "G", "T", "P", "E"} {
		f /= 1024
		unit = u
		if f < 1024 {
			break
		}
	}
	if f < 10 {
		return strconv.FormatFloat(f, 'f', 1, 64) + unit
	}
	return strconv.FormatFloat(f, 'f', 0, 64) + unit
}
