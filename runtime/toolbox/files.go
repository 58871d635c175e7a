package toolbox

import (
	"errors"
	"io"
	"io/fs"
	"path"
	"strings"
)

// fsPath turns an absolute (or root-relative) path into an fs.FS name.
func fsPath(p string) string {
	clean := path.Clean("/" + p)
	if clean == "/" {
		return "."
	}
	return strings.TrimPrefix(clean, "/")
}

var errIsDir = errors.New("is a directory")

// describe says why a file could not be read, as coreutils would.
func describe(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "No such file or directory"
	case errors.Is(err, fs.ErrPermission):
		return "Permission denied"
	case errors.Is(err, errIsDir):
		return "Is a directory"
	}
	var perr *fs.PathError
	if errors.As(err, &perr) {
		return perr.Err.Error()
	}
	return err.Error()
}

// cat FILE...
func runCat(inv *invocation) int {
	if len(inv.args) == 0 {
		return inv.errorf(ExitUsage, "usage: cat FILE...")
	}
	if inv.files == nil {
		return inv.errorf(ExitFailure, "no file system")
	}
	code := ExitOK
	for _, name := range inv.args {
		if err := catOne(inv, name); err != nil {
			code = inv.errorf(ExitFailure, "%s: %s", name, describe(err))
		}
	}
	return code
}

func catOne(inv *invocation, name string) error {
	f, err := inv.files.Open(fsPath(name))
	if err != nil {
		return err
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.IsDir() {
		return errIsDir
	}
	_, err = io.Copy(inv.stdout, f)
	return err
}

// ls [PATH...]: names in a directory, one per line; a file is printed as
// given. Without PATH it lists /.
func runLs(inv *invocation) int {
	if inv.files == nil {
		return inv.errorf(ExitFailure, "no file system")
	}
	paths := inv.args
	if len(paths) == 0 {
		paths = []string{"/"}
	}
	code := ExitOK
	for i, p := range paths {
		info, err := fs.Stat(inv.files, fsPath(p))
		if err != nil {
			code = inv.errorf(ExitFailure, "%s: %s", p, describe(err))
			continue
		}
		if !info.IsDir() {
			io.WriteString(inv.stdout, p+"\n")
			continue
		}
		entries, err := fs.ReadDir(inv.files, fsPath(p))
		if err != nil {
			code = inv.errorf(ExitFailure, "%s: %s", p, describe(err))
			continue
		}
		if len(paths) > 1 {
			if i > 0 {
				io.WriteString(inv.stdout, "\n")
			}
			io.WriteString(inv.stdout, p+":\n")
		}
		for _, e := range entries {
			io.WriteString(inv.stdout, e.Name()+"\n")
		}
	}
	return code
}
