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
